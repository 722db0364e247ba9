/**
 * NatLearner (src/liveness/nat-learner.ts, docs/spec/0007-adaptive-interval.md). Plain numbers,
 * no sleeping: a simulated path whose NAT forgets flows idle for T ms, driven through simulated
 * hours and days. Each idle period lasts the client's interval plus its jitter (spec 0001: up to
 * 10 %); it survives if the idle is shorter than the NAT's timeout, else the flow dies, the
 * client notices at its heartbeat timeout and reconnects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NatLearner, NAT_LEARNER_DEFAULTS, type NatLearnerOptions, type NatLearnerState } from '../../../src/liveness/nat-learner.js';
import { seededRandom } from '../../../src/time/rng.js';
import { InvalidOptionError } from '../../../src/errors.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const EPOCH = Date.UTC(2026, 0, 1); // wall-clock ms, as the client passes Date.now()

interface Segment {
  /** From this simulated time on (ms since start), the NAT's idle timeout is natTimeoutMs. */
  fromMs: number;
  natTimeoutMs: number;
}

interface SimOptions {
  path: Segment[];
  durationMs: number;
  seed?: number;
  /** NATs that expire flows on a periodic sweep: the effective timeout is T + U[0, sweepMs). */
  sweepMs?: number;
  learner?: NatLearner;
  options?: NatLearnerOptions;
}

interface SimResult {
  learner: NatLearner;
  /** PINGs sent per simulated hour (index = hour). */
  pingsPerHour: number[];
  /** Simulated times (ms since start) at which an idle connection died, and whether it was a probe. */
  drops: { atMs: number; reprobe: boolean; idleMs: number }[];
  /** Simulated time at which the learner first settled, or undefined. */
  settledAtMs: number | undefined;
  intervals: number[];
  hellos: number[];
  /** Planned reconnects because the learner outgrew the negotiated interval. */
  renegotiations: number;
}

const RTT_MS = 50;
const RECONNECT_MS = 1_000;

