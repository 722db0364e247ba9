/**
 * Integration: the handshake's failure paths on real sockets — raw peers that send nothing,
 * garbage, an old version or a huge length prefix; a full server; a server that never answers;
 * nobody listening. Every refusal must put a CLOSE frame with the right code on the wire
 * before the socket ends.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import type { Frame } from '../../src/protocol/frames.js';
import { connect, createServer, type CloseReason, type LifelineServer, type OpenInfo, type ServerOptions, type Session } from '../../src/index.js';
import { nextEvent, eventually } from './helpers.js';

async function startServer(t: TestContext, options: ServerOptions = {}): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({ minHeartbeatInterval: 50, minHeartbeatTimeout: 100, ...options });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port };
}

interface RawOutcome {
  /** Frames decoded before the server ended the stream. */
  frames: Frame[];
  /** ms from connect to the server's FIN (or to the close, when there was none). */
  endedAfterMs: number;
  /** Whether the server ended with a FIN (true) rather than a reset / our own timeout. */
  gotEnd: boolean;
  decodeError: string | undefined;
}

/** A raw TCP peer: connects, writes `send` (if any) and records what comes back until the close. */
async function rawPeer(t: TestContext, port: number, send?: Uint8Array | string, giveUpMs = 3000): Promise<RawOutcome> {
  const socket = net.connect({ host: '127.0.0.1', port });
  t.after(() => void socket.destroy());
  socket.on('error', () => {});
  await nextEvent(socket, 'connect', 3000);
  const startedAt = performance.now();
  const decoder = new FrameDecoder();
  const outcome: RawOutcome = { frames: [], endedAfterMs: NaN, gotEnd: false, decodeError: undefined };
  socket.on('data', (chunk: Buffer) => {
    if (outcome.gotEnd) return;
    try {
      decoder.push(chunk, (frame) => outcome.frames.push(frame));
    } catch (err) {
      outcome.decodeError = String(err);
    }
  });
  socket.on('end', () => {
    outcome.gotEnd = true;
    outcome.endedAfterMs = performance.now() - startedAt;
  });
  if (send !== undefined) socket.write(send);
  const giveUp = setTimeout(() => socket.destroy(), giveUpMs);
  await nextEvent(socket, 'close', giveUpMs + 1000);
  clearTimeout(giveUp);
  if (!outcome.gotEnd) outcome.endedAfterMs = performance.now() - startedAt;
  return outcome;
}

/** Exactly one CLOSE frame with `code`, then FIN. */
function assertClosedWith(outcome: RawOutcome, code: string): Extract<Frame, { type: 'close' }> {
  assert.equal(outcome.decodeError, undefined);
  assert.ok(outcome.gotEnd, 'the server ended the stream with a FIN');
  assert.equal(outcome.frames.length, 1, `expected one frame, got ${JSON.stringify(outcome.frames.map((f) => f.type))}`);
  const frame = outcome.frames[0]!;
  assert.equal(frame.type, 'close');
  assert.equal(frame.code, code);
  return frame;
}

test('handshake - a peer that sends nothing gets CLOSE handshake-timeout after handshakeTimeout', async (t) => {
  const handshakeTimeout = 300;
  const { server, port } = await startServer(t, { handshakeTimeout });
  const outcome = await rawPeer(t, port);
  assertClosedWith(outcome, 'handshake-timeout');
  t.diagnostic(`closed after ${Math.round(outcome.endedAfterMs)} ms`);
  assert.ok(outcome.endedAfterMs >= handshakeTimeout - 5, `closed after only ${Math.round(outcome.endedAfterMs)} ms`);
  assert.ok(outcome.endedAfterMs < handshakeTimeout + 500, `closed after ${Math.round(outcome.endedAfterMs)} ms`);
  assert.equal(server.sessionCount, 0);
  // Our socket closes a moment before the server has processed our FIN.
  assert.ok(await eventually(() => server.connectionCount === 0, 1000), 'the server dropped the connection');
});

