/**
 * Issue 15 item 2, bad peers with real sockets: a slowloris HELLO (one byte at a time), DATA
 * before HELLO, a resume with a forged session id, a ping flood, and — as a crowd of concurrent
 * attackers, beside the single-peer refusals of handshake.test.ts — no HELLO, a wrong version, a
 * 4 GiB length prefix and garbage. Each ends in a clear CLOSE with a reason, or — for the forged
 * id — in a fresh session that touches nobody else's, while a well-behaved client's heartbeat RTT
 * is measured during the attack (rtt-observer.ts) and it is never declared dead. Each attacking
 * connection's log lines (exactly which, at which level, with its reason and address, nothing of
 * its bytes) and counters are checked through bad-peer-log.ts; so is a connection flood's (the
 * 2,000-socket run without a logger: connection-flood.test.ts). Slow consumers:
 * slow-consumer.test.ts; half-open peers: half-open.test.ts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { connect, createServer, sessionTag, type LifelineServer, type OpenInfo, type ServerOptions, type Session } from '../../src/index.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import type { Frame } from '../../src/protocol/frames.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { eventually, nextEvent } from './helpers.js';
import { rttObserver } from './rtt-observer.js';
import { assertCounted, assertNothingOfPayload, assertPeerLines, badPeerLog, shape, type BadPeerLog } from './bad-peer-log.js';
import { PRE_SESSION_WARN_INTERVAL_MS } from '../../src/server/server-log.js';

async function startServer(t: TestContext, handshakeTimeout = 5000, options: ServerOptions = {}): Promise<{ server: LifelineServer; port: number; log: BadPeerLog }> {
  const log = badPeerLog();
  const server = createServer({ handshakeTimeout, tcpKeepalive: false, tcpUserTimeout: 0, logger: log.logger, ...options });
  t.after(() => server.close());
  server.on('session', (s: Session) => s.on('message', (m: Buffer) => s.send(m)));
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port, log };
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
  // As the server's log lines name it (spec 0016: `remote`).
  const remote = `127.0.0.1:${socket.localPort}`;
  socket.on('data', (chunk: Buffer) => decoder.push(chunk, (f) => frames.push(f)));
  socket.on('end', () => {
    state.ended = true;
    state.endedAt = performance.now() - startedAt;
  });
  return { socket, frames, state, remote };
}

test('bad peers - slowloris: a HELLO sent one byte every 100 ms is cut by the handshake timer with CLOSE handshake-timeout', async (t) => {
  const HANDSHAKE_MS = 400;
  const { server, port, log } = await startServer(t, HANDSHAKE_MS);
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
  // A handshake timeout is not a detection (spec 0016): debug only, however many a slowloris opens.
  assertPeerLines(log, peer.remote, ['debug connection-close handshake-timeout']);
  assertNothingOfPayload(log, [hello]);
  assertCounted(server, { connections: { 'handshake-timeout': 1 } });
});

test('bad peers - DATA before HELLO gets CLOSE protocol-error at once, and no session', async (t) => {
  const { server, port, log } = await startServer(t);
  const peer = await rawSocket(t, port);
  const data = encodeFrame({ type: 'data', seq: 1, payload: new TextEncoder().encode('ATTACK-PAYLOAD') });
  peer.socket.write(data);
  assert.ok(await eventually(() => peer.state.ended, 2000), 'the server ended the stream');
  assert.ok(peer.state.endedAt < 1000, 'refused at once, not by the handshake timer');
  assert.equal(peer.frames.length, 1);
  const close = peer.frames[0]!;
  assert.ok(close.type === 'close' && close.code === 'protocol-error', JSON.stringify(close));
  assert.equal(server.sessionCount, 0);
  // The server's first pre-session detection: a warn (rate-limited, spec 0016 §Bad peers), without the reason's text.
  assert.ok(await eventually(() => log.from(peer.remote).length > 0, 1000));
  assertPeerLines(log, peer.remote, ['warn detection protocol-error']);
  const line = log.from(peer.remote)[0]!;
  assert.equal(line.suppressed, 0);
  assert.ok(!log.raw.join('').includes('DATA') && !log.raw.join('').includes('ATTACK-PAYLOAD'), 'neither the frame nor its payload is named');
  assertNothingOfPayload(log, [data]);
  assertCounted(server, { connections: { 'protocol-error': 1 } });
});

test("bad peers - a resume with a forged session id gets a fresh session; the real one, and its client's heartbeat, are untouched", async (t) => {
  const { server, port, log } = await startServer(t);
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
  const forgers: string[] = [];
  for (let i = 0; i < 100; i++) {
    const id = i === 0 ? Buffer.from(real.map((b, k) => (k === 0 ? b ^ 1 : b))) : randomBytes(real.length);
    const peer = await rawSocket(t, port);
    peer.socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 3000, resumeSessionId: id, resumeLastSeq: 5, resumable: true }));
    assert.ok(await eventually(() => peer.frames.length > 0, 3000), 'an answer to the forged HELLO');
    welcomes.push(peer.frames[0]!);
    forgers.push(peer.remote);
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
  // Without authenticate a forged id looks like an expired one (spec 0006): no warn, a fresh
  // session's ordinary lines; the resume asked for shows at debug only. Each forged session is
  // resumable, so its cut transport detaches it.
  assert.ok(await eventually(() => forgers.every((r) => log.from(r).length === 4), 3000), 'four lines per forger');
  const ownerTag = sessionTag(ownerOpen.sessionId);
  for (const remote of forgers) {
    assertPeerLines(log, remote, ['debug hello', 'debug welcome', 'info session-open', 'info session-detach transport-closed']);
    const [hello, welcome] = log.from(remote);
    assert.equal(hello!.resume, true);
    assert.equal(welcome!.resumed, false);
    assert.ok(log.from(remote).every((l) => l.session !== ownerTag), "a forger's lines never name the owner's session");
  }
  assert.ok(!log.raw.join('').includes(ownerOpen.sessionId), 'the real id (a resume credential) is never written');
  assert.equal(server.counters.resumes, 0, 'lifeline_resumes_total: nothing was resumed');
});

/** Seeded bytes (xorshift32): the same garbage on every run. */
function garbage(seed: number, length: number): Uint8Array {
  let x = seed >>> 0 || 1;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  // Not GOAWAY or CLOSE first: a well-formed CLOSE from the peer ends the connection without one of ours.
  if (out[0] === 0x04 || out[0] === 0x05) out[0] ^= 0x80;
  return out;
}

