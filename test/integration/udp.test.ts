/**
 * UDP (docs/spec/0012-udp.md) on loopback with real sockets: what the transports suite does not
 * cover — a NAT rebinding mid-transfer, no amplification before the handshake, spoofed and
 * replayed handshakes, stateless resets (unknown connection ids, a restarted server), and the
 * graceful close delivering everything.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect, createServer, type Client, type CloseReason, type Session } from '../../src/index.js';
import { decodePacket, encodePacket, INITIAL_BYTES } from '../../src/transport/udp/packet.js';
import type { UdpListener, UdpListenOptions } from '../../src/server/listen-udp.js';
import type { UdpTransport } from '../../src/transport/udp/udp-transport.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import { eventually, nextEvent } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const INTERVAL_MS = 200;
const TIMEOUT_MS = 600;

async function udpServer(t: TestContext, udp: UdpListenOptions = {}, port = 0) {
  const server = createServer({ minHeartbeatInterval: 50, minHeartbeatTimeout: 100 });
  t.after(() => server.close());
  server.on('session', (s: Session) => s.on('message', (m: Buffer) => s.send(m)));
  const address = await server.listen({ transport: 'udp', port, host: '127.0.0.1', udp });
  const listener = (server as unknown as { endpoints: UdpListener[] }).endpoints[0]!;
  return { server, port: address.port, listener };
}

function udpClient(t: TestContext, port: number, extra: Parameters<typeof connect>[0] = {}): Client {
  const client = connect({ servers: [`udp://127.0.0.1:${port}`], reconnect: false, heartbeatInterval: INTERVAL_MS, heartbeatTimeout: TIMEOUT_MS, ...extra });
  t.after(() => client.close());
  return client;
}

function clientTransport(client: Client): UdpTransport {
  return (client as unknown as { core: { link: { connection: { transport: UdpTransport } } } }).core.link.connection.transport;
}

/** A raw datagram socket on loopback that records what comes back. */
async function rawPeer(t: TestContext) {
  const socket = dgram.createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (m) => received.push(m));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.after(() => socket.close());
  const send = (bytes: Uint8Array, port: number) => new Promise<void>((resolve) => socket.send(bytes, port, '127.0.0.1', () => resolve()));
  return { socket, received, send, port: socket.address().port };
}

const settle = (ms = 100) => new Promise((resolve) => setTimeout(resolve, ms));

function initial(nonce: Uint8Array, token?: Uint8Array): Uint8Array {
  const hello = encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 100, heartbeatTimeoutMs: 300 });
  return encodePacket({ kind: 'initial', nonce, token, pn: 0, stream: { offset: 0, bytes: hello, fin: false } });
}

test('udp - a NAT rebinding mid-transfer keeps the session: no disconnect, nothing lost or doubled, the server sees the new port', async (t) => {
  const { server, port, listener } = await udpServer(t);
  const sessionP = nextEvent<[Session]>(server, 'session', 5000);
  const client = udpClient(t, port);
  await nextEvent(client, 'open', 5000);
  const [session] = await sessionP;
  let disconnected = false;
  session.on('disconnect', () => (disconnected = true));
  client.on('close', () => (disconnected = true));
  const got: string[] = [];
  client.on('message', (m: Buffer) => got.push(m.toString()));
  const transport = clientTransport(client);
  const portBefore = session.remotePort;
  assert.equal(portBefore, transport.clientPath!.localPort);
  for (let i = 0; i < 100; i++) client.send(`m${i}`);
  await transport.clientPath!.rebind(); // while those are in flight
  for (let i = 100; i < 200; i++) client.send(`m${i}`);
  assert.ok(await eventually(() => got.length >= 200, 5000), `echoed ${got.length} of 200`);
  await settle(200);
  assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => `m${i}`));
  assert.notEqual(session.remotePort, portBefore, 'the session moved to the new port');
  assert.equal(session.remotePort, transport.clientPath!.localPort);
  assert.equal(listener.stats.migrations, 1);
  assert.equal(listener.stats.validations, 1, 'the new address answered its CHALLENGE');
  assert.equal(disconnected, false);
  assert.equal(server.sessionCount, 1);
});

