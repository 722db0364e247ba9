/**
 * Integration: server.drain() (docs/spec/0003-enforcement-and-drain.md §Graceful drain) on real
 * sockets. 1,000 lifeline clients exchange numbered messages across the start of a drain and
 * none is lost; PONGs say `draining`; new connections are refused; a session that ignores its
 * GOAWAY is closed at the deadline; handshakes in flight finish and are sent away; drain() is
 * idempotent and close() still works during it.
 *
 * Clients here close themselves on GOAWAY (`client.on('goaway', …client.close())`), which is a
 * no-op when the client library already does so on its own.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame, encodePing } from '../../src/protocol/encode.js';
import type { Frame, GoawayFrame } from '../../src/protocol/frames.js';
import {
  connect,
  createServer,
  InvalidOptionError,
  type Client,
  type CloseReason,
  type LifelineServer,
  type OpenInfo,
  type ServerOptions,
  type Session,
} from '../../src/index.js';
import { nextEvent, eventually } from './helpers.js';

const CLIENTS = 1000;
/** Messages per direction per connection: half before drain(), half right after it. */
const K = 20;
const CONNECT_BATCH = 100;
const DEADLINE_MS = 2000;
const LOAD = 42;

async function startServer(t: TestContext, options: ServerOptions = {}): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({ health: () => ({ status: 'ok', load: LOAD }), ...options });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const utf8 = new TextEncoder();

/**
 * A hand-driven peer that ignores GOAWAY: it keeps sending DATA and PINGs until the server's
 * CLOSE, then ends its side. Records every frame with its arrival time.
 */
class StubbornPeer {
  readonly frames: { frame: Frame; atMs: number }[] = [];
  decodeError: string | undefined;
  /** Seq of the last DATA written before the server's CLOSE was seen. */
  sentSeq = 0;
  closeSeenAtMs: number | undefined;
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder();
  private dataTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private nextPingId = 0;

  private constructor(readonly socket: net.Socket) {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      const atMs = performance.now();
      try {
        this.decoder.push(chunk, (frame) => {
          this.frames.push({ frame, atMs });
          if (frame.type === 'close' && this.closeSeenAtMs === undefined) {
            this.closeSeenAtMs = atMs;
            this.stop();
            socket.end();
          }
        });
      } catch (err) {
        this.decodeError = String(err);
      }
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.stop();
        resolve();
      }),
    );
  }

  static async open(t: TestContext, port: number, intervalMs: number, timeoutMs: number): Promise<StubbornPeer> {
    const socket = net.connect({ host: '127.0.0.1', port });
    t.after(() => void socket.destroy());
    socket.setNoDelay(true);
    const peer = new StubbornPeer(socket);
    await nextEvent(socket, 'connect', 3000);
    socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: intervalMs, heartbeatTimeoutMs: timeoutMs }));
    assert.ok(await eventually(() => peer.ofType('welcome').length === 1, 3000), 'WELCOME arrived');
    t.after(() => peer.stop());
    return peer;
  }

  /** DATA every `dataEveryMs`, PING every `pingEveryMs` (well above the enforcement minimum). */
  startTraffic(dataEveryMs: number, pingEveryMs: number): void {
    this.dataTimer = setInterval(() => this.sendData(), dataEveryMs);
    this.pingTimer = setInterval(() => this.ping(), pingEveryMs);
  }

  sendData(): void {
    if (this.closeSeenAtMs !== undefined) return;
    this.sentSeq++;
    this.socket.write(encodeFrame({ type: 'data', seq: this.sentSeq, payload: utf8.encode(`stubborn:${this.sentSeq}`) }));
  }

  ping(): void {
    if (this.closeSeenAtMs !== undefined) return;
    this.socket.write(encodePing(this.nextPingId++ % 32));
  }

  stop(): void {
    clearInterval(this.dataTimer);
    clearInterval(this.pingTimer);
  }

  ofType<K extends Frame['type']>(type: K): Extract<Frame, { type: K }>[] {
    return this.frames.map((f) => f.frame).filter((f): f is Extract<Frame, { type: K }> => f.type === type);
  }

  /** Arrival time of the first frame of `type`. */
  firstAt(type: Frame['type']): number | undefined {
    return this.frames.find((f) => f.frame.type === type)?.atMs;
  }
}

