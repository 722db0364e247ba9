import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InvalidOptionError } from '../../../src/errors.js';
import {
  createDetector,
  FixedTimeoutDetector,
  PhiAccrualDetector,
  phiOf,
  standardizedSilenceAt,
  validateDetectorSpec,
  type FailureDetector,
} from '../../../src/liveness/detectors/index.js';
import type { PhiAccrualOptions } from '../../../src/liveness/detectors/phi-accrual.js';
import { seededRandom as mulberry32 } from '../../../src/time/rng.js';

const normal = (rng: () => number): number => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());

/** Feeds arrivals at the given gaps; returns the time of the last arrival. */
function feed(d: FailureDetector, startMs: number, gapsMs: Iterable<number>): number {
  let t = startMs;
  for (const gap of gapsMs) d.arrival((t += gap));
  return t;
}
const repeat = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
const isInvalid = (name: string) => (e: unknown) => e instanceof InvalidOptionError && e.message.includes(name);

/** As createDetector builds it for a client with interval 1000 ms and timeout 3000 ms. */
const idleDefaults: PhiAccrualOptions = { acceptablePauseMs: 2000, expectedIdleGapMs: 1000 };

test('FixedTimeoutDetector - dead exactly at lastArrival + timeoutMs (table)', () => {
  const cases: Array<{ arrivals: number[]; atMs: number; dead: boolean; suspicion: number }> = [
    { arrivals: [], atMs: 2999, dead: false, suspicion: 2999 / 3000 },
    { arrivals: [], atMs: 3000, dead: true, suspicion: 1 },
    { arrivals: [100], atMs: 3099, dead: false, suspicion: 2999 / 3000 },
    { arrivals: [100], atMs: 3100, dead: true, suspicion: 1 },
    { arrivals: [100, 50], atMs: 3100, dead: true, suspicion: 1 }, // a stale arrival does not move it back
    { arrivals: [2000], atMs: 1000, dead: false, suspicion: 0 },
  ];
  for (const { arrivals, atMs, dead, suspicion } of cases) {
    const d = new FixedTimeoutDetector(3000, 0);
    for (const a of arrivals) d.arrival(a);
    assert.equal(d.kind, 'fixed');
    assert.equal(d.isDead(atMs), dead, `${arrivals} @${atMs}`);
    assert.equal(d.suspicion(atMs), suspicion);
    assert.equal(d.deadlineMs(), Math.max(0, ...arrivals) + 3000);
  }
  assert.throws(() => new FixedTimeoutDetector(0, 0), isInvalid('timeoutMs'));
  assert.throws(() => new FixedTimeoutDetector(1000, Number.NaN), isInvalid('nowMs'));
});

test('PhiAccrualDetector - regular 1 s arrivals: phi low, alive at 1.5 s of silence, dead well before 10 s', () => {
  const rng = mulberry32(1);
  const d = new PhiAccrualDetector(idleDefaults, 0);
  const last = feed(d, 0, repeat(300, () => 1050 + 10 * normal(rng)));
  assert.ok(d.suspicion(last + 1050) < 1e-6, `phi at a normal gap: ${d.suspicion(last + 1050)}`);
  assert.ok(d.suspicion(last + 1500) < 1e-3);
  assert.equal(d.isDead(last + 1500), false);
  assert.equal(d.isDead(last + 10_000), true);
  assert.ok(d.deadlineMs() < last + 10_000);
  // Pure Hayashibara (no pause, no floor) on the same arrivals is far tighter, still not at 1.5 s... of a 1 s cadence.
  const pure = new PhiAccrualDetector({ acceptablePauseMs: 0, expectedIdleGapMs: 0, firstHeartbeatEstimateMs: 1000 }, 0);
  const lastPure = feed(pure, 0, repeat(300, () => 1000 + 10 * normal(rng)));
  assert.ok(pure.suspicion(lastPure + 1000) < 0.5);
  assert.equal(pure.isDead(lastPure + 1500), false);
  assert.equal(pure.isDead(lastPure + 2000), true);
});