const closeCodes = (frames: Frame[]) => frames.filter((f) => f.type === 'close').map((f) => (f.type === 'close' ? f.code : ''));

const ATTACKERS = 20;

/** Each attack: what the peer writes (nothing: it just connects), and the CLOSE codes it may get. */
/**
 * The server's log lines a peer closed with each CLOSE code causes (spec 0016): a refused or
 * timed-out handshake at debug; a protocol error is a detection, a warn at most once a second
 * (the others at debug, counted into the next warn).
 */
const LINES_BY_CODE: Readonly<Record<string, readonly (readonly string[])[]>> = {
  'handshake-timeout': [['debug connection-close handshake-timeout']],
  'unsupported-version': [['debug hello', 'debug connection-close unsupported-version']],
  'protocol-error': [['warn detection protocol-error'], ['debug detection protocol-error']],
};

const ATTACKS: ReadonlyArray<{ name: string; bytes: (i: number) => Uint8Array | undefined; codes: readonly string[]; message?: RegExp }> = [
  { name: 'no HELLO (connects and sends nothing)', bytes: () => undefined, codes: ['handshake-timeout'] },
  {
    name: 'a wrong version (HELLO version 0)',
    bytes: () => encodeFrame({ type: 'hello', version: 0, heartbeatIntervalMs: 0, heartbeatTimeoutMs: 0 }),
    codes: ['unsupported-version'],
  },
  // A 32-bit length prefix of 4 GiB, as another protocol would write it, is a 5-byte varint here.
  { name: 'a 4 GiB length prefix', bytes: () => Uint8Array.from([0x01, 0xff, 0xff, 0xff, 0xff, 0x0f]), codes: ['protocol-error'], message: /longer than 4 bytes/ },
  // Random bytes are refused as they are read; those that happen to announce a body longer than
  // themselves wait for it and are cut by the handshake timer instead.
  { name: 'garbage (seeded random bytes)', bytes: (i) => garbage(0x9e3779b9 + i, 256), codes: ['protocol-error', 'handshake-timeout'] },
  { name: 'DATA before HELLO', bytes: () => encodeFrame({ type: 'data', seq: 1, payload: new Uint8Array([1]) }), codes: ['protocol-error'] },
];

