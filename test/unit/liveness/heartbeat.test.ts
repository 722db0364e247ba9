import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cancel, Clock } from '../../../src/time/clock.js';
import { FakeClock } from '../../../src/time/fake-clock.js';
import { TimerScheduler } from '../../../src/time/scheduler.js';
import { TimerWheel } from '../../../src/time/wheel.js';
import { Heartbeat, type HeartbeatOptions, type HeartbeatVerdict } from '../../../src/liveness/heartbeat.js';
import { InvalidOptionError } from '../../../src/errors.js';
import { PING_ID_MODULO } from '../../../src/protocol/frames.js';
import { createDetector, FixedTimeoutDetector, type FailureDetector } from '../../../src/liveness/detectors/index.js';
import { seededRandom as mulberry32 } from '../../../src/time/rng.js';

const base = { intervalMs: 1000, timeoutMs: 3000 } as const;


/** Drives a Heartbeat the way the connection layer does: check at nextCheckAtMs, re-arm. */
function drive(clock: FakeClock, hb: Heartbeat, onVerdict: (v: HeartbeatVerdict) => void): void {
  const scheduler = new TimerScheduler(clock);
  const run = (): void => {
    const verdict = hb.check(clock.now());
    onVerdict(verdict);
    if (verdict.kind !== 'dead') scheduler.schedule(verdict.nextCheckAtMs, run);
  };
  scheduler.schedule(hb.nextCheckAtMs, run);
}

test('Heartbeat - pings only once the connection has been idle for intervalMs', () => {
  const hb = new Heartbeat(base, 0);
  assert.equal(hb.nextCheckAtMs, 1000);
  assert.deepEqual(hb.check(0), { kind: 'alive', nextCheckAtMs: 1000 });
  assert.deepEqual(hb.check(999), { kind: 'alive', nextCheckAtMs: 1000 });
  assert.deepEqual(hb.check(1000), { kind: 'ping', id: 0, nextCheckAtMs: 2000 });
});

test('Heartbeat - check is idempotent when nothing is due (no double ping)', () => {
  const hb = new Heartbeat(base, 0);
  assert.deepEqual(hb.check(500), hb.check(500));
  assert.equal(hb.check(1000).kind, 'ping');
  assert.deepEqual(hb.check(1000), { kind: 'alive', nextCheckAtMs: 2000 });
  assert.deepEqual(hb.check(1500), { kind: 'alive', nextCheckAtMs: 2000 });
});

test('Heartbeat - inbound traffic postpones the ping', () => {
  const hb = new Heartbeat(base, 0);
  hb.received(500);
  assert.equal(hb.lastSeenAtMs, 500);
  // A check scheduled for the old deadline just learns the new one (lazy re-check).
  assert.deepEqual(hb.check(1000), { kind: 'alive', nextCheckAtMs: 1500 });
  assert.deepEqual(hb.check(1500), { kind: 'ping', id: 0, nextCheckAtMs: 2500 });
});

test('Heartbeat - a busy connection never pings', () => {
  const clock = new FakeClock();
  const hb = new Heartbeat(base, 0);
  const verdicts: string[] = [];
  drive(clock, hb, (v) => verdicts.push(v.kind));
  for (let i = 0; i < 100; i++) {
    clock.advance(100);
    hb.received(clock.now());
  }
  assert.ok(verdicts.length > 0);
  assert.ok(verdicts.every((k) => k === 'alive'));
});

test('Heartbeat - outbound traffic does not count: silence pings on schedule and then dies', () => {
  // There is no "sent" input at all; a connection that only writes is driven by checks alone.
  const clock = new FakeClock();
  const hb = new Heartbeat(base, 0);
  const log: string[] = [];
  drive(clock, hb, (v) => {
    if (v.kind !== 'alive') log.push(`${v.kind}@${clock.now()}`);
  });
  clock.advance(10_000);
  assert.deepEqual(log, ['ping@1000', 'ping@2000', 'dead@3000']);
});

test('Heartbeat - repeats the ping every intervalMs while silent, with fresh ids', () => {
  const hb = new Heartbeat({ intervalMs: 1000, timeoutMs: 3500 }, 0);
  assert.deepEqual(hb.check(1000), { kind: 'ping', id: 0, nextCheckAtMs: 2000 });
  assert.deepEqual(hb.check(2000), { kind: 'ping', id: 1, nextCheckAtMs: 3000 });
  assert.deepEqual(hb.check(3000), { kind: 'ping', id: 2, nextCheckAtMs: 3500 });
  assert.deepEqual(hb.check(3500), { kind: 'dead', lastSeenAtMs: 0, sinceLastSeenMs: 3500, unansweredPings: 3 });
});