test('handshake - an HTTP request gets CLOSE protocol-error and the socket is closed', async (t) => {
  const { server, port } = await startServer(t, { handshakeTimeout: 5000 });
  const outcome = await rawPeer(t, port, 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  assertClosedWith(outcome, 'protocol-error');
  assert.ok(outcome.endedAfterMs < 1000, 'refused at once, not by the handshake timer');
  assert.ok(await eventually(() => server.connectionCount === 0, 1000), 'the server dropped the connection');
});

test('handshake - random garbage gets CLOSE protocol-error', async (t) => {
  const { port } = await startServer(t, { handshakeTimeout: 5000 });
  // 0x08: an unassigned long frame type.
  const outcome = await rawPeer(t, port, Uint8Array.from([0x08, 0x00, 0x13, 0x37]));
  assertClosedWith(outcome, 'protocol-error');
});

test('handshake - a HELLO with version 0 gets CLOSE unsupported-version', async (t) => {
  const { server, port } = await startServer(t, { handshakeTimeout: 5000 });
  const hello = encodeFrame({ type: 'hello', version: 0, heartbeatIntervalMs: 0, heartbeatTimeoutMs: 0 });
  const outcome = await rawPeer(t, port, hello);
  const close = assertClosedWith(outcome, 'unsupported-version');
  assert.match(close.message, /version 0/);
  assert.equal(server.sessionCount, 0);
});

test('handshake - a HELLO from a newer version is answered with WELCOME in our version', async (t) => {
  const { server, port } = await startServer(t, { handshakeTimeout: 5000 });
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const socket = net.connect({ host: '127.0.0.1', port });
  t.after(() => void socket.destroy());
  socket.on('error', () => {});
  socket.write(encodeFrame({ type: 'hello', version: 9, heartbeatIntervalMs: 300, heartbeatTimeoutMs: 900 }));
  const [chunk] = await nextEvent<[Buffer]>(socket, 'data', 3000);
  const frames: Frame[] = [];
  new FrameDecoder().push(chunk, (f) => frames.push(f));
  const welcome = frames[0]!;
  assert.equal(welcome.type, 'welcome');
  assert.equal(welcome.version, 1);
  assert.equal(welcome.heartbeatIntervalMs, 300);
  assert.equal(welcome.heartbeatTimeoutMs, 900);
  const [session] = await sessionP;
  assert.equal(Buffer.from(welcome.sessionId!).toString('hex'), session.id);
});

test('handshake - an oversized length prefix is refused before any body byte is sent', async (t) => {
  // handshakeTimeout far away: a CLOSE now can only come from the length check.
  const { server, port } = await startServer(t, { handshakeTimeout: 10_000, maxFrameSize: 64 * 1024 });
  // HELLO type byte + a 4-byte varint announcing a 256 MiB - 1 body; no body follows.
  const outcome = await rawPeer(t, port, Uint8Array.from([0x01, 0xff, 0xff, 0xff, 0x7f]));
  const close = assertClosedWith(outcome, 'protocol-error');
  assert.match(close.message, /maxFrameSize/);
  assert.ok(outcome.endedAfterMs < 1000, `refused after ${Math.round(outcome.endedAfterMs)} ms`);
  assert.ok(await eventually(() => server.connectionCount === 0, 1000), 'the server dropped the connection');
});

test('handshake - beyond maxConnections a client gets CLOSE server-full; the others stay open', async (t) => {
  const { server, port } = await startServer(t, { maxConnections: 2 });
  const opened = [];
  for (let i = 0; i < 2; i++) {
    const client = connect({ reconnect: false, host: '127.0.0.1', port });
    t.after(() => client.close());
    opened.push(client);
    await nextEvent<[OpenInfo]>(client, 'open', 3000);
  }
  assert.equal(server.connectionCount, 2);

  const extra = connect({ reconnect: false, host: '127.0.0.1', port });
  t.after(() => extra.close());
  const [reason] = await nextEvent<[CloseReason]>(extra, 'close', 3000);
  assert.equal(reason.code, 'server-full');
  assert.equal(reason.remoteCode, 'server-full');
  assert.equal(reason.initiator, 'peer');
  assert.equal(extra.info, undefined);

  // A raw peer sees the CLOSE frame itself.
  assertClosedWith(await rawPeer(t, port), 'server-full');

  assert.equal(server.sessionCount, 2);
  assert.equal(server.connectionCount, 2);
  for (const client of opened) assert.equal(client.state, 'open');

  // A slot frees up once one of them leaves.
  const left = nextEvent(server, 'sessionClose', 3000);
  opened[0]!.close();
  await left;
  const next = connect({ reconnect: false, host: '127.0.0.1', port });
  t.after(() => next.close());
  await nextEvent<[OpenInfo]>(next, 'open', 3000);
  assert.equal(server.sessionCount, 2);

  await server.close();
});

test(
  'handshake - server.close() does not wait on connections it refused as server-full',
  async (t) => {
    const { server, port } = await startServer(t, { maxConnections: 1 });
    const first = connect({ reconnect: false, host: '127.0.0.1', port });
    t.after(() => first.close());
    await nextEvent<[OpenInfo]>(first, 'open', 3000);
    const refused = connect({ reconnect: false, host: '127.0.0.1', port });
    t.after(() => refused.close());
    const [reason] = await nextEvent<[CloseReason]>(refused, 'close', 3000);
    assert.equal(reason.code, 'server-full');
    const keepAlive = setTimeout(() => {}, 5000);
    const startedAt = performance.now();
    await server.close();
    const elapsedMs = performance.now() - startedAt;
    clearTimeout(keepAlive);
    assert.ok(elapsedMs < 300, `server.close() took ${Math.round(elapsedMs)} ms after refusing a client that had already left`);
  },
);

test('handshake - a client whose server never answers HELLO closes with handshake-timeout', async (t) => {
  const received: Buffer[] = [];
  const accepted = new Set<net.Socket>();
  const silent = net.createServer((socket) => {
    accepted.add(socket);
    socket.on('data', (chunk) => received.push(chunk));
    socket.on('error', () => {});
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of accepted) s.destroy();
        silent.close(() => resolve());
      }),
  );
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as net.AddressInfo;

  const handshakeTimeout = 300;
  const startedAt = performance.now();
  const client = connect({ reconnect: false, host: '127.0.0.1', port, handshakeTimeout });
  t.after(() => client.close());
  const [reason] = await nextEvent<[CloseReason]>(client, 'close', 3000);
  const elapsedMs = performance.now() - startedAt;
  assert.equal(reason.code, 'handshake-timeout');
  assert.equal(reason.detectedBy, 'handshake-timer');
  assert.equal(reason.initiator, 'local');
  assert.ok(elapsedMs >= handshakeTimeout - 5, `gave up after only ${Math.round(elapsedMs)} ms`);
  assert.ok(elapsedMs < handshakeTimeout + 500, `gave up after ${Math.round(elapsedMs)} ms`);
  assert.equal(accepted.size, 1);

  // What the silent server saw: our HELLO, then a CLOSE saying why we left.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const frames: Frame[] = [];
  new FrameDecoder().push(Buffer.concat(received), (f) => frames.push(f));
  assert.deepEqual(
    frames.map((f) => (f.type === 'close' ? `close:${f.code}` : f.type)),
    ['hello', 'close:handshake-timeout'],
  );
});

test('handshake - connecting to a closed port closes with connect-failed', async (t) => {
  // Take a free port and release it: nothing listens there now.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  const client = connect({ reconnect: false, host: '127.0.0.1', port });
  t.after(() => client.close());
  const [reason] = await nextEvent<[CloseReason]>(client, 'close', 3000);
  assert.equal(reason.code, 'connect-failed');
  assert.equal(reason.initiator, 'transport');
  assert.equal((reason.error as NodeJS.ErrnoException | undefined)?.code, 'ECONNREFUSED');
  assert.equal(client.state, 'closed');
  assert.throws(() => client.send('x'), (err: unknown) => (err as { code?: string }).code === 'LL_ERR_NOT_OPEN');
});
