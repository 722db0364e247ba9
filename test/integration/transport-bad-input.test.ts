/**
 * Integration: bad input on the TLS and WebSocket transports ends with a clear close and a
 * reason, and is bounded in time (docs/spec/0011-transports.md §Bad input): a text WebSocket
 * message, an oversized message, a refused origin, a wrong path, a plain HTTP request, an
 * upgrade that never completes, a TLS handshake that never completes, an untrusted certificate.
 * Also: lifeline attached to the user's own http.Server leaves its routes working.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { WebSocket } from 'ws';
import { connect, createServer, type CloseReason, type LifelineServer, type ServerOptions, type Session } from '../../src/index.js';
import type { ClientErrorInfo } from '../../src/index.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import { testCertificates } from '../fixtures/certs.js';
import { eventually, nextEvent } from './helpers.js';

const HANDSHAKE_MS = 500;

async function wsServer(t: TestContext, options: ServerOptions = {}, path = '/ll'): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({ handshakeTimeout: HANDSHAKE_MS, ...options });
  t.after(() => server.close());
  const { port } = await server.listen({ transport: 'ws', port: 0, host: '127.0.0.1', path });
  return { server, port };
}

/** A raw `ws` client that completes the lifeline handshake, and the server's session for it. */
async function rawWsSession(t: TestContext, server: LifelineServer, port: number): Promise<{ ws: WebSocket; session: Session }> {
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ll`);
  t.after(() => ws.terminate());
  await nextEvent(ws, 'open', 3000);
  ws.send(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 3000 }));
  const [session] = await sessionP;
  return { ws, session };
}

/** Raw HTTP exchange: what the server answered and when it closed the socket. */
function rawHttp(port: number, request: string, waitMs: number): Promise<{ response: string; closedAfterMs: number | undefined }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect({ host: '127.0.0.1', port });
    let response = '';
    socket.on('data', (chunk) => (response += chunk.toString()));
    socket.on('error', () => {});
    socket.on('connect', () => socket.write(request));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ response, closedAfterMs: undefined });
    }, waitMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ response, closedAfterMs: performance.now() - started });
    });
  });
}

const upgradeRequest = (path: string, extra = '') =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;

test('ws bad input - a text message closes the WebSocket with 1003 and the session with LL_ERR_WS_TEXT_MESSAGE', async (t) => {
  const { server, port } = await wsServer(t);
  const { ws, session } = await rawWsSession(t, server, port);
  const sessionClosed = nextEvent<[CloseReason]>(session, 'close', 3000);
  const wsClosed = nextEvent<[number, Buffer]>(ws, 'close', 3000);
  ws.send('hello as text');
  const [[reason], [code, why]] = await Promise.all([sessionClosed, wsClosed]);
  assert.equal(code, 1003);
  assert.match(why.toString(), /binary/);
  assert.equal(reason.code, 'transport-error');
  assert.equal((reason.error as { code?: string } | undefined)?.code, 'LL_ERR_WS_TEXT_MESSAGE');
  assert.equal(server.sessionCount, 0);
});

test('ws bad input - a message over the per-message limit is refused with 1009 and the session closed', async (t) => {
  const { server, port } = await wsServer(t, { maxFrameSize: 64 * 1024 });
  const { ws, session } = await rawWsSession(t, server, port);
  const sessionClosed = nextEvent<[CloseReason]>(session, 'close', 3000);
  const wsClosed = nextEvent<[number]>(ws, 'close', 3000);
  ws.send(Buffer.alloc(1024 * 1024));
  const [[reason], [code]] = await Promise.all([sessionClosed, wsClosed]);
  assert.equal(code, 1009);
  assert.equal(reason.code, 'transport-error');
  assert.match(reason.message, /payload/i);
});

test('ws bad input - an origin not allowed gets 403 and a clientError; an allowed one and none at all connect', async (t) => {
  const { server, port } = await wsServer(t, { websocket: { origins: ['https://app.example'] } });
  const errors: ClientErrorInfo[] = [];
  server.on('clientError', (info) => errors.push(info));
  const refused = await rawHttp(port, upgradeRequest('/ll', 'Origin: https://evil.example\r\n'), 3000);
  assert.match(refused.response, /^HTTP\/1\.1 403/);
  assert.ok(refused.closedAfterMs !== undefined, 'socket closed');
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.code, 'ws-upgrade-refused');
  assert.match(errors[0]!.message, /evil\.example/);
  const allowed = await rawHttp(port, upgradeRequest('/ll', 'Origin: https://app.example\r\n'), 300);
  assert.match(allowed.response, /^HTTP\/1\.1 101/);
  const native = await rawHttp(port, upgradeRequest('/ll'), 300);
  assert.match(native.response, /^HTTP\/1\.1 101/);
});

test('ws bad input - a wrong path gets 404, a plain HTTP request 426, a malformed upgrade 400', async (t) => {
  const { server, port } = await wsServer(t);
  const errors: ClientErrorInfo[] = [];
  server.on('clientError', (info) => errors.push(info));
  const wrongPath = await rawHttp(port, upgradeRequest('/elsewhere'), 3000);
  assert.match(wrongPath.response, /^HTTP\/1\.1 404/);
  const plain = await rawHttp(port, 'GET /ll HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 3000);
  assert.match(plain.response, /^HTTP\/1\.1 426/);
  const malformed = await rawHttp(port, upgradeRequest('/ll').replace('Sec-WebSocket-Version: 13', 'Sec-WebSocket-Version: 99'), 3000);
  assert.match(malformed.response, /^HTTP\/1\.1 400/);
  assert.deepEqual(
    errors.map((e) => e.code),
    ['ws-upgrade-refused', 'ws-upgrade-refused'],
  );
  assert.equal(server.connectionCount, 0);
});

test('ws bad input - an upgrade request that never completes is cut within the handshake timeout', async (t) => {
  const { server, port } = await wsServer(t);
  const errors: ClientErrorInfo[] = [];
  server.on('clientError', (info) => errors.push(info));
  const slow = await rawHttp(port, 'GET /ll HTTP/1.1\r\nHost: 127.0.0.1\r\n', HANDSHAKE_MS + 3000);
  assert.ok(slow.closedAfterMs !== undefined, 'the server closed the socket');
  // Node checks its request timeouts every connectionsCheckingInterval (here 125 ms).
  assert.ok(slow.closedAfterMs < HANDSHAKE_MS + 1000, `closed after ${Math.round(slow.closedAfterMs)} ms`);
  assert.equal(errors[0]?.code, 'ws-upgrade-timeout');
});

test('ws bad input - an upgraded connection that sends no HELLO is closed by the handshake timer', async (t) => {
  const { server, port } = await wsServer(t);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ll`);
  t.after(() => ws.terminate());
  await nextEvent(ws, 'open', 3000);
  const started = performance.now();
  await nextEvent(ws, 'close', HANDSHAKE_MS + 3000);
  assert.ok(performance.now() - started < HANDSHAKE_MS + 1000);
  assert.ok(await eventually(() => server.connectionCount === 0, 3000), 'connection reclaimed');
});