for (const attack of ATTACKS) {
  test(`bad peers - waves of ${ATTACKERS} at once: ${attack.name}: each gets exactly one CLOSE (${attack.codes.join(' / ')}); a well-behaved client's heartbeat is unaffected`, async (t) => {
    const HANDSHAKE_MS = 500;
    const { server, port, log } = await startServer(t, HANDSHAKE_MS);
    const observer = await rttObserver(t, port);
    observer.start();
    const startedAt = performance.now();
    // Waves of ATTACKERS for about a second (several of the observer's beats), at most 50 waves.
    const peers: Awaited<ReturnType<typeof rawSocket>>[] = [];
    const sent: Uint8Array[] = [];
    for (let wave = 0; wave < 50 && performance.now() - startedAt < 1000; wave++) {
      const batch = await Promise.all(Array.from({ length: ATTACKERS }, () => rawSocket(t, port)));
      batch.forEach((peer, i) => {
        const bytes = attack.bytes(wave * ATTACKERS + i);
        if (bytes !== undefined) peer.socket.write(bytes);
        if (bytes !== undefined) sent.push(bytes);
      });
      assert.ok(await eventually(() => batch.every((p) => p.state.ended), HANDSHAKE_MS + 3000), 'the server ended every stream');
      for (const peer of batch) peer.socket.destroy();
      peers.push(...batch);
    }
    const tookMs = performance.now() - startedAt;
    const outcomes = new Map<string, number>();
    for (const peer of peers) {
      const codes = closeCodes(peer.frames);
      assert.equal(codes.length, 1, `one CLOSE each, got ${JSON.stringify(peer.frames.map((f) => f.type))}`);
      assert.ok(attack.codes.includes(codes[0]!), `CLOSE ${codes[0]}`);
      assert.equal(peer.frames.length, 1, 'nothing but the CLOSE: no WELCOME, no PONG');
      const close = peer.frames[0]!;
      if (attack.message && close.type === 'close') assert.match(close.message, attack.message);
      outcomes.set(codes[0]!, (outcomes.get(codes[0]!) ?? 0) + 1);
    }
    t.diagnostic(`${peers.length} peers in waves of ${ATTACKERS}, all cut within ${Math.round(tookMs)} ms: ${[...outcomes].map(([code, n]) => `${n} × ${code}`).join(', ')}`);
    assert.equal(server.sessionCount, 1, "only the observer's session");
    assert.ok(await eventually(() => server.connectionCount === 1, 2000), "only the observer's connection is left");
    // Each peer: exactly the lines its CLOSE code causes, with its address; bounded warns.
    assert.ok(await eventually(() => peers.every((p) => log.from(p.remote).length > 0), 2000), 'every attacker has its line');
    const spanMs = performance.now() - startedAt;
    let warns = 0;
    let suppressed = 0;
    // A closed peer's port may be taken again by a later wave's socket: such remotes hold the
    // lines of both, checked as a whole.
    const byRemote = new Map<string, string[]>();
    for (const peer of peers) byRemote.set(peer.remote, [...(byRemote.get(peer.remote) ?? []), closeCodes(peer.frames)[0]!]);
    for (const [remote, codes] of byRemote) {
      const shapes = log.shapes(remote);
      if (codes.length === 1) {
        assert.ok(LINES_BY_CODE[codes[0]!]!.some((expected) => JSON.stringify(expected) === JSON.stringify(shapes)), `${codes[0]}: ${JSON.stringify(shapes)}`);
      } else {
        assert.equal(shapes.length, codes.reduce((n, code) => n + LINES_BY_CODE[code]![0]!.length, 0), `${remote} reused by ${codes.length} peers: ${JSON.stringify(shapes)}`);
        for (const line of shapes) assert.ok(codes.some((code) => LINES_BY_CODE[code]!.some((e) => e.includes(line))), line);
      }
      assertPeerLines(log, remote, shapes);
      for (const line of log.from(remote)) {
        if (line.level < 40) continue;
        warns++;
        suppressed += line.suppressed as number;
      }
    }
    if (byRemote.size < peers.length) t.diagnostic(`${peers.length - byRemote.size} ports reused by a later peer`);
    const protocolErrors = outcomes.get('protocol-error') ?? 0;
    const warnBound = protocolErrors === 0 ? 0 : Math.floor(spanMs / PRE_SESSION_WARN_INTERVAL_MS) + 1;
    t.diagnostic(`log: ${warns} warn lines (bound ${warnBound} in ${Math.round(spanMs)} ms), ${log.lines.filter((l) => l.level < 30).length} debug lines, ${suppressed} counted as suppressed`);
    assert.ok(warns <= warnBound, `${warns} warns for ${protocolErrors} protocol errors in ${Math.round(spanMs)} ms`);
    if (protocolErrors > 0) assert.ok(warns >= 1, 'a protocol error reaches a warn log');
    assert.ok(suppressed + warns <= protocolErrors);
    assert.deepEqual(
      log.lines.filter((l) => l.level >= 30 && !peers.some((p) => p.remote === l.remote)).map(shape),
      ['info session-open'],
      "nothing at info or above but the attackers' warns and the observer's open",
    );
    assertNothingOfPayload(log, sent);
    assertCounted(server, { connections: Object.fromEntries(outcomes) });
    await observer.check(t, attack.name);
  });
}

