/** ws-framing - message sizes and the cork batch both WebSocket adapters share (spec 0011 §WebSocket framing). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxWsMessageBytes, sendInMessages, WriteBatch, WS_MESSAGE_BYTES } from '../../../src/transport/ws-framing.js';

test('ws-framing - a write over 64 KiB goes out as messages of at most 64 KiB, in order, nothing lost', () => {
  const bytes = Uint8Array.from({ length: 2 * WS_MESSAGE_BYTES + 5 }, (_, i) => i & 0xff);
  const sent: Uint8Array[] = [];
  sendInMessages(bytes, (m) => sent.push(m));
  assert.deepEqual(sent.map((m) => m.byteLength), [WS_MESSAGE_BYTES, WS_MESSAGE_BYTES, 5]);
  assert.deepEqual(Buffer.concat(sent), Buffer.from(bytes));
  const small: Uint8Array[] = [];
  sendInMessages(Uint8Array.of(1), (m) => small.push(m));
  assert.equal(small.length, 1);
});

test('ws-framing - a receiver accepts max(64 KiB, maxFrameSize + 16)', () => {
  assert.equal(maxWsMessageBytes(1024), WS_MESSAGE_BYTES);
  assert.equal(maxWsMessageBytes(1024 * 1024), 1024 * 1024 + 16);
});

test('ws-framing - WriteBatch joins the writes of the outermost cork; flush ends it at any depth', () => {
  const batch = new WriteBatch();
  assert.equal(batch.add(Uint8Array.of(9)), false, 'no batch open: write now');
  batch.cork();
  batch.cork();
  assert.ok(batch.add(Uint8Array.of(1, 2)));
  assert.ok(batch.add(Uint8Array.of(3)));
  assert.equal(batch.bytes, 3);
  assert.equal(batch.uncork(), undefined, 'still corked once');
  assert.deepEqual(batch.uncork(), Uint8Array.of(1, 2, 3));
  assert.equal(batch.uncork(), undefined, 'an extra uncork is harmless');
  batch.cork();
  assert.equal(batch.uncork(), undefined, 'an empty batch sends nothing');
  batch.cork();
  batch.cork();
  batch.add(Uint8Array.of(7));
  assert.deepEqual(batch.flush(), Uint8Array.of(7));
  assert.equal(batch.add(Uint8Array.of(8)), false, 'flush closed the batch');
});
