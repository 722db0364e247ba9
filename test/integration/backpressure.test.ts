/**
 * Bounded buffers (issue 5 §3): a peer that stops reading makes send() return false at the
 * socket's high-water mark, then throw BufferOverflowError at the bound — never silent loss,
 * never unbounded memory. 'drain' fires once the peer reads again. The same on the lean
 * WebSocket server, for messages written corked (over 1 KiB: header and payload) and coalesced
 * (docs/spec/0011-transports.md §Backpressure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { encodeFrame } from '../../src/protocol/encode.js';
import { BufferOverflowError, createServer, type Session } from '../../src/index.js';
import type { Frame } from '../../src/protocol/frames.js';
import { WS_OP_BINARY } from '../../src/transport/ws-codec.js';
import { clientFrame } from '../fixtures/ws-frames.js';
import { eventually, nextEvent } from './helpers.js';

test('backpressure - a client that stops reading: false, then BufferOverflowError at maxBufferedBytes; drain when it reads again', async (t) => {
  const LIMIT = 256 * 1024;
  const server = createServer({ maxBufferedBytes: LIMIT, tcpKeepalive: false, tcpUserTimeout: 0 });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  // A raw client: handshake, then never read (paused socket: the kernel buffers fill up).
  const raw = net.connect({ host: '127.0.0.1', port });
  t.after(() => void raw.destroy());
  raw.on('error', () => {});
  await nextEvent(raw, 'connect', 3000);
  raw.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 5000, heartbeatTimeoutMs: 15000 }));
  const [session] = await sessionP;
  raw.pause();

  const chunk = new Uint8Array(16 * 1024);
  let sawFalse = false;
  let sent = 0;
  let overflow: unknown;
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 10_000; i++) {
    try {
      if (!session.send(chunk)) sawFalse = true;
      sent++;
    } catch (err) {
      overflow = err;
      break;
    }
    if (i % 16 === 0) await new Promise((resolve) => setImmediate(resolve)); // let the kernel take what it can
  }
  assert.ok(sawFalse, 'send() reported backpressure before the bound');
  assert.ok(overflow instanceof BufferOverflowError, `expected BufferOverflowError, got ${String(overflow)}`);
  assert.equal((overflow as BufferOverflowError).code, 'LL_ERR_BUFFER_OVERFLOW');
  assert.ok(session.bufferedAmount <= LIMIT, `buffered ${session.bufferedAmount} > ${LIMIT}`);
  const grownBy = process.memoryUsage().arrayBuffers - before;
  t.diagnostic(`${sent} × 16 KiB accepted (kernel buffers took the rest), user-space buffer ${session.bufferedAmount} B, arrayBuffers +${grownBy} B`);
  assert.ok(sent < 10_000, 'the loop was stopped by the bound, not by its count');

  // The client reads again: the buffer empties and 'drain' fires; sending works again.
  const drained = nextEvent(session, 'drain', 5000);
  raw.resume();
  await drained;
  assert.ok(await eventually(() => session.bufferedAmount === 0, 3000));
  assert.equal(session.send('small again'), true);
});

/** A lifeline frame as a masked binary WebSocket message (a client's). */
function wsMessage(frame: Frame): Buffer {
  return clientFrame(WS_OP_BINARY, encodeFrame(frame));
}

for (const size of [16 * 1024, 512]) {
  test(`backpressure - a WebSocket client that stops reading (${size} B messages, ${size > 1024 ? 'corked' : 'coalesced'}): false, then BufferOverflowError at maxBufferedBytes; drain when it reads again; nothing lost`, async (t) => {
    const LIMIT = 256 * 1024;
    for (const leanSockets of [true, false]) {
      const server = createServer({ maxBufferedBytes: LIMIT, tcpKeepalive: false, tcpUserTimeout: 0, leanSockets });
      t.after(() => server.close());
      const { port } = await server.listen({ transport: 'ws', port: 0, host: '127.0.0.1', path: '/ll' });
      const sessionP = nextEvent<[Session]>(server, 'session', 3000);
      const raw = net.connect({ host: '127.0.0.1', port });
      t.after(() => void raw.destroy());
      raw.on('error', () => {});
      await nextEvent(raw, 'connect', 3000);
      // Upgrade with HELLO behind it (http's head), then never read until told.
      const request = 'GET /ll HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
      raw.write(Buffer.concat([Buffer.from(request), wsMessage({ type: 'hello', version: 1, heartbeatIntervalMs: 5000, heartbeatTimeoutMs: 15000 })]));
      const [session] = await sessionP;
      assert.equal(session.transport, 'ws');
      raw.pause();
      let received = 0;
      raw.on('data', (c: Buffer) => (received += c.byteLength));

      const chunk = new Uint8Array(size);
      let sawFalse = false;
      let sent = 0;
      let overflow: unknown;
      const startedAt = performance.now();
      // Bounded in count and time: loopback's socket buffers take a few MiB before user space fills.
      for (let i = 0; i < 200_000 && performance.now() - startedAt < 15_000; i++) {
        try {
          if (!session.send(chunk)) sawFalse = true;
          sent++;
        } catch (err) {
          overflow = err;
          break;
        }
        if (i % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      const label = `ws, ${leanSockets ? 'lean handle' : 'net.Socket'}, ${size} B`;
      t.diagnostic(`${label}: ${sent} messages accepted, user-space buffer ${session.bufferedAmount} B at the refusal`);
      assert.ok(sawFalse, `${label}: send() reported backpressure before the bound`);
      assert.ok(overflow instanceof BufferOverflowError, `${label}: expected BufferOverflowError, got ${String(overflow)}`);
      assert.ok(session.bufferedAmount <= LIMIT, `${label}: buffered ${session.bufferedAmount} > ${LIMIT}`);

      const drained = nextEvent(session, 'drain', 5000);
      raw.resume();
      await drained;
      assert.ok(await eventually(() => session.bufferedAmount === 0, 5000), `${label}: the buffer emptied`);
      // Every accepted message arrived: payload plus at least the DATA and WebSocket headers each.
      assert.ok(await eventually(() => received >= sent * (size + 4), 5000), `${label}: received ${received} B for ${sent} messages`);
      assert.equal(session.send('small again'), true, `${label}: a send after the drain`);
      await server.close();
    }
  });
}