test('Heartbeat - a late check sends one ping and counts the next interval from it', () => {
  const hb = new Heartbeat({ intervalMs: 1000, timeoutMs: 5000 }, 0);
  assert.deepEqual(hb.check(2700), { kind: 'ping', id: 0, nextCheckAtMs: 3700 });
  assert.deepEqual(hb.check(2700), { kind: 'alive', nextCheckAtMs: 3700 });
});

test('Heartbeat - nextCheckAtMs is the earlier of the next ping and the death deadline', () => {
  const hb = new Heartbeat({ intervalMs: 1000, timeoutMs: 1500 }, 0);
  assert.deepEqual(hb.check(1000), { kind: 'ping', id: 0, nextCheckAtMs: 1500 });
  assert.equal(hb.nextCheckAtMs, 1500);
});

test('Heartbeat - dead exactly at lastSeen + timeoutMs, not 1 ms before', () => {
  const hb = new Heartbeat(base, 0);
  hb.received(100);
  hb.check(1100);
  hb.check(2100);
  assert.notEqual(hb.check(3099).kind, 'dead');
  assert.equal(hb.nextCheckAtMs, 3100);
  assert.deepEqual(hb.check(3100), { kind: 'dead', lastSeenAtMs: 100, sinceLastSeenMs: 3000, unansweredPings: 2 });
});

test('Heartbeat - dead at the deadline with fractional times too', () => {
  const hb = new Heartbeat({ intervalMs: 0.2, timeoutMs: 0.7 }, 0.1);
  hb.check(hb.nextCheckAtMs);
  hb.check(hb.nextCheckAtMs);
  hb.check(hb.nextCheckAtMs);
  const deadline = hb.nextCheckAtMs;
  assert.equal(hb.check(deadline).kind, 'dead');
});

test('Heartbeat - once dead, stays dead', () => {
  const hb = new Heartbeat(base, 0);
  const dead = hb.check(5000);
  assert.equal(dead.kind, 'dead');
  hb.received(5001);
  assert.equal(hb.pong(0, 5002) ?? 'none', 'none');
  assert.equal(hb.check(5003), dead);
  assert.equal(hb.check(99_999), dead);
  assert.equal(hb.nextCheckAtMs, Infinity);
});

test('Heartbeat - a stale timestamp does not move lastSeen backwards', () => {
  const hb = new Heartbeat(base, 1000);
  hb.received(900);
  assert.equal(hb.lastSeenAtMs, 1000);
});

test('Heartbeat - PONG gives the RTT, feeds the estimator, and counts as received', () => {
  const hb = new Heartbeat(base, 0);
  const ping = hb.check(1000);
  assert.equal(ping.kind, 'ping');
  assert.equal(hb.pong(0, 1040), 40);
  assert.equal(hb.rtt.lastMs, 40);
  assert.equal(hb.rtt.smoothedMs, 40);
  assert.equal(hb.rtt.samples, 1);
  assert.equal(hb.lastSeenAtMs, 1040);
  assert.deepEqual(hb.check(1500), { kind: 'alive', nextCheckAtMs: 2040 });
  assert.deepEqual(hb.check(2040), { kind: 'ping', id: 1, nextCheckAtMs: 3040 });
  assert.equal(hb.pong(1, 2120), 80);
  assert.equal(hb.rtt.smoothedMs, 40 + (80 - 40) / 8);
});

test('Heartbeat - a PONG answering an earlier repeat ping still matches its own id', () => {
  const hb = new Heartbeat({ intervalMs: 1000, timeoutMs: 5000 }, 0);
  hb.check(1000); // id 0
  hb.check(2000); // id 1
  assert.equal(hb.pong(0, 2050), 1050);
  assert.equal(hb.pong(1, 2060), 60);
});

test('Heartbeat - an unmatched PONG yields undefined but still proves life', () => {
  const hb = new Heartbeat(base, 0);
  assert.equal(hb.pong(5, 700), undefined);
  assert.equal(hb.lastSeenAtMs, 700);
  assert.equal(hb.rtt.samples, 0);
  hb.check(1700);
  assert.equal(hb.pong(0, 1710), 10);
  assert.equal(hb.pong(0, 1720), undefined, 'duplicate PONG');
  for (const id of [-1, PING_ID_MODULO, 1.5, Number.NaN]) assert.equal(hb.pong(id, 1730), undefined);
  assert.equal(hb.rtt.samples, 1);
  assert.equal(hb.lastSeenAtMs, 1730);
});