function simulate(o: SimOptions): SimResult {
  const rng = seededRandom(o.seed ?? 1);
  const learner = o.learner ?? new NatLearner(o.options, undefined, seededRandom((o.seed ?? 1) + 1000));
  const { jitterRatio } = learner.options;
  const pingsPerHour: number[] = [];
  const drops: SimResult['drops'] = [];
  const intervals: number[] = [];
  const hellos: number[] = [];
  let settledAtMs: number | undefined;
  let renegotiations = 0;
  let t = 0;
  const natAt = (ms: number) => [...o.path].reverse().find((s) => s.fromMs <= ms)!.natTimeoutMs;
  while (t < o.durationMs) {
    // A connection: HELLO proposes the ceiling; the server (spec 0001) raises the timeout to 1.5×.
    learner.connectionStarted();
    const negotiatedMs = learner.helloIntervalMs(EPOCH + t);
    hellos.push(negotiatedMs);
    const timeoutMs = Math.max(15_000, Math.ceil(negotiatedMs * 1.5));
    for (;;) {
      if (t >= o.durationMs) break;
      const wasReprobing = learner.state.reprobing;
      let intervalMs = learner.currentIntervalMs(EPOCH + t);
      if (intervalMs > negotiatedMs) {
        // The learner wants more than this connection negotiated (spec 0007 §Wiring, step 5):
        // a planned reconnect with resume, not a drop.
        renegotiations++;
        t += 2 * RTT_MS;
        break;
      }
      const reprobe = learner.state.reprobing || wasReprobing;
      intervals.push(intervalMs);
      // The server's ping-rate guard (spec 0003): PINGs closer than half the negotiated interval strike.
      assert.ok(intervalMs >= negotiatedMs * 0.5 * 1.2, `interval ${intervalMs} vs negotiated ${negotiatedMs}`);
      assert.ok(intervalMs >= learner.options.minIntervalMs && intervalMs <= learner.options.maxIntervalMs, `interval ${intervalMs}`);
      const jitterMs = Math.min(intervalMs * jitterRatio, (timeoutMs - intervalMs) / 4);
      const idleMs = intervalMs + jitterMs * rng();
      const natMs = natAt(t + idleMs) + (o.sweepMs ?? 0) * rng();
      t += idleMs;
      const hour = Math.floor(t / HOUR);
      pingsPerHour[hour] = (pingsPerHour[hour] ?? 0) + 1;
      if (idleMs < natMs) {
        t += RTT_MS;
        learner.survived(idleMs, EPOCH + t);
        if (settledAtMs === undefined && learner.phase === 'settled') settledAtMs = t;
        intervalMs = 0;
        continue;
      }
      // The flow is gone: no PONG; the client declares the server dead at lastSeen + timeout.
      drops.push({ atMs: t, reprobe, idleMs });
      t += timeoutMs - idleMs + RECONNECT_MS;
      learner.died(idleMs, EPOCH + t);
      break;
    }
  }
  for (let h = 0; h < Math.ceil(o.durationMs / HOUR); h++) pingsPerHour[h] ??= 0;
  return { learner, pingsPerHour, drops, settledAtMs, intervals, hellos, renegotiations };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const fixedPath = (natTimeoutMs: number): Segment[] => [{ fromMs: 0, natTimeoutMs }];

function report(name: string, r: SimResult, fromHour: number): number {
  const rate = mean(r.pingsPerHour.slice(fromHour));
  const settled = r.settledAtMs === undefined ? 'never' : `${(r.settledAtMs / 60_000).toFixed(1)} min`;
  console.log(
    `# ${name}: settled after ${settled}, ${r.drops.length} drops (${r.drops.filter((d) => d.reprobe).length} re-probes), ${r.renegotiations} renegotiations, ` +
      `first hour ${r.pingsPerHour[0]} pings, from hour ${fromHour}: ${rate.toFixed(1)} pings/h, final interval ${r.intervals.at(-1)} ms`,
  );
  return rate;
}

test('nat-learner - 60 s NAT: settles within an hour at ≤ 75 heartbeats/h (fixed 30 s: 120/h), no drops once settled', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    // 21 h: before the first re-probe (24 h − 10 % jitter), which the next test covers.
    const r = simulate({ path: fixedPath(60_000), durationMs: 21 * HOUR, seed });
    assert.ok(r.settledAtMs !== undefined && r.settledAtMs < HOUR, `settled at ${r.settledAtMs}`);
    const rate = report(`60 s NAT seed ${seed}`, r, 1);
    assert.ok(rate <= 75, `${rate} heartbeats/h`);
    assert.ok(Math.max(...r.pingsPerHour.slice(1)) <= 76, `worst hour ${Math.max(...r.pingsPerHour.slice(1))}`);
    assert.equal(r.drops.filter((d) => d.atMs > r.settledAtMs!).length, 0, 'no drop after settling (before the first re-probe)');
    assert.ok(r.drops.length <= 5, `learning cost ${r.drops.length} drops`);
    // Every idle after settling stays under the NAT's timeout, with the margin.
    assert.ok(r.learner.state.targetMs <= 60_000 - NAT_LEARNER_DEFAULTS.safetyMarginMs + 1);
    // The server's view stays sane: HELLO proposes just under the known-bad idle.
    assert.ok(r.hellos.at(-1)! <= 60_000);
  }
});

test('nat-learner - 30 s and 5 min NATs: settles below the timeout and stays there', () => {
  const r30 = simulate({ path: fixedPath(30_000), durationMs: 24 * HOUR, seed: 11 });
  assert.ok(r30.settledAtMs! < HOUR);
  report('30 s NAT', r30, 1);
  assert.equal(r30.drops.filter((d) => d.atMs > r30.settledAtMs!).length, 0);
  assert.ok(mean(r30.pingsPerHour.slice(1)) < 170);

  const r5 = simulate({ path: fixedPath(300_000), durationMs: 23 * HOUR, seed: 12 });
  assert.ok(r5.settledAtMs! < 8 * HOUR, `settled at ${r5.settledAtMs}`);
  const rate5 = report('5 min NAT', r5, Math.ceil(r5.settledAtMs! / HOUR));
  assert.equal(r5.drops.filter((d) => d.atMs > r5.settledAtMs!).length, 0);
  assert.ok(rate5 <= 15, `${rate5}/h`); // ≈ 3600 / (295 s − 5 s margin, − jitter)
});

