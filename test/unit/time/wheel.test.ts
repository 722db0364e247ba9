import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Cancel, Clock } from '../../../src/time/clock.js';
import { FakeClock } from '../../../src/time/fake-clock.js';
import { TimerWheel } from '../../../src/time/wheel.js';
import { InvalidOptionError } from '../../../src/errors.js';
import { seededRandom as mulberry32 } from '../../../src/time/rng.js';

/**
 * FakeClock wrapper that numbers synchronous turns (one per clock timer callback), counts
 * setTimer calls, and can jump its reading ahead without running timers (a stalled process).
 */
class TurnClock implements Clock {
  readonly fake = new FakeClock();
  turn = 0;
  setTimerCalls = 0;
  skewMs = 0;
  now(): number {
    return this.fake.now() + this.skewMs;
  }
  setTimer(fn: () => void, ms: number): Cancel {
    this.setTimerCalls++;
    return this.fake.setTimer(() => {
      this.turn++;
      fn();
    }, ms);
  }
  advance(ms: number): void {
    this.fake.advance(ms);
  }
  get pendingTimers(): number {
    return this.fake.pendingTimers;
  }
}


test('TimerWheel - fires at the first tick boundary at or after atMs', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock, { tickMs: 50 });
  const fired: Array<[number, number]> = [];
  for (const atMs of [1, 49, 50, 51, 100, 149]) wheel.schedule(atMs, () => fired.push([atMs, clock.now()]));
  clock.advance(1000);
  assert.deepEqual(fired, [
    [1, 50],
    [49, 50],
    [50, 50],
    [51, 100],
    [100, 100],
    [149, 150],
  ]);
});

test('TimerWheel - random deadlines fire in tick order, never early, within tickMs', () => {
  const clock = new FakeClock(7);
  const wheel = new TimerWheel(clock, { tickMs: 50, slots: 16 }); // 800 ms per revolution: many rounds
  const rng = mulberry32(42);
  const fired: Array<{ atMs: number; firedAtMs: number }> = [];
  for (let i = 0; i < 2000; i++) {
    const atMs = 7 + rng() * 5000;
    wheel.schedule(atMs, () => fired.push({ atMs, firedAtMs: clock.now() }));
  }
  clock.advance(6000);
  assert.equal(fired.length, 2000);
  for (const { atMs, firedAtMs } of fired) {
    assert.ok(firedAtMs >= atMs, `fired early: ${firedAtMs} < ${atMs}`);
    assert.ok(firedAtMs < atMs + 50, `fired too late: ${firedAtMs} for ${atMs}`);
  }
  for (let i = 1; i < fired.length; i++) assert.ok(fired[i]!.firedAtMs >= fired[i - 1]!.firedAtMs);
});

test('TimerWheel - a deadline already past runs within one tick, never synchronously', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock, { tickMs: 50 });
  wheel.schedule(10_000, () => {}); // keeps the wheel busy (and asleep) so its cursor is stale
  clock.advance(1010);
  const at: number[] = [];
  wheel.schedule(500, () => at.push(clock.now()));
  assert.deepEqual(at, []);
  clock.advance(100);
  assert.equal(at.length, 1);
  assert.ok(at[0]! >= 1010 && at[0]! <= 1050, `ran at ${at[0]}`);
});

test('TimerWheel - a deadline already past, scheduled from a callback, runs on the next tick', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock, { tickMs: 50 });
  const at: number[] = [];
  wheel.schedule(1000, () => wheel.schedule(500, () => at.push(clock.now())));
  clock.advance(2000);
  assert.deepEqual(at, [1050]);
});

test('TimerWheel - on an idle wheel a deadline of exactly now runs at once', () => {
  const clock = new FakeClock(1000);
  const wheel = new TimerWheel(clock, { tickMs: 50 });
  clock.advance(1000);
  const at: number[] = [];
  wheel.schedule(clock.now(), () => at.push(clock.now()));
  clock.advance(0);
  assert.deepEqual(at, [2000]);
});