test('udp - a datagram with a stolen connection id from another address gets at most 3× its size, then the session goes back to its client', async (t) => {
  const { server, port, listener } = await udpServer(t);
  const sessionP = nextEvent<[Session]>(server, 'session', 5000);
  const client = udpClient(t, port);
  await nextEvent(client, 'open', 5000);
  const [session] = await sessionP;
  const transport = clientTransport(client);
  const header = transport.header();
  assert.equal(header.kind, 'short');
  const cid = (header as { cid: Uint8Array }).cid;
  const serverSide = (listener as unknown as { sessions: Map<string, { largestPn: number }> }).sessions.values().next().value!;
  // An attacker who saw the cid writes one datagram with the newest pn from its own address
  // (standing in for a victim's spoofed source): the session moves there, unproven.
  const attacker = await rawPeer(t);
  const spoof = encodePacket({ kind: 'short', cid, pn: serverSide.largestPn + 1, side: Uint8Array.of(0x41) });
  await attacker.send(spoof, port);
  await settle(20);
  session.send(randomBytes(100_000)); // would flood the new address if nothing held it back
  const echoed = new Promise<Buffer>((resolve) => client.once('message', resolve));
  assert.equal((await echoed).length, 100_000, 'the client still got its data');
  await settle(1200); // past the validation time
  const toAttacker = attacker.received.reduce((n, m) => n + m.length, 0);
  assert.ok(toAttacker <= 3 * spoof.length, `${toAttacker} bytes went to the unproven address (3 × ${spoof.length} allowed)`);
  assert.equal(listener.stats.validations, 0);
  assert.equal(session.remotePort, transport.clientPath!.localPort, 'the session is back on its client');
  assert.equal(session.state, 'open');
});

test('udp - before the handshake no answer is larger than its datagram, one at most, and none past the budget', async (t) => {
  const { port, listener } = await udpServer(t, { unvalidatedAnswersPerSecond: 5 });
  const peer = await rawPeer(t);
  const sent: { size: number; kind: string }[] = [];
  const send = async (bytes: Uint8Array, kind: string) => {
    sent.push({ size: bytes.length, kind });
    await peer.send(bytes, port);
  };
  await send(initial(randomBytes(8)), 'initial without token'); // → RETRY
  await send(initial(randomBytes(8)).subarray(0, 600), 'short INITIAL'); // dropped: not padded
  await send(encodePacket({ kind: 'short', cid: randomBytes(8), pn: 1, side: Uint8Array.of(0x41) }), 'SHORT, unknown cid'); // → RESET
  await send(Uint8Array.of(0x40, 1, 2, 3, 4, 5, 6, 7, 8), 'SHORT below 10 bytes'); // dropped (malformed or too small)
  await send(encodePacket({ kind: 'response', cid: randomBytes(8), data: randomBytes(8) }), 'RESPONSE, unknown cid'); // no challenge sent: dropped
  await send(randomBytes(300), 'garbage');
  await send(new Uint8Array(0), 'empty');
  await settle();
  assert.ok(peer.received.length <= 2, `answers: ${peer.received.length}`);
  const kinds = peer.received.map((m) => decodePacket(m, 'client').kind).sort();
  assert.deepEqual(kinds, ['reset', 'retry']);
  const retry = peer.received.find((m) => decodePacket(m, 'client').kind === 'retry')!;
  const reset = peer.received.find((m) => decodePacket(m, 'client').kind === 'reset')!;
  assert.equal(retry.length, 29);
  assert.ok(retry.length <= INITIAL_BYTES);
  assert.equal(reset.length, 9, 'a RESET is smaller than any datagram that triggers one');
  assert.equal(listener.sessionCount, 0, 'nothing unvalidated made a session');
  // Budget: 5 / s, burst 10 (2 already spent): a flood of 50 spoofable INITIALs gets at most 8 more answers.
  peer.received.length = 0;
  for (let i = 0; i < 50; i++) await peer.send(initial(randomBytes(8)), port);
  await settle();
  assert.ok(peer.received.length <= 8, `answers to the flood: ${peer.received.length}`);
  assert.ok(listener.stats.answersOverBudget >= 42);
  for (const m of peer.received) assert.ok(m.length <= INITIAL_BYTES);
});