test('nat-learner - no NAT: climbs to maxIntervalMs and stays there, never above', () => {
  const r = simulate({ path: fixedPath(Infinity), durationMs: 2 * DAY, seed: 21 });
  assert.ok(r.settledAtMs !== undefined);
  report('no NAT', r, Math.ceil(r.settledAtMs! / HOUR));
  assert.equal(r.drops.length, 0);
  assert.equal(r.intervals.at(-1), NAT_LEARNER_DEFAULTS.maxIntervalMs);
  assert.ok(Math.max(...r.intervals) <= NAT_LEARNER_DEFAULTS.maxIntervalMs);
});

test('nat-learner - a NAT shorter than the minimum: stays at minIntervalMs, never below', () => {
  const r = simulate({ path: fixedPath(10_000), durationMs: 2 * HOUR, seed: 31 });
  assert.ok(Math.min(...r.intervals) >= NAT_LEARNER_DEFAULTS.minIntervalMs);
  assert.ok(r.intervals.every((i) => i === NAT_LEARNER_DEFAULTS.minIntervalMs));
});

test('nat-learner - re-probes on an unchanged NAT are bounded: one drop each, ever further apart', () => {
  const r = simulate({ path: fixedPath(60_000), durationMs: 60 * DAY, seed: 41 });
  const settled = r.settledAtMs!;
  const late = r.drops.filter((d) => d.atMs > settled);
  report('60 s NAT, 60 days', r, 1);
  console.log(`#   re-probe drops at days ${late.map((d) => (d.atMs / DAY).toFixed(1)).join(', ')}`);
  assert.ok(late.every((d) => d.reprobe), 'after settling, only re-probes ever drop');
  // 24 h, then 48 h, 96 h, 192 h, then every 8 days (±10 %): ≤ 10 in 60 days.
  assert.ok(late.length >= 3 && late.length <= 10, `${late.length} re-probe drops`);
  for (let i = 1; i < late.length; i++) assert.ok(late[i]!.atMs - late[i - 1]!.atMs >= 0.9 * DAY);
  assert.ok(mean(r.pingsPerHour.slice(1)) <= 75);
});

test('nat-learner - re-probe finds a NAT that became more generous (60 s → 5 min)', () => {
  const r = simulate({ path: [{ fromMs: 0, natTimeoutMs: 60_000 }, { fromMs: 2 * DAY, natTimeoutMs: 300_000 }], durationMs: 6 * DAY, seed: 51 });
  const last = mean(r.pingsPerHour.slice(-24));
  console.log(`# 60 s → 5 min at day 2: last day ${last.toFixed(1)} pings/h`);
  assert.ok(last < 20, `${last}/h`);
});

test('nat-learner - network switch 60 s → 20 s: adapts within minutes, then no drops', () => {
  const switchMs = 3 * HOUR;
  const r = simulate({ path: [{ fromMs: 0, natTimeoutMs: 60_000 }, { fromMs: switchMs, natTimeoutMs: 20_000 }], durationMs: 12 * HOUR, seed: 61 });
  const after = r.drops.filter((d) => d.atMs > switchMs);
  console.log(`# 60 s → 20 s at 3 h: ${after.length} drops after the switch, last at +${((after.at(-1)!.atMs - switchMs) / 60_000).toFixed(1)} min`);
  assert.ok(after.length >= 1 && after.length <= 4, `${after.length} drops`);
  assert.ok(after.at(-1)!.atMs - switchMs < HOUR);
  const final = r.learner.state;
  assert.equal(final.phase, 'settled');
  assert.ok(r.intervals.at(-1)! * 1.1 < 20_000 || r.intervals.at(-1) === NAT_LEARNER_DEFAULTS.minIntervalMs);
});