interface ClientRecord {
  client: Client;
  index: number;
  goaways: GoawayFrame[];
  /** Message numbers received from the server, in arrival order. */
  received: number[];
  /** Session ids the server stamped on those messages (all must be this client's). */
  receivedFrom: Set<string>;
  closeReason: CloseReason | undefined;
  closed: Promise<void>;
}

function openClient(t: TestContext, port: number, index: number): ClientRecord {
  const client = connect({ reconnect: false, host: '127.0.0.1', port, heartbeatInterval: 1000, heartbeatTimeout: 3000 });
  t.after(() => client.close());
  const record: ClientRecord = {
    client,
    index,
    goaways: [],
    received: [],
    receivedFrom: new Set(),
    closeReason: undefined,
    closed: nextEvent<[CloseReason]>(client, 'close', 30_000).then(([reason]) => void (record.closeReason = reason)),
  };
  client.on('goaway', (frame: GoawayFrame) => {
    record.goaways.push(frame);
    // Deferred, so that a client library which leaves on GOAWAY by itself does so first (this
    // close() is then a no-op); with one that does not, this is the application leaving.
    setImmediate(() => client.close('leaving on GOAWAY'));
  });
  client.on('message', (data: Buffer) => {
    const [sessionId, n] = data.toString().split(':');
    record.receivedFrom.add(sessionId!);
    record.received.push(Number(n));
  });
  return record;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/**
 * `who:n:padding`. Every fifth message is 4 KiB, so both of the connection's send paths are used
 * (small frames are coalesced into one buffer, large ones are written as header + payload).
 */
const message = (who: string | number, n: number) => `${who}:${n}:${'x'.repeat(n % 5 === 0 ? 4096 : 64)}`;

test('drain - 1,000 clients: drain completes without losing queued messages; PONGs say draining; stragglers closed at the deadline', async (t) => {
  const { server, port } = await startServer(t);
  let drainingEvents = 0;
  server.on('draining', () => drainingEvents++);

  // Server side: every session records what it receives, keyed by the client index in the payload.
  const receivedByClient = new Map<number, number[]>();
  const sessions: Session[] = [];
  const serverCloses = new Map<Session, CloseReason>();
  server.on('session', (session: Session) => {
    sessions.push(session);
    session.on('message', (data: Buffer) => {
      const [who, n] = data.toString().split(':');
      if (who === 'stubborn') return;
      const list = receivedByClient.get(Number(who)) ?? [];
      list.push(Number(n));
      receivedByClient.set(Number(who), list);
    });
  });
  server.on('sessionClose', (session: Session, reason: CloseReason) => serverCloses.set(session, reason));

  // 1,000 clients, connected in batches so the listen backlog never overflows (a dropped SYN
  // costs a 1 s retransmission).
  const records: ClientRecord[] = [];
  const startedAt = performance.now();
  for (let from = 0; from < CLIENTS; from += CONNECT_BATCH) {
    const batch = range(from, Math.min(CLIENTS, from + CONNECT_BATCH)).map((i) => openClient(t, port, i));
    await Promise.all(batch.map((r) => nextEvent<[OpenInfo]>(r.client, 'open', 10_000)));
    records.push(...batch);
  }
  // A session that ignores its GOAWAY: it keeps talking until the deadline closes it.
  // Generous timeout: this peer must outlive the deadline even on a loaded machine.
  const stubborn = await StubbornPeer.open(t, port, 500, 5000);
  assert.ok(await eventually(() => server.sessionCount === CLIENTS + 1, 5000), `only ${server.sessionCount} sessions`);
  t.diagnostic(`${CLIENTS} clients open in ${Math.round(performance.now() - startedAt)} ms`);
  const stubbornSession = sessions.find((s) => !records.some((r) => r.client.info?.sessionId === s.id))!;
  const stubbornReceived: number[] = [];
  stubbornSession.on('message', (data: Buffer) => stubbornReceived.push(Number(data.toString().split(':')[1])));

  // A PONG before the drain says ok.
  stubborn.ping();
  assert.ok(await eventually(() => stubborn.ofType('pong').length === 1, 2000), 'PONG before the drain');
  assert.equal(stubborn.ofType('pong')[0]!.status, 'ok');
  await sleep(300); // keep the stubborn peer's PINGs well spaced (enforcement, spec 0003)
  stubborn.startTraffic(20, 600);

  // Half of every stream is written just before drain(), half right after it, all in one
  // synchronous turn: everything sits in send buffers while the GOAWAYs go out.
  const sendBatch = (from: number, to: number) => {
    for (const r of records) for (const i of range(from, to)) r.client.send(message(r.index, i));
    for (const s of sessions) if (s !== stubbornSession) for (const i of range(from, to)) s.send(message(s.id, i));
  };
  sendBatch(0, K / 2);
  const drainStartedAt = performance.now();
  // The deadline timer runs on this process's loop, which also runs the 1,000 clients: on a busy
  // machine it fires late by as much as the loop stalls. The bounds below allow that, measured.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const drained = server.drain({ deadlineMs: DEADLINE_MS, redirect: '127.0.0.1:4242', retryAfterMs: 1500, message: 'deploy' });
  assert.equal(server.draining, true);
  assert.equal(server.drain(), drained, 'a second drain() returns the same promise');
  sendBatch(K / 2, K);
  // Written after the GOAWAY went out, so its PONG must say draining (however busy the loop is).
  stubborn.ping();
  let drainedAtMs: number | undefined;
  void drained.then(() => (drainedAtMs = performance.now()));

  // A client arriving during the drain is refused with CLOSE going-away.
  const late = connect({ reconnect: false, host: '127.0.0.1', port, heartbeatInterval: 1000, heartbeatTimeout: 3000 });
  t.after(() => late.close());
  const [lateReason] = await nextEvent<[CloseReason]>(late, 'close', 5000);
  assert.equal(late.info, undefined, 'the late client never opened');
  assert.equal(lateReason.code, 'server-shutdown');
  assert.equal(lateReason.remoteCode, 'going-away');
  assert.equal(lateReason.message, 'server draining');

  // The stubborn peer keeps pinging during the drain: every answer says draining, load kept.
  const sawDrainingPong = await eventually(
    () => stubborn.frames.some((f) => f.frame.type === 'pong' && f.frame.status === 'draining'),
    DEADLINE_MS + 3000,
  );
  const seen = stubborn.frames.map((f) => (f.frame.type === 'pong' ? `pong:${f.frame.status}` : f.frame.type));
  assert.ok(sawDrainingPong, `no draining PONG; the stubborn peer got ${seen.join(' ')}`);

  await Promise.all(records.map((r) => r.closed));
  const everyoneElseGoneAtMs = performance.now() - drainStartedAt;
  await drained;
  const drainMs = (drainedAtMs ?? performance.now()) - drainStartedAt;
  t.diagnostic(`well-behaved clients gone ${Math.round(everyoneElseGoneAtMs)} ms after drain(); drain resolved after ${Math.round(drainMs)} ms`);

  // Registry: empty once the promise resolved.
  assert.equal(server.sessionCount, 0);
  assert.equal(server.connectionCount, 0);
  assert.equal(drainingEvents, 1);

  // Every client: one GOAWAY with what we asked for; all K server messages once, in order.
  for (const r of records) {
    assert.deepEqual(r.goaways, [{ type: 'goaway', code: 'draining', message: 'deploy', redirect: '127.0.0.1:4242', retryAfterMs: 1500 }], `client ${r.index}`);
    assert.deepEqual(r.received, range(0, K), `client ${r.index} received ${JSON.stringify(r.received)}`);
    assert.deepEqual([...r.receivedFrom], [r.client.info!.sessionId], `client ${r.index} got only its own session's messages`);
    // 'goaway' when the client library leaves on GOAWAY itself, 'local-close' when our handler did.
    assert.ok(['goaway', 'local-close'].includes(r.closeReason?.code ?? ''), `client ${r.index}: ${JSON.stringify(r.closeReason)}`);
  }
  // Every session: all K client messages once, in order.
  assert.equal(receivedByClient.size, CLIENTS);
  for (const r of records) assert.deepEqual(receivedByClient.get(r.index), range(0, K), `server side of client ${r.index}`);
  for (const s of sessions) assert.ok(serverCloses.has(s), `session ${s.id} closed`);

  // The stubborn peer: GOAWAY at once, draining PONGs with the load kept, CLOSE going-away at
  // the deadline, and every DATA it wrote before it saw that CLOSE was delivered.
  await stubborn.closed;
  assert.equal(stubborn.decodeError, undefined);
  const goaway = stubborn.ofType('goaway');
  assert.equal(goaway.length, 1);
  assert.equal(goaway[0]!.code, 'draining');
  const goawayAt = stubborn.firstAt('goaway')!;
  const pongsAfterGoaway = stubborn.frames.filter((f) => f.frame.type === 'pong' && f.atMs > goawayAt).map((f) => f.frame);
  assert.ok(pongsAfterGoaway.length >= 1, `only ${pongsAfterGoaway.length} PONGs during the drain`);
  for (const pong of pongsAfterGoaway) assert.deepEqual(pong, { type: 'pong', id: (pong as { id: number }).id, status: 'draining', load: LOAD });
  const close = stubborn.ofType('close');
  assert.equal(close.length, 1);
  assert.equal(close[0]!.code, 'going-away');
  assert.match(close[0]!.message, /deadline/);
  const closeAfterMs = stubborn.closeSeenAtMs! - drainStartedAt;
  t.diagnostic(`stubborn session closed ${Math.round(closeAfterMs)} ms after drain() (deadline ${DEADLINE_MS} ms)`);
  assert.ok(closeAfterMs >= DEADLINE_MS - 5, `closed before the deadline: ${Math.round(closeAfterMs)} ms`);
  loopDelay.disable();
  const stallMs = loopDelay.max / 1e6;
  t.diagnostic(`longest event-loop stall during the drain: ${Math.round(stallMs)} ms`);
  assert.ok(closeAfterMs < DEADLINE_MS + 1000 + stallMs, `closed late: ${Math.round(closeAfterMs)} ms (longest stall ${Math.round(stallMs)} ms)`);
  assert.ok(drainMs >= DEADLINE_MS - 5 && drainMs < DEADLINE_MS + 1500 + stallMs, `drain resolved after ${Math.round(drainMs)} ms (longest stall ${Math.round(stallMs)} ms)`);
  assert.deepEqual(stubbornReceived, range(1, stubborn.sentSeq + 1), `stubborn peer sent ${stubborn.sentSeq}, server got ${stubbornReceived.length}`);
  assert.equal(serverCloses.get(stubbornSession)?.code, 'server-shutdown');
});

test('drain - a handshake in flight completes and gets GOAWAY at once; connections after drain() are refused before HELLO', async (t) => {
  const { server, port } = await startServer(t);
  // Accepted (so counted) but no HELLO yet when the drain starts.
  const socket = net.connect({ host: '127.0.0.1', port });
  t.after(() => void socket.destroy());
  socket.on('error', () => {});
  await nextEvent(socket, 'connect', 3000);
  assert.ok(await eventually(() => server.connectionCount === 1, 1000));
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  socket.on('data', (chunk: Buffer) => decoder.push(chunk, (f) => frames.push(f)));

  const drained = server.drain({ deadlineMs: 5000, retryAfterMs: 250 });
  socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 3000 }));
  assert.ok(await eventually(() => frames.length >= 2, 3000), `got ${JSON.stringify(frames.map((f) => f.type))}`);
  assert.equal(frames[0]!.type, 'welcome');
  assert.deepEqual(frames[1], { type: 'goaway', code: 'draining', message: 'server draining', retryAfterMs: 250 });
  assert.equal(server.sessionCount, 1);

  // A connection made during the drain: CLOSE going-away before any HELLO.
  const late = net.connect({ host: '127.0.0.1', port });
  t.after(() => void late.destroy());
  late.on('error', () => {});
  const lateFrames: Frame[] = [];
  const lateDecoder = new FrameDecoder();
  late.on('data', (chunk: Buffer) => lateDecoder.push(chunk, (f) => lateFrames.push(f)));
  await nextEvent(late, 'close', 3000);
  assert.deepEqual(lateFrames, [{ type: 'close', code: 'going-away', message: 'server draining' }]);

  // The drained session leaves on its own: the promise resolves well before the deadline.
  const before = performance.now();
  socket.end();
  await drained;
  assert.ok(performance.now() - before < 1000, 'resolved when the last connection left');
  assert.equal(server.connectionCount, 0);
});