test('Heartbeat - ping ids cycle through 0..31', () => {
  const hb = new Heartbeat({ intervalMs: 10, timeoutMs: 10_000 }, 0);
  const ids: number[] = [];
  for (let t = 10; ids.length < 40; t += 10) {
    const v = hb.check(t);
    assert.equal(v.kind, 'ping');
    if (v.kind === 'ping') ids.push(v.id);
  }
  assert.deepEqual(ids, [...Array.from({ length: 32 }, (_, i) => i), 0, 1, 2, 3, 4, 5, 6, 7]);
});

test('Heartbeat - jitter draws from rng once per idle cycle, not per repeat or per frame', () => {
  const draws = [0.5, 0.25, 0.75];
  let calls = 0;
  const rng = (): number => draws[calls++]!;
  const hb = new Heartbeat({ intervalMs: 1000, timeoutMs: 5000, jitterMs: 200, rng }, 0);
  assert.equal(calls, 1);
  assert.equal(hb.nextCheckAtMs, 1100);
  assert.equal(hb.check(1099).kind, 'alive');
  assert.deepEqual(hb.check(1100), { kind: 'ping', id: 0, nextCheckAtMs: 2100 });
  assert.equal(calls, 2); // next cycle's jitter, drawn when this cycle's first ping went out
  assert.deepEqual(hb.check(2100), { kind: 'ping', id: 1, nextCheckAtMs: 3100 });
  assert.equal(calls, 2); // repeats are not jittered
  hb.received(2200);
  hb.received(2300);
  assert.equal(calls, 2); // received() never touches the rng
  assert.equal(hb.nextCheckAtMs, 2300 + 1000 + 50);
});

test('Heartbeat - jitterMs 0 never calls rng; a bad rng value falls back to no jitter', () => {
  let calls = 0;
  const hb = new Heartbeat({ ...base, rng: () => ++calls }, 0);
  hb.check(1000);
  assert.equal(calls, 0);
  for (const bad of [1, -0.5, Number.NaN]) {
    const h = new Heartbeat({ ...base, jitterMs: 500, rng: () => bad }, 0);
    assert.equal(h.nextCheckAtMs, 1000);
  }
});

test('Heartbeat - invalid options throw InvalidOptionError naming the option', () => {
  const cases: Array<[string, HeartbeatOptions, number?]> = [
    ['intervalMs', { intervalMs: 0, timeoutMs: 1000 }],
    ['intervalMs', { intervalMs: -5, timeoutMs: 1000 }],
    ['intervalMs', { intervalMs: Number.NaN, timeoutMs: 1000 }],
    ['timeoutMs', { intervalMs: 1000, timeoutMs: 1000 }],
    ['timeoutMs', { intervalMs: 1000, timeoutMs: Infinity }],
    ['jitterMs', { intervalMs: 1000, timeoutMs: 3000, jitterMs: -1 }],
    ['jitterMs', { intervalMs: 1000, timeoutMs: 3000, jitterMs: 2000 }],
    ['rng', { intervalMs: 1000, timeoutMs: 3000, rng: 42 as unknown as () => number }],
    ['nowMs', { intervalMs: 1000, timeoutMs: 3000 }, Number.NaN],
  ];
  for (const [name, options, nowMs = 0] of cases) {
    assert.throws(
      () => new Heartbeat(options, nowMs),
      (error: unknown) =>
        error instanceof InvalidOptionError && error.code === 'LL_ERR_INVALID_OPTION' && error.message.includes(name),
      `${name}: ${JSON.stringify(options)}`,
    );
  }
  assert.doesNotThrow(() => new Heartbeat({ intervalMs: 1000, timeoutMs: 3000, jitterMs: 1999 }, 0));
});

test('Heartbeat - the default detector is the fixed timeout, judged inline by FixedTimeoutDetector\'s rule', () => {
  const hb = new Heartbeat(base, 0);
  const fixed = new FixedTimeoutDetector(base.timeoutMs, 0);
  assert.equal(hb.detector, undefined);
  for (const [arrivalMs, forgiveMs, atMs] of [[400, 0, 3399], [300, 0, 3399], [900, 250, 4149], [5000, 0, 7999], [5000, 0, 8000]] as const) {
    hb.received(arrivalMs);
    fixed.arrival(arrivalMs);
    if (forgiveMs > 0) {
      hb.forgive(forgiveMs);
      fixed.forgive(forgiveMs);
    }
    assert.equal(hb.deathDeadlineMs(), fixed.deadlineMs());
    assert.equal(hb.suspicion(atMs), fixed.suspicion(atMs));
    assert.equal(hb.check(atMs).kind === 'dead', fixed.isDead(atMs), `at ${atMs}`);
  }
});