test('tls bad input - a TLS handshake that never completes is cut within the handshake timeout', async (t) => {
  const certs = testCertificates();
  const server = createServer({ handshakeTimeout: HANDSHAKE_MS, tls: { key: certs.key, cert: certs.cert } });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const errors: ClientErrorInfo[] = [];
  server.on('clientError', (info) => errors.push(info));
  // TCP connects, then silence: no ClientHello.
  const silent = await rawHttp(port, '', HANDSHAKE_MS + 3000);
  assert.ok(silent.closedAfterMs !== undefined, 'the server closed the socket');
  assert.ok(silent.closedAfterMs < HANDSHAKE_MS + 1000, `closed after ${Math.round(silent.closedAfterMs)} ms`);
  assert.equal(errors[0]?.code, 'tls-handshake-timeout');
  // Garbage instead of a ClientHello: refused at once.
  const garbage = await rawHttp(port, 'GET / HTTP/1.1\r\n\r\n', 3000);
  assert.ok(garbage.closedAfterMs !== undefined && garbage.closedAfterMs < 1000);
  assert.equal(errors[1]?.code, 'tls-handshake-failed');
  // A client that goes away mid-handshake (FIN): the TLS socket has lost its address by then,
  // the report still says where it came from.
  const quitter = net.connect(port, '127.0.0.1');
  quitter.on('error', () => {});
  await nextEvent(quitter, 'connect', 3000);
  quitter.destroy();
  assert.ok(await eventually(() => errors.length === 3, 3000), 'a clientError for the abort');
  assert.equal(errors[2]?.code, 'tls-handshake-failed');
  for (const e of errors) assert.equal(e.remoteAddress, '127.0.0.1', `${e.code}: ${e.message}`);
  assert.equal(server.connectionCount, 0);
});

test('tls bad input - a client that does not trust the certificate fails to connect with the reason', async (t) => {
  const certs = testCertificates();
  const server = createServer({ tls: { key: certs.key, cert: certs.cert } });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const client = connect({ servers: [`tls://127.0.0.1:${port}`], reconnect: false, tls: { ca: certs.otherCa } });
  t.after(() => client.close());
  const [reason] = await nextEvent<[CloseReason]>(client, 'close', 3000);
  assert.equal(reason.code, 'connect-failed');
  assert.match(reason.message, /certificate/i);
  assert.equal(server.connectionCount, 0);
});

test('ws attach - lifeline on the user\'s http.Server: their routes keep working beside it, close() detaches', async (t) => {
  const httpServer = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`hello from ${req.url}`);
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => httpServer.close(() => resolve())));
  const port = (httpServer.address() as net.AddressInfo).port;
  const server = createServer();
  await server.attach(httpServer, { path: '/lifeline' });
  server.on('session', (s) => s.on('message', (m: Buffer) => s.send(m)));
  const client = connect({ servers: [`ws://127.0.0.1:${port}/lifeline`], reconnect: false });
  t.after(() => client.close());
  await nextEvent(client, 'open', 3000);
  const echoed = nextEvent<[Buffer]>(client, 'message', 3000);
  client.send('ping over ws');
  assert.equal((await echoed)[0].toString(), 'ping over ws');
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  assert.equal(await res.text(), 'hello from /health');
  const closed = nextEvent(client, 'close', 3000);
  await server.close();
  await closed;
  assert.equal(httpServer.listening, true, "the user's server is still theirs");
  assert.equal(httpServer.listenerCount('upgrade'), 0, 'lifeline detached');
});
