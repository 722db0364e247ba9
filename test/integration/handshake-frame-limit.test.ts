/**
 * Integration: the pre-authentication frame limit (SECURITY.md §2.1, PROTOCOL.md §10). Until the
 * server has accepted a HELLO it decodes with `handshakeMaxFrameSize` (16 KiB by default), so an
 * unauthenticated peer cannot make it buffer a 1 MiB HELLO; from the frame after HELLO on, the
 * full `maxFrameSize` applies — also to a frame in the same TCP write as the HELLO. Raw peers on
 * real sockets, so the bytes on the wire are the ones under test.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import { DEFAULT_MAX_FRAME_SIZE, HANDSHAKE_MAX_FRAME_SIZE, type Frame, type HelloFrame } from '../../src/protocol/frames.js';
import { createServer, InvalidOptionError, type LifelineServer, type ServerOptions, type Session } from '../../src/index.js';
import { eventually, nextEvent } from './helpers.js';

async function start(t: TestContext, options: ServerOptions = {}): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({ tcpKeepalive: false, tcpUserTimeout: 0, ...options });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port };
}

/** A raw peer: records every frame the server sends and whether it ended the stream. */
class RawPeer {
  readonly frames: Frame[] = [];
  ended = false;
  private readonly decoder = new FrameDecoder({ maxFrameSize: DEFAULT_MAX_FRAME_SIZE });
  private constructor(readonly socket: net.Socket) {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk, (f) => this.frames.push(f)));
    socket.on('end', () => (this.ended = true));
  }
  static async connect(t: TestContext, port: number): Promise<RawPeer> {
    const socket = net.connect({ host: '127.0.0.1', port });
    t.after(() => void socket.destroy());
    const peer = new RawPeer(socket);
    await nextEvent(socket, 'connect', 3000);
    return peer;
  }
  /** The server's CLOSE, once the stream ended. */
  async closeFrame(): Promise<Extract<Frame, { type: 'close' }>> {
    assert.ok(await eventually(() => this.ended, 5000), 'the server ended the stream');
    const close = this.frames.find((f): f is Extract<Frame, { type: 'close' }> => f.type === 'close');
    assert.ok(close, `a CLOSE frame, got ${JSON.stringify(this.frames.map((f) => f.type))}`);
    return close;
  }
}

function hello(extra: Partial<HelloFrame> = {}): Uint8Array {
  return encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 5000, ...extra });
}

/** A HELLO whose encoded size is exactly `bytes`, made by padding its token. */
function helloOfSize(bytes: number): Uint8Array {
  let tokenLength = bytes;
  for (;;) {
    const frame = hello({ token: new Uint8Array(tokenLength).fill(0x61) });
    if (frame.length === bytes) return frame;
    tokenLength += bytes - frame.length;
  }
}