test('PhiAccrualDetector - deadlineMs() agrees with isDead() and with phi = threshold (property)', () => {
  const options = fc.record({
    threshold: fc.double({ min: 0.05, max: 30, noNaN: true }),
    maxSampleSize: fc.integer({ min: 1, max: 40 }),
    minStdDeviationMs: fc.double({ min: 0.5, max: 500, noNaN: true }),
    acceptablePauseMs: fc.double({ min: 0, max: 5000, noNaN: true }),
    expectedIdleGapMs: fc.double({ min: 0, max: 3000, noNaN: true }),
    firstHeartbeatEstimateMs: fc.double({ min: 1, max: 3000, noNaN: true }),
  });
  const gaps = fc.oneof(
    fc.array(fc.double({ min: 0, max: 10_000, noNaN: true }), { maxLength: 60 }), // uniform
    fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 0, max: 2000 }), fc.integer()).map(([mean, sd, seed]) => {
      const rng = mulberry32(seed);
      return repeat(50, () => Math.max(0, mean + sd * normal(rng))); // normal
    }),
    fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.double({ min: 0, max: 1.5, noNaN: true }), fc.integer()).map(([median, sigma, seed]) => {
      const rng = mulberry32(seed);
      return repeat(50, () => median * Math.exp(sigma * normal(rng))); // lognormal
    }),
  );
  fc.assert(
    fc.property(options, gaps, fc.double({ min: -1e6, max: 1e6, noNaN: true }), (opts, g, startMs) => {
      const d = new PhiAccrualDetector(opts, startMs);
      const last = feed(d, startMs, g);
      const deadline = d.deadlineMs();
      assert.ok(Number.isFinite(deadline) && deadline >= last);
      assert.equal(d.isDead(deadline - 1), false);
      assert.equal(d.isDead(deadline), true);
      assert.equal(d.isDead(deadline + 1), true);
      const phi = d.suspicion(deadline);
      if (deadline - last > d.minSilenceMs + 1e-6) assert.ok(Math.abs(phi - opts.threshold) < 1e-6 * Math.max(1, opts.threshold), `phi ${phi}`);
      else assert.ok(phi >= opts.threshold - 1e-6, 'the hard floor only ever delays death');
      assert.ok(d.sampleCount <= opts.maxSampleSize);
    }),
    { numRuns: 400 },
  );
});

test('PhiAccrualDetector - busy traffic then idle cadence does not false-alarm (the floor); without the floor it does', () => {
  const run = (expectedIdleGapMs: number): number => {
    const d = new PhiAccrualDetector({ acceptablePauseMs: 500, expectedIdleGapMs, firstHeartbeatEstimateMs: 1000 }, 0);
    const rng = mulberry32(7);
    let t = feed(d, 0, repeat(600, () => 10)); // 6 s of data, a frame every 10 ms
    let alarms = 0;
    for (let i = 0; i < 100; i++) {
      const gap = 1000 + 100 + 20 * normal(rng); // PING after 1 s idle, PONG after ~100 ms
      if (d.isDead(t + gap)) alarms++;
      d.arrival((t += gap));
    }
    return alarms;
  };
  assert.equal(run(1000), 0);
  assert.ok(run(0) > 0, 'control: a detector that learned 10 ms gaps declares the first idle gap dead');
});

test('PhiAccrualDetector - false alarms fall as the threshold rises (normal, lognormal, bimodal gaps)', () => {
  const distributions: Record<string, (rng: () => number) => number> = {
    normal: (r) => 1000 + 100 * normal(r),
    lognormal: (r) => 1000 * Math.exp(0.3 * normal(r)),
    bimodal: (r) => (r() < 0.8 ? 1000 + 30 * normal(r) : 1500 + 50 * normal(r)),
  };
  const thresholds = [1, 2, 3, 5, 8, 12];
  for (const [name, draw] of Object.entries(distributions)) {
    const rates = thresholds.map((threshold) => {
      const d = new PhiAccrualDetector({ threshold, minStdDeviationMs: 1, acceptablePauseMs: 0, expectedIdleGapMs: 0, firstHeartbeatEstimateMs: 1000 }, 0);
      const rng = mulberry32(42);
      let t = 0;
      let alarms = 0;
      const n = 20_000;
      for (let i = 0; i < n; i++) {
        const gap = Math.max(0, draw(rng));
        if (i >= 100 && d.isDead(t + gap)) alarms++; // after a short warm-up
        d.arrival((t += gap));
      }
      return alarms / n;
    });
    for (let i = 1; i < rates.length; i++) assert.ok(rates[i]! <= rates[i - 1]!, `${name}: ${rates}`);
    assert.ok(rates[0]! > 0 && rates[0]! > rates[rates.length - 1]!, `${name}: ${rates}`);
    if (name === 'normal') {
      // phi is calibrated on normal gaps: P(false alarm) ≈ 10^-threshold (θ=1 less so: a tenth
      // of its samples are clamped at the deadline, which trims the learned tail).
      assert.ok(rates[1]! > 0.005 && rates[1]! < 0.02, `θ=2: ${rates[1]}`);
      assert.ok(rates[2]! > 0.0003 && rates[2]! < 0.003, `θ=3: ${rates[2]}`);
    }
  }
});