test('TimerWheel - callbacks in one tick run in schedule order', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock, { tickMs: 50 });
  const order: string[] = [];
  wheel.schedule(40, () => order.push('late-in-tick'));
  wheel.schedule(10, () => order.push('early-in-tick'));
  wheel.schedule(60, () => order.push('next-tick'));
  clock.advance(100);
  assert.deepEqual(order, ['late-in-tick', 'early-in-tick', 'next-tick']);
});

test('TimerWheel - cancel prevents the call, is idempotent, and is a no-op after the call', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock);
  const ran: string[] = [];
  const cancelA = wheel.schedule(100, () => ran.push('a'));
  const cancelB = wheel.schedule(100, () => ran.push('b'));
  wheel.schedule(100, () => ran.push('c'));
  assert.equal(wheel.size, 3);
  cancelB();
  cancelB();
  assert.equal(wheel.size, 2);
  clock.advance(100);
  assert.deepEqual(ran, ['a', 'c']);
  cancelA();
  assert.equal(wheel.size, 0);
});

test('TimerWheel - a callback can cancel a later callback of the same tick', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock);
  const ran: string[] = [];
  let cancelSecond: Cancel = () => {};
  wheel.schedule(50, () => {
    ran.push('first');
    cancelSecond();
  });
  cancelSecond = wheel.schedule(50, () => ran.push('second'));
  wheel.schedule(50, () => ran.push('third'));
  clock.advance(50);
  assert.deepEqual(ran, ['first', 'third']);
  assert.equal(wheel.size, 0);
});

test('TimerWheel - a callback that re-arms itself keeps its period (heartbeat pattern)', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock, { tickMs: 50, slots: 8 }); // 400 ms revolution < period
  const at: number[] = [];
  const beat = (): void => {
    at.push(clock.now());
    wheel.schedule(clock.now() + 1000, beat);
  };
  wheel.schedule(1000, beat);
  clock.advance(5000);
  assert.deepEqual(at, [1000, 2000, 3000, 4000, 5000]);
  assert.equal(wheel.size, 1);
  assert.equal(clock.pendingTimers, 1);
});

test('TimerWheel - a callback scheduling "now" again runs next tick, not in a loop', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock, { tickMs: 50 });
  const at: number[] = [];
  const again = (): void => {
    at.push(clock.now());
    if (at.length < 4) wheel.schedule(clock.now(), again);
  };
  wheel.schedule(50, again);
  clock.advance(50);
  assert.deepEqual(at, [50]);
  clock.advance(150);
  assert.deepEqual(at, [50, 100, 150, 200]);
});

test('TimerWheel - maxPerTurn splits a big tick across turns, all at the same time', () => {
  const clock = new TurnClock();
  const wheel = new TimerWheel(clock, { tickMs: 50, maxPerTurn: 3 });
  const turns: number[] = [];
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    wheel.schedule(50, () => {
      turns.push(clock.turn);
      times.push(clock.now());
    });
  }
  clock.advance(50);
  const perTurn = new Map<number, number>();
  for (const t of turns) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
  assert.deepEqual([...perTurn.values()], [3, 3, 3, 1]);
  assert.ok(times.every((t) => t === 50));
  assert.equal(clock.pendingTimers, 0);
});

test('TimerWheel - one clock timer while busy, none when empty', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock, { tickMs: 50, slots: 64 });
  assert.equal(clock.pendingTimers, 0);
  const cancels: Cancel[] = [];
  for (let i = 0; i < 500; i++) cancels.push(wheel.schedule(10 + i * 37, () => {}));
  assert.equal(clock.pendingTimers, 1);
  clock.advance(5000);
  assert.equal(clock.pendingTimers, 1);
  for (const cancel of cancels) cancel();
  assert.equal(wheel.size, 0);
  assert.equal(clock.pendingTimers, 0);

  wheel.schedule(clock.now() + 100, () => {});
  assert.equal(clock.pendingTimers, 1);
  clock.advance(100);
  assert.equal(wheel.size, 0);
  assert.equal(clock.pendingTimers, 0);
});