test('bad peers - ping flood: peers pinging every event-loop turn are sent away with GOAWAY + CLOSE too-many-pings; the loop stays serviceable and a well-behaved client keeps its heartbeat', async (t) => {
  const INTERVAL_MS = 300;
  const { server, port, log } = await startServer(t);
  const observer = await rttObserver(t, port);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  observer.start();
  loop.enable();
  const startedAt = performance.now();
  let pingsWritten = 0;
  // Ten at a time, each pinging once per turn (separate reads, not one bunched write) until cut.
  const flood = async () => {
    const peer = await rawSocket(t, port);
    peer.socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: INTERVAL_MS, heartbeatTimeoutMs: 3 * INTERVAL_MS }));
    assert.ok(await eventually(() => peer.frames.length > 0, 3000), 'WELCOME');
    for (let id = 0; id < 500 && !peer.state.ended && !peer.socket.destroyed; id++) {
      peer.socket.write(encodeFrame({ type: 'ping', id: id % 32 }));
      pingsWritten++;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.ok(await eventually(() => peer.state.ended, 3000), 'the server ended the flooder');
    return peer;
  };
  // Batches for about a second (several of the observer's beats), at most 30 batches.
  const peers: Awaited<ReturnType<typeof flood>>[] = [];
  for (let batch = 0; batch < 30 && performance.now() - startedAt < 1000; batch++) peers.push(...(await Promise.all(Array.from({ length: 10 }, flood))));
  const FLOODERS = peers.length;
  loop.disable();
  const tookMs = performance.now() - startedAt;
  for (const peer of peers) {
    const types = peer.frames.map((f) => f.type);
    assert.equal(types[0], 'welcome');
    const goaway = peer.frames.at(-2);
    const close = peer.frames.at(-1);
    assert.ok(goaway?.type === 'goaway' && goaway.code === 'too-many-pings', `GOAWAY too-many-pings before the end, got ${JSON.stringify(types)}`);
    assert.ok(close?.type === 'close' && close.code === 'too-many-pings', 'then CLOSE too-many-pings');
    // The first PING, the two strikes tolerated (maxStrikes 2) and the one that ends it (answered before it is judged).
    assert.ok(types.filter((x) => x === 'pong').length <= 4, `at most 4 reads answered, got ${JSON.stringify(types)}`);
  }
  assert.ok(await eventually(() => server.counters.connectionsClosed.get('too-many-pings') === FLOODERS, 2000), 'each counted for the metrics');
  assertCounted(server, { connections: { 'too-many-pings': FLOODERS }, sessions: { 'too-many-pings': FLOODERS } });
  // A flooder made a session: its ordinary lines, and one warn for the GOAWAY (spec 0016).
  for (const peer of peers) {
    assertPeerLines(log, peer.remote, ['debug hello', 'debug welcome', 'info session-open', 'warn goaway too-many-pings', 'info session-close too-many-pings']);
  }
  t.diagnostic(
    `${FLOODERS} flooders sent ${pingsWritten} PINGs in ${Math.round(tookMs)} ms, all cut with too-many-pings; event-loop delay p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms, max ${(loop.max / 1e6).toFixed(1)} ms`,
  );
  assert.ok(pingsWritten < FLOODERS * 500, 'cut by enforcement, not by the loop bound');
  await observer.check(t, 'ping flood');
});

