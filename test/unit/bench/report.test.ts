/**
 * The bench report's arithmetic on made-up results: ratios to raw are taken within each round,
 * and with several rounds the targets are judged on the median of those ratios.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, renderBenchReport, renderTargets, roundRatios } from '../../../src/bench/report.js';
import type { BenchResult, SystemId, SystemResult } from '../../../src/bench/types.js';

function row(system: SystemId, cpu: number, heap: number): SystemResult {
  return {
    system,
    label: system,
    connectionsRequested: 100,
    connectionsOpen: 100,
    derived: { heapPerConnection: heap, rssPerConnection: 1000, cpuPerRoundTripMicros: cpu, bytesPerRoundTrip: 3, roundTrips: 1000, beatRatio: 1, missed: 0, dropped: 0 },
  };
}

function result(rounds: SystemResult[][]): BenchResult {
  return {
    startedAt: '2026-12-01T00:00:00Z',
    machine: { cpus: 2, cpuModel: 'test', totalMemGiB: 1, node: 'v20', platform: 'linux' },
    config: { connections: 100, intervalMs: 1000, durationMs: 1000, systems: ['raw', 'lifeline-sl'], scale: false, freeze: false, rounds: rounds.length },
    results: rounds.at(-1)!,
    ...(rounds.length > 1 ? { rounds } : {}),
  };
}

test('bench report - median of an odd and an even list', () => {
  assert.equal(median([]), undefined);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

test('bench report - ratios are per round, against that round\'s raw, and the targets use their median', () => {
  // Raw's absolute CPU moves between rounds; the ratio is what is compared.
  const r = result([
    [row('raw', 10, 1000), row('lifeline-sl', 7, 900)],
    [row('raw', 20, 1000), row('lifeline-sl', 19, 900)],
    [row('raw', 15, 1000), row('lifeline-sl', 12, 900)],
  ]);
  assert.deepEqual(roundRatios(r, 'lifeline-sl', 'cpuPerRoundTripMicros').map((v) => v.toFixed(2)), ['0.70', '0.95', '0.80']);
  const targets = renderTargets(r)!;
  assert.match(targets, /CPU per heartbeat ≤ 0\.8× raw \(median of 3 rounds\)\s+0\.800×\s+met/);
  assert.match(targets, /heap per connection ≤ 1\.2× raw \(median of 3 rounds\)\s+0\.900×\s+met/);
  const report = renderBenchReport(r);
  assert.match(report, /Ratios to raw over 3 rounds/);
  assert.match(report, /0\.70 0\.95 0\.80/);
});

test('bench report - one round: no per-round table, the targets use that round', () => {
  const r = result([[row('raw', 10, 1000), row('lifeline-sl', 9, 1300)]]);
  const report = renderBenchReport(r);
  assert.doesNotMatch(report, /rounds/);
  assert.match(report, /CPU per heartbeat ≤ 0\.8× raw\s+0\.900×\s+MISSED/);
  assert.match(report, /heap per connection ≤ 1\.2× raw\s+1\.300×\s+MISSED/);
});

test('bench command - --rounds outside [1, 20] is refused before anything starts', async () => {
  const { runBenchCommand } = await import('../../../src/cli/bench-command.js');
  for (const rounds of [0, 21, 1.5]) {
    await assert.rejects(runBenchCommand({ connections: 10, interval: 1000, duration: 1000, rounds }), /--rounds must be an integer in \[1, 20\]/);
  }
});