test('Heartbeat - with a phi detector: pings unchanged, dead exactly at the detector deadline', () => {
  const clock = new FakeClock();
  const detector = createDetector({ kind: 'phi' }, { timeoutMs: 3000, pingAfterMs: 1000, nowMs: 0 });
  const hb = new Heartbeat({ ...base, detector }, 0);
  const log: string[] = [];
  let deadline = 0;
  drive(clock, hb, (v) => {
    if (v.kind === 'ping') {
      log.push(`ping@${clock.now()}`);
      // A healthy peer answers the first 20 pings after 50 ms, then dies.
      if (v.id < 20) clock.setTimer(() => hb.pong(v.id, clock.now()), 50);
      else if (v.id === 20) deadline = detector.deadlineMs();
    }
    if (v.kind === 'dead') {
      log.push(`dead@${clock.now()}`);
      assert.equal(v.lastSeenAtMs, 20 * 1050);
      assert.equal(v.sinceLastSeenMs, clock.now() - v.lastSeenAtMs);
      assert.equal(v.unansweredPings, 3);
    }
  });
  clock.advance(60_000);
  assert.equal(log.filter((l) => l.startsWith('ping')).length, 23); // 20 answered, 3 unanswered
  assert.equal(log[20], 'ping@22000');
  assert.equal(log.at(-1), `dead@${deadline}`);
  // The learned cadence plus the 2000 ms pause and 5.2 std: later than the fixed 3 s.
  assert.ok(deadline > 20 * 1050 + 3000 && deadline < 20 * 1050 + 4000, `deadline ${deadline}`);
});

test('Heartbeat - forgive(ms) postpones death by ms but not the next ping; no-op once dead', () => {
  const hb = new Heartbeat(base, 0);
  hb.forgive(1500);
  assert.equal(hb.deathDeadlineMs(), 4500);
  assert.deepEqual(hb.check(1000), { kind: 'ping', id: 0, nextCheckAtMs: 2000 });
  assert.deepEqual(hb.check(2000), { kind: 'ping', id: 1, nextCheckAtMs: 3000 });
  assert.deepEqual(hb.check(3000), { kind: 'ping', id: 2, nextCheckAtMs: 4000 });
  assert.deepEqual(hb.check(4000), { kind: 'ping', id: 3, nextCheckAtMs: 4500 });
  assert.deepEqual(hb.check(4500), { kind: 'dead', lastSeenAtMs: 0, sinceLastSeenMs: 4500, unansweredPings: 4 });
  hb.forgive(10_000);
  assert.equal(hb.check(4600).kind, 'dead');
});

test('Heartbeat - received() and pong() feed the detector; a non-detector is rejected', () => {
  const arrivals: number[] = [];
  const detector: FailureDetector = {
    kind: 'fixed',
    arrival: (t) => void arrivals.push(t),
    isDead: () => false,
    deadlineMs: () => Infinity,
    suspicion: () => 0,
    forgive: () => {},
  };
  const hb = new Heartbeat({ ...base, detector }, 0);
  hb.received(10);
  hb.pong(3, 20);
  assert.deepEqual(arrivals, [10, 20]);
  assert.equal(hb.nextCheckAtMs, 1020, 'a detector that never judges leaves only the ping schedule');
  assert.throws(
    () => new Heartbeat({ ...base, detector: {} as FailureDetector }, 0),
    (e: unknown) => e instanceof InvalidOptionError && e.message.includes('detector'),
  );
});

/** FakeClock that numbers synchronous turns (one per clock timer callback). */
class TurnClock implements Clock {
  readonly fake = new FakeClock();
  turn = 0;
  now(): number {
    return this.fake.now();
  }
  setTimer(fn: () => void, ms: number): Cancel {
    return this.fake.setTimer(() => {
      this.turn++;
      fn();
    }, ms);
  }
}

interface StormResult {
  /** pingsPerTick[k] = pings in each 50 ms tick during cycle k (k-th ping of every heartbeat). */
  maxPingsPerTickByCycle: number[];
  ticksUsedByCycle: number[];
  maxCallbacksPerTurn: number;
  dead: number;
}

/**
 * N heartbeats created at the same instant, each re-arming on a shared TimerWheel at
 * verdict.nextCheckAtMs; every ping is answered after a random latency.
 */