test('nat-learner - coarse NAT sweep (T = 60 s + U[0, 10 s)): lucky survivals heal, drops stay rare', () => {
  const r = simulate({ path: fixedPath(60_000), durationMs: 2 * DAY, seed: 71, sweepMs: 10_000 });
  const rate = report('60 s NAT with 10 s sweep', r, 1);
  const unplanned = r.drops.filter((d) => !d.reprobe && d.atMs > 2 * HOUR);
  assert.ok(unplanned.length <= 2, `${unplanned.length} drops after 2 h`);
  assert.ok(rate <= 80, `${rate}/h`);
});

test('nat-learner - the rules step by step with plain numbers', () => {
  const o = { minIntervalMs: 10_000, maxIntervalMs: 100_000, stepMs: 10_000, resolutionMs: 2_000, successesToStepUp: 2, safetyMarginMs: 3_000, jitterRatio: 0, reprobeAfterMs: 1_000_000, maxReprobeAfterMs: 4_000_000 };
  const l = new NatLearner(o, undefined, () => 0.5);
  let now = EPOCH;
  const tick = () => (now += 1000);
  assert.equal(l.currentIntervalMs(now), 10_000, 'rule 1: start at the minimum');
  assert.equal(l.helloIntervalMs(now), 16_000, 'HELLO: room for probes, within 1.6 × current (ping-rate guard)');
  l.survived(10_000, tick());
  assert.equal(l.currentIntervalMs(now), 10_000, 'one survival is not a run');
  l.survived(10_000, tick());
  assert.equal(l.currentIntervalMs(now), 20_000, 'rule 3: step up by stepMs');
  assert.ok(l.probing);
  l.survived(20_000, tick());
  l.survived(20_000, tick());
  assert.equal(l.currentIntervalMs(now), 30_000);
  l.died(30_000, tick());
  assert.equal(l.currentIntervalMs(now), 20_000, 'rule 4: back to the last known-good');
  assert.equal(l.state.badMs, 30_000);
  assert.equal(l.helloIntervalMs(now), 30_000, 'known bad: HELLO just covers it');
  l.survived(20_000, tick());
  l.survived(20_000, tick());
  assert.equal(l.currentIntervalMs(now), 25_000, 'rule 3: bisect between good and bad');
  l.survived(25_000, tick());
  l.survived(25_000, tick());
  assert.equal(l.currentIntervalMs(now), 27_500);
  l.died(27_500, tick());
  assert.equal(l.currentIntervalMs(now), 25_000);
  l.survived(25_000, tick());
  l.survived(25_000, tick());
  assert.equal(l.currentIntervalMs(now), 26_250);
  l.survived(26_250, tick());
  l.survived(26_250, tick());
  // bad − good = 1250 ≤ resolution → rule 5: settle at good − margin.
  assert.equal(l.phase, 'settled');
  assert.equal(l.currentIntervalMs(now), 23_250);
  assert.equal(l.state.nextProbeAtMs, now + 1_000_000, 'rng 0.5 → no jitter on the probe deadline');
  // Rule 7: not before the deadline, and only on a connection that proved itself.
  now = l.state.nextProbeAtMs + 1;
  l.connectionStarted();
  assert.equal(l.currentIntervalMs(now), 23_250, 'a fresh connection first proves itself');
  l.survived(23_250, tick());
  l.survived(23_250, tick());
  assert.equal(l.currentIntervalMs(now), 36_250, 'probe at max(bad, good + step)');
  assert.equal(l.state.reprobing, true);
  l.died(36_250, tick());
  assert.equal(l.currentIntervalMs(now), 23_250, 'failed re-probe: straight back to the settled interval');
  assert.equal(l.state.reprobeFailures, 1);
  assert.equal(l.state.nextProbeAtMs, now + 2_000_000, 'and the next one waits twice as long');
  // Rule 6: a death at the settled interval means the path changed; re-learn from the minimum.
  l.died(23_250, tick());
  assert.equal(l.phase, 'probing');
  assert.equal(l.currentIntervalMs(now), 10_000);
  assert.equal(l.state.badMs, 23_250);
  assert.equal(l.state.goodMs, 0);
  // Rule 8: a death after less idle than the minimum says nothing.
  const before = l.state;
  l.died(5_000, tick());
  assert.deepEqual({ ...l.state, updatedAtMs: 0 }, { ...before, updatedAtMs: 0 });
  // Rule 2: surviving past the known bad forgets it.
  l.survived(24_000, tick());
  assert.equal(l.state.badMs, null);
});