test('drain - idempotent, emits draining once, resolves at once when idle, and close() during a drain ends it', async (t) => {
  {
    const { server } = await startServer(t);
    let events = 0;
    server.on('draining', () => events++);
    assert.equal(server.draining, false);
    const first = server.drain();
    assert.equal(server.drain({ deadlineMs: 1 }), first);
    await first; // no connection: resolves at once
    assert.equal(events, 1);
    assert.equal(server.draining, true);
  }
  {
    const { server, port } = await startServer(t);
    const peers = await Promise.all([0, 1, 2].map(() => StubbornPeer.open(t, port, 1000, 3000)));
    const drained = server.drain({ deadlineMs: 60_000 });
    assert.ok(await eventually(() => peers.every((p) => p.ofType('goaway').length === 1), 3000), 'every peer got GOAWAY');
    const before = performance.now();
    await server.close();
    await drained;
    assert.ok(performance.now() - before < 3000, 'close() ended the drain long before its deadline');
    for (const p of peers) {
      await p.closed;
      assert.deepEqual(p.ofType('close'), [{ type: 'close', code: 'going-away', message: 'server shutting down' }]);
    }
    assert.equal(server.connectionCount, 0);
  }
});

test('drain - deadlineMs 0 closes every session right after its GOAWAY, queued messages first', async (t) => {
  const { server, port } = await startServer(t);
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const peer = await StubbornPeer.open(t, port, 1000, 3000);
  const [session] = await sessionP;
  for (let i = 0; i < 5; i++) session.send(`s:${i}`);
  await server.drain({ deadlineMs: 0 });
  await peer.closed;
  const types = peer.frames.map((f) => f.frame.type);
  assert.deepEqual(types, ['welcome', 'data', 'data', 'data', 'data', 'data', 'goaway', 'close']);
  assert.equal(peer.ofType('close')[0]!.code, 'going-away');
});

