/**
 * Integration: how a server with several listeners says it is up (docs/spec/0011-transports.md
 * §Several listeners) — one 'listening' once the listen() calls in progress are done, carrying
 * every listener's address — and what `server.addresses()` calls each listener (`wss` for a
 * WebSocket listener over TLS, its own or an attached https server).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { createServer, type ListenerAddress } from '../../src/index.js';
import { testCertificates } from '../fixtures/certs.js';

test("listening - one 'listening' after all the listeners started together are up, with every listener's address", async (t) => {
  const { key, cert } = testCertificates();
  const server = createServer({ tls: { key, cert } });
  t.after(() => server.close());
  const events: ListenerAddress[][] = [];
  server.on('listening', (addresses: ListenerAddress[]) => events.push(addresses));
  const bound = await Promise.all([
    server.listen({ transport: 'tcp', port: 0, host: '127.0.0.1' }),
    server.listen({ transport: 'tls', port: 0, host: '127.0.0.1' }),
    server.listen({ transport: 'ws', port: 0, host: '127.0.0.1' }),
    server.listen({ transport: 'udp', port: 0, host: '127.0.0.1' }),
  ]);
  assert.equal(events.length, 1, 'one event for four listeners');
  const [addresses] = events;
  assert.equal(addresses!.length, 4);
  // Every listen() resolved with its own port, and the event lists each one with its transport.
  const byPort = new Map(addresses!.map((a) => [a.port, a.transport]));
  assert.deepEqual(
    bound.map((b) => byPort.get(b.port)),
    ['tcp', 'tls', 'wss', 'udp'],
    'the ws listener uses the server tls option: wss',
  );
  assert.deepEqual(server.addresses(), addresses);

  // A later listen() is announced by itself, with the whole list.
  const plainWs = await server.listen({ transport: 'ws', port: 0, host: '127.0.0.1', tls: undefined });
  assert.equal(events.length, 2);
  assert.equal(events[1]!.length, 5);
  // listen({ tls: undefined }) falls back to the server's tls: still wss.
  assert.equal(events[1]!.find((a) => a.port === plainWs.port)?.transport, 'wss');
});

test("listening - plain ws is 'ws', wss on its own port and attached to an https server are 'wss'; a failed listen() emits nothing", async (t) => {
  const { key, cert } = testCertificates();
  const server = createServer();
  t.after(() => server.close());
  let events = 0;
  server.on('listening', () => events++);
  const ws = await server.listen({ transport: 'ws', port: 0, host: '127.0.0.1' });
  const wss = await server.listen({ transport: 'ws', port: 0, host: '127.0.0.1', tls: { key, cert } });
  assert.equal(events, 2, 'awaited one after the other: one event each');

  const httpsServer = https.createServer({ key, cert });
  const httpServer = http.createServer();
  t.after(() => {
    httpsServer.close();
    httpServer.close();
  });
  await new Promise<void>((resolve) => httpsServer.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  await server.attach(httpsServer, { path: '/ll' });
  await server.attach(httpServer, { path: '/ll' });
  assert.equal(events, 2, 'attach() does not listen: no event');
  const port = (s: http.Server) => (s.address() as { port: number }).port;
  assert.deepEqual(
    server.addresses().map((a) => [a.port, a.transport]),
    [
      [ws.port, 'ws'],
      [wss.port, 'wss'],
      [port(httpsServer), 'wss'],
      [port(httpServer), 'ws'],
    ],
  );

  // A port already taken: listen() rejects and no 'listening' says otherwise.
  await assert.rejects(server.listen({ transport: 'tcp', port: ws.port, host: '127.0.0.1' }), /EADDRINUSE/);
  assert.equal(events, 2);
  assert.equal(server.addresses().length, 4);
});
