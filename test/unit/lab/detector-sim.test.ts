/**
 * The detector simulation is a lab tool, not a test of its figures: these tests pin determinism
 * and the qualitative results that follow from the model by construction (docs/spec/0002 §Results),
 * never a measured number.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  renderDetectorTable,
  runDetectorSimulation,
  SIM_DETECTORS,
  SIM_INTERVAL_MS,
  SIM_TIMEOUT_MS,
  type DetectorSimResult,
  type DetectorSimRow,
} from '../../../src/lab/detector-sim.js';

const FIXED = 'fixed 3 s';
const PHI = 'phi θ=8';
const PHI_HIGH = 'phi θ=12';
const PHI_TIGHT = 'phi θ=8 pause=0';
const PHI_TIGHT_LOW = 'phi θ=3 pause=0';
/** Client ping jitter bound (pingSchedule: 10 % of the interval). */
const JITTER_MS = SIM_INTERVAL_MS / 10;

function row(result: DetectorSimResult, scenario: string, detector: string): DetectorSimRow {
  const found = result.rows.find((r) => r.scenario === scenario && r.detector === detector);
  assert.ok(found, `${scenario} × ${detector}`);
  return found;
}

// 3 simulated hours make "a few pauses / bursts per hour" certain to occur; still well under a second.
const result = runDetectorSimulation({ seed: 42, hours: 3, trials: 200 });

test('detector-sim - deterministic for a seed, different across seeds', () => {
  const small = { hours: 0.25, trials: 20 };
  assert.deepEqual(runDetectorSimulation({ seed: 7, ...small }), runDetectorSimulation({ seed: 7, ...small }));
  assert.notDeepEqual(runDetectorSimulation({ seed: 7, ...small }), runDetectorSimulation({ seed: 8, ...small }));
});

test('detector-sim - every detector × scenario row is present and every death is detected', () => {
  assert.equal(result.rows.length, result.scenarios.length * SIM_DETECTORS.length);
  for (const r of result.rows) {
    assert.equal(r.undetected, 0, `${r.scenario} × ${r.detector}`);
    assert.ok(r.detectionP50Ms <= r.detectionP99Ms && r.detectionP99Ms <= r.detectionMaxMs);
    assert.equal(r.falseAlarmsPerHour, r.falseAlarms / result.hours);
  }
});

test('detector-sim - fixed detects within one interval before the timeout on a steady LAN', () => {
  // The death lands somewhere in a ping cycle: the silence already elapsed is < interval + jitter + RTT.
  const lan = row(result, 'lan', FIXED);
  // A PONG already on its way when the peer dies still arrives: up to half an RTT (~1 ms) late.
  assert.ok(lan.detectionMaxMs <= SIM_TIMEOUT_MS + 10, `max ${lan.detectionMaxMs}`);
  assert.ok(lan.detectionP50Ms >= SIM_TIMEOUT_MS - SIM_INTERVAL_MS - JITTER_MS - 10, `p50 ${lan.detectionP50Ms}`);
  for (const d of SIM_DETECTORS) assert.equal(row(result, 'lan', d.id).falseAlarms, 0, `lan × ${d.id}`);
});

test('detector-sim - GC pauses of at most 1.5 s: fixed 3 s never false-alarms, phi without a pause does', () => {
  assert.equal(row(result, 'gc-pauses', FIXED).falseAlarms, 0);
  assert.equal(row(result, 'gc-pauses', PHI).falseAlarms, 0);
  assert.ok(row(result, 'gc-pauses', PHI_TIGHT_LOW).falseAlarms > 0);
  assert.ok(row(result, 'gc-pauses', PHI_TIGHT).falseAlarms > 0);
});

test('detector-sim - loss bursts: fixed 3 s false-alarms on a ping and its retry lost, default phi far less', () => {
  const fixed = row(result, 'mobile-loss', FIXED).falseAlarms;
  assert.ok(fixed > 0);
  assert.ok(row(result, 'mobile-loss', PHI).falseAlarms < fixed);
});

test('detector-sim - phi with the default pause only adds margin; without a pause it is faster than fixed', () => {
  for (const s of result.scenarios) {
    assert.ok(row(result, s.id, PHI).detectionP50Ms > row(result, s.id, FIXED).detectionP50Ms, s.id);
    assert.ok(row(result, s.id, PHI).falseAlarms <= row(result, s.id, FIXED).falseAlarms, s.id);
  }
  assert.ok(row(result, 'lan', PHI_TIGHT).detectionP99Ms < row(result, 'lan', FIXED).detectionP50Ms);
});

test('detector-sim - a higher threshold trades detection time for fewer false alarms', () => {
  // Same pause, same history until a verdict differs: the higher threshold's deadline is later.
  for (const s of result.scenarios) {
    const lo = row(result, s.id, PHI);
    const hi = row(result, s.id, PHI_HIGH);
    assert.ok(hi.falseAlarms <= lo.falseAlarms, s.id);
    assert.ok(hi.detectionP50Ms > lo.detectionP50Ms, s.id);
  }
  // Without a pause, false alarms make the two histories diverge (each restart re-phases the
  // pings), so compare totals; detection only where neither false-alarms.
  const total = (detector: string) => result.rows.filter((r) => r.detector === detector).reduce((n, r) => n + r.falseAlarms, 0);
  assert.ok(total(PHI_TIGHT) < total(PHI_TIGHT_LOW));
  assert.ok(row(result, 'lan', PHI_TIGHT).detectionP50Ms > row(result, 'lan', PHI_TIGHT_LOW).detectionP50Ms);
});

test('detector-sim - the table names every scenario and detector, says it is a simulation, and runs fast', () => {
  const started = performance.now();
  const defaults = runDetectorSimulation();
  const elapsedMs = performance.now() - started;
  assert.ok(elapsedMs < 5000, `took ${elapsedMs} ms`);
  const table = renderDetectorTable(defaults);
  assert.match(table, /simulation/i);
  for (const s of defaults.scenarios) assert.ok(table.includes(s.id) && table.includes(s.description));
  for (const d of SIM_DETECTORS) assert.ok(table.includes(d.id));
  assert.equal(table.split('\n').filter((l) => l.startsWith('lan ')).length, SIM_DETECTORS.length);
  assert.doesNotThrow(() => JSON.parse(JSON.stringify(defaults)));
});