test('udp - a cookie for another address, or a replayed INITIAL, creates no session', async (t) => {
  const { port, listener } = await udpServer(t);
  const a = await rawPeer(t);
  const b = await rawPeer(t);
  const nonce = randomBytes(8);
  await a.send(initial(nonce), port);
  assert.ok(await eventually(() => a.received.length === 1, 2000), 'RETRY');
  const retry = decodePacket(a.received[0]!, 'client');
  assert.equal(retry.kind, 'retry');
  const token = (retry as { token: Uint8Array }).token;
  // Another port (b) presents a's cookie: refused with a fresh RETRY, no session.
  await b.send(initial(nonce, token), port);
  assert.ok(await eventually(() => b.received.length === 1, 2000));
  assert.equal(decodePacket(b.received[0]!, 'client').kind, 'retry');
  // A forged cookie (flipped bit) from a itself: refused too.
  const forged = Uint8Array.from(token);
  forged[10]! ^= 1;
  await a.send(initial(nonce, forged), port);
  await settle();
  assert.equal(listener.sessionCount, 0);
  // The valid one, sent twice (a retransmission, or a replay while it lives): one session.
  const valid = initial(nonce, token);
  await a.send(valid, port);
  await a.send(valid, port);
  assert.ok(await eventually(() => listener.sessionCount === 1, 2000), 'the valid INITIAL made a session');
  await settle();
  assert.equal(listener.sessionCount, 1, 'the second copy made none');
  const accepts = a.received.map((m) => decodePacket(m, 'client')).filter((p) => p.kind === 'accept');
  assert.ok(accepts.length >= 1, 'ACCEPT came back');
  // Let that session end (its heartbeat times out: we never answer), then replay the INITIAL.
  assert.ok(await eventually(() => listener.sessionCount === 0, 5000), 'the silent session ended');
  await a.send(valid, port);
  await settle(200);
  assert.equal(listener.sessionCount, 0, 'a replay after the session ended creates nothing');
  assert.ok(listener.stats.replaysDropped >= 1);
});

/** A UDP echo server in its own process (killed with SIGKILL: no CLOSE, no end of stream reaches the client). */
async function serverProcess(t: TestContext, port: number, secret: Uint8Array) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/transport-peer.ts', 'server', 'udp', '-', String(port), Buffer.from(secret).toString('hex')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server process printed nothing within 20 s')), 20_000);
    createInterface({ input: child.stdout! }).once('line', (text) => {
      clearTimeout(timer);
      resolve(text);
    });
  });
  return { child, exited, port: (JSON.parse(line) as { port: number }).port };
}

test('udp - a datagram for an unknown connection id gets a RESET; after a crash and restart (same secret) the client closes with LL_ERR_UDP_RESET at once', async (t) => {
  const secret = randomBytes(32);
  const first = await serverProcess(t, 0, secret);
  const client = udpClient(t, first.port, { heartbeatInterval: 1000, heartbeatTimeout: 10_000 });
  await nextEvent(client, 'open', 10_000);
  first.child.kill('SIGKILL');
  await first.exited;
  // Same port, same secret: the new process knows the reset token without knowing the session.
  await udpServer(t, { secret }, first.port);
  const closeP = nextEvent<[CloseReason]>(client, 'close', 5000);
  const sentAt = performance.now();
  client.send('are you there?');
  const [reason] = await closeP;
  const tookMs = performance.now() - sentAt;
  assert.equal(reason.code, 'transport-error');
  assert.equal((reason.error as { code?: string } | undefined)?.code, 'LL_ERR_UDP_RESET');
  assert.ok(tookMs < 2000, `closed ${Math.round(tookMs)} ms after its next datagram (heartbeat timeout 10 s)`);
});

test('udp - a RESET with the wrong token is ignored: only the heartbeat may call the peer dead then', async (t) => {
  const first = await serverProcess(t, 0, randomBytes(32));
  const client = udpClient(t, first.port);
  await nextEvent(client, 'open', 10_000);
  first.child.kill('SIGKILL');
  await first.exited;
  const second = await udpServer(t, { secret: randomBytes(32) }, first.port); // another secret: another token
  const [reason] = await nextEvent<[CloseReason]>(client, 'close', INTERVAL_MS + TIMEOUT_MS + 3000);
  assert.equal(reason.code, 'heartbeat-timeout');
  assert.ok(second.listener.stats.resetsSent >= 1, 'the new server did answer with (useless) resets');
});

test('udp - a dial to a port where nothing listens fails fast (ICMP unreachable), not at the handshake timeout', async (t) => {
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
  const freePort = probe.address().port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const client = udpClient(t, freePort);
  const startedAt = performance.now();
  const [reason] = await nextEvent<[CloseReason]>(client, 'close', 10_000);
  assert.ok(performance.now() - startedAt < 3000, `failed after ${Math.round(performance.now() - startedAt)} ms`);
  assert.match(String((reason.error as { code?: string } | undefined)?.code ?? reason.message), /UNREACHABLE|ECONNREFUSED|unreachable/i);
});

