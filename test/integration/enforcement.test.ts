/**
 * Integration: the server's ping-rate enforcement (docs/spec/0003-enforcement-and-drain.md;
 * gRPC A8 "Server Enforcement") on real sockets. A raw peer that floods PINGs after the handshake
 * gets GOAWAY too-many-pings then CLOSE too-many-pings; a well-behaved client collects no
 * strikes; isolated early PINGs are forgiven; PINGs before HELLO stay a protocol error.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame, encodePing } from '../../src/protocol/encode.js';
import type { Frame, GoawayFrame } from '../../src/protocol/frames.js';
import { connect, createServer, type CloseReason, type LifelineServer, type OpenInfo, type ServerOptions, type Session } from '../../src/index.js';
import { nextEvent, eventually } from './helpers.js';

async function startServer(t: TestContext, options: ServerOptions = {}): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({ minHeartbeatInterval: 50, minHeartbeatTimeout: 100, ...options });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port };
}

/** A hand-driven peer: writes raw frames, records every frame the server sends until it closes. */
class RawPeer {
  readonly frames: Frame[] = [];
  decodeError: string | undefined;
  gotEnd = false;
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder();

  private constructor(readonly socket: net.Socket) {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(chunk, (frame) => this.frames.push(frame));
      } catch (err) {
        this.decodeError = String(err);
      }
    });
    socket.on('end', () => (this.gotEnd = true));
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async connect(t: TestContext, port: number): Promise<RawPeer> {
    const socket = net.connect({ host: '127.0.0.1', port });
    t.after(() => void socket.destroy());
    const peer = new RawPeer(socket);
    await nextEvent(socket, 'connect', 3000);
    return peer;
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** HELLO, then wait for WELCOME. */
  async handshake(intervalMs: number, timeoutMs: number): Promise<void> {
    this.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: intervalMs, heartbeatTimeoutMs: timeoutMs }));
    assert.ok(await eventually(() => this.frames.some((f) => f.type === 'welcome'), 3000), 'WELCOME arrived');
  }

  ofType<K extends Frame['type']>(type: K): Extract<Frame, { type: K }>[] {
    return this.frames.filter((f): f is Extract<Frame, { type: K }> => f.type === type);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * PINGs as separate writes `gapMs` apart, so each reaches the server in its own read (PINGs that
 * arrive in one read are one event: PROTOCOL.md §8.3). Stops early once the server closed.
 */
async function pingTrain(peer: RawPeer, count: number, gapMs: number, firstId = 0): Promise<void> {
  for (let i = 0; i < count && !peer.socket.destroyed && !peer.gotEnd; i++) {
    peer.write(encodePing((firstId + i) % 32));
    await sleep(gapMs);
  }
}

test('enforcement - a PING flood after HELLO gets GOAWAY too-many-pings, then CLOSE too-many-pings', async (t) => {
  const { server, port } = await startServer(t);
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const peer = await RawPeer.connect(t, port);
  await peer.handshake(1000, 3000);
  const [session] = await sessionP;
  const sessionCloseP = nextEvent<[Session, CloseReason]>(server, 'sessionClose', 3000);

  // A flood: PINGs 10 ms apart (the interval is 1000 ms, so every one after the first is early).
  void pingTrain(peer, 50, 10);

  const [closedSession, reason] = await sessionCloseP;
  await peer.closed;
  assert.equal(closedSession, session);
  assert.equal(reason.code, 'too-many-pings');
  assert.equal(reason.initiator, 'local');
  assert.equal(session.closeReason?.code, 'too-many-pings');

  assert.equal(peer.decodeError, undefined);
  assert.ok(peer.gotEnd, 'the server ended the stream with a FIN');
  const types = peer.frames.map((f) => f.type);
  // WELCOME, one PONG per PING judged before the verdict (first ok + maxStrikes strikes + the
  // PING that was one too many), then GOAWAY, CLOSE and nothing else: the rest of the train is
  // ignored once we are closing.
  assert.deepEqual(types, ['welcome', 'pong', 'pong', 'pong', 'pong', 'goaway', 'close']);
  const goaway = peer.ofType('goaway')[0]!;
  assert.equal(goaway.code, 'too-many-pings');
  assert.equal(goaway.retryAfterMs, 2000, 'retryAfterMs = 2 × the negotiated interval');
  assert.equal(goaway.redirect, undefined);
  assert.match(goaway.message, /too many pings/);
  const close = peer.ofType('close')[0]!;
  assert.equal(close.code, 'too-many-pings');
  assert.equal(server.sessionCount, 0);
  assert.ok(await eventually(() => server.connectionCount === 0, 1000), 'the server dropped the connection');
});

test('enforcement - maxPingStrikes and minPingIntervalRatio are honoured; ratio 0 disables enforcement', async (t) => {
  // maxPingStrikes 0: the first early PING is fatal.
  {
    const { server, port } = await startServer(t, { maxPingStrikes: 0 });
    const peer = await RawPeer.connect(t, port);
    await peer.handshake(1000, 3000);
    const sessionCloseP = nextEvent<[Session, CloseReason]>(server, 'sessionClose', 3000);
    void pingTrain(peer, 2, 10);
    const [, reason] = await sessionCloseP;
    assert.equal(reason.code, 'too-many-pings');
    await peer.closed;
    assert.deepEqual(peer.frames.map((f) => f.type), ['welcome', 'pong', 'pong', 'goaway', 'close']);
  }
  // minPingIntervalRatio 0: a flood is answered, never punished.
  {
    const { server, port } = await startServer(t, { minPingIntervalRatio: 0 });
    const peer = await RawPeer.connect(t, port);
    await peer.handshake(1000, 3000);
    await pingTrain(peer, 20, 10);
    // One PONG per read that held PINGs: about 20 here (a loaded machine may merge a few reads).
    assert.ok(await eventually(() => peer.ofType('pong').length >= 10, 3000), `got ${peer.ofType('pong').length} PONGs`);
    await sleep(50);
    assert.equal(peer.ofType('goaway').length, 0);
    assert.equal(server.sessionCount, 1);
    peer.socket.end();
    await peer.closed;
  }
});

test('enforcement - a well-behaved lifeline client over several intervals collects no strikes', async (t) => {
  const { server, port } = await startServer(t, { timerResolution: 10 });
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const client = connect({ reconnect: false, host: '127.0.0.1', port, heartbeatInterval: 100, heartbeatTimeout: 300 });
  t.after(() => client.close());
  const [[info], [session]] = await Promise.all([nextEvent<[OpenInfo]>(client, 'open', 3000), sessionP]);
  assert.equal(info.heartbeatInterval, 100);
  const goaways: GoawayFrame[] = [];
  const closes: CloseReason[] = [];
  client.on('goaway', (g: GoawayFrame) => goaways.push(g));
  client.on('close', (r: CloseReason) => closes.push(r));
  let pings = 0;
  session.on('ping', () => pings++);

  await sleep(2000); // 20 intervals

  t.diagnostic(`${pings} client PINGs in 2000 ms`);
  assert.ok(pings >= 10, `the client pinged only ${pings} times: the heartbeat was not exercised`);
  assert.deepEqual(goaways, []);
  assert.deepEqual(closes, []);
  assert.equal(client.state, 'open');
  assert.equal(session.isOpen, true);
});

test('enforcement - isolated early PINGs (one strike at a time) never disconnect', async (t) => {
  // Interval 400 → PINGs less than 200 ms apart are strikes; maxPingStrikes 2.
  const { server, port } = await startServer(t);
  const peer = await RawPeer.connect(t, port);
  await peer.handshake(400, 1200);
  const closes: CloseReason[] = [];
  server.on('sessionClose', (_s: Session, r: CloseReason) => closes.push(r));

  // Five rounds of "on time, then 20 ms later once more": five strikes in total, never two in a
  // row. Without the reset on a well-spaced PING the third round would end the connection.
  let sent = 0;
  for (let round = 0; round < 5; round++) {
    peer.write(encodePing(sent++ % 32));
    await sleep(20);
    peer.write(encodePing(sent++ % 32));
    await sleep(300);
  }
  assert.ok(await eventually(() => peer.ofType('pong').length === sent, 2000), `got ${peer.ofType('pong').length} of ${sent} PONGs`);
  assert.equal(peer.ofType('goaway').length, 0, 'no GOAWAY');
  assert.deepEqual(closes, []);
  assert.equal(server.sessionCount, 1);

  // The same peer sending four quick PINGs (three strikes in a row) is sent away: the check was live.
  const sessionCloseP = nextEvent<[Session, CloseReason]>(server, 'sessionClose', 3000);
  void pingTrain(peer, 4, 10);
  const [, reason] = await sessionCloseP;
  assert.equal(reason.code, 'too-many-pings');
  await peer.closed;
  assert.equal(peer.ofType('goaway')[0]?.code, 'too-many-pings');
  assert.equal(peer.ofType('close')[0]?.code, 'too-many-pings');
});

/**
 * A one-connection TCP relay that can hold the client → server direction and release what it
 * held in one write: the client's PINGs then reach the server bunched together, as after a
 * stalled path (or a retransmission) on a real network.
 */
class HoldingRelay {
  private readonly server = net.createServer((down) => this.accept(down));
  private held: Buffer[] | undefined;
  private upstream: net.Socket | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly targetPort: number) {}

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  hold(): void {
    this.held = [];
  }

  /** Deliver what was held: in one write (gapMs undefined) or chunk by chunk, gapMs apart. */
  async release(gapMs?: number): Promise<void> {
    const held = this.held ?? [];
    this.held = undefined;
    if (held.length === 0) return;
    if (gapMs === undefined) {
      this.upstream?.write(Buffer.concat(held));
      return;
    }
    for (const chunk of held) {
      this.upstream?.write(chunk);
      await sleep(gapMs);
    }
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(down: net.Socket): void {
    const up = net.connect({ host: '127.0.0.1', port: this.targetPort });
    this.upstream = up;
    for (const s of [down, up]) {
      this.sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => {});
    }
    down.on('data', (chunk: Buffer) => (this.held ? this.held.push(chunk) : up.write(chunk)));
    up.on('data', (chunk: Buffer) => down.write(chunk));
    down.on('end', () => up.end());
    up.on('end', () => down.end());
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
  }
}

