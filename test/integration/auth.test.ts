/**
 * Integration: identity (docs/spec/0013-identity.md) on real sockets — the `authenticate` hook
 * between HELLO and WELCOME, its refusals (CLOSE auth-failed "unauthorized", no session, the
 * same bytes whatever the reason), a slow hook cut by the handshake timeout, hooks that throw
 * or reject, resume bound to the identity, and the client's token (static, and a function
 * called on every connect). Raw protocol peers where the wire bytes matter.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import type { Frame, HelloFrame, WelcomeFrame } from '../../src/protocol/frames.js';
import {
  connect,
  createServer,
  createToken,
  tokenAuthenticator,
  TokenError,
  type AuthFailureInfo,
  type CloseReason,
  type LifelineServer,
  type OpenInfo,
  type ServerOptions,
  type Session,
} from '../../src/index.js';
import { eventually, nextEvent } from './helpers.js';

const SECRET = 'integration-secret-0123456789abcdef';
const utf8 = new TextEncoder();

async function start(t: TestContext, options: ServerOptions): Promise<{ server: LifelineServer; port: number; failures: AuthFailureInfo[]; sessions: Session[] }> {
  const server = createServer({ tcpKeepalive: false, tcpUserTimeout: 0, ...options });
  t.after(() => server.close());
  const failures: AuthFailureInfo[] = [];
  const sessions: Session[] = [];
  server.on('authFailure', (info) => failures.push(info));
  server.on('session', (session) => sessions.push(session));
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port, failures, sessions };
}

/** A raw protocol peer: every byte the server sends is kept, decoded too. */
class RawPeer {
  readonly frames: Frame[] = [];
  readonly bytes: Buffer[] = [];
  ended = false;
  private readonly decoder = new FrameDecoder();
  private constructor(readonly socket: net.Socket) {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      this.bytes.push(chunk);
      this.decoder.push(chunk, (f) => this.frames.push(f));
    });
    socket.on('end', () => (this.ended = true));
  }
  static async open(t: TestContext, port: number, hello: Partial<HelloFrame> = {}): Promise<RawPeer> {
    const socket = net.connect({ host: '127.0.0.1', port });
    t.after(() => void socket.destroy());
    const peer = new RawPeer(socket);
    await nextEvent(socket, 'connect', 3000);
    socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 5000, ...hello }));
    return peer;
  }
  async welcome(): Promise<WelcomeFrame> {
    assert.ok(await eventually(() => this.frames.some((f) => f.type === 'welcome' || f.type === 'close'), 3000), 'an answer to HELLO');
    const welcome = this.frames.find((f): f is WelcomeFrame => f.type === 'welcome');
    assert.ok(welcome, `expected WELCOME, got ${JSON.stringify(this.frames)}`);
    return welcome;
  }
  /** Exactly one CLOSE, then the server's FIN: returns it and the raw bytes it came in. */
  async closed(): Promise<{ close: Extract<Frame, { type: 'close' }>; wire: Buffer }> {
    assert.ok(await eventually(() => this.ended, 4000), 'the server ended the stream');
    assert.equal(this.frames.length, 1, `expected one frame, got ${JSON.stringify(this.frames.map((f) => f.type))}`);
    const close = this.frames[0]!;
    assert.equal(close.type, 'close');
    return { close, wire: Buffer.concat(this.bytes) };
  }
}

const token = (id: string, ttlMs = 60_000) => createToken({ secret: SECRET, id, ttlMs });

