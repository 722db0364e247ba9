import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_PING_YET, PingRateGuard, PingRatePolicy, type PingRateState, type PingRateVerdict } from '../../../src/liveness/enforcement.js';
import { InvalidOptionError } from '../../../src/errors.js';

/** Feed PING arrival times, collect verdicts. */
function run(arrivalsMs: readonly number[], opts = { minPingIntervalMs: 500, maxStrikes: 2 }): PingRateVerdict[] {
  const guard = new PingRateGuard(opts);
  return arrivalsMs.map((t) => guard.onPing(t));
}

const cases: { name: string; arrivals: number[]; expected: PingRateVerdict[]; opts?: { minPingIntervalMs: number; maxStrikes: number } }[] = [
  { name: 'the first PING is always fine, however early', arrivals: [0], expected: ['ok'] },
  { name: 'PINGs one interval apart are fine forever', arrivals: [1000, 2000, 3000, 4000, 5000], expected: ['ok', 'ok', 'ok', 'ok', 'ok'] },
  { name: 'exactly the minimum spacing is fine', arrivals: [0, 500, 1000], expected: ['ok', 'ok', 'ok'] },
  { name: 'just under the minimum spacing is a strike', arrivals: [0, 499.9], expected: ['ok', 'strike'] },
  {
    name: 'a back-to-back flood: strikes up to maxStrikes, then too-many',
    arrivals: [0, 0, 0, 0],
    expected: ['ok', 'strike', 'strike', 'too-many'],
  },
  {
    name: 'too-many is sticky, even for a well-spaced PING afterwards',
    arrivals: [0, 1, 2, 3, 10_000, 20_000],
    expected: ['ok', 'strike', 'strike', 'too-many', 'too-many', 'too-many'],
  },
  {
    name: 'one late client timer (a single early arrival) is forgiven by the next well-spaced PING',
    arrivals: [0, 1000, 1300, 2300, 3300],
    expected: ['ok', 'ok', 'strike', 'ok', 'ok'],
  },
  {
    name: 'isolated strikes separated by good PINGs never add up',
    arrivals: [0, 100, 700, 800, 1400, 1500, 2100, 2200, 2800, 2900],
    expected: ['ok', 'strike', 'ok', 'strike', 'ok', 'strike', 'ok', 'strike', 'ok', 'strike'],
  },
  {
    name: 'spacing is measured from the previous PING, not the last valid one: a steady too-fast rate is caught',
    // Every 300 ms with a 500 ms minimum. Measured from the last *valid* PING (A8) this would
    // alternate strike/ok forever; measured from the previous PING every one is a strike.
    arrivals: [0, 300, 600, 900],
    expected: ['ok', 'strike', 'strike', 'too-many'],
  },
  {
    name: 'maxStrikes 0: the first early PING is already too many',
    arrivals: [0, 1000, 1001],
    expected: ['ok', 'ok', 'too-many'],
    opts: { minPingIntervalMs: 500, maxStrikes: 0 },
  },
  {
    name: 'minPingIntervalMs 0: never a strike',
    arrivals: [0, 0, 0, 0, 0, 0],
    expected: ['ok', 'ok', 'ok', 'ok', 'ok', 'ok'],
    opts: { minPingIntervalMs: 0, maxStrikes: 0 },
  },
];

for (const c of cases) {
  test(`PingRateGuard - ${c.name}`, () => {
    assert.deepEqual(run(c.arrivals, c.opts), c.expected);
  });
}

test('PingRateGuard - strikes counts consecutive early PINGs and resets on a good one', () => {
  const guard = new PingRateGuard({ minPingIntervalMs: 500, maxStrikes: 5 });
  guard.onPing(0);
  assert.equal(guard.strikes, 0);
  guard.onPing(10);
  guard.onPing(20);
  assert.equal(guard.strikes, 2);
  guard.onPing(600);
  assert.equal(guard.strikes, 0);
});

test('PingRateGuard - rejects unusable options, naming them', () => {
  const bad: [number, number, RegExp][] = [
    [-1, 2, /minPingIntervalMs/],
    [NaN, 2, /minPingIntervalMs/],
    [Infinity, 2, /minPingIntervalMs/],
    [500, -1, /maxStrikes/],
    [500, 1.5, /maxStrikes/],
    [500, NaN, /maxStrikes/],
  ];
  for (const [minPingIntervalMs, maxStrikes, name] of bad) {
    assert.throws(() => new PingRateGuard({ minPingIntervalMs, maxStrikes }), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError);
      assert.match(err.message, name);
      return true;
    });
  }
});

test('PingRatePolicy - one shared policy judges each peer by its own two numbers, like a guard each', () => {
  const policy = new PingRatePolicy({ minPingIntervalMs: 500, maxStrikes: 1 });
  const a: PingRateState = { lastPingAtMs: 0, pingStrikes: NO_PING_YET };
  const b: PingRateState = { lastPingAtMs: 0, pingStrikes: NO_PING_YET };
  const guard = new PingRateGuard({ minPingIntervalMs: 500, maxStrikes: 1 });
  const arrivalsA = [0, 100, 200, 300];
  const verdictsA = arrivalsA.map((t, i) => [policy.onPing(a, t), policy.onPing(b, t * 10 + i)]);
  assert.deepEqual(verdictsA.map(([va]) => va), arrivalsA.map((t) => guard.onPing(t)));
  assert.deepEqual(verdictsA.map(([, vb]) => vb), ['ok', 'ok', 'ok', 'ok']);
  assert.deepEqual(verdictsA.map(([va]) => va), ['ok', 'strike', 'too-many', 'too-many']);
});