/** Open a lifeline client through a relay; hold its PINGs for `holdMs`, then deliver them (see release). */
async function bunchedPings(t: TestContext, options: ServerOptions, holdMs: number, releaseGapMs?: number) {
  const { server, port } = await startServer(t, { timerResolution: 10, ...options });
  const relay = new HoldingRelay(port);
  t.after(() => relay.close());
  const relayPort = await relay.listen();
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  // Interval 100 ms: while held, the client pings at ~100 ms and repeats at ~200 ms (no answer).
  const client = connect({ reconnect: false, host: '127.0.0.1', port: relayPort, heartbeatInterval: 100, heartbeatTimeout: 1000 });
  t.after(() => client.close());
  const [, [session]] = await Promise.all([nextEvent<[OpenInfo]>(client, 'open', 3000), sessionP]);
  let pingsAtServer = 0;
  session.on('ping', () => pingsAtServer++);
  const goaways: GoawayFrame[] = [];
  client.on('goaway', (g: GoawayFrame) => goaways.push(g));
  relay.hold();
  await sleep(holdMs);
  await relay.release(releaseGapMs);
  return { server, client, session, goaways, pingsAtServer: () => pingsAtServer };
}

test('enforcement - a lifeline client evicted for pinging sees close reason goaway, remoteCode too-many-pings', async (t) => {
  // maxPingStrikes 0: two PINGs arriving 10 ms apart are already too many.
  // Held 350 ms: two or three PINGs (at ~100, ~200, ~300 ms), released 10 ms apart.
  const { client, session, goaways } = await bunchedPings(t, { maxPingStrikes: 0 }, 350, 10);
  // The eviction may already have happened while the held PINGs were being released.
  const [reason, serverReason] = await Promise.all([
    client.closeReason ?? nextEvent<[CloseReason]>(client, 'close', 3000).then(([r]) => r),
    session.closeReason ?? nextEvent<[CloseReason]>(session, 'close', 3000).then(([r]) => r),
  ]);
  assert.equal(reason.code, 'goaway');
  // The server's CLOSE follows its GOAWAY at once; a client that reacts to the GOAWAY by closing
  // itself reports the GOAWAY's code instead of the CLOSE's. Either way the cause is named.
  assert.ok(
    reason.remoteCode === 'too-many-pings' || reason.goaway?.code === 'too-many-pings',
    `close reason names too-many-pings: ${JSON.stringify(reason)}`,
  );
  assert.equal(goaways.length, 1);
  assert.equal(goaways[0]!.code, 'too-many-pings');
  assert.equal(goaways[0]!.retryAfterMs, 200);
  assert.equal(serverReason.code, 'too-many-pings');
});

