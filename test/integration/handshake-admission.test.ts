/**
 * Integration: TLS handshakes and WebSocket upgrades in progress count against the server's
 * limits from their TCP accept (docs/spec/0011-transports.md §Admission before the TLS
 * handshake, SECURITY.md §2.1): a flood of half-done handshakes is bounded by the same
 * `maxConnections`, `maxAcceptRate` and `maxConnectionsPerAddress` as lifeline connections, the
 * extra ones refused at once (TLS / wss: the socket closed; plain ws: HTTP 503 before any
 * upgrade) with a 'clientError' saying why, and a good client connects once the flood is gone.
 * Real sockets on loopback that never finish their handshake; bounded in count and time.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { connect, createServer, type ClientErrorInfo, type LifelineServer, type ServerOptions } from '../../src/index.js';
import { testCertificates } from '../fixtures/certs.js';
import { eventually, nextEvent } from './helpers.js';

/** Far longer than any bound asserted below: what is cut is cut by admission, not by this timer. */
const HANDSHAKE_TIMEOUT_MS = 30_000;
/** "At once", with room for a busy machine: still a small fraction of the handshake timeout. */
const AT_ONCE_MS = 5000;

/** A raw socket that starts a handshake and never finishes it, and what happened to it. */
interface HalfDone {
  socket: net.Socket;
  received: Buffer[];
  closed: boolean;
  closedAfterMs: number;
}

/** The first bytes of a TLS record (handshake, length 512) and a request line without its end: both make the server wait for more. */
const PARTIAL = { tls: Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), http: Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n') };

async function start(t: TestContext, listen: 'tls' | 'ws' | 'wss', options: ServerOptions = {}): Promise<{ server: LifelineServer; port: number; errors: ClientErrorInfo[]; halfDone: (n: number, localAddress?: string) => Promise<HalfDone[]> }> {
  const { key, cert } = testCertificates();
  const sockets: net.Socket[] = [];
  // Registered before the server's close: node:tls's close() waits for its sockets.
  t.after(() => sockets.forEach((s) => s.destroy()));
  const server = createServer({ handshakeTimeout: HANDSHAKE_TIMEOUT_MS, ...(listen === 'ws' ? {} : { tls: { key, cert } }), ...options });
  t.after(() => server.close());
  const errors: ClientErrorInfo[] = [];
  server.on('clientError', (info: ClientErrorInfo) => errors.push(info));
  const { port } = await server.listen({ transport: listen === 'tls' ? 'tls' : 'ws', port: 0, host: '127.0.0.1' });
  const halfDone = async (n: number, localAddress?: string): Promise<HalfDone[]> => {
    const out: HalfDone[] = [];
    // One after the other: the kernel's accept queue is FIFO, so the server judges them in this order.
    for (let i = 0; i < n; i++) {
      const socket = net.connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) });
      sockets.push(socket);
      const startedAt = performance.now();
      const h: HalfDone = { socket, received: [], closed: false, closedAfterMs: NaN };
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => h.received.push(chunk));
      socket.on('close', () => {
        h.closed = true;
        h.closedAfterMs = performance.now() - startedAt;
      });
      await nextEvent(socket, 'connect', 3000);
      socket.write(listen === 'ws' ? PARTIAL.http : PARTIAL.tls);
      out.push(h);
    }
    return out;
  };
  return { server, port, errors, halfDone };
}

/** Every socket in `extra` closed within AT_ONCE_MS of its connect; the slowest, for the record. */
async function assertRefusedAtOnce(t: TestContext, extra: HalfDone[]): Promise<void> {
  assert.ok(await eventually(() => extra.every((h) => h.closed), AT_ONCE_MS), `${extra.filter((h) => !h.closed).length} of ${extra.length} still open`);
  const slowest = Math.max(...extra.map((h) => h.closedAfterMs));
  t.diagnostic(`extra sockets closed within ${Math.round(slowest)} ms of their connect (handshakeTimeout ${HANDSHAKE_TIMEOUT_MS} ms)`);
  assert.ok(slowest < AT_ONCE_MS, `${Math.round(slowest)} ms`);
}

/** A lifeline client that tries until it opens (the server notices the flood's sockets closing asynchronously). */
async function goodClientOpens(t: TestContext, url: string): Promise<void> {
  const { ca } = testCertificates();
  const deadline = performance.now() + 10_000;
  for (;;) {
    const client = connect({ servers: [url], reconnect: false, tls: { ca } });
    t.after(() => client.close());
    const outcome = await Promise.race([nextEvent(client, 'open', 5000).then(() => 'open'), nextEvent(client, 'close', 5000).then(() => 'closed')]);
    if (outcome === 'open') return;
    assert.ok(performance.now() < deadline, 'the good client never got in');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A TLS handshake from a real client: resolves true if it completed. */
async function tlsHandshakes(port: number): Promise<boolean> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca: testCertificates().ca, servername: 'localhost' });
  socket.on('error', () => {});
  try {
    return await Promise.race([nextEvent(socket, 'secureConnect', 5000).then(() => true), nextEvent(socket, 'close', 5000).then(() => false)]);
  } finally {
    socket.destroy();
  }
}

