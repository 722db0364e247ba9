/**
 * Unit: `lifeline bench --metrics` (issue 13 §1): which systems it runs, and the report's
 * metrics on/off line (lifeline-metrics ÷ lifeline per round, median) from synthetic rounds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SYSTEMS, parseSystems } from '../../../src/bench/systems.js';
import { renderMetricsCost } from '../../../src/bench/report.js';
import type { BenchResult, SystemId, SystemResult } from '../../../src/bench/types.js';

function row(system: SystemId, cpu: number, heap: number, error?: string): SystemResult {
  return {
    system,
    label: system,
    connectionsRequested: 100,
    connectionsOpen: 100,
    ...(error ? { error } : {}),
    derived: { heapPerConnection: heap, rssPerConnection: 1000, cpuPerRoundTripMicros: cpu, bytesPerRoundTrip: 3, roundTrips: 1000, beatRatio: 1, missed: 0, dropped: 0 },
  };
}

function result(rounds: SystemResult[][]): BenchResult {
  return {
    startedAt: '2026-12-03T00:00:00Z',
    machine: { cpus: 2, cpuModel: 'test', totalMemGiB: 1, node: 'v20', platform: 'linux' },
    config: { connections: 100, intervalMs: 1000, durationMs: 1000, systems: ['lifeline', 'lifeline-metrics'], scale: false, freeze: false, rounds: rounds.length },
    results: rounds.at(-1)!,
    ...(rounds.length > 1 ? { rounds } : {}),
  };
}

test('bench --metrics - the default list leaves lifeline-metrics out; --metrics adds lifeline and it, back to back in table order', () => {
  assert.ok(!DEFAULT_SYSTEMS.includes('lifeline-metrics'));
  assert.deepEqual(parseSystems(undefined), [...DEFAULT_SYSTEMS]);
  assert.deepEqual(parseSystems('raw', { metrics: true }), ['raw', 'lifeline', 'lifeline-metrics']);
  assert.deepEqual(parseSystems('ws,lifeline', { metrics: true }), ['lifeline', 'lifeline-metrics', 'ws']);
  const all = parseSystems(undefined, { metrics: true });
  assert.equal(all.indexOf('lifeline-metrics'), all.indexOf('lifeline') + 1);
  assert.equal(all.length, DEFAULT_SYSTEMS.length + 1);
});

test('bench --metrics - the report gives CPU and heap ratios per round and their median; a failed round is left out', () => {
  const text = renderMetricsCost(
    result([
      [row('lifeline', 20, 1000), row('lifeline-metrics', 21, 1010)],
      [row('lifeline', 20, 1000), row('lifeline-metrics', 0, 0, 'only 4770 of 5000 connections opened')],
      [row('lifeline', 20, 1000), row('lifeline-metrics', 20.4, 990)],
      [row('lifeline', 20, 1000), row('lifeline-metrics', 19.8, 1000)],
    ]),
  );
  assert.ok(text);
  assert.match(text, /\(median of 3 rounds\)/);
  assert.match(text, /CPU per heartbeat 1\.020× \(rounds: 1\.050× 1\.020× 0\.990×\)/);
  assert.match(text, /heap per connection 1\.000× \(rounds: 1\.010× 0\.990× 1\.000×\)/);
});

test('bench --metrics - no line without both systems measured', () => {
  assert.equal(renderMetricsCost(result([[row('lifeline', 20, 1000)]])), undefined);
});