test('detectors - forgive(ms) postpones the deadline by exactly ms and counts no sample', () => {
  const fixed = new FixedTimeoutDetector(3000, 0);
  fixed.arrival(500);
  fixed.forgive(1234);
  assert.equal(fixed.deadlineMs(), 500 + 1234 + 3000);
  assert.equal(fixed.isDead(4733), false);
  assert.equal(fixed.isDead(4734), true);

  const phi = new PhiAccrualDetector(idleDefaults, 0);
  const last = feed(phi, 0, repeat(20, () => 1000));
  const before = phi.deadlineMs();
  const samples = phi.sampleCount;
  phi.forgive(1234);
  assert.ok(Math.abs(phi.deadlineMs() - (before + 1234)) < 1e-9);
  assert.equal(phi.sampleCount, samples);
  assert.equal(phi.isDead(before + 1000), false);
  // The next gap is measured from the forgiven reference: a frame 1000 ms after it is a normal gap.
  const meanBefore = phi.meanMs;
  phi.arrival(last + 1234 + 1000);
  assert.equal(phi.meanMs, meanBefore);
  phi.forgive(0);
  for (const bad of [-1, Number.NaN, Infinity]) {
    assert.throws(() => phi.forgive(bad), isInvalid('forgive'));
    assert.throws(() => fixed.forgive(bad), isInvalid('forgive'));
  }
});

test('PhiAccrualDetector - the ring buffer caps at maxSampleSize and forgets the oldest', () => {
  const d = new PhiAccrualDetector({ maxSampleSize: 10, acceptablePauseMs: 0, expectedIdleGapMs: 0, firstHeartbeatEstimateMs: 1000 }, 0);
  assert.equal(d.sampleCount, 2); // Akka's bootstrap: mean ± mean/4
  assert.equal(d.meanMs, 1000);
  assert.equal(d.stdDeviationMs, 250);
  feed(d, 0, repeat(50, () => 1000));
  assert.equal(d.sampleCount, 10);
  feed(d, 50_000, repeat(50, () => 1500));
  assert.equal(d.sampleCount, 10);
  assert.equal(d.meanMs, 1500);
  assert.equal(d.stdDeviationMs, 100, 'zero variance falls back to minStdDeviationMs');
});

test('PhiAccrualDetector - numerical edges: no NaN, no Infinity, no negative phi', () => {
  const d = new PhiAccrualDetector({ acceptablePauseMs: 0, expectedIdleGapMs: 1000 }, 0);
  feed(d, 0, repeat(100, () => 1000)); // zero variance
  for (const silence of [0, 1, 1000, 1e4, 1e7, 1e12]) {
    const phi = d.suspicion(100_000 + silence);
    assert.ok(Number.isFinite(phi) && phi >= 0, `silence ${silence}: ${phi}`);
  }
  assert.equal(d.isDead(1e15), true);
  assert.ok(d.suspicion(100_000 - 5000) >= 0, 'a time before the last arrival counts as no silence');
  // phiOf matches Akka's formula where that one is finite, and keeps going where it overflows.
  const akka = (y: number) => {
    const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
    return y > 0 ? -Math.log10(e / (1 + e)) : -Math.log10(1 - 1 / (1 + e));
  };
  for (const y of [-3, -1, 0, 0.5, 1, 2, 4, 8]) assert.ok(Math.abs(phiOf(y) - akka(y)) < 1e-9, `y=${y}`);
  assert.equal(akka(30), Infinity);
  assert.ok(Number.isFinite(phiOf(30)));
  for (const threshold of [1e-6, 0.3, 1, 8, 12, 100, 1000]) {
    assert.ok(Math.abs(phiOf(standardizedSilenceAt(threshold)) - threshold) < 1e-9 * Math.max(1, threshold));
  }
});

test('PhiAccrualDetector - hard floor: never dead before 1.5 × expectedIdleGapMs of silence', () => {
  const d = new PhiAccrualDetector({ threshold: 0.5, acceptablePauseMs: 0, expectedIdleGapMs: 1000 }, 0);
  const last = feed(d, 0, repeat(50, () => 1000));
  assert.equal(d.minSilenceMs, 1500);
  assert.equal(d.deadlineMs(), last + 1500);
  assert.ok(d.suspicion(last + 1499) > 0.5, 'phi alone would already have declared it');
  assert.equal(d.isDead(last + 1499), false);
});