test('enforcement - PINGs bunched by a stalled path arrive as one event and cost nothing, even with maxPingStrikes 0', async (t) => {
  // Held 350 ms, released in one write: the server reads them together and answers once.
  const { server, client, session, goaways, pingsAtServer } = await bunchedPings(t, { maxPingStrikes: 0 }, 350);
  // Several more intervals of ordinary heartbeats after the bunch.
  await sleep(600);
  t.diagnostic(`${pingsAtServer()} PINGs reached the server`);
  assert.ok(pingsAtServer() >= 4, `only ${pingsAtServer()} PINGs reached the server`);
  assert.deepEqual(goaways, []);
  assert.equal(client.state, 'open');
  assert.equal(session.isOpen, true);
  assert.equal(server.sessionCount, 1);
});

test('enforcement - 50 PINGs in one write get one PONG (the last id): a flood cannot amplify', async (t) => {
  const { server, port } = await startServer(t);
  const peer = await RawPeer.connect(t, port);
  await peer.handshake(1000, 3000);
  const flood = new Uint8Array(50);
  for (let i = 0; i < flood.length; i++) flood[i] = encodePing(i % 32)[0]!;
  peer.write(flood);
  assert.ok(await eventually(() => peer.ofType('pong').length >= 1, 2000), 'answered');
  await sleep(100);
  assert.deepEqual(peer.ofType('pong').map((p) => p.id), [49 % 32]);
  assert.equal(peer.ofType('goaway').length, 0);
  assert.equal(server.sessionCount, 1);
});

test('enforcement - PINGs before HELLO are still a protocol error (no PONG, no strike bookkeeping)', async (t) => {
  const { server, port } = await startServer(t, { handshakeTimeout: 5000 });
  const peer = await RawPeer.connect(t, port);
  peer.write(new Uint8Array(50).fill(encodePing(1)[0]!));
  await peer.closed;
  assert.equal(peer.decodeError, undefined);
  assert.ok(peer.gotEnd);
  assert.equal(peer.frames.length, 1, `expected only CLOSE, got ${JSON.stringify(peer.frames.map((f) => f.type))}`);
  const close = peer.frames[0]!;
  assert.equal(close.type, 'close');
  assert.equal(close.code, 'protocol-error');
  assert.match(close.message, /expected HELLO, got PING/);
  assert.equal(server.sessionCount, 0);
  assert.ok(await eventually(() => server.connectionCount === 0, 1000), 'the server dropped the connection');
});
