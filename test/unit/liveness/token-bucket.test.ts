import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../../src/liveness/token-bucket.js';

test('token bucket - a burst, then the rate', () => {
  const b = new TokenBucket(10, 5);
  for (let i = 0; i < 5; i++) assert.equal(b.take(0), true);
  assert.equal(b.take(0), false);
  assert.equal(b.take(99), false, '0.99 tokens after 99 ms');
  assert.equal(b.take(100), true, 'one token per 100 ms');
  assert.equal(b.take(100), false);
  assert.equal(b.take(10_000), true);
  // Never more than the burst, however long it was idle.
  let taken = 1;
  while (b.take(10_000)) taken++;
  assert.equal(taken, 5);
});

test('token bucket - waitMs says when the n-th next token is there', () => {
  const b = new TokenBucket(100, 1);
  assert.equal(b.waitMs(1, 0), 0);
  b.take(0);
  assert.equal(b.waitMs(1, 0), 10);
  assert.equal(b.waitMs(50, 0), 500);
  assert.throws(() => new TokenBucket(0, 1), RangeError);
  assert.throws(() => new TokenBucket(1, 0), RangeError);
});