test('auth - a good token opens a session carrying the identity; the client sees nothing different', async (t) => {
  const { server, port, failures } = await start(t, { authenticate: tokenAuthenticator(SECRET) });
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const client = connect({ host: '127.0.0.1', port, reconnect: false, token: token('alice') });
  t.after(() => client.close());
  const [[session], [info]] = await Promise.all([sessionP, nextEvent<[OpenInfo]>(client, 'open', 3000)]);
  assert.equal(session.identity?.id, 'alice');
  assert.ok((session.identity as { expiresAt?: number }).expiresAt! > Date.now(), 'tokenAuthenticator keeps the expiry');
  assert.equal(info.sessionId, session.id);
  assert.equal([...server.sessions()][0]!.identity?.id, 'alice');
  const got = nextEvent<[Buffer]>(session, 'message', 3000);
  client.send('hi');
  assert.equal((await got)[0].toString(), 'hi');
  assert.deepEqual(failures, []);
});

test('auth - a bad token gets CLOSE auth-failed "unauthorized" and no session; the wire says nothing about why', async (t) => {
  const { server, port, failures, sessions } = await start(t, { authenticate: tokenAuthenticator(SECRET) });
  const good = token('alice');
  const cases: Array<{ name: string; hello: Partial<HelloFrame>; reason: string }> = [
    { name: 'missing', hello: {}, reason: 'missing' },
    { name: 'garbage', hello: { token: utf8.encode('not a token') }, reason: 'malformed' },
    { name: 'tampered', hello: { token: utf8.encode(`${good.slice(0, -2)}AA`) }, reason: 'bad-signature' },
    { name: 'wrong secret', hello: { token: utf8.encode(createToken({ secret: 'another-secret-0123456789abcdef', id: 'alice', ttlMs: 60_000 })) }, reason: 'bad-signature' },
    { name: 'expired', hello: { token: utf8.encode(createToken({ secret: SECRET, id: 'alice', ttlMs: 1, now: () => Date.now() - 10_000 })) }, reason: 'expired' },
  ];
  const wires: string[] = [];
  for (const c of cases) {
    const peer = await RawPeer.open(t, port, c.hello);
    const { close, wire } = await peer.closed();
    assert.equal(close.code, 'auth-failed', c.name);
    assert.equal(close.message, 'unauthorized', c.name);
    wires.push(wire.toString('hex'));
  }
  assert.equal(new Set(wires).size, 1, `every refusal is the same bytes: ${wires.join(' ')}`);
  assert.equal(wires[0], Buffer.from(encodeFrame({ type: 'close', code: 'auth-failed', message: 'unauthorized' })).toString('hex'));
  assert.equal(sessions.length, 0);
  assert.equal(server.sessionCount, 0);
  assert.ok(await eventually(() => server.connectionCount === 0, 2000), 'refused connections are dropped');
  // The reasons are the server's to see.
  assert.deepEqual(failures.map((f) => f.code), cases.map(() => 'error'));
  assert.deepEqual(failures.map((f) => (f.error as TokenError).reason), cases.map((c) => c.reason));
  assert.ok(failures.every((f) => f.remoteAddress === '127.0.0.1' && f.transport === 'tcp' && typeof f.remotePort === 'number'));

  // The library client: the refusal is final (no reconnect loop with the same credentials).
  const client = connect({ host: '127.0.0.1', port, token: 'bogus' });
  t.after(() => client.close());
  let reconnecting = 0;
  client.on('reconnecting', () => reconnecting++);
  const [reason] = await nextEvent<[CloseReason]>(client, 'close', 3000);
  assert.equal(reason.code, 'remote-close');
  assert.equal(reason.remoteCode, 'auth-failed');
  assert.equal(reason.message, 'unauthorized');
  assert.equal(reconnecting, 0);
});