test('bad peers - connection flood: sockets from one address past maxConnectionsPerAddress are refused with server-full, one debug line each and nothing at info or above', async (t) => {
  const FLOOD = 400;
  const LIMIT = 20;
  const { port, log } = await startServer(t, 10_000, { maxConnectionsPerAddress: LIMIT });
  const observer = await rttObserver(t, port);
  observer.start();
  // From 127.0.0.2 (loopback on Linux), saying nothing, in batches of 100; bounded in count and time.
  const sockets: net.Socket[] = [];
  t.after(() => sockets.forEach((s) => s.destroy()));
  let refused = 0;
  const remotes = new Set<string>();
  for (let i = 0; i < FLOOD; i += 100) {
    await Promise.all(
      Array.from({ length: 100 }, () => {
        const socket = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
        sockets.push(socket);
        const decoder = new FrameDecoder();
        socket.on('error', () => {});
        socket.on('data', (chunk: Buffer) => decoder.push(chunk, (f) => void (f.type === 'close' && f.code === 'server-full' && refused++)));
        return new Promise<void>((resolve) => socket.once('connect', () => (remotes.add(`127.0.0.2:${socket.localPort}`), resolve())).once('error', () => resolve()));
      }),
    );
  }
  assert.ok(await eventually(() => refused === FLOOD - LIMIT, 10_000), `${refused} of ${FLOOD - LIMIT} refused with server-full`);
  const fromFlood = log.lines.filter((l) => typeof l.remote === 'string' && l.remote.startsWith('127.0.0.2:'));
  t.diagnostic(`${FLOOD} sockets from 127.0.0.2, ${refused} refused: ${fromFlood.length} log lines from it, ${fromFlood.filter((l) => l.level >= 30).length} at info or above`);
  // Refusals are debug (spec 0016): a flood cannot fill an info or warn log.
  assert.deepEqual(fromFlood.filter((l) => l.level >= 30).map(shape), []);
  assert.equal(fromFlood.length, FLOOD - LIMIT, 'one line per refused socket; none for the admitted ones (still in their handshake)');
  for (const line of fromFlood) {
    assert.equal(shape(line), 'debug connection-close server-full');
    assert.equal(line.detectedBy, 'admission');
    assert.ok(remotes.has(line.remote as string), `a flood socket's address: ${String(line.remote)}`);
  }
  assertNothingOfPayload(log, []);
  await observer.check(t, 'connection flood');
});
