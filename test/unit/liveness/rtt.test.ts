import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RttEstimator } from '../../../src/liveness/rtt.js';

test('RttEstimator - empty until the first sample', () => {
  const rtt = new RttEstimator();
  assert.equal(rtt.lastMs, undefined);
  assert.equal(rtt.smoothedMs, undefined);
  assert.equal(rtt.samples, 0);
});

test('RttEstimator - the first sample sets SRTT; later ones move it by 1/8', () => {
  const rtt = new RttEstimator();
  rtt.sample(100);
  assert.equal(rtt.smoothedMs, 100);
  rtt.sample(180);
  assert.equal(rtt.lastMs, 180);
  assert.equal(rtt.smoothedMs, (7 / 8) * 100 + (1 / 8) * 180);
  rtt.sample(20);
  assert.equal(rtt.smoothedMs, (7 / 8) * ((7 / 8) * 100 + (1 / 8) * 180) + (1 / 8) * 20);
  assert.equal(rtt.samples, 3);
});

test('RttEstimator - table: SRTT after each sample', () => {
  const table: Array<[number, number]> = [
    [40, 40],
    [40, 40],
    [120, 50],
    [50, 50],
    [0, 43.75],
  ];
  const rtt = new RttEstimator();
  for (const [sample, expected] of table) {
    rtt.sample(sample);
    assert.equal(rtt.smoothedMs, expected);
  }
});

test('RttEstimator - converges to a steady RTT', () => {
  const rtt = new RttEstimator();
  rtt.sample(1000);
  for (let i = 0; i < 200; i++) rtt.sample(10);
  assert.ok(Math.abs(rtt.smoothedMs! - 10) < 1e-6);
});

test('RttEstimator - ignores negative and non-finite samples', () => {
  const rtt = new RttEstimator();
  rtt.sample(-1);
  rtt.sample(Number.NaN);
  rtt.sample(Infinity);
  assert.equal(rtt.samples, 0);
  assert.equal(rtt.smoothedMs, undefined);
});
