import test from 'node:test';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { PingLog } from '../../../src/liveness/ping-log.js';
import { PING_ID_MODULO } from '../../../src/protocol/frames.js';

test('PingLog - a PONG answers its PING and every older one; the RTT is its own PING\'s', () => {
  const log = new PingLog();
  assert.equal(log.sent(1000), 0);
  assert.equal(log.sent(2000), 1);
  assert.equal(log.sent(3000), 2);
  assert.equal(log.answered(1, 2050), 50);
  assert.equal(log.answered(0, 2060), undefined, 'already answered by the PONG for 1');
  assert.equal(log.answered(1, 2070), undefined, 'answered once');
  assert.equal(log.answered(2, 3010), 10);
  assert.equal(log.answered(2, 3020), undefined);
  assert.deepEqual([log.rtt.samples, log.rtt.lastMs, log.lastPingAtMs, log.nextId], [2, 10, 3000, 3]);
});

test('PingLog - ids never sent, out of range or not integers are not answers', () => {
  const log = new PingLog();
  assert.equal(log.answered(0, 10), undefined);
  log.sent(0);
  for (const id of [1, 31, -1, 32, 0.5, Number.NaN]) assert.equal(log.answered(id, 10), undefined, String(id));
  assert.equal(log.answered(0, 10), 10);
});

test('PingLog - ids wrap: with more than PING_ID_MODULO unanswered, an id means its newest PING', () => {
  const log = new PingLog();
  for (let i = 0; i <= PING_ID_MODULO; i++) log.sent(i * 100);
  assert.equal(log.nextId, 1);
  // Id 0 was sent at 0 and again at PING_ID_MODULO * 100: the newer one is the one answered.
  assert.equal(log.answered(0, PING_ID_MODULO * 100 + 7), 7);
  assert.equal(log.answered(5, 99_999), undefined, 'older PINGs are answered too');
  assert.equal(log.sent(99_999), 1);
  assert.equal(log.answered(1, 100_000), 1);
});

test('PingLog - matches a plain list of unanswered PINGs over random sends and answers', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 33 })), { maxLength: 200 }), (steps) => {
      const log = new PingLog();
      // Reference: every unanswered PING as [id, sentAt], oldest first, at most 32 of them.
      let model: Array<[number, number]> = [];
      let nextId = 0;
      let now = 0;
      for (const step of steps) {
        now += 7;
        if (step === -1) {
          assert.equal(log.sent(now), nextId);
          model.push([nextId, now]);
          if (model.length > 32) model.shift();
          nextId = (nextId + 1) % 32;
          continue;
        }
        // The newest unanswered PING with this id answers it and everything older.
        let k = -1;
        for (let i = model.length - 1; i >= 0; i--) if (model[i]![0] === step) { k = i; break; }
        const rtt = log.answered(step, now);
        if (k < 0) assert.equal(rtt, undefined);
        else {
          assert.equal(rtt, now - model[k]![1]);
          model = model.slice(k + 1);
        }
      }
    }),
  );
});