test('TimerWheel - sleeps until the next non-empty slot instead of ticking', () => {
  const clock = new TurnClock();
  const wheel = new TimerWheel(clock, { tickMs: 50, slots: 512 });
  let ran = 0;
  wheel.schedule(10_000, () => ran++);
  clock.advance(20_000);
  assert.equal(ran, 1);
  assert.equal(clock.turn, 1);
});

test('TimerWheel - an earlier entry re-arms the single timer earlier', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock, { tickMs: 50 });
  const at: number[] = [];
  wheel.schedule(5000, () => at.push(clock.now()));
  wheel.schedule(100, () => at.push(clock.now()));
  assert.equal(clock.pendingTimers, 1);
  clock.advance(5000);
  assert.deepEqual(at, [100, 5000]);
});

test('TimerWheel - deadlines many revolutions ahead wait their rounds', () => {
  const clock = new TurnClock();
  const wheel = new TimerWheel(clock, { tickMs: 10, slots: 8 }); // 80 ms revolution
  const at: number[] = [];
  wheel.schedule(1000, () => at.push(clock.now()));
  wheel.schedule(1005, () => at.push(clock.now()));
  clock.advance(2000);
  assert.deepEqual(at, [1000, 1010]);
  assert.ok(clock.turn <= Math.ceil(1010 / 80) + 2, `woke ${clock.turn} times`);
});

test('TimerWheel - clear() drops everything and stops the clock timer', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock);
  let ran = 0;
  const cancel = wheel.schedule(100, () => ran++);
  wheel.schedule(200, () => ran++);
  wheel.clear();
  assert.equal(wheel.size, 0);
  assert.equal(clock.pendingTimers, 0);
  cancel(); // no-op after clear
  clock.advance(1000);
  assert.equal(ran, 0);
  wheel.schedule(clock.now() + 50, () => ran++);
  clock.advance(50);
  assert.equal(ran, 1);
});

test('TimerWheel - clear() from inside a callback stops the rest of the tick', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock);
  const ran: string[] = [];
  wheel.schedule(50, () => {
    ran.push('a');
    wheel.clear();
  });
  wheel.schedule(50, () => ran.push('b'));
  wheel.schedule(500, () => ran.push('c'));
  clock.advance(1000);
  assert.deepEqual(ran, ['a']);
  assert.equal(clock.pendingTimers, 0);
});

test('TimerWheel - onLate reports a stalled clock, not a punctual one', () => {
  const clock = new TurnClock();
  const late: number[] = [];
  const wheel = new TimerWheel(clock, { tickMs: 50, onLate: (ms) => late.push(ms) });
  const at: number[] = [];
  wheel.schedule(100, () => at.push(clock.now()));
  wheel.schedule(200, () => at.push(clock.now()));
  clock.advance(100);
  assert.deepEqual(late, []);
  clock.skewMs = 5000; // the process was suspended for 5 s; no timer ran meanwhile
  clock.advance(100);
  assert.deepEqual(late, [5000]);
  assert.deepEqual(at, [100, 5200]);
});

test('TimerWheel - a stall longer than a revolution still runs every overdue entry, none early', () => {
  const clock = new TurnClock();
  const wheel = new TimerWheel(clock, { tickMs: 10, slots: 8 });
  const fired: Array<[number, number]> = [];
  for (let atMs = 10; atMs <= 2000; atMs += 7) wheel.schedule(atMs, () => fired.push([atMs, clock.now()]));
  clock.advance(10);
  clock.skewMs = 1500;
  clock.advance(10);
  clock.skewMs = 1500;
  clock.advance(1000);
  assert.equal(wheel.size, 0);
  assert.equal(fired.length, Math.floor((2000 - 10) / 7) + 1);
  for (const [atMs, firedAtMs] of fired) assert.ok(firedAtMs >= atMs, `fired early: ${firedAtMs} < ${atMs}`);
});

