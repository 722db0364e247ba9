import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff, BACKOFF_DEFAULTS, applyRetryAfter } from '../../../src/liveness/backoff.js';
import { InvalidOptionError } from '../../../src/errors.js';

/** rng that always returns `u`: 0.5 puts every jittered delay exactly on its base. */
const constant = (u: number) => () => u;

/** A small seeded generator (mulberry32), so failures reproduce. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const take = (b: Backoff, n: number) => Array.from({ length: n }, () => b.next());
const close = (actual: number[], expected: number[]) =>
  assert.deepEqual(actual.map((x) => Math.round(x * 1000) / 1000), expected, `got ${actual.join(', ')}`);

test('backoff - defaults are gRPC connection-backoff.md: 1 s, x1.6, ±20 %, 120 s', () => {
  assert.deepEqual(BACKOFF_DEFAULTS, { initialDelay: 1000, multiplier: 1.6, jitter: 0.2, maxDelay: 120_000, fullJitterFirst: false });
});

test('backoff - without jitter the sequence is initial × multiplier^(n-1)', () => {
  close(take(new Backoff({}, constant(0.5)), 6), [1000, 1600, 2560, 4096, 6553.6, 10485.76]);
  close(take(new Backoff({ initialDelay: 50, multiplier: 2, jitter: 0 }, constant(0.9)), 4), [50, 100, 200, 400]);
});

test('backoff - the base is capped at maxDelay, and stays finite after many attempts', () => {
  const b = new Backoff({ initialDelay: 100, multiplier: 2, maxDelay: 1000 }, constant(0.5));
  close(take(b, 6), [100, 200, 400, 800, 1000, 1000]);
  for (let i = 0; i < 10_000; i++) b.next();
  assert.equal(b.next(), 1000);
  assert.equal(b.attempt, 10_007);
  // Defaults: 1 s × 1.6^n reaches 120 s at the 12th delay.
  const d = take(new Backoff({}, constant(0.5)), 14);
  assert.ok(d[10]! < 120_000 && d[11] === 120_000 && d[13] === 120_000, d.join(', '));
});

test('backoff - jitter keeps each delay within base × (1 ± jitter), at the extremes of rng', () => {
  close(take(new Backoff({}, constant(0)), 3), [800, 1280, 2048]);
  const high = take(new Backoff({}, constant(1 - 2 ** -53)), 3);
  close(high, [1200, 1920, 3072]);
  // At the cap the jitter still applies (gRPC caps before jitter): up to maxDelay × 1.2.
  const capped = new Backoff({ initialDelay: 1000, maxDelay: 1000 }, constant(1 - 2 ** -53));
  assert.ok(Math.abs(capped.next() - 1200) < 1e-6);
});

test('backoff - with a random rng every delay is inside its band and the band is used on both sides', () => {
  const rng = seeded(42);
  for (let run = 0; run < 200; run++) {
    const b = new Backoff({ initialDelay: 50, maxDelay: 2000 }, rng);
    let base = 50;
    for (let n = 1; n <= 12; n++) {
      const d = b.next();
      assert.ok(d >= base * 0.8 && d < base * 1.2, `attempt ${n}: ${d} outside [${base * 0.8}, ${base * 1.2})`);
      base = Math.min(base * 1.6, 2000);
    }
  }
  // Two thousand clients starting together disperse: first delays fill the ±20 % band.
  const firsts = Array.from({ length: 2000 }, () => new Backoff({}, rng).next());
  const below = firsts.filter((d) => d < 1000).length;
  assert.ok(below > 900 && below < 1100, `${below} of 2000 below the base`);
  assert.ok(Math.min(...firsts) < 810 && Math.max(...firsts) > 1190);
});

test('backoff - fullJitterFirst: the first delay is uniform in [0, initialDelay), then the gRPC sequence', () => {
  const b = new Backoff({ fullJitterFirst: true }, constant(0.5));
  close(take(b, 4), [500, 1000, 1600, 2560]);
  close(take(new Backoff({ fullJitterFirst: true }, constant(0)), 2), [0, 800]);
  const rng = seeded(7);
  const firsts = Array.from({ length: 10_000 }, () => new Backoff({ fullJitterFirst: true }, rng).next());
  assert.ok(firsts.every((d) => d >= 0 && d < 1000));
  // Uniform: each tenth of the window holds about 10 %.
  const buckets = Array.from({ length: 10 }, (_, i) => firsts.filter((d) => Math.floor(d / 100) === i).length);
  for (const count of buckets) assert.ok(count > 850 && count < 1150, `buckets ${buckets.join(' ')}`);
});

test('backoff - reset() starts over from the first delay; attempt counts delays since reset', () => {
  const b = new Backoff({ fullJitterFirst: true }, constant(0.5));
  assert.equal(b.attempt, 0);
  take(b, 5);
  assert.equal(b.attempt, 5);
  b.reset();
  assert.equal(b.attempt, 0);
  close(take(b, 2), [500, 1000]);
  assert.equal(b.attempt, 2);
});

test('backoff - unusable options fail fast and name the option', () => {
  const bad: [object, RegExp][] = [
    [{ initialDelay: 0 }, /initialDelay/],
    [{ initialDelay: Number.NaN }, /initialDelay/],
    [{ multiplier: 0.5 }, /multiplier/],
    [{ jitter: 1.5 }, /jitter/],
    [{ jitter: -0.1 }, /jitter/],
    [{ maxDelay: Infinity }, /maxDelay/],
    [{ initialDelay: 2000, maxDelay: 1000 }, /maxDelay.*at least initialDelay/],
    [{ fullJitterFirst: 'yes' }, /fullJitterFirst/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => new Backoff(options as never), (err: unknown) => err instanceof InvalidOptionError && message.test(err.message), JSON.stringify(options));
  }
  // jitter 0 and multiplier 1 (a constant delay) are allowed.
  close(take(new Backoff({ jitter: 0, multiplier: 1 }, constant(0.3)), 3), [1000, 1000, 1000]);
});

test('backoff - applyRetryAfter: a minimum, spread upwards by the jitter; longer delays are kept', () => {
  assert.equal(applyRetryAfter(300, 0, 0.2, constant(0.5)), 300, 'no request');
  assert.equal(applyRetryAfter(5000, 2000, 0.2, constant(0.5)), 5000, 'already longer');
  assert.equal(applyRetryAfter(300, 2000, 0.2, constant(0)), 2000);
  assert.equal(applyRetryAfter(300, 2000, 0.2, constant(0.5)), 2200);
  const rng = seeded(3);
  const delays = Array.from({ length: 1000 }, () => applyRetryAfter(100, 2000, 0.2, rng));
  assert.ok(delays.every((d) => d >= 2000 && d < 2400));
  assert.ok(Math.max(...delays) - Math.min(...delays) > 300, 'clients sent away together do not come back together');
});
