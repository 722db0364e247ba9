import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AvailabilityMonitor } from '../../../src/liveness/availability.js';

const monitor = () => new AvailabilityMonitor({ budgetMs: 500, busyPongs: 2 });

test('availability - ok PONGs in time keep the peer available and report nothing', () => {
  const m = monitor();
  for (let t = 0; t < 10_000; t += 1000) {
    assert.equal(m.pingSent(t), t + 500);
    assert.equal(m.pong('ok', 10, 20, t + 20), undefined);
    assert.equal(m.check(t + 500), undefined);
  }
  assert.equal(m.isAvailable, true);
});

test('availability - a PING unanswered for the budget is no-answer, exactly at the budget', () => {
  const m = monitor();
  const due = m.pingSent(1000);
  assert.equal(m.check(due - 1), undefined);
  assert.deepEqual(m.check(due), { kind: 'unavailable', reason: 'no-answer', status: 'ok', load: 0, waitedMs: 500 });
  assert.equal(m.isAvailable, false);
  // Reported once, not on every check.
  assert.equal(m.check(due + 100), undefined);
  // A repeat PING does not restart the wait: the oldest unanswered one counts.
  assert.equal(m.pingSent(2000), 1500);
  // The late answer comes back ok and in time for its own RTT, but the wait was long: slow.
  assert.equal(m.pong('ok', 0, 30, 2030)?.kind, 'unavailable');
  // Then a timely ok PONG restores availability.
  m.pingSent(3000);
  assert.deepEqual(m.pong('ok', 5, 12, 3012), { kind: 'available', status: 'ok', load: 5, rttMs: 12 });
  assert.equal(m.isAvailable, true);
});

test('availability - busy needs busyPongs in a row; one ok in between resets the streak', () => {
  const m = monitor();
  assert.equal(m.pong('busy', 240, 5, 0), undefined);
  assert.equal(m.pong('ok', 100, 5, 1), undefined);
  assert.equal(m.pong('busy', 240, 5, 2), undefined);
  assert.deepEqual(m.pong('busy', 250, 5, 3), { kind: 'unavailable', reason: 'busy', status: 'busy', load: 250, waitedMs: 5 });
  assert.equal(m.reason, 'busy');
  assert.equal(m.pong('ok', 20, 5, 4)?.kind, 'available');
});

test('availability - draining is unavailable at once, by PONG or by GOAWAY', () => {
  const a = monitor();
  assert.equal(a.pong('draining', 0, 5, 0)?.kind, 'unavailable');
  assert.equal(a.reason, 'draining');
  const b = monitor();
  assert.deepEqual(b.draining(), { kind: 'unavailable', reason: 'draining', status: 'draining', load: 0 });
  assert.equal(b.draining(), undefined, 'reported once');
});

test('availability - a PONG later than the budget is slow', () => {
  const m = monitor();
  m.pingSent(0);
  assert.deepEqual(m.pong('ok', 0, 700, 700), { kind: 'unavailable', reason: 'slow', status: 'ok', load: 0, waitedMs: 700 });
});

test('availability - options are validated', () => {
  assert.throws(() => new AvailabilityMonitor({ budgetMs: 0, busyPongs: 2 }), RangeError);
  assert.throws(() => new AvailabilityMonitor({ budgetMs: 100, busyPongs: 0 }), RangeError);
});

test('AvailabilityMonitor - serverPinged (the server leads) repeats the last pushed status: busyPongs still counts beats', () => {
  const m = new AvailabilityMonitor({ budgetMs: 100, busyPongs: 2 });
  assert.equal(m.serverPinged(0), undefined, 'ok by default, nothing to report');
  assert.equal(m.pong('busy', 200, undefined, 10), undefined, 'one busy beat (the pushed PONG)');
  const change = m.serverPinged(1010);
  assert.equal(change?.kind, 'unavailable');
  assert.equal(change?.kind === 'unavailable' && change.reason, 'busy');
  assert.equal(m.pong('ok', 5, undefined, 2000)?.kind, 'available', 'a pushed ok clears it');
  assert.equal(m.serverPinged(3000), undefined);
  assert.equal(m.isAvailable, true);
});