test('TimerWheel - maxPending bounds the wheel with a RangeError', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock, { maxPending: 3 });
  for (let i = 0; i < 3; i++) wheel.schedule(100, () => {});
  assert.throws(() => wheel.schedule(100, () => {}), RangeError);
  assert.equal(wheel.size, 3);
  clock.advance(100);
  wheel.schedule(200, () => {});
  assert.equal(wheel.size, 1);
});

test('TimerWheel - rejects a non-finite atMs', () => {
  const wheel = new TimerWheel(new FakeClock());
  assert.throws(() => wheel.schedule(Number.NaN, () => {}), RangeError);
  assert.throws(() => wheel.schedule(Infinity, () => {}), RangeError);
  assert.equal(wheel.size, 0);
});

test('TimerWheel - a throwing callback does not break the wheel; the error resurfaces via the clock', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock);
  const ran: string[] = [];
  wheel.schedule(50, () => {
    throw new Error('boom');
  });
  wheel.schedule(50, () => ran.push('same tick'));
  wheel.schedule(100, () => ran.push('next tick'));
  assert.throws(() => clock.advance(100), /boom/);
  assert.deepEqual(ran, ['same tick', 'next tick']);
  assert.equal(wheel.size, 0);
  assert.equal(clock.pendingTimers, 0);
  wheel.schedule(150, () => ran.push('after'));
  clock.advance(50);
  assert.deepEqual(ran, ['same tick', 'next tick', 'after']);
});

test('TimerWheel - invalid options throw InvalidOptionError naming the option', () => {
  const clock = new FakeClock();
  const cases: Array<[string, ConstructorParameters<typeof TimerWheel>[1]]> = [
    ['tickMs', { tickMs: 0 }],
    ['tickMs', { tickMs: Number.NaN }],
    ['slots', { slots: 0 }],
    ['slots', { slots: 1.5 }],
    ['maxPerTurn', { maxPerTurn: 0 }],
    ['maxPending', { maxPending: -1 }],
  ];
  for (const [name, options] of cases) {
    assert.throws(
      () => new TimerWheel(clock, options),
      (error: unknown) => error instanceof InvalidOptionError && error.message.includes(name),
      name,
    );
  }
});

