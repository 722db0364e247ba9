import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INITIAL_RTT_MS, NewReno, RttStats } from '../../../../src/transport/udp/recovery.js';

test('RttStats - before a sample: PTO = 333 + 4·166.5 + 50 ms ≈ 1 s (RFC 9002 §6.2.2)', () => {
  const rtt = new RttStats(50);
  assert.equal(rtt.smoothed, INITIAL_RTT_MS);
  assert.equal(rtt.ptoMs, 333 + 666 + 50);
});

test('RttStats - first sample sets srtt and rttvar = sample / 2; later ones smooth 1/8 and 1/4 (§5.3)', () => {
  const rtt = new RttStats(50);
  rtt.sample(100, 20); // the first ignores ack delay
  assert.equal(rtt.smoothed, 100);
  assert.equal(rtt.variance, 50);
  assert.equal(rtt.min, 100);
  assert.equal(rtt.ptoMs, 100 + 200 + 50);
  rtt.sample(140, 20); // 140 ≥ min + 20: adjusted 120
  assert.equal(rtt.variance, 0.75 * 50 + 0.25 * 20);
  assert.equal(rtt.smoothed, (7 / 8) * 100 + (1 / 8) * 120);
});

test('RttStats - ack delay is capped at max_ack_delay and never pushes a sample below min RTT', () => {
  const rtt = new RttStats(50);
  rtt.sample(100);
  rtt.sample(110, 500); // delay capped at 50, but 110 < 100 + 50: not subtracted
  assert.equal(rtt.smoothed, (7 / 8) * 100 + (1 / 8) * 110);
  const rtt2 = new RttStats(50);
  rtt2.sample(100);
  rtt2.sample(300, 500); // capped at 50: adjusted 250
  assert.equal(rtt2.smoothed, (7 / 8) * 100 + (1 / 8) * 250);
  rtt2.sample(-1);
  rtt2.sample(Number.NaN);
  assert.equal(rtt2.samples, 2);
});

test('RttStats - loss delay is 9/8 · max(srtt, latest), at least 1 ms', () => {
  const rtt = new RttStats(50);
  rtt.sample(80);
  assert.equal(rtt.lossDelayMs, 90);
  const zero = new RttStats(0);
  zero.sample(0);
  assert.equal(zero.lossDelayMs, 1);
});

const limits = { datagramBytes: 1200, initialDatagrams: 10, minimumDatagrams: 2, maxWindowBytes: 256 * 1024 };

test('NewReno - slow start, one cut per recovery period, congestion avoidance, floor, collapse', () => {
  const cc = new NewReno(limits);
  assert.equal(cc.window, 12_000);
  cc.onAcked(1200, 0);
  assert.equal(cc.window, 13_200); // slow start: + bytes acknowledged
  cc.onLost(5, 10);
  assert.equal(cc.window, 6_600);
  cc.onLost(8, 12); // sent before the recovery started (t = 10): no second cut
  assert.equal(cc.window, 6_600);
  assert.equal(cc.reductions, 1);
  cc.onAcked(1200, 9); // sent during recovery: no growth
  assert.equal(cc.window, 6_600);
  cc.onAcked(1200, 11); // after: congestion avoidance, + 1200 · 1200 / cwnd
  assert.equal(cc.window, 6_600 + (1200 * 1200) / 6_600);
  for (let t = 20; t < 30; t++) cc.onLost(t, t);
  assert.equal(cc.window, 2_400); // never below 2 datagrams
  const grown = new NewReno(limits);
  grown.onPersistentCongestion();
  assert.equal(grown.window, 2_400);
  assert.equal(grown.ssthresh, 6_000);
  assert.equal(grown.collapses, 1);
  grown.onAcked(1200, 1); // slow start again
  assert.equal(grown.window, 3_600);
});

test('NewReno - the window never exceeds the in-flight bound', () => {
  const cc = new NewReno({ ...limits, maxWindowBytes: 20_000 });
  for (let i = 0; i < 100; i++) cc.onAcked(1200, i);
  assert.equal(cc.window, 20_000);
});
