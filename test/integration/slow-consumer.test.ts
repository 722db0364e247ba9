/**
 * Issue 15 item 2, a peer that never reads (docs/spec/0003-enforcement-and-drain.md §Slow
 * consumers), with real sockets: a raw TCP peer completes the handshake, stops reading and keeps
 * pinging (it is alive, just not reading) while the server's application sends to it as fast as
 * send() lets it. The bytes the server holds for it stay under the ceiling, and it is closed with
 * `slow-consumer` once it took none of them for the heartbeat timeout; a resumable one that the
 * application may push past the ceiling is closed at once. A well-behaved client's heartbeat is
 * measured throughout and must never be declared dead. The same runs over the lean WebSocket
 * server (transport/ws-server.ts, on the bare handle and on a net.Socket): a raw RFC 6455 client
 * that stops reading gets the TCP contract — send() false, then BufferOverflowError, then
 * `slow-consumer` (docs/spec/0011-transports.md §Backpressure).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import diagnostics from 'node:diagnostics_channel';
import { BufferOverflowError, createServer, type CloseReason, type LifelineServer, type ServerOptions, type Session } from '../../src/index.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import type { Frame } from '../../src/protocol/frames.js';
import { slowConsumerCeiling } from '../../src/connection/slow-consumer.js';
import { WS_OP_BINARY } from '../../src/transport/ws-codec.js';
import { clientFrame, parseServerFrames } from '../fixtures/ws-frames.js';
import { nextEvent } from './helpers.js';
import { rttObserver } from './rtt-observer.js';
import { assertCounted, assertNothingOfPayload, assertPeerLines, badPeerLog, type BadPeerLog } from './bad-peer-log.js';

const INTERVAL_MS = 300;
const TIMEOUT_MS = 1000;
const MAX_BUFFERED = 1024 * 1024;

async function startServer(t: TestContext, options: ServerOptions = {}): Promise<{ server: LifelineServer; port: number; wsPort: number; log: BadPeerLog }> {
  const log = badPeerLog();
  const server = createServer({ maxBufferedBytes: MAX_BUFFERED, tcpKeepalive: false, tcpUserTimeout: 0, logger: log.logger, ...options });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  // The WebSocket rows' non-reading peer comes here; the observer stays on TCP.
  const { port: wsPort } = await server.listen({ transport: 'ws', port: 0, host: '127.0.0.1', path: '/ll' });
  return { server, port, wsPort, log };
}

/** A lifeline frame as a masked binary WebSocket message (a client's). */
function wsMessage(frame: Frame): Buffer {
  return clientFrame(WS_OP_BINARY, encodeFrame(frame));
}

/**
 * The WebSocket twin of nonReadingPeer: a bare socket sends the upgrade request with HELLO
 * behind it, reads the 101 and the WELCOME, then stops reading and pings every interval.
 */
