import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cancel, Clock } from '../../../src/time/clock.js';
import { FakeClock } from '../../../src/time/fake-clock.js';
import { TimerScheduler } from '../../../src/time/scheduler.js';

test('TimerScheduler - runs fn exactly at atMs', () => {
  const clock = new FakeClock(1000);
  const scheduler = new TimerScheduler(clock);
  const at: number[] = [];
  scheduler.schedule(1250, () => at.push(clock.now()));
  clock.advance(249);
  assert.deepEqual(at, []);
  clock.advance(1);
  assert.deepEqual(at, [1250]);
  assert.equal(clock.pendingTimers, 0);
});

test('TimerScheduler - a past deadline runs on the next timer turn, not synchronously', () => {
  const clock = new FakeClock(1000);
  const scheduler = new TimerScheduler(clock);
  let ran = 0;
  scheduler.schedule(10, () => ran++);
  assert.equal(ran, 0);
  clock.advance(0);
  assert.equal(ran, 1);
});

test('TimerScheduler - one clock timer per scheduled call; cancel removes it and is idempotent', () => {
  const clock = new FakeClock();
  const scheduler = new TimerScheduler(clock);
  let ran = 0;
  const cancelA = scheduler.schedule(10, () => ran++);
  scheduler.schedule(20, () => ran++);
  assert.equal(clock.pendingTimers, 2);
  cancelA();
  cancelA();
  assert.equal(clock.pendingTimers, 1);
  clock.advance(20);
  assert.equal(ran, 1);
});

test('TimerScheduler - a callback may schedule its successor', () => {
  const clock = new FakeClock();
  const scheduler = new TimerScheduler(clock);
  const at: number[] = [];
  const beat = (): void => {
    at.push(clock.now());
    if (at.length < 3) scheduler.schedule(clock.now() + 100, beat);
  };
  scheduler.schedule(100, beat);
  clock.advance(1000);
  assert.deepEqual(at, [100, 200, 300]);
});

test('TimerScheduler - never runs early even when the clock timer fires early', () => {
  // A clock whose longer timers fire 1 ms early, as setTimeout vs performance.now() can.
  const fake = new FakeClock();
  const early: Clock = {
    now: () => fake.now(),
    setTimer: (fn, ms): Cancel => fake.setTimer(fn, ms >= 2 ? ms - 1 : ms),
  };
  const scheduler = new TimerScheduler(early);
  const at: number[] = [];
  scheduler.schedule(50, () => at.push(fake.now()));
  fake.advance(49);
  assert.deepEqual(at, []);
  fake.advance(1);
  assert.deepEqual(at, [50]);
});

test('TimerScheduler - rejects a non-finite atMs', () => {
  const scheduler = new TimerScheduler(new FakeClock());
  assert.throws(() => scheduler.schedule(Number.NaN, () => {}), RangeError);
  assert.throws(() => scheduler.schedule(Infinity, () => {}), RangeError);
});
