/**
 * Issue 15 item 2, bad peers with real sockets: a slowloris HELLO (one byte at a time), DATA
 * before HELLO, a resume with a forged session id, a ping flood, and — as a crowd of concurrent
 * attackers, beside the single-peer refusals of handshake.test.ts — no HELLO, a wrong version, a
 * 4 GiB length prefix and garbage. Each ends in a clear CLOSE with a reason, or — for the forged
 * id — in a fresh session that touches nobody else's, while a well-behaved client's heartbeat RTT
 * is measured during the attack (rtt-observer.ts) and it is never declared dead. Slow consumers:
 * slow-consumer.test.ts; half-open peers: half-open.test.ts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type LifelineServer, type OpenInfo, type Session } from '../../src/index.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import type { Frame } from '../../src/protocol/frames.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { eventually, nextEvent } from './helpers.js';
import { rttObserver } from './rtt-observer.js';

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
    const { server, port } = await startServer(t, HANDSHAKE_MS);
    const observer = await rttObserver(t, port);
    observer.start();
    const startedAt = performance.now();
    // Waves of ATTACKERS for about a second (several of the observer's beats), at most 50 waves.
    const peers: Awaited<ReturnType<typeof rawSocket>>[] = [];
    for (let wave = 0; wave < 50 && performance.now() - startedAt < 1000; wave++) {
      const batch = await Promise.all(Array.from({ length: ATTACKERS }, () => rawSocket(t, port)));
      batch.forEach((peer, i) => {
        const bytes = attack.bytes(wave * ATTACKERS + i);
        if (bytes !== undefined) peer.socket.write(bytes);
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
    await observer.check(t, attack.name);
  });
}

test('bad peers - ping flood: peers pinging every event-loop turn are sent away with GOAWAY + CLOSE too-many-pings; the loop stays serviceable and a well-behaved client keeps its heartbeat', async (t) => {
  const INTERVAL_MS = 300;
  const server = createServer({ handshakeTimeout: 5000, tcpKeepalive: false, tcpUserTimeout: 0 });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
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
  t.diagnostic(
    `${FLOODERS} flooders sent ${pingsWritten} PINGs in ${Math.round(tookMs)} ms, all cut with too-many-pings; event-loop delay p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms, max ${(loop.max / 1e6).toFixed(1)} ms`,
  );
  assert.ok(pingsWritten < FLOODERS * 500, 'cut by enforcement, not by the loop bound');
  await observer.check(t, 'ping flood');
});