test('drain - unusable options are refused synchronously, naming the option', async (t) => {
  const { server } = await startServer(t);
  const bad: [object, RegExp][] = [
    [{ deadlineMs: -1 }, /drain\.deadlineMs/],
    [{ deadlineMs: Infinity }, /drain\.deadlineMs/],
    [{ retryAfterMs: NaN }, /drain\.retryAfterMs/],
    [{ redirect: 42 }, /drain\.redirect/],
    [{ redirect: 'x'.repeat(2000) }, /drain\.redirect/],
    [{ message: {} }, /drain\.message/],
  ];
  for (const [options, name] of bad) {
    assert.throws(() => server.drain(options as never), (err: unknown) => err instanceof InvalidOptionError && name.test(err.message));
  }
  assert.equal(server.draining, false, 'a refused drain() does not start draining');
  // Server options of the enforcement side, validated at construction.
  const badServer: [ServerOptions, RegExp][] = [
    [{ maxPingStrikes: -1 }, /maxPingStrikes/],
    [{ maxPingStrikes: 1.5 }, /maxPingStrikes/],
    [{ minPingIntervalRatio: 1.5 }, /minPingIntervalRatio/],
    [{ minPingIntervalRatio: -0.1 }, /minPingIntervalRatio/],
  ];
  for (const [options, name] of badServer) {
    assert.throws(() => createServer(options), (err: unknown) => err instanceof InvalidOptionError && name.test(err.message));
  }
  await sleep(0);
});