function storm(jitterMs: number, cycles: number): StormResult {
  const N = 1000;
  const tickMs = 50;
  const maxPerTurn = 100;
  const clock = new TurnClock();
  const wheel = new TimerWheel(clock, { tickMs, maxPerTurn });
  const rng = mulberry32(7);
  const pingTicks: Array<Map<number, number>> = Array.from({ length: cycles }, () => new Map());
  const perTurn = new Map<number, number>();
  let dead = 0;
  const countTurn = (): void => void perTurn.set(clock.turn, (perTurn.get(clock.turn) ?? 0) + 1);
  for (let i = 0; i < N; i++) {
    const hb = new Heartbeat({ intervalMs: 10_000, timeoutMs: 30_000, jitterMs, rng }, clock.now());
    let pings = 0;
    const run = (): void => {
      countTurn();
      const v = hb.check(clock.now());
      if (v.kind === 'dead') {
        dead++;
        return;
      }
      if (v.kind === 'ping') {
        if (pings < cycles) {
          const byTick = pingTicks[pings]!;
          const tick = Math.floor(clock.now() / tickMs);
          byTick.set(tick, (byTick.get(tick) ?? 0) + 1);
        }
        pings++;
        if (pings >= cycles) return; // stop this heartbeat after the measured cycles
        const latencyMs = 5 + rng() * 295;
        wheel.schedule(clock.now() + latencyMs, () => {
          countTurn();
          hb.pong(v.id, clock.now());
        });
      }
      wheel.schedule(v.nextCheckAtMs, run);
    };
    wheel.schedule(hb.nextCheckAtMs, run);
  }
  clock.fake.advance(cycles * 11_000 + 1000);
  assert.equal(wheel.size, 0);
  return {
    maxPingsPerTickByCycle: pingTicks.map((m) => Math.max(0, ...m.values())),
    ticksUsedByCycle: pingTicks.map((m) => m.size),
    maxCallbacksPerTurn: Math.max(...perTurn.values()),
    dead,
  };
}

test('Heartbeat - no ping storm: 1,000 heartbeats started together spread their pings', () => {
  const cycles = 6;
  const jittered = storm(1000, cycles); // jitter = 10% of interval
  assert.equal(jittered.dead, 0);
  assert.ok(jittered.maxCallbacksPerTurn <= 100, `turn ran ${jittered.maxCallbacksPerTurn} callbacks`);
  // 1,000 pings over ~20 ticks of 50 ms: ~50 a tick on average; the bound leaves room for chance.
  for (const [cycle, max] of jittered.maxPingsPerTickByCycle.entries()) {
    assert.ok(max <= 120, `cycle ${cycle}: ${max} pings in one tick`);
  }
  // The spread does not collapse as pongs with random latency re-seed each cycle.
  const first = jittered.ticksUsedByCycle[0]!;
  for (const [cycle, used] of jittered.ticksUsedByCycle.entries()) {
    assert.ok(used >= first, `cycle ${cycle}: pings fell into ${used} ticks (cycle 0: ${first})`);
  }

  // Control: without jitter the first cycle is a storm, all 1,000 pings in one tick.
  const unjittered = storm(0, 1);
  assert.equal(unjittered.maxPingsPerTickByCycle[0], 1000);
  assert.ok(unjittered.maxCallbacksPerTurn <= 100);
});

test('Heartbeat - one PONG answers its ping and every earlier one (bunched pings, one answer)', () => {
  const hb = new Heartbeat({ intervalMs: 1000, timeoutMs: 10_000 }, 0);
  hb.check(1000); // id 0
  hb.check(2000); // id 1
  hb.check(3000); // id 2
  assert.equal(hb.pong(2, 3010), 10);
  assert.equal(hb.pong(0, 3020), undefined, 'ping 0 was answered by PONG 2');
  assert.equal(hb.pong(1, 3030), undefined, 'ping 1 was answered by PONG 2');
});

test('Heartbeat - setPingInterval moves the next ping, keeps the timeout, and refuses interval + jitter >= timeout', () => {
  const hb = new Heartbeat({ intervalMs: 1000, timeoutMs: 5000 }, 0);
  hb.setPingInterval(3000, 0);
  assert.equal(hb.intervalMs, 3000);
  assert.equal(hb.check(1000).kind, 'alive', 'no ping at the old interval');
  assert.equal(hb.check(3000).kind, 'ping');
  hb.received(3010);
  hb.setPingInterval(500, 0);
  assert.equal(hb.nextCheckAtMs, 3510, 'a shorter interval applies to the cycle under way');
  assert.equal(hb.check(8010).kind, 'dead', 'the timeout is unchanged');
  const other = new Heartbeat({ intervalMs: 1000, timeoutMs: 5000 }, 0);
  assert.throws(() => other.setPingInterval(4500, 500), /must be < timeoutMs/);
  assert.throws(() => other.setPingInterval(0, 0), /intervalMs/);
  assert.equal(other.intervalMs, 1000, 'a refused change leaves the interval as it was');
});
