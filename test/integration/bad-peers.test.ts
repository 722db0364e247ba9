/**
 * Issue 15 item 2, bad peers with real sockets (the cases handshake.test.ts does not cover):
 * a slowloris HELLO (one byte at a time), DATA before HELLO, and a resume with a forged session
 * id. Each ends in a clear CLOSE with a reason, or — for the forged id — in a fresh session that
 * touches nobody else's, while another client's heartbeat keeps going.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type LifelineServer, type OpenInfo, type Session } from '../../src/index.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import type { Frame } from '../../src/protocol/frames.js';
import { eventually, nextEvent } from './helpers.js';

async function startServer(t: TestContext, handshakeTimeout = 5000): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({ handshakeTimeout, tcpKeepalive: false, tcpUserTimeout: 0 });
  t.after(() => server.close());
  server.on('session', (s: Session) => s.on('message', (m: Buffer) => s.send(m)));
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port };
}

/** A raw TCP peer that records the frames it gets and when the server ended the stream. */
async function rawSocket(t: TestContext, port: number) {
  const socket = net.connect({ host: '127.0.0.1', port });
  t.after(() => void socket.destroy());
  socket.on('error', () => {});
  await nextEvent(socket, 'connect', 3000);
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  const state = { ended: false, endedAt: NaN };
  const startedAt = performance.now();
  socket.on('data', (chunk: Buffer) => decoder.push(chunk, (f) => frames.push(f)));
  socket.on('end', () => {
    state.ended = true;
    state.endedAt = performance.now() - startedAt;
  });
  return { socket, frames, state };
}

test('bad peers - slowloris: a HELLO sent one byte every 100 ms is cut by the handshake timer with CLOSE handshake-timeout', async (t) => {
  const HANDSHAKE_MS = 400;
  const { server, port } = await startServer(t, HANDSHAKE_MS);
  const peer = await rawSocket(t, port);
  const hello = encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 3000 });
  for (let i = 0; i < hello.length - 1 && !peer.state.ended; i++) {
    peer.socket.write(hello.subarray(i, i + 1));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.ok(await eventually(() => peer.state.ended, 2000), 'the server ended the stream');
  assert.ok(peer.state.endedAt < HANDSHAKE_MS + 500, `cut after ${Math.round(peer.state.endedAt)} ms (handshake timeout ${HANDSHAKE_MS})`);
  assert.deepEqual(peer.frames.map((f) => (f.type === 'close' ? `close ${f.code}` : f.type)), ['close handshake-timeout']);
  assert.equal(server.sessionCount, 0);
  assert.ok(await eventually(() => server.connectionCount === 0, 1000));
});

test('bad peers - DATA before HELLO gets CLOSE protocol-error at once, and no session', async (t) => {
  const { server, port } = await startServer(t);
  const peer = await rawSocket(t, port);
  peer.socket.write(encodeFrame({ type: 'data', seq: 1, payload: new Uint8Array([1, 2, 3]) }));
  assert.ok(await eventually(() => peer.state.ended, 2000), 'the server ended the stream');
  assert.ok(peer.state.endedAt < 1000, 'refused at once, not by the handshake timer');
  assert.equal(peer.frames.length, 1);
  const close = peer.frames[0]!;
  assert.ok(close.type === 'close' && close.code === 'protocol-error', JSON.stringify(close));
  assert.equal(server.sessionCount, 0);
});

test("bad peers - a resume with a forged session id gets a fresh session; the real one, and its client's heartbeat, are untouched", async (t) => {
  const { server, port } = await startServer(t);
  const owner = connect({ host: '127.0.0.1', port, heartbeatInterval: 300, heartbeatTimeout: 1500 });
  t.after(() => owner.close());
  const [ownerOpen] = await nextEvent<[OpenInfo]>(owner, 'open', 5000);
  let ownerPongs = 0;
  owner.on('pong', () => ownerPongs++);
  let ownerLost = false;
  owner.on('disconnect', () => (ownerLost = true));
  owner.on('close', () => (ownerLost = true));
  // 100 forged resumes: random ids, and the owner's id with one bit flipped.
  const real = Buffer.from(ownerOpen.sessionId, 'hex');
  const welcomes: Frame[] = [];
  for (let i = 0; i < 100; i++) {
    const id = i === 0 ? Buffer.from(real.map((b, k) => (k === 0 ? b ^ 1 : b))) : randomBytes(real.length);
    const peer = await rawSocket(t, port);
    peer.socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 3000, resumeSessionId: id, resumeLastSeq: 5, resumable: true }));
    assert.ok(await eventually(() => peer.frames.length > 0, 3000), 'an answer to the forged HELLO');
    welcomes.push(peer.frames[0]!);
    peer.socket.destroy();
  }
  for (const w of welcomes) {
    assert.equal(w.type, 'welcome');
    if (w.type !== 'welcome') continue;
    assert.notEqual(w.resumed, true, 'nothing was resumed');
    assert.notEqual(Buffer.from(w.sessionId!).toString('hex'), ownerOpen.sessionId, 'never the real session');
  }
  const beforePongs = ownerPongs;
  const echoed = nextEvent<[Buffer]>(owner, 'message', 3000);
  owner.send('mine');
  assert.equal((await echoed)[0].toString(), 'mine');
  assert.ok(await eventually(() => ownerPongs > beforePongs, 2000), "the owner's heartbeat keeps going");
  assert.equal(ownerLost, false, 'the owner was never cut off');
  assert.ok([...server.sessions()].some((s) => s.id === ownerOpen.sessionId && s.isOpen));
});
