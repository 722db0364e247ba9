/**
 * Bounded buffers (issue 5 §3): a peer that stops reading makes send() return false at the
 * socket's high-water mark, then throw BufferOverflowError at the bound — never silent loss,
 * never unbounded memory. 'drain' fires once the peer reads again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { encodeFrame } from '../../src/protocol/encode.js';
import { BufferOverflowError, createServer, type Session } from '../../src/index.js';
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