async function nonReadingWsPeer(t: TestContext, server: LifelineServer, port: number): Promise<Session> {
  const sessionP = nextEvent<[Session]>(server, 'session', 5000);
  const socket = net.connect({ host: '127.0.0.1', port });
  t.after(() => void socket.destroy());
  socket.on('error', () => {});
  await nextEvent(socket, 'connect', 3000);
  socket.setNoDelay(true);
  const request = `GET /ll HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  socket.write(Buffer.concat([Buffer.from(request), wsMessage({ type: 'hello', version: 1, heartbeatIntervalMs: INTERVAL_MS, heartbeatTimeoutMs: TIMEOUT_MS })]));
  const frames: Frame[] = [];
  let buffered = Buffer.alloc(0);
  const upgradedAndWelcomed = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no 101 + WELCOME within 3 s')), 3000);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      assert.match(buffered.subarray(0, end).toString('latin1'), /^HTTP\/1\.1 101 /);
      for (const f of parseServerFrames(buffered.subarray(end + 4)).frames) new FrameDecoder().push(f.payload, (x) => frames.push(x));
      if (frames.length === 0) return;
      clearTimeout(timer);
      socket.off('data', onData);
      resolve();
    };
    socket.on('data', onData);
  });
  await upgradedAndWelcomed;
  assert.equal(frames[0]?.type, 'welcome');
  socket.pause();
  let id = 0;
  const pinger = setInterval(() => {
    if (!socket.destroyed) socket.write(wsMessage({ type: 'ping', id: id++ % 32 }));
  }, INTERVAL_MS);
  t.after(() => clearInterval(pinger));
  socket.on('close', () => clearInterval(pinger));
  const [session] = await sessionP;
  assert.equal(session.transport, 'ws');
  return session;
}

/**
 * A raw peer: HELLO, reads the WELCOME, then pauses its socket for good and writes a PING every
 * interval (spaced enough for ping-rate enforcement) so the server's heartbeat sees it alive.
 */
async function nonReadingPeer(t: TestContext, server: LifelineServer, port: number, resumable = false): Promise<Session> {
  const sessionP = nextEvent<[Session]>(server, 'session', 5000);
  const socket = net.connect({ host: '127.0.0.1', port });
  t.after(() => void socket.destroy());
  socket.on('error', () => {});
  await nextEvent(socket, 'connect', 3000);
  socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: INTERVAL_MS, heartbeatTimeoutMs: TIMEOUT_MS, ...(resumable ? { resumable: true } : {}) }));
  const [chunk] = await nextEvent<[Buffer]>(socket, 'data', 3000);
  const frames: Frame[] = [];
  new FrameDecoder().push(chunk, (f) => frames.push(f));
  assert.equal(frames[0]?.type, 'welcome');
  socket.pause();
  let id = 0;
  const pinger = setInterval(() => {
    if (!socket.destroyed) socket.write(encodeFrame({ type: 'ping', id: id++ % 32 }));
  }, INTERVAL_MS);
  t.after(() => clearInterval(pinger));
  socket.on('close', () => clearInterval(pinger));
  const [session] = await sessionP;
  return session;
}

const rows = [
  { transport: 'tcp', leanSockets: true, label: 'lean TCP handle' },
  { transport: 'tcp', leanSockets: false, label: 'net.Socket' },
  { transport: 'ws', leanSockets: true, label: 'WebSocket on the lean handle' },
  { transport: 'ws', leanSockets: false, label: 'WebSocket on net.Socket' },
] as const;

for (const { transport, leanSockets, label } of rows) {
  test(`slow consumer - a peer that never reads is closed with slow-consumer; send() said false first; the server holds at most the ceiling for it; another client is unaffected (${label})`, async (t) => {
    const { server, port, wsPort, log } = await startServer(t, { leanSockets });
    const observer = await rttObserver(t, port);
    const session = transport === 'ws' ? await nonReadingWsPeer(t, server, wsPort) : await nonReadingPeer(t, server, port);
    const published: Array<{ session?: Session; reason: CloseReason }> = [];
    const onPublished = (message: unknown) => published.push(message as { session?: Session; reason: CloseReason });
    diagnostics.subscribe('lifeline:server:slow-consumer', onPublished);
    t.after(() => diagnostics.unsubscribe('lifeline:server:slow-consumer', onPublished));
    const closed = nextEvent<[CloseReason]>(session, 'close', 20_000);
    let reason: CloseReason | undefined;
    void closed.then(([r]) => (reason = r));
    observer.start();

    const chunk = new Uint8Array(64 * 1024);
    const startedAt = performance.now();
    const baseline = process.memoryUsage().arrayBuffers;
    let maxBuffered = 0;
    let maxArrayBuffersGrowth = 0;
    let accepted = 0;
    let falses = 0;
    let falsesBeforeRefusal = 0;
    let refusals = 0;
    let firstRefusalAt = NaN;
    // Bounded in count and time; the close is what should end it.
    for (let i = 0; i < 20_000 && reason === undefined && performance.now() - startedAt < 15_000; i++) {
      try {
        if (!session.send(chunk)) {
          falses++;
          if (refusals === 0) falsesBeforeRefusal++;
        }
        accepted++;
      } catch (err) {
        if (!(err instanceof BufferOverflowError)) break; // not open any more
        refusals++;
        if (Number.isNaN(firstRefusalAt)) firstRefusalAt = performance.now();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      maxBuffered = Math.max(maxBuffered, session.bufferedAmount);
      maxArrayBuffersGrowth = Math.max(maxArrayBuffersGrowth, process.memoryUsage().arrayBuffers - baseline);
      if (i % 8 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const [closeReason] = await closed;
    const closedAfterRefusalMs = performance.now() - firstRefusalAt;
    t.diagnostic(
      `${label}: ${accepted} × 64 KiB accepted (${((accepted * 64) / 1024).toFixed(1)} MiB, the kernel buffers took most), ${falses} returned false, ${refusals} sends refused, ` +
        `user-space buffer at most ${maxBuffered} B (limit ${MAX_BUFFERED}, ceiling ${slowConsumerCeiling(MAX_BUFFERED)}), arrayBuffers at most +${(maxArrayBuffersGrowth / 1048576).toFixed(1)} MiB, ` +
        `closed ${Math.round(closedAfterRefusalMs)} ms after the first refusal: ${closeReason.message}`,
    );
    assert.equal(closeReason.code, 'slow-consumer');
    assert.equal(closeReason.detectedBy, 'send-buffer');
    assert.match(closeReason.message, /took none of/);
    assert.ok(falsesBeforeRefusal > 0, 'send() reported backpressure (false) before any refusal');
    assert.ok(refusals > 0, 'the application saw BufferOverflowError first (its own chance to act)');
    assert.ok(maxBuffered <= slowConsumerCeiling(MAX_BUFFERED), `held ${maxBuffered} B in user space`);
    // Generous: the watch needs one timeout without progress, and began at most one timeout before.
    assert.ok(closedAfterRefusalMs < 2 * TIMEOUT_MS + 3000, `closed ${Math.round(closedAfterRefusalMs)} ms after the first refusal`);
    // The queued messages are the application's own buffer, referenced, not copied (tcp-handle.ts
    // writes a batch with writev; ws-server-frames.ts gathers): a copy per message would hold
    // about the bytes waiting (≈ MAX_BUFFERED) on top; measured +0.1 MiB without one.
    assert.ok(maxArrayBuffersGrowth < MAX_BUFFERED / 2, `arrayBuffers grew by ${maxArrayBuffersGrowth} B: copies of the queued messages?`);
    assert.equal(server.counters.connectionsClosed.get('slow-consumer'), 1, 'counted for the metrics (lifeline_connections_closed_total{reason="slow-consumer"})');
    assert.equal(session.state, 'closed');
    assert.equal(published.length, 1, 'one lifeline:server:slow-consumer message');
    assert.equal(published[0]!.session, session);
    assert.equal(published[0]!.reason.code, 'slow-consumer');
    // A detection (spec 0016): warn, with the watch's own figures; then the session's close.
    assertPeerLines(log, `${session.remoteAddress}:${session.remotePort}`, ['debug hello', 'debug welcome', 'info session-open', 'warn detection slow-consumer', 'info session-close slow-consumer']);
    assertNothingOfPayload(log, []);
    assertCounted(server, { sessions: { 'slow-consumer': 1 } });
    await observer.check(t, `slow consumer (${label})`);
  });
}

test('slow consumer - a resumable session pushed past the ceiling closes at once, and the session ends (its backlog is not kept for a reader that did not read)', async (t) => {
  // The replay buffer, not maxBufferedBytes, bounds a resumable session's sends: make it large.
  const { server, port, log } = await startServer(t, { maxResumeBytesPerSession: 64 * 1024 * 1024 });
  const observer = await rttObserver(t, port);
  const session = await nonReadingPeer(t, server, port, true);
  assert.equal(session.resumable, true);
  const closed = nextEvent<[CloseReason]>(session, 'close', 20_000);
  observer.start();
  const chunk = new Uint8Array(64 * 1024);
  let maxBuffered = 0;
  let sends = 0;
  const startedAt = performance.now();
  for (; sends < 2000 && session.state === 'open' && performance.now() - startedAt < 15_000; sends++) {
    try {
      session.send(chunk);
    } catch {
      break;
    }
    maxBuffered = Math.max(maxBuffered, session.bufferedAmount);
    if (sends % 8 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const [reason] = await closed;
  const ceiling = slowConsumerCeiling(MAX_BUFFERED);
  t.diagnostic(`${sends} × 64 KiB sent, user-space buffer at most ${maxBuffered} B (ceiling ${ceiling}), closed after ${Math.round(performance.now() - startedAt)} ms: ${reason.message}`);
  assert.equal(reason.code, 'slow-consumer');
  assert.match(reason.message, /above the ceiling/);
  assert.ok(maxBuffered <= ceiling + chunk.byteLength + 64, `held ${maxBuffered} B`);
  assert.ok(sends < 2000, 'the ceiling, not the loop bound, ended it');
  assert.equal(session.state, 'closed', 'a deliberate close: not detached for a resume');
  assert.equal(server.detachedCount, 0);
  assertPeerLines(log, `${session.remoteAddress}:${session.remotePort}`, ['debug hello', 'debug welcome', 'info session-open', 'warn detection slow-consumer', 'info session-close slow-consumer']);
  assertCounted(server, { connections: { 'slow-consumer': 1 }, sessions: { 'slow-consumer': 1 } });
  await observer.check(t, 'slow consumer (resumable, ceiling)');
});
