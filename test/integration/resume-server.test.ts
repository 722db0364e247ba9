/**
 * Server-side session resume (docs/spec/0006-resume.md), driven by a raw protocol peer so every
 * sequence number is visible: detach on transport loss, replay of what the client has not
 * received (including what was sent while detached), duplicate suppression, ACKs, expiry of the
 * resume window, and takeover of a half-open connection.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import type { Frame, WelcomeFrame } from '../../src/protocol/frames.js';
import { createServer, type CloseReason, type LifelineServer, type ServerOptions, type Session } from '../../src/index.js';
import { eventually, nextEvent } from './helpers.js';

const utf8 = new TextEncoder();

class Peer {
  readonly frames: Frame[] = [];
  private readonly decoder = new FrameDecoder();
  constructor(readonly socket: net.Socket) {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk, (f) => this.frames.push(f)));
  }
  static async open(t: TestContext, port: number, hello: Partial<Extract<Frame, { type: 'hello' }>>): Promise<{ peer: Peer; welcome: WelcomeFrame }> {
    const socket = net.connect({ host: '127.0.0.1', port });
    t.after(() => void socket.destroy());
    const peer = new Peer(socket);
    await nextEvent(socket, 'connect', 3000);
    socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 5000, ...hello }));
    assert.ok(await eventually(() => peer.frames.some((f) => f.type === 'welcome'), 3000), 'WELCOME');
    return { peer, welcome: peer.frames.find((f): f is WelcomeFrame => f.type === 'welcome')! };
  }
  data(seq: number, text: string): void {
    this.socket.write(encodeFrame({ type: 'data', seq, payload: utf8.encode(text) }));
  }
  received(): { seq: number; text: string }[] {
    return this.frames.flatMap((f) => (f.type === 'data' ? [{ seq: f.seq, text: Buffer.from(f.payload).toString() }] : []));
  }
}

async function start(t: TestContext, options: ServerOptions = {}): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({ tcpKeepalive: false, tcpUserTimeout: 0, ...options });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port };
}

test('resume (server) - a lost transport detaches the session; the client resumes it and nothing is lost or doubled', async (t) => {
  const { server, port } = await start(t);
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const { peer: a, welcome } = await Peer.open(t, port, { resumable: true });
  const [session] = await sessionP;
  assert.equal(welcome.resumeWindowMs, 120_000);
  assert.equal(session.resumable, true);
  const got: string[] = [];
  session.on('message', (b: Buffer) => got.push(b.toString()));

  for (let i = 1; i <= 5; i++) a.data(i, `c${i}`);
  for (let i = 1; i <= 3; i++) session.send(`s${i}`);
  assert.ok(await eventually(() => got.length === 5 && a.received().length === 3, 2000));
  // The server acknowledges what it received (cumulative ACK, within ~50 ms).
  assert.ok(await eventually(() => a.frames.some((f) => f.type === 'ack' && f.seq === 5), 1000), 'ACK 5');

  // The transport dies without a CLOSE: the session waits for its client.
  const disconnectP = nextEvent<[CloseReason]>(session, 'disconnect', 3000);
  a.socket.destroy();
  const [lost] = await disconnectP;
  assert.equal(lost.code, 'transport-closed');
  assert.equal(session.state, 'detached');
  assert.equal(server.sessionCount, 1);
  assert.equal(server.detachedCount, 1);
  // The application keeps sending: kept for the replay.
  session.send('s4');
  session.send('s5');

  // The client comes back, claiming it received only up to seq 2 (s3 was lost in flight).
  const resumeP = nextEvent(session, 'resume', 3000);
  const { peer: b, welcome: w2 } = await Peer.open(t, port, { resumable: true, resumeSessionId: Buffer.from(session.id, 'hex'), resumeLastSeq: 2 });
  await resumeP;
  assert.equal(w2.resumed, true);
  assert.equal(Buffer.from(w2.sessionId!).toString('hex'), session.id);
  assert.equal(w2.resumeLastSeq, 5, 'the server tells the client what it has');
  assert.ok(await eventually(() => b.received().length === 3, 2000), `replayed ${JSON.stringify(b.received())}`);
  assert.deepEqual(b.received(), [{ seq: 3, text: 's3' }, { seq: 4, text: 's4' }, { seq: 5, text: 's5' }]);
  assert.equal(server.detachedCount, 0);
  assert.equal(session.state, 'open');

  // The client resends its own unacknowledged tail: duplicates are dropped, new data delivered.
  b.data(5, 'c5');
  b.data(6, 'c6');
  assert.ok(await eventually(() => got.length === 6, 2000));
  assert.deepEqual(got, ['c1', 'c2', 'c3', 'c4', 'c5', 'c6']);
  session.send('s6');
  assert.ok(await eventually(() => b.received().at(-1)?.seq === 6, 2000));
});

test('resume (server) - a detached session closes when the resume window passes', async (t) => {
  const { server, port } = await start(t, { resumeWindow: 300 });
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const { peer } = await Peer.open(t, port, { resumable: true });
  const [session] = await sessionP;
  const closeP = nextEvent<[Session, CloseReason]>(server, 'sessionClose', 3000);
  const lostAt = performance.now();
  peer.socket.destroy();
  const [, reason] = await closeP;
  const afterMs = performance.now() - lostAt;
  assert.match(reason.message, /not resumed within 300 ms/);
  assert.ok(afterMs >= 280 && afterMs < 1000, `closed after ${Math.round(afterMs)} ms`);
  assert.equal(session.state, 'closed');
  assert.equal(server.sessionCount, 0);
  assert.equal(server.detachedCount, 0);
});

test('resume (server) - unknown ids get a fresh session; non-resumable sessions close at once', async (t) => {
  const { server, port } = await start(t);
  const { welcome } = await Peer.open(t, port, { resumable: true, resumeSessionId: new Uint8Array(16).fill(7), resumeLastSeq: 3 });
  assert.equal(welcome.resumed, false, 'the client learns its old session is gone');
  assert.notEqual(Buffer.from(welcome.sessionId!).toString('hex'), '07'.repeat(16));

  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const { peer, welcome: plain } = await Peer.open(t, port, {});
  const [session] = await sessionP;
  assert.equal(plain.resumeWindowMs, undefined);
  assert.equal(session.resumable, false);
  const closeP = nextEvent<[CloseReason]>(session, 'close', 3000);
  peer.socket.destroy();
  const [reason] = await closeP;
  assert.equal(reason.code, 'transport-closed');
});

test('resume (server) - a client that resumes while its old connection still looks alive takes over (half-open)', async (t) => {
  const { server, port } = await start(t);
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const { peer: old } = await Peer.open(t, port, { resumable: true });
  const [session] = await sessionP;
  const oldClosed = new Promise<void>((resolve) => old.socket.once('close', () => resolve()));
  const { welcome } = await Peer.open(t, port, { resumable: true, resumeSessionId: Buffer.from(session.id, 'hex'), resumeLastSeq: 0 });
  assert.equal(welcome.resumed, true);
  await oldClosed; // the server dropped the stale transport
  assert.equal(session.state, 'open');
  assert.equal(server.sessionCount, 1);
  assert.equal(server.connectionCount, 1);
});

test('resume (server) - the replay buffer is bounded: BufferOverflowError, and backpressure before it', async (t) => {
  const { server, port } = await start(t, { maxResumeBytesPerSession: 4096 });
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const { peer } = await Peer.open(t, port, { resumable: true });
  const [session] = await sessionP;
  peer.socket.destroy();
  await nextEvent(session, 'disconnect', 3000);
  const kb = new Uint8Array(1024);
  assert.equal(session.send(kb), true, 'below the high-water mark (1 KiB)');
  assert.equal(session.send(kb), false, 'above the high-water mark: wait for drain');
  session.send(kb);
  session.send(kb);
  assert.throws(() => session.send(kb), { code: 'LL_ERR_BUFFER_OVERFLOW', name: 'BufferOverflowError' });
});

test('resume (server) - detached sessions share maxResumeBytes: the oldest give way, sends while detached count', async (t) => {
  const { server, port } = await start(t, { maxResumeBytes: 2500, maxResumeBytesPerSession: 4096 });
  const sessions: Session[] = [];
  const peers: Peer[] = [];
  for (let i = 0; i < 3; i++) {
    const sessionP = nextEvent<[Session]>(server, 'session', 3000);
    const { peer } = await Peer.open(t, port, { resumable: true });
    const [session] = await sessionP;
    sessions.push(session);
    peers.push(peer);
    session.on('close', () => {});
  }
  const detach = async (i: number): Promise<void> => {
    const lost = nextEvent(sessions[i]!, 'disconnect', 3000);
    peers[i]!.socket.destroy();
    await lost;
  };
  const closes: string[] = [];
  server.on('sessionClose', (s: Session, reason: CloseReason) => closes.push(`${sessions.indexOf(s)}: ${reason.message}`));

  // A: 1000 unacknowledged bytes while detached (sent after the loss: counted as they grow).
  await detach(0);
  sessions[0]!.send(Buffer.alloc(1000));
  // B: 1000 bytes sent while attached (the raw peer never ACKs), then detached: 2000 in all.
  sessions[1]!.send(Buffer.alloc(1000));
  await detach(1);
  assert.equal(server.detachedCount, 2);
  assert.deepEqual(closes, []);
  // C detaches with 1000 more: 3000 > 2500, so the oldest (A) gives way, and only A.
  sessions[2]!.send(Buffer.alloc(1000));
  await detach(2);
  assert.equal(closes.length, 1, closes.join('\n'));
  assert.match(closes[0]!, /^0: .*resume buffers over maxResumeBytes/);
  assert.equal(server.detachedCount, 2);
  assert.deepEqual(sessions.map((s) => s.state), ['closed', 'detached', 'detached']);

  // B resumes: it is found by id, replayed, and no longer counted.
  const resumeP = nextEvent(sessions[1]!, 'resume', 3000);
  const { peer: back } = await Peer.open(t, port, { resumable: true, resumeSessionId: Buffer.from(sessions[1]!.id, 'hex'), resumeLastSeq: 0 });
  await resumeP;
  assert.ok(await eventually(() => back.received().length === 1, 2000));
  assert.equal(server.detachedCount, 1);
  // A closed session cannot be resumed: its id now gets a fresh one.
  const { welcome } = await Peer.open(t, port, { resumable: true, resumeSessionId: Buffer.from(sessions[0]!.id, 'hex'), resumeLastSeq: 0 });
  assert.equal(welcome.resumed, false);
});
