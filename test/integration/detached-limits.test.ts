/**
 * Integration: the bounds on detached sessions (docs/spec/0006-resume.md §Bounds on detached
 * sessions, SECURITY.md §2.2) — how many may wait (`maxDetachedSessions`, the oldest gives way)
 * and how many replay bytes they hold together (`maxResumeBytes`, enforced when a send() to a
 * detached session grows the sum, not only at the next detach). Raw protocol peers on real
 * sockets that never ACK, so every retained byte is the test's.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import type { Frame, HelloFrame, WelcomeFrame } from '../../src/protocol/frames.js';
import { createServer, InvalidOptionError, type CloseReason, type LifelineServer, type ServerOptions, type Session } from '../../src/index.js';
import { eventually, nextEvent } from './helpers.js';

async function start(t: TestContext, options: ServerOptions = {}): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({ tcpKeepalive: false, tcpUserTimeout: 0, ...options });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port };
}

/** A raw resumable peer: HELLO, WELCOME, and the frames it received. */
async function rawPeer(t: TestContext, port: number, hello: Partial<HelloFrame> = {}): Promise<{ socket: net.Socket; frames: Frame[]; welcome: WelcomeFrame }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  t.after(() => void socket.destroy());
  socket.on('error', () => {});
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  socket.on('data', (chunk: Buffer) => decoder.push(chunk, (f) => frames.push(f)));
  await nextEvent(socket, 'connect', 3000);
  socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 5000, resumable: true, ...hello }));
  assert.ok(await eventually(() => frames.some((f) => f.type === 'welcome'), 3000), 'WELCOME');
  return { socket, frames, welcome: frames.find((f): f is WelcomeFrame => f.type === 'welcome')! };
}

/** n resumable sessions, each detached (its socket destroyed) in order. */
async function detachedSessions(t: TestContext, server: LifelineServer, port: number, n: number, closes: Map<Session, CloseReason>): Promise<Session[]> {
  const sessions: Session[] = [];
  for (let i = 0; i < n; i++) {
    const sessionP = nextEvent<[Session]>(server, 'session', 3000);
    const { socket } = await rawPeer(t, port);
    const [session] = await sessionP;
    session.on('close', (reason: CloseReason) => closes.set(session, reason));
    const lost = nextEvent(session, 'disconnect', 3000);
    socket.destroy();
    await lost;
    sessions.push(session);
  }
  return sessions;
}

/** Replay bytes all detached sessions hold now. */
function detachedBytes(server: LifelineServer): number {
  let sum = 0;
  for (const s of server.sessions()) if (s.state === 'detached') sum += s.resume?.unackedBytes ?? 0;
  return sum;
}

test('detached limits - past maxDetachedSessions the oldest detached session is closed, with its own reason and why; the rest still resume', async (t) => {
  const max = 3;
  const { server, port } = await start(t, { maxDetachedSessions: max });
  const closes = new Map<Session, CloseReason>();
  const sessions = await detachedSessions(t, server, port, max, closes);
  assert.equal(server.detachedCount, max);
  assert.equal(closes.size, 0, 'at the limit nobody is evicted');

  // Two more detach: the two oldest give way, one per detach, in order.
  sessions.push(...(await detachedSessions(t, server, port, 2, closes)));
  assert.equal(server.detachedCount, max);
  assert.deepEqual(sessions.map((s) => s.state), ['closed', 'closed', 'detached', 'detached', 'detached']);
  for (const evicted of sessions.slice(0, 2)) {
    const reason = closes.get(evicted)!;
    // The transport loss that detached it stays its code; the message says why it did not wait out the window.
    assert.equal(reason.code, 'transport-closed');
    assert.match(reason.message, /over maxDetachedSessions \(3\): the oldest detached session gives way/);
  }
  // An evicted session is gone: its id gets a fresh session. A kept one resumes.
  const gone = await rawPeer(t, port, { resumeSessionId: Buffer.from(sessions[0]!.id, 'hex'), resumeLastSeq: 0 });
  assert.equal(gone.welcome.resumed, false);
  const resumed = nextEvent(sessions[2]!, 'resume', 3000);
  const back = await rawPeer(t, port, { resumeSessionId: Buffer.from(sessions[2]!.id, 'hex'), resumeLastSeq: 0 });
  assert.equal(back.welcome.resumed, true);
  await resumed;
  assert.equal(server.detachedCount, max - 1);
});

test('detached limits - maxResumeBytes is enforced when a send() to a detached session grows the sum, oldest first, itself included', async (t) => {
  const maxResumeBytes = 2500;
  const { server, port } = await start(t, { maxResumeBytes, maxResumeBytesPerSession: 4096 });
  const closes = new Map<Session, CloseReason>();
  const [a, b, c] = await detachedSessions(t, server, port, 3, closes);
  const kb = Buffer.alloc(1000);
  a!.send(kb);
  b!.send(kb);
  assert.equal(closes.size, 0);
  // 3000 > 2500 at this send, with no detach to come: the oldest (a) is closed now.
  c!.send(kb);
  assert.deepEqual([a, b, c].map((s) => s!.state), ['closed', 'detached', 'detached']);
  assert.match(closes.get(a!)!.message, /resume buffers over maxResumeBytes \(2500 bytes\)/);
  assert.equal(closes.get(a!)!.code, 'transport-closed');
  assert.ok(detachedBytes(server) <= maxResumeBytes, `${detachedBytes(server)} bytes held`);
  // The oldest is the one that gives way even when it is the session being sent to.
  b!.send(kb);
  assert.equal(b!.state, 'closed', 'b was the oldest left');
  assert.equal(c!.state, 'detached');
  assert.throws(() => b!.send(kb), { code: 'LL_ERR_NOT_OPEN' });
  // After every send the sum is within the bound; a steady sender to one session keeps hitting it.
  for (let i = 0; i < 5 && c!.state === 'detached'; i++) {
    c!.send(kb);
    assert.ok(detachedBytes(server) <= maxResumeBytes, `${detachedBytes(server)} bytes held after send ${i}`);
  }
  assert.equal(c!.state, 'closed', 'c itself gave way once it alone was over the bound');
  assert.equal(server.detachedCount, 0);
});

test('detached limits - maxDetachedSessions defaults to 100,000 and is checked by name', () => {
  assert.equal(createServer().options.maxDetachedSessions, 100_000);
  for (const bad of [0, -1, 1.5, '10', Number.NaN]) {
    assert.throws(() => createServer({ maxDetachedSessions: bad as number }), (err: unknown) => err instanceof InvalidOptionError && /maxDetachedSessions/.test(String(err)), String(bad));
  }
});