test('nat-learner - state round-trips through JSON and resumes where it left off', () => {
  const r = simulate({ path: fixedPath(60_000), durationMs: 3 * HOUR, seed: 81 });
  const saved = JSON.parse(JSON.stringify(r.learner.state)) as NatLearnerState;
  assert.deepEqual(saved, r.learner.state);
  const again = new NatLearner({}, saved, seededRandom(9));
  assert.equal(again.phase, 'settled');
  assert.equal(again.currentIntervalMs(EPOCH + 3 * HOUR), r.learner.currentIntervalMs(EPOCH + 3 * HOUR));
  // A restarted client on the same path: no re-learning, no drop, the settled rate from the start.
  const next = simulate({ path: fixedPath(60_000), durationMs: 3 * HOUR, seed: 82, learner: again });
  assert.equal(next.drops.length, 0);
  assert.ok(next.pingsPerHour[0]! <= 75, `${next.pingsPerHour[0]} in the first hour`);
});

test('nat-learner - invalid stored state starts afresh; stored targets outside new bounds are clamped', () => {
  for (const junk of [null, 42, 'x', {}, { version: 2 }, { version: 1, phase: 'nope' }] as unknown[]) {
    const l = new NatLearner({}, junk as NatLearnerState);
    assert.equal(l.currentIntervalMs(EPOCH), NAT_LEARNER_DEFAULTS.minIntervalMs);
  }
  const wide = simulate({ path: fixedPath(Infinity), durationMs: 2 * DAY, seed: 91 }).learner.state;
  const narrow = new NatLearner({ maxIntervalMs: 60_000 }, wide);
  assert.equal(narrow.currentIntervalMs(EPOCH + 2 * DAY), 60_000);
});

test('nat-learner - a wall clock stepped backwards re-draws the re-probe deadline', () => {
  const l = simulate({ path: fixedPath(60_000), durationMs: 2 * HOUR, seed: 101 }).learner;
  const settledTarget = l.state.targetMs;
  l.currentIntervalMs(EPOCH - 10 * DAY);
  assert.ok(l.state.nextProbeAtMs < EPOCH, 'deadline now relative to the stepped clock');
  assert.equal(l.state.targetMs, settledTarget);
});

test('nat-learner - options are validated, naming the option', () => {
  assert.throws(() => new NatLearner({ minIntervalMs: 0 }), InvalidOptionError);
  assert.throws(() => new NatLearner({ minIntervalMs: 20_000, maxIntervalMs: 10_000 }), /maxIntervalMs/);
  assert.throws(() => new NatLearner({ successesToStepUp: 1.5 }), /successesToStepUp/);
  assert.throws(() => new NatLearner({ jitterRatio: 2 }), /jitterRatio/);
  assert.throws(() => new NatLearner({ reprobeAfterMs: 10, maxReprobeAfterMs: 5 }), /maxReprobeAfterMs/);
  assert.throws(() => new NatLearner({ safetyMarginMs: Number.NaN }), /safetyMarginMs/);
});

test('nat-learner - non-finite inputs are ignored', () => {
  const l = new NatLearner();
  const s = l.state;
  l.survived(Number.NaN, EPOCH);
  l.died(Infinity, EPOCH);
  l.survived(-1, EPOCH);
  assert.deepEqual(l.state, s);
});