test('TimerWheel - property: any mix of schedule, cancel and advance keeps every invariant', () => {
  type Op =
    | { kind: 'schedule'; offsetMs: number }
    | { kind: 'cancel'; pick: number }
    | { kind: 'advance'; ms: number };
  const op = fc.oneof(
    fc.record({ kind: fc.constant('schedule' as const), offsetMs: fc.integer({ min: -200, max: 3000 }) }),
    fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 700 }) }),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 60 }),
      fc.integer({ min: 1, max: 16 }),
      fc.integer({ min: 1, max: 5 }),
      fc.array(op, { maxLength: 80 }),
      (tickMs, slots, maxPerTurn, ops: Op[]) => {
        const clock = new FakeClock(13);
        const wheel = new TimerWheel(clock, { tickMs, slots, maxPerTurn });
        interface Item {
          atMs: number;
          scheduledAtMs: number;
          firedAtMs?: number;
          cancelled: boolean;
          cancel: Cancel;
        }
        const items: Item[] = [];
        const live = (): number => items.filter((i) => !i.cancelled && i.firedAtMs === undefined).length;
        for (const o of ops) {
          if (o.kind === 'schedule') {
            const item: Item = { atMs: clock.now() + o.offsetMs, scheduledAtMs: clock.now(), cancelled: false, cancel: () => {} };
            item.cancel = wheel.schedule(item.atMs, () => {
              assert.equal(item.cancelled, false, 'cancelled entry ran');
              assert.equal(item.firedAtMs, undefined, 'entry ran twice');
              item.firedAtMs = clock.now();
            });
            items.push(item);
          } else if (o.kind === 'cancel' && items.length > 0) {
            const item = items[o.pick % items.length]!;
            if (item.firedAtMs === undefined) item.cancelled = true;
            item.cancel();
          } else if (o.kind === 'advance') {
            clock.advance(o.ms);
          }
          assert.equal(wheel.size, live());
          assert.equal(clock.pendingTimers, wheel.size > 0 ? 1 : 0);
        }
        clock.advance(3000 + slots * tickMs + tickMs);
        assert.equal(wheel.size, 0);
        assert.equal(clock.pendingTimers, 0);
        for (const item of items) {
          if (item.cancelled) continue;
          assert.notEqual(item.firedAtMs, undefined, 'entry never ran');
          const firedAtMs = item.firedAtMs!;
          assert.ok(firedAtMs >= item.atMs, 'ran early');
          const bound = Math.max(item.atMs, item.scheduledAtMs) + tickMs;
          assert.ok(firedAtMs <= bound, `ran late: ${firedAtMs} > ${bound}`);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('TimerWheel - timer(): one entry re-armed, moved and cancelled, never doubled', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock, { tickMs: 50 });
  const fired: number[] = [];
  const timer = wheel.timer(() => fired.push(clock.now()));
  assert.equal(wheel.size, 0, 'a timer is not pending until armed');
  timer.arm(120);
  timer.arm(330); // moves it: still one pending entry
  assert.equal(wheel.size, 1);
  clock.advance(200);
  assert.deepEqual(fired, []);
  timer.arm(260); // earlier than before, later than now
  clock.advance(100);
  assert.deepEqual(fired, [300]);
  assert.equal(wheel.size, 0);
  timer.arm(400);
  timer.cancel();
  timer.cancel(); // no-op
  assert.equal(wheel.size, 0);
  clock.advance(1000);
  assert.deepEqual(fired, [300], 'a cancelled timer does not fire');
  assert.equal(clock.pendingTimers, 0, 'an empty wheel keeps no clock timer');
});

test('TimerWheel - timer(): re-armed from its own callback, like a heartbeat check', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock, { tickMs: 10 });
  const fired: number[] = [];
  const timer = wheel.timer(() => {
    fired.push(clock.now());
    if (fired.length < 5) timer.arm(clock.now() + 100);
  });
  timer.arm(100);
  clock.advance(2000);
  assert.deepEqual(fired, [100, 200, 300, 400, 500]);
  assert.equal(wheel.size, 0);
});

test('TimerWheel - timer(): arm counts against maxPending and rejects a non-finite time', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock, { tickMs: 10, maxPending: 1 });
  const a = wheel.timer(() => {});
  const b = wheel.timer(() => {});
  a.arm(50);
  a.arm(60); // re-arming the pending entry does not count twice
  assert.throws(() => b.arm(50), RangeError);
  assert.throws(() => a.arm(Infinity), RangeError);
  a.cancel();
  b.arm(50);
  assert.equal(wheel.size, 1);
});

test('TimerWheel - timer(): an entry already due (waiting its turn) can be moved or cancelled', () => {
  const clock = new FakeClock();
  const wheel = new TimerWheel(clock, { tickMs: 10, maxPerTurn: 2 });
  const order: string[] = [];
  const timers = new Map<string, ReturnType<TimerWheel['timer']>>();
  for (const name of ['a', 'b', 'c', 'd']) {
    timers.set(
      name,
      wheel.timer(() => {
        order.push(`${name}@${clock.now()}`);
        if (name === 'a') {
          // c and d were collected into the due list with a: move one, cancel the other.
          timers.get('c')!.cancel();
          timers.get('d')!.arm(100);
        }
      }),
    );
  }
  for (const t of timers.values()) t.arm(10);
  clock.advance(200);
  assert.deepEqual(order, ['a@10', 'b@10', 'd@100']);
  assert.equal(wheel.size, 0);
});