test('udp - close() right after send() delivers everything, both ways, and both ends let go', async (t) => {
  const { server, port, listener } = await udpServer(t);
  const sessionP = nextEvent<[Session]>(server, 'session', 5000);
  const client = udpClient(t, port);
  await nextEvent(client, 'open', 5000);
  const [session] = await sessionP;
  const atServer: string[] = [];
  session.removeAllListeners('message');
  session.on('message', (m: Buffer) => atServer.push(m.toString()));
  const closedAt = nextEvent<[CloseReason]>(session, 'close', 5000);
  for (let i = 0; i < 50; i++) client.send(`last${i}`);
  await client.close();
  const [reason] = await closedAt;
  assert.equal(atServer.length, 50, `server got ${atServer.length} of 50 before the close`);
  assert.equal(reason.initiator, 'peer');
  assert.ok(await eventually(() => listener.sessionCount === 0, 3000), 'listener forgot the session');
});

test("udp - heartbeat: 'adaptive' stays off over UDP: no learner probe is proposed, nothing is learned", async (t) => {
  const { server, port } = await udpServer(t);
  const sessionP = nextEvent<[Session]>(server, 'session', 5000);
  const client = connect({ servers: [`udp://127.0.0.1:${port}`], reconnect: false, heartbeat: 'adaptive', natStore: false });
  t.after(() => client.close());
  await nextEvent(client, 'open', 5000);
  const [session] = await sessionP;
  // Over TCP the learner would propose its first probe (15 s, spec 0007); over UDP HELLO proposes
  // nothing: the server's default for UDP sessions (3 s, spec 0012 §Keepalive).
  assert.equal(session.heartbeatInterval, 3000);
  assert.equal(client.adaptiveHeartbeat, undefined, 'no network learned over UDP');
});

