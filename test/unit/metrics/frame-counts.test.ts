/**
 * Frames by type (src/connection/frame-counts.ts, docs/spec/0015-metrics.md §Frames by type) on
 * an in-memory pair with a FakeClock: what a connection counts is what it decoded and what it
 * wrote, frame by frame — PINGs bunched in one chunk count each (one PONG answers them), a
 * leader's status PONG in front of its PING is one of each, a large DATA written as header +
 * payload is one frame. What was written is decoded back from the transport as the reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, type ConnectionOwner } from '../../../src/connection/connection.js';
import { FRAME_COUNT_TYPES, frameSlot, newFrameCounts } from '../../../src/connection/frame-counts.js';
import { createMemoryPair, type MemoryTransport } from '../../../src/transport/memory.js';
import { FakeClock } from '../../../src/time/fake-clock.js';
import { TimerScheduler } from '../../../src/time/scheduler.js';
import { FrameDecoder } from '../../../src/protocol/decoder.js';
import { encodePing } from '../../../src/protocol/encode.js';
import type { FrameType } from '../../../src/protocol/frames.js';

const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

const owner = (): ConnectionOwner => ({ handshakeFrame() {}, message() {}, ping() {}, pingSent() {}, pong() {}, goaway() {}, drain() {}, closed() {} });

/** Counts by type name, zeros left out. */
function byType(counts: Float64Array): Record<string, number> {
  const out: Record<string, number> = {};
  FRAME_COUNT_TYPES.forEach((type, slot) => {
    if (counts[slot]! > 0) out[type] = counts[slot]!;
  });
  return out;
}

/** Frames decoded from everything a memory transport wrote, by type. */
function written(t: MemoryTransport): Record<string, number> {
  const d = new FrameDecoder({ maxFrameSize: 1 << 20 });
  const out: Record<string, number> = {};
  for (const chunk of t.written) d.push(chunk, (f) => void (out[f.type] = (out[f.type] ?? 0) + 1));
  return out;
}

test('frame counts - each frame type has its own slot, named by FRAME_COUNT_TYPES', () => {
  const types: FrameType[] = ['hello', 'welcome', 'data', 'ack', 'ping', 'pong', 'goaway', 'close', 'presence'];
  const slots = types.map(frameSlot);
  assert.deepEqual([...slots].sort(), types.map((_, i) => i), 'slots 0..n-1, each once');
  for (const type of types) assert.equal(FRAME_COUNT_TYPES[frameSlot(type)], type);
  assert.equal(newFrameCounts().length, types.length);
});

test('frame counts - PINGs in one chunk count each (one PONG answers), a pushed status is a PONG and a PING, a large DATA is one frame', async () => {
  const clock = new FakeClock(1000);
  const scheduler = new TimerScheduler(clock);
  const [ta, tb] = createMemoryPair();
  const env = (sent: Float64Array, received: Float64Array) => ({ clock, scheduler, maxFrameSize: 1 << 20, health: () => ({ status: 'ok' as const, load: 0 }), framesSent: sent, framesReceived: received });
  const [aSent, aReceived, bSent, bReceived] = [newFrameCounts(), newFrameCounts(), newFrameCounts(), newFrameCounts()];
  const a = new Connection({ transport: ta, owner: owner(), env: env(aSent, aReceived) });
  const b = new Connection({ transport: tb, owner: owner(), env: env(bSent, bReceived) });
  // a leads the heartbeat for a follower (spec 0010): its first PING carries a status PONG.
  a.open({ pingAfterMs: 100, timeoutMs: 400, jitterMs: 0, peerMaxFrameSize: 1 << 20, pushStatus: true });
  b.open({ pingAfterMs: 150, timeoutMs: 400, jitterMs: 0, peerMaxFrameSize: 1 << 20 });
  clock.advance(100);
  await flush();
  assert.deepEqual(byType(aSent), { pong: 1, ping: 1 }, 'PONG + PING in one write: one of each');
  assert.deepEqual(byType(bReceived), { pong: 1, ping: 1 });
  assert.deepEqual(byType(bSent), { pong: 1 }, 'the follower answers');
  assert.deepEqual(byType(aReceived), { pong: 1 });

  // Three PINGs in one chunk, past b's Connection (as a flooding peer would): three counted, one PONG.
  tb.write(new Uint8Array([...encodePing(4), ...encodePing(5), ...encodePing(6)]));
  await flush();
  assert.equal(byType(aReceived).ping, 3);
  assert.equal(byType(aSent).pong, 2, 'the pushed one, and one answering the bunch');
  assert.equal(written(ta).pong, 2);

  // A DATA over the coalescing limit goes out as header + payload: one frame.
  a.send(new Uint8Array(4096));
  a.send(new Uint8Array(10));
  await flush();
  assert.equal(byType(aSent).data, 2);
  assert.equal(byType(bReceived).data, 2);

  // A graceful close: CLOSE out, CLOSE in.
  a.close('normal', 'bye');
  await flush();
  assert.equal(byType(aSent).close, 1);
  assert.equal(byType(bReceived).close, 1);
  // What a counted as sent is what it wrote, type by type (b's transport also carried the raw PINGs).
  assert.deepEqual(byType(aSent), written(ta));
  assert.deepEqual(byType(bSent), { pong: 1 });
});