test('auth - a hook that throws, rejects or answers no identity refuses; its message stays on the server', async (t) => {
  const secretMessage = 'user table at 10.1.2.3 is down';
  const hooks: Record<string, NonNullable<ServerOptions['authenticate']>> = {
    'throws synchronously': () => {
      throw new Error(secretMessage);
    },
    'rejects asynchronously': async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      throw new Error(secretMessage);
    },
    'answers undefined': () => undefined,
    'answers a non-identity': () => ({ name: 'alice' }) as never,
  };
  for (const [name, hook] of Object.entries(hooks)) {
    const { server, port, failures, sessions } = await start(t, { authenticate: hook });
    const peer = await RawPeer.open(t, port, { token: utf8.encode('t') });
    const { close, wire } = await peer.closed();
    assert.equal(close.code, 'auth-failed', name);
    assert.equal(close.message, 'unauthorized', name);
    assert.ok(!wire.toString('latin1').includes('10.1.2.3'), `${name}: nothing of the hook's error on the wire`);
    assert.equal(sessions.length, 0, name);
    assert.equal(failures.length, 1, name);
    const failure = failures[0]!;
    if (name.startsWith('throws') || name.startsWith('rejects')) {
      assert.equal(failure.code, 'error', name);
      assert.match(failure.message, /10\.1\.2\.3/);
      assert.equal((failure.error as Error).message, secretMessage);
    } else {
      assert.equal(failure.code, name === 'answers undefined' ? 'rejected' : 'invalid-identity', name);
    }
    await server.close();
  }
});

test('auth - a hook slower than the handshake timeout: CLOSE handshake-timeout, no session, its late answer ignored', async (t) => {
  let answer: ((id: string) => void) | undefined;
  const handshakeTimeout = 300;
  const { server, port, failures, sessions } = await start(t, {
    handshakeTimeout,
    authenticate: () => new Promise<string>((resolve) => (answer = resolve)),
  });
  const startedAt = performance.now();
  const peer = await RawPeer.open(t, port, { token: utf8.encode('t') });
  const { close } = await peer.closed();
  const elapsedMs = performance.now() - startedAt;
  assert.equal(close.code, 'handshake-timeout');
  assert.ok(elapsedMs >= handshakeTimeout - 20 && elapsedMs < handshakeTimeout + 700, `closed after ${Math.round(elapsedMs)} ms`);
  assert.ok(await eventually(() => failures.length === 1, 1000), 'authFailure timeout');
  assert.equal(failures[0]!.code, 'timeout');
  assert.match(failures[0]!.message, /300 ms/);
  assert.ok(answer, 'the hook was called');
  answer('alice');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(sessions.length, 0);
  assert.equal(server.sessionCount, 0);
  assert.ok(await eventually(() => server.connectionCount === 0, 2000));
});

test('auth - an async hook within the timeout: WELCOME follows; a frame sent before WELCOME is a protocol error', async (t) => {
  const { port, sessions } = await start(t, {
    authenticate: async (tok) => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return Buffer.from(tok ?? []).toString();
    },
  });
  const peer = await RawPeer.open(t, port, { token: utf8.encode('dora') });
  await peer.welcome();
  assert.equal(sessions[0]?.identity?.id, 'dora');

  const eager = await RawPeer.open(t, port, { token: utf8.encode('eve') });
  eager.socket.write(encodeFrame({ type: 'data', seq: 1, payload: utf8.encode('too early') }));
  const { close } = await eager.closed();
  assert.equal(close.code, 'protocol-error');
  assert.match(close.message, /before WELCOME/);
  assert.equal(sessions.length, 1);
});