test('handshake admission - TLS: half-done handshakes fill maxConnections; the extra are closed at once with a reason; a good client connects once they are gone', async (t) => {
  const LIMIT = 5;
  const EXTRA = 15;
  const { port, errors, halfDone } = await start(t, 'tls', { maxConnections: LIMIT });
  const held = await halfDone(LIMIT);
  const extra = await halfDone(EXTRA);
  await assertRefusedAtOnce(t, extra);
  assert.ok(extra.every((h) => h.received.length === 0), 'no TLS byte was spent on a refused socket');
  assert.ok(held.every((h) => !h.closed), 'the first LIMIT are still held by their handshake');
  const refused = errors.filter((e) => e.code === 'tls-refused');
  assert.equal(refused.length, EXTRA, JSON.stringify(errors.map((e) => e.code)));
  assert.ok(refused.every((e) => e.transport === 'tls' && e.remoteAddress === '127.0.0.1' && /before the TLS handshake: server is at maxConnections \(5\)/.test(e.message)), refused[0]?.message);
  assert.equal(errors.length, EXTRA, 'no second report (a reset after the refusal) for any of them');
  // While they hold every place, a real TLS client is refused as well: its handshake counts like theirs.
  assert.equal(await tlsHandshakes(port), false);
  // The flood goes away: its places are free again.
  held.forEach((h) => h.socket.destroy());
  await goodClientOpens(t, `tls://127.0.0.1:${port}`);
});

test('handshake admission - TLS: maxAcceptRate and maxConnectionsPerAddress apply before the handshake', async (t) => {
  const rate = await start(t, 'tls', { maxAcceptRate: 2, acceptBurst: 2 });
  const burst = await rate.halfDone(2);
  const over = await rate.halfDone(3);
  await assertRefusedAtOnce(t, over);
  assert.ok(burst.every((h) => !h.closed));
  assert.ok(rate.errors.every((e) => e.code === 'tls-refused' && /over 2 new connections per second/.test(e.message)), rate.errors[0]?.message);
  assert.equal(rate.errors.length, 3);

  const perAddress = await start(t, 'tls', { maxConnectionsPerAddress: 2 });
  const fromOne = await perAddress.halfDone(3, '127.0.0.1');
  const fromTwo = await perAddress.halfDone(1, '127.0.0.2');
  await assertRefusedAtOnce(t, [fromOne[2]!]);
  assert.deepEqual(fromOne.map((h) => h.closed), [false, false, true]);
  assert.equal(fromTwo[0]!.closed, false, 'another address keeps its own count');
  assert.match(perAddress.errors[0]!.message, /too many connections from 127\.0\.0\.1 \(maxConnectionsPerAddress 2\)/);
  assert.equal(perAddress.errors.length, 1);
});

test('handshake admission - WebSocket: upgrades in progress fill maxConnections; the extra get HTTP 503 at once; over the rate with Retry-After', async (t) => {
  const LIMIT = 3;
  const { port, errors, halfDone } = await start(t, 'ws', { maxConnections: LIMIT });
  const held = await halfDone(LIMIT);
  const extra = await halfDone(4);
  await assertRefusedAtOnce(t, extra);
  for (const h of extra) {
    const response = Buffer.concat(h.received).toString();
    assert.match(response, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(response, /\r\n\r\nserver is at maxConnections \(3\)\n$/);
  }
  assert.ok(held.every((h) => !h.closed && h.received.length === 0));
  assert.ok(errors.every((e) => e.transport === 'ws' && e.code === 'ws-upgrade-refused' && e.message === '503: server is at maxConnections (3)'), JSON.stringify(errors));
  assert.equal(errors.length, 4);
  held.forEach((h) => h.socket.destroy());
  await goodClientOpens(t, `ws://127.0.0.1:${port}/`);

  const rate = await start(t, 'ws', { maxAcceptRate: 1, acceptBurst: 1 });
  await rate.halfDone(1);
  const [shed] = await rate.halfDone(1);
  await assertRefusedAtOnce(t, [shed!]);
  assert.match(Buffer.concat(shed!.received).toString(), /^HTTP\/1\.1 503 [^]*\r\nRetry-After: [1-9]\d*\r\n[^]*over 1 new connections per second/);
});

test('handshake admission - wss: half-done TLS handshakes under a WebSocket port count too; the extra are closed before any TLS', async (t) => {
  const { port, errors, halfDone } = await start(t, 'wss', { maxConnections: 2 });
  const held = await halfDone(2);
  const extra = await halfDone(3);
  await assertRefusedAtOnce(t, extra);
  assert.ok(extra.every((h) => h.received.length === 0));
  assert.ok(held.every((h) => !h.closed));
  assert.equal(errors.length, 3, JSON.stringify(errors));
  assert.ok(errors.every((e) => e.code === 'ws-upgrade-refused' && /before the TLS handshake: server is at maxConnections \(2\)/.test(e.message)));
  held.forEach((h) => h.socket.destroy());
  await goodClientOpens(t, `wss://127.0.0.1:${port}/`);
});

test("handshake admission - attach(httpServer): the limits are checked at the upgrade request, refused with 503 (the user's server owns the accept)", async (t) => {
  const httpServer = http.createServer();
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const port = (httpServer.address() as net.AddressInfo).port;
  const server = createServer({ maxConnections: 1 });
  t.after(async () => {
    await server.close();
    httpServer.closeAllConnections();
    await new Promise((resolve) => httpServer.close(resolve));
  });
  await server.attach(httpServer, { path: '/ll' });
  const sessionP = nextEvent(server, 'session', 5000);
  await goodClientOpens(t, `ws://127.0.0.1:${port}/ll`);
  await sessionP;
  // The one place is taken: the next upgrade is answered 503, not 101.
  const socket = net.connect({ host: '127.0.0.1', port });
  t.after(() => void socket.destroy());
  socket.on('error', () => {});
  await nextEvent(socket, 'connect', 3000);
  const received: Buffer[] = [];
  socket.on('data', (c: Buffer) => received.push(c));
  socket.write('GET /ll HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  assert.ok(await eventually(() => Buffer.concat(received).includes('\r\n\r\n'), 3000), 'a response');
  assert.match(Buffer.concat(received).toString(), /^HTTP\/1\.1 503 Service Unavailable\r\n[^]*server is at maxConnections \(1\)/);
});
