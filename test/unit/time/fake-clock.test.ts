import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/time/fake-clock.js';

test('FakeClock - starts at 0 by default, or at startMs', () => {
  assert.equal(new FakeClock().now(), 0);
  assert.equal(new FakeClock(1234.5).now(), 1234.5);
});

test('FakeClock - advance moves now() and runs nothing early', () => {
  const clock = new FakeClock(100);
  let ran = 0;
  clock.setTimer(() => ran++, 50);
  clock.advance(49);
  assert.equal(clock.now(), 149);
  assert.equal(ran, 0);
  clock.advance(1);
  assert.equal(ran, 1);
  assert.equal(clock.now(), 150);
});

test('FakeClock - timers run in deadline order, ties in creation order, each at its own deadline', () => {
  const clock = new FakeClock();
  const log: string[] = [];
  clock.setTimer(() => log.push(`c@${clock.now()}`), 30);
  clock.setTimer(() => log.push(`a@${clock.now()}`), 10);
  clock.setTimer(() => log.push(`b1@${clock.now()}`), 20);
  clock.setTimer(() => log.push(`b2@${clock.now()}`), 20);
  clock.advance(100);
  assert.deepEqual(log, ['a@10', 'b1@20', 'b2@20', 'c@30']);
  assert.equal(clock.now(), 100);
});

test('FakeClock - timers created while advancing run when they fall inside the window', () => {
  const clock = new FakeClock();
  const log: number[] = [];
  const tick = (): void => {
    log.push(clock.now());
    clock.setTimer(tick, 10);
  };
  clock.setTimer(tick, 10);
  clock.advance(35);
  assert.deepEqual(log, [10, 20, 30]);
  assert.equal(clock.pendingTimers, 1);
  clock.advance(5);
  assert.deepEqual(log, [10, 20, 30, 40]);
});

test('FakeClock - zero and negative delays run on the next advance, even advance(0)', () => {
  const clock = new FakeClock(5);
  const log: string[] = [];
  clock.setTimer(() => log.push('neg'), -10);
  clock.setTimer(() => log.push('zero'), 0);
  assert.deepEqual(log, []);
  clock.advance(0);
  assert.deepEqual(log, ['neg', 'zero']);
  assert.equal(clock.now(), 5);
});

test('FakeClock - cancel removes the timer and is idempotent', () => {
  const clock = new FakeClock();
  let ran = 0;
  const cancel = clock.setTimer(() => ran++, 10);
  clock.setTimer(() => ran++, 20);
  assert.equal(clock.pendingTimers, 2);
  cancel();
  cancel();
  assert.equal(clock.pendingTimers, 1);
  clock.advance(30);
  assert.equal(ran, 1);
  assert.equal(clock.pendingTimers, 0);
});

test('FakeClock - cancelling after the timer ran does not disturb the count', () => {
  const clock = new FakeClock();
  const cancel = clock.setTimer(() => {}, 1);
  clock.advance(1);
  cancel();
  assert.equal(clock.pendingTimers, 0);
});

test('FakeClock - a timer can cancel a later one in the same advance', () => {
  const clock = new FakeClock();
  let late = 0;
  const cancelLate = clock.setTimer(() => late++, 20);
  clock.setTimer(() => cancelLate(), 10);
  clock.advance(50);
  assert.equal(late, 0);
});

test('FakeClock - heavy cancel churn keeps pendingTimers exact', () => {
  const clock = new FakeClock();
  let ran = 0;
  for (let i = 0; i < 10_000; i++) {
    const cancel = clock.setTimer(() => ran++, 1 + (i % 100));
    if (i % 10 !== 0) cancel();
  }
  assert.equal(clock.pendingTimers, 1000);
  clock.advance(100);
  assert.equal(ran, 1000);
  assert.equal(clock.pendingTimers, 0);
});

test('FakeClock - a throwing timer does not stop the advance; the error is rethrown after', () => {
  const clock = new FakeClock();
  const log: number[] = [];
  clock.setTimer(() => {
    throw new Error('boom');
  }, 10);
  clock.setTimer(() => log.push(clock.now()), 20);
  assert.throws(() => clock.advance(30), /boom/);
  assert.deepEqual(log, [20]);
  assert.equal(clock.now(), 30);
  assert.equal(clock.pendingTimers, 0);
});

test('FakeClock - several throwing timers surface as one AggregateError', () => {
  const clock = new FakeClock();
  clock.setTimer(() => {
    throw new Error('one');
  }, 1);
  clock.setTimer(() => {
    throw new Error('two');
  }, 2);
  assert.throws(
    () => clock.advance(5),
    (error: unknown) => error instanceof AggregateError && error.errors.length === 2,
  );
});

test('FakeClock - advance rejects negative or non-finite ms', () => {
  const clock = new FakeClock();
  assert.throws(() => clock.advance(-1), RangeError);
  assert.throws(() => clock.advance(Number.NaN), RangeError);
  assert.throws(() => clock.advance(Infinity), RangeError);
});