test('auth - resume: another identity is refused (new session) while the rightful owner still resumes', async (t) => {
  const ids: Record<string, string> = { 'alice-token': 'alice', 'bob-token': 'bob' };
  const { server, port, failures, sessions } = await start(t, { authenticate: (tok) => ids[Buffer.from(tok ?? []).toString()] });
  const alice1 = await RawPeer.open(t, port, { token: utf8.encode('alice-token'), resumable: true });
  const w1 = await alice1.welcome();
  const session = sessions[0]!;
  assert.equal(session.identity?.id, 'alice');
  const sessionId = Buffer.from(w1.sessionId!);
  session.send('for alice');
  assert.ok(await eventually(() => alice1.frames.some((f) => f.type === 'data'), 2000));

  // While alice is attached: bob's resume neither gets her session nor cuts her transport.
  const bob1 = await RawPeer.open(t, port, { token: utf8.encode('bob-token'), resumable: true, resumeSessionId: sessionId, resumeLastSeq: 0 });
  const wb1 = await bob1.welcome();
  assert.equal(wb1.resumed, false);
  assert.notDeepEqual(Buffer.from(wb1.sessionId!), sessionId);
  assert.equal(sessions.length, 2);
  assert.equal(sessions[1]!.identity?.id, 'bob');
  assert.equal(session.state, 'open');
  assert.ok(!alice1.ended, "alice's transport stays");
  assert.equal(failures.at(-1)?.code, 'resume-refused');
  assert.equal(failures.at(-1)?.identity?.id, 'bob');

  // Alice's transport is lost: her session waits for her.
  const detached = nextEvent(session, 'disconnect', 3000);
  alice1.socket.destroy();
  await detached;
  session.send('while away');

  // Bob again, now that it is detached: refused the same way; a bad token is refused outright.
  const bob2 = await RawPeer.open(t, port, { token: utf8.encode('bob-token'), resumable: true, resumeSessionId: sessionId, resumeLastSeq: 1 });
  assert.equal((await bob2.welcome()).resumed, false);
  assert.ok(!bob2.frames.some((f) => f.type === 'data'), 'nothing of alice reaches bob');
  const forger = await RawPeer.open(t, port, { token: utf8.encode('forged'), resumable: true, resumeSessionId: sessionId, resumeLastSeq: 1 });
  assert.equal((await forger.closed()).close.code, 'auth-failed');
  assert.equal(session.state, 'detached');
  assert.equal(server.detachedCount, 1);

  // Alice resumes and gets what was sent while she was away.
  const resumed = nextEvent(session, 'resume', 3000);
  const alice2 = await RawPeer.open(t, port, { token: utf8.encode('alice-token'), resumable: true, resumeSessionId: sessionId, resumeLastSeq: 1 });
  const w2 = await alice2.welcome();
  await resumed;
  assert.equal(w2.resumed, true);
  assert.deepEqual(Buffer.from(w2.sessionId!), sessionId);
  assert.ok(await eventually(() => alice2.frames.some((f) => f.type === 'data'), 2000));
  const data = alice2.frames.find((f) => f.type === 'data') as Extract<Frame, { type: 'data' }>;
  assert.equal(data.seq, 2);
  assert.equal(Buffer.from(data.payload).toString(), 'while away');
  assert.equal(session.state, 'open');
  assert.equal(session.identity?.id, 'alice');
});

test('auth - a token function is asked on every connect: a reconnect presents the fresh token', async (t) => {
  const seen: string[] = [];
  const { server, port } = await start(t, {
    authenticate: (tok) => {
      const text = Buffer.from(tok ?? []).toString();
      seen.push(text);
      return text.startsWith('alice-') ? 'alice' : undefined;
    },
  });
  let generation = 0;
  const client = connect({ host: '127.0.0.1', port, token: () => `alice-${++generation}`, reconnect: { initialDelay: 20 } });
  t.after(() => client.close());
  const opened = nextEvent<[OpenInfo]>(client, 'open', 3000);
  const [first] = await nextEvent<[Session]>(server, 'session', 3000);
  await opened;
  // Drop the transport under the session (as a dead path would): the client reconnects and resumes.
  const resumed = nextEvent(first, 'resume', 5000);
  const reopened = nextEvent<[OpenInfo]>(client, 'open', 5000);
  first.currentPeer.connection.destroy({ code: 'transport-error', message: 'test: path lost', initiator: 'transport', detectedBy: 'transport' });
  await resumed;
  const [info] = await reopened;
  assert.equal(info.resumed, true);
  assert.deepEqual(seen, ['alice-1', 'alice-2']);
  assert.equal(first.identity?.id, 'alice');
});