/** Random, truncated and bit-flipped copies of `seeds` (a fixed LCG: the same run every time). */
function* mutations(seeds: Uint8Array[], count: number, seed: number): Generator<Uint8Array> {
  let rng = seed;
  const next = () => (rng = (rng * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < count; i++) {
    const base = seeds[i % seeds.length]!;
    const roll = next();
    if (roll < 0.3) yield randomBytes(1 + Math.floor(next() * 1300)); // garbage, some over 1200
    else if (roll < 0.6) yield base.subarray(0, Math.floor(next() * base.length)); // truncated
    else {
      const bytes = Uint8Array.from(base);
      for (let k = 0; k < 1 + Math.floor(next() * 3); k++) bytes[Math.floor(next() * bytes.length)]! ^= 1 << Math.floor(next() * 8);
      yield bytes;
    }
  }
}

test('udp - 20,000 garbage, truncated, bit-flipped and forged datagrams from off the path: nothing crashes, no session is made or lost, every answer stays small', async (t) => {
  const { server, port, listener } = await udpServer(t, { unvalidatedAnswersPerSecond: 100_000 });
  const sessionP = nextEvent<[Session]>(server, 'session', 5000);
  // A generous timeout: the flood runs in this same process, and the verdict here is about the datagrams, not the load.
  const client = udpClient(t, port, { heartbeatInterval: 300, heartbeatTimeout: 5000 });
  await nextEvent(client, 'open', 5000);
  const [session] = await sessionP;
  let closed = false;
  client.on('close', () => (closed = true));
  const attacker = await rawPeer(t);
  // An off-path attacker does not know the live connection id: every kind, with ids of its own.
  const seeds = [
    initial(randomBytes(8)),
    initial(randomBytes(8), randomBytes(20)),
    encodePacket({ kind: 'short', cid: randomBytes(8), pn: 3, side: Uint8Array.of(0x41) }),
    encodePacket({ kind: 'short', cid: randomBytes(8), pn: 1, ack: { largestPn: 2, ackDelayMs: 0, cumulative: 1, ranges: [] }, stream: { offset: 0, bytes: randomBytes(40), fin: false } }),
    encodePacket({ kind: 'response', cid: randomBytes(8), data: randomBytes(8) }),
    encodePacket({ kind: 'retry', nonce: randomBytes(8), token: randomBytes(20) }),
    encodePacket({ kind: 'reset', token: randomBytes(8) }),
  ];
  let sent = 0;
  let i = 0;
  for (const bytes of mutations(seeds, 20_000, 12345)) {
    await attacker.send(bytes, port);
    sent += bytes.length;
    if (++i % 500 === 0) await settle(5); // bounded rate: stay within the socket buffers
  }
  await settle(300);
  const received = attacker.received.reduce((n, m) => n + m.length, 0);
  assert.ok(received <= sent, `answers ${received} B to ${sent} B sent`);
  for (const m of attacker.received) assert.ok(m.length <= 1200);
  assert.equal(listener.sessionCount, 1, 'no datagram made a session');
  assert.equal(closed, false, 'the live session survived');
  assert.equal(session.state, 'open');
  const echoed = nextEvent<[Buffer]>(client, 'message', 5000);
  session.send('still here');
  assert.equal((await echoed)[0].toString(), 'still here');
  assert.ok(listener.stats.malformed > 1000, `malformed counted: ${listener.stats.malformed}`);
});

test('udp - mutated datagrams carrying the live connection id (an on-path attacker): the server does not crash, the session ends with a reason or lives, new clients are served', async (t) => {
  const { server, port, listener } = await udpServer(t);
  const sessionP = nextEvent<[Session]>(server, 'session', 5000);
  const client = udpClient(t, port);
  await nextEvent(client, 'open', 5000);
  const [session] = await sessionP;
  const reasons: string[] = [];
  session.on('close', (r: CloseReason) => reasons.push(r.code));
  const cid = (clientTransport(client).header() as { cid: Uint8Array }).cid;
  const attacker = await rawPeer(t);
  const seeds = [
    encodePacket({ kind: 'short', cid, pn: 2, side: Uint8Array.of(0x41) }),
    encodePacket({ kind: 'short', cid, pn: 1, ack: { largestPn: 2, ackDelayMs: 0, cumulative: 1, ranges: [] }, stream: { offset: 500, bytes: randomBytes(40), fin: false } }),
    encodePacket({ kind: 'response', cid, data: randomBytes(8) }),
  ];
  for (const bytes of mutations(seeds, 2000, 777)) await attacker.send(bytes, port);
  await settle(TIMEOUT_MS + 1500);
  // UDP has no authentication (spec 0012 §Rationale: plain TCP's threat model): an on-path
  // attacker can end a session, as a forged RST can. What must hold: a reason, and service.
  if (session.state === 'closed') assert.ok(reasons.length === 1 && /protocol-error|heartbeat-timeout|too-many-pings/.test(reasons[0]!), reasons.join());
  const other = udpClient(t, port);
  await nextEvent(other, 'open', 5000);
  assert.ok(listener.sessionCount >= 1);
});

test('udp - the heartbeat interval of a UDP session is clamped to 25 s (NAT mappings last ~30 s) and defaults to 3 s', async (t) => {
  const { server, port } = await udpServer(t);
  const sessions: Session[] = [];
  server.on('session', (s: Session) => sessions.push(s));
  const long = udpClient(t, port, { heartbeatInterval: 60_000, heartbeatTimeout: 180_000 });
  const [longOpen] = await nextEvent<[{ heartbeatInterval: number }]>(long, 'open', 5000);
  const plain = connect({ servers: [`udp://127.0.0.1:${port}`], reconnect: false });
  t.after(() => plain.close());
  await nextEvent(plain, 'open', 5000);
  assert.ok(await eventually(() => sessions.length === 2, 2000));
  assert.equal(sessions[0]!.heartbeatInterval, 25_000, 'a 60 s proposal is clamped');
  assert.equal(longOpen.heartbeatInterval, 25_000, 'and the client is told');
  assert.equal(sessions[1]!.heartbeatInterval, 3000, 'no proposal: 3 s over UDP');
  // The same server over TCP keeps its own default (5 s) and maximum.
  const { port: tcpPort } = await server.listen({ transport: 'tcp', port: 0, host: '127.0.0.1' });
  const tcp = connect({ host: '127.0.0.1', port: tcpPort, reconnect: false, heartbeatInterval: 60_000, heartbeatTimeout: 180_000 });
  t.after(() => tcp.close());
  await nextEvent(tcp, 'open', 5000);
  assert.ok(await eventually(() => sessions.length === 3, 2000));
  assert.equal(sessions[2]!.heartbeatInterval, 60_000);
});