test('PhiAccrualDetector - a gap past the deadline is clamped to it (not dropped); a stale arrival is ignored', () => {
  const d = new PhiAccrualDetector({ acceptablePauseMs: 0, expectedIdleGapMs: 1000 }, 0);
  const last = feed(d, 0, repeat(20, () => 1000));
  const count = d.sampleCount;
  d.arrival(last - 10);
  assert.equal(d.sampleCount, count);
  const deathSilenceMs = d.deadlineMs() - last;
  const total = d.meanMs * count;
  d.arrival(last + 60_000); // our check ran late: the frame still proves life
  assert.equal(d.sampleCount, count + 1);
  assert.ok(Math.abs(d.meanMs * (count + 1) - (total + deathSilenceMs)) < 1e-6, 'sampled at the deadline silence');
  assert.equal(d.isDead(last + 60_000 + 1000), false, 'the reference moved to the late arrival');
});

test('PhiAccrualDetector - invalid options throw InvalidOptionError naming the option', () => {
  const cases: Array<[string, Partial<PhiAccrualOptions>]> = [
    ['threshold', { threshold: 0 }],
    ['threshold', { threshold: Infinity }],
    ['maxSampleSize', { maxSampleSize: 0 }],
    ['maxSampleSize', { maxSampleSize: 1.5 }],
    ['maxSampleSize', { maxSampleSize: 1e7 }],
    ['minStdDeviationMs', { minStdDeviationMs: 0 }],
    ['acceptablePauseMs', { acceptablePauseMs: -1 }],
    ['expectedIdleGapMs', { expectedIdleGapMs: Number.NaN }],
    ['firstHeartbeatEstimateMs', { expectedIdleGapMs: 0 }],
  ];
  for (const [name, patch] of cases) {
    assert.throws(() => new PhiAccrualDetector({ ...idleDefaults, ...patch }, 0), isInvalid(name), name);
  }
});

test('createDetector - fixed by default; phi with pause = timeout − pingAfter and the idle floor', () => {
  const params = { timeoutMs: 3000, pingAfterMs: 1000, nowMs: 500 };
  for (const spec of [undefined, { kind: 'fixed' } as const]) {
    const d = createDetector(spec, params);
    assert.ok(d instanceof FixedTimeoutDetector);
    assert.equal(d.deadlineMs(), 3500);
  }
  const phi = createDetector({ kind: 'phi' }, params);
  assert.ok(phi instanceof PhiAccrualDetector);
  assert.equal(phi.threshold, 8);
  assert.equal(phi.maxSampleSize, 1000);
  assert.equal(phi.minStdDeviationMs, 100);
  assert.equal(phi.acceptablePauseMs, 2000);
  assert.equal(phi.expectedIdleGapMs, 1000);
  assert.equal(phi.meanMs, 1000);
  // With the defaults phi never judges sooner than the fixed timeout: it only adds margin.
  assert.ok(phi.deadlineMs() > 500 + 3000);
  const tuned = createDetector({ kind: 'phi', threshold: 3, maxSampleSize: 50, minStdDeviationMs: 20, acceptablePauseMs: 0 }, params);
  assert.ok(tuned instanceof PhiAccrualDetector);
  assert.deepEqual([tuned.threshold, tuned.maxSampleSize, tuned.minStdDeviationMs, tuned.acceptablePauseMs], [3, 50, 20, 0]);
});

test('validateDetectorSpec - accepts valid specs, names the offending option otherwise', () => {
  for (const ok of [undefined, { kind: 'fixed' }, { kind: 'phi' }, { kind: 'phi', threshold: 12, acceptablePauseMs: 0, maxSampleSize: 1 }]) {
    assert.doesNotThrow(() => validateDetectorSpec(ok, 'detector'));
  }
  const bad: Array<[unknown, string]> = [
    ['phi', 'detector'],
    [null, 'detector'],
    [{}, 'detector.kind'],
    [{ kind: 'gossip' }, 'detector.kind'],
    [{ kind: 'fixed', threshold: 8 }, 'detector.threshold'],
    [{ kind: 'phi', threshold: -1 }, 'detector.threshold'],
    [{ kind: 'phi', threshold: '8' }, 'detector.threshold'],
    [{ kind: 'phi', maxSampleSize: 0 }, 'detector.maxSampleSize'],
    [{ kind: 'phi', minStdDeviationMs: 0 }, 'detector.minStdDeviationMs'],
    [{ kind: 'phi', acceptablePauseMs: Number.NaN }, 'detector.acceptablePauseMs'],
    [{ kind: 'phi', toString: 1 }, 'detector.toString'],
    [{ kind: 'phi', treshold: 8 }, 'detector.treshold'],
  ];
  for (const [spec, name] of bad) {
    assert.throws(() => validateDetectorSpec(spec, 'detector'), isInvalid(`invalid option ${name}:`), JSON.stringify(spec));
  }
});