/** A DATA frame of exactly maxFrameSize bytes (the largest the server accepts), with its payload's digest. */
function largestData(seq: number, maxFrameSize = DEFAULT_MAX_FRAME_SIZE): { frame: Uint8Array; digest: string; payloadBytes: number } {
  let payloadBytes = maxFrameSize - 16;
  for (;;) {
    const payload = new Uint8Array(payloadBytes);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
    const frame = encodeFrame({ type: 'data', seq, payload });
    if (frame.length === maxFrameSize) return { frame, digest: createHash('sha256').update(payload).digest('hex'), payloadBytes };
    payloadBytes += maxFrameSize - frame.length;
  }
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test('handshake frame limit - a 20 KiB HELLO is refused with CLOSE protocol-error (frame too large) and no session; a HELLO of exactly 16 KiB still opens', async (t) => {
  const { server, port } = await start(t);
  let sessions = 0;
  server.on('session', () => sessions++);
  const big = helloOfSize(20 * 1024);
  const peer = await RawPeer.connect(t, port);
  peer.socket.write(big);
  const close = await peer.closeFrame();
  assert.equal(close.code, 'protocol-error');
  // The decoder's LL_ERR_FRAME_TOO_LARGE message: the HELLO's size against the handshake limit.
  assert.match(close.message, new RegExp(`HELLO frame of ${big.length} bytes exceeds maxFrameSize ${HANDSHAKE_MAX_FRAME_SIZE}`));
  assert.equal(peer.frames.some((f) => f.type === 'welcome'), false, 'no WELCOME');
  assert.equal(sessions, 0);
  // The limit is the handshake's, not the server's: a HELLO of 16 KiB exactly is still a HELLO.
  const atLimit = await RawPeer.connect(t, port);
  atLimit.socket.write(helloOfSize(HANDSHAKE_MAX_FRAME_SIZE));
  assert.ok(await eventually(() => atLimit.frames.some((f) => f.type === 'welcome'), 3000), 'a 16 KiB HELLO gets WELCOME');
});

test('handshake frame limit - a ~15 KiB HELLO with a long custom token is authenticated and opens a session', async (t) => {
  const tokenBytes = 15 * 1024;
  const seen: number[] = [];
  const { server, port } = await start(t, {
    authenticate: (token) => {
      seen.push(token?.length ?? -1);
      return token !== undefined && token.length === tokenBytes ? { id: 'long-token-user' } : undefined;
    },
  });
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const peer = await RawPeer.connect(t, port);
  const frame = hello({ token: new Uint8Array(tokenBytes).fill(0x62) });
  assert.ok(frame.length < HANDSHAKE_MAX_FRAME_SIZE && frame.length > 15 * 1024, `${frame.length} bytes`);
  peer.socket.write(frame);
  const [session] = await sessionP;
  assert.deepEqual(seen, [tokenBytes], 'the hook saw the whole token');
  assert.equal(session.identity?.id, 'long-token-user');
  assert.ok(await eventually(() => peer.frames.some((f) => f.type === 'welcome'), 3000), 'WELCOME');
});

test('handshake frame limit - handshakeMaxFrameSize raises it for larger custom tokens, and is validated', async (t) => {
  const { server, port } = await start(t, { handshakeMaxFrameSize: 64 * 1024, authenticate: (token) => (token && token.length > 40_000 ? 'big' : undefined) });
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const peer = await RawPeer.connect(t, port);
  peer.socket.write(helloOfSize(48 * 1024));
  const [session] = await sessionP;
  assert.equal(session.identity?.id, 'big');
  // Still a limit: past it, the same refusal.
  const over = await RawPeer.connect(t, port);
  over.socket.write(helloOfSize(64 * 1024 + 1));
  assert.equal((await over.closeFrame()).code, 'protocol-error');

  for (const bad of [63, 2 * DEFAULT_MAX_FRAME_SIZE, 1.5, '16384', -1]) {
    assert.throws(() => createServer({ handshakeMaxFrameSize: bad as number }), InvalidOptionError, String(bad));
  }
  // Not above maxFrameSize; by default capped at it (a server with 8 KiB frames keeps 8 KiB before HELLO too).
  assert.throws(() => createServer({ maxFrameSize: 8192, handshakeMaxFrameSize: 8193 }), InvalidOptionError);
  assert.equal(createServer({ maxFrameSize: 8192 }).options.handshakeMaxFrameSize, 8192);
  assert.equal(createServer().options.handshakeMaxFrameSize, HANDSHAKE_MAX_FRAME_SIZE);
});

test('handshake frame limit - the full maxFrameSize applies from the frame after HELLO: a 1 MiB DATA after WELCOME, and one in the same write as HELLO', async (t) => {
  const { server, port } = await start(t);
  const received = new Map<Session, Buffer[]>();
  server.on('session', (s: Session) => {
    received.set(s, []);
    s.on('message', (m: Buffer) => received.get(s)!.push(m));
  });
  const { frame, digest, payloadBytes } = largestData(1);
  assert.equal(frame.length, DEFAULT_MAX_FRAME_SIZE);

  // 1. HELLO, wait for WELCOME, then the 1 MiB DATA.
  const after = await RawPeer.connect(t, port);
  after.socket.write(hello());
  assert.ok(await eventually(() => after.frames.some((f) => f.type === 'welcome'), 3000), 'WELCOME');
  after.socket.write(frame);
  // 2. HELLO and the 1 MiB DATA in one write: the limit is raised inside the chunk that carried the HELLO.
  const together = await RawPeer.connect(t, port);
  together.socket.write(Buffer.concat([hello(), frame]));

  assert.ok(await eventually(() => received.size === 2 && [...received.values()].every((m) => m.length === 1), 10_000), 'both messages delivered');
  for (const [session, messages] of received) {
    assert.equal(messages[0]!.length, payloadBytes);
    assert.equal(sha256(messages[0]!), digest);
    assert.equal(session.state, 'open');
  }
  assert.equal(after.ended || together.ended, false, 'neither connection was closed');
  // One byte more is refused by the full limit, as it always was.
  const tooBig = await RawPeer.connect(t, port);
  const over = encodeFrame({ type: 'data', seq: 1, payload: new Uint8Array(payloadBytes + 1) });
  tooBig.socket.write(Buffer.concat([hello(), over]));
  const close = await tooBig.closeFrame();
  assert.equal(close.code, 'protocol-error');
  assert.match(close.message, new RegExp(`DATA frame of ${over.length} bytes exceeds maxFrameSize ${DEFAULT_MAX_FRAME_SIZE}`));
});
