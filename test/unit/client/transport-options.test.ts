/**
 * Transport choices in options and addresses (docs/spec/0011-transports.md): URLs parse to
 * what they name, and every unusable value is refused by name — on the client (servers,
 * transport, path) and on the server (listen()).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatServer, parseServer } from '../../../src/client/servers.js';
import { resolveClientOptions } from '../../../src/client/options.js';
import { createServer } from '../../../src/index.js';

test('servers - tcp, tls, ws, wss and udp URLs parse to their transport, port and path, and format back', () => {
  assert.deepEqual(parseServer('127.0.0.1:7400'), { host: '127.0.0.1', port: 7400 });
  assert.deepEqual(parseServer('tls://chat.example:7400'), { host: 'chat.example', port: 7400, transport: 'tls' });
  assert.deepEqual(parseServer('ws://[::1]:8080/ll'), { host: '::1', port: 8080, transport: 'ws', path: '/ll' });
  assert.deepEqual(parseServer('wss://chat.example/lifeline'), { host: 'chat.example', port: 443, transport: 'wss', path: '/lifeline' });
  assert.deepEqual(parseServer('ws://h:1'), { host: 'h', port: 1, transport: 'ws', path: '/' });
  assert.deepEqual(parseServer('udp://[::1]:7403'), { host: '::1', port: 7403, transport: 'udp' });
  assert.equal(formatServer({ host: '::1', port: 7403, transport: 'udp' }), 'udp://[::1]:7403');
  assert.equal(formatServer({ host: '::1', port: 8080, transport: 'ws', path: '/ll' }), 'ws://[::1]:8080/ll');
  assert.equal(formatServer({ host: 'a', port: 1, transport: 'tls' }), 'tls://a:1');
  assert.equal(formatServer({ host: 'a', port: 1, transport: 'tcp' }), 'a:1');
  for (const bad of ['udp://a', 'udp://a:1/path', 'quic://a:1', 'tls://a', 'tls://a:1/path', 'ws://a:0/', 'ws://a:70000/', 'http://a:1', 'a']) {
    assert.equal(parseServer(bad), undefined, bad);
  }
});

test('client options - transport and path are validated by name; servers excludes them', () => {
  assert.deepEqual(resolveClientOptions({ port: 1, transport: 'ws', path: '/ll' }).servers, [{ host: '127.0.0.1', port: 1, transport: 'ws', path: '/ll' }]);
  const bad: [object, RegExp][] = [
    [{ port: 1, transport: 'quic' }, /option transport: must be one of tcp, tls, ws, wss, udp/],
    [{ port: 1, transport: 'udp', path: '/x' }, /option path: only applies to ws \/ wss/],
    [{ port: 1, transport: 'tls', path: '/x' }, /option path: only applies to ws \/ wss/],
    [{ port: 1, transport: 'ws', path: 'x' }, /option path: must start with '\/'/],
    [{ servers: ['ws://a:1/'], transport: 'ws' }, /option servers: give either/],
    [{ servers: [{ host: 'a', port: 1, transport: 'quic' }] }, /option servers\[0\]\.transport/],
    [{ servers: ['ftp://a:1'] }, /option servers\[0\]: expected "host:port"/],
    [{ port: 1, tls: 'yes' }, /option tls: must be node:tls connection options/],
  ];
  for (const [options, message] of bad) assert.throws(() => resolveClientOptions(options as never), message, JSON.stringify(options));
});

test('server listen - an unusable transport, path or missing TLS is refused by name, before binding', async () => {
  const server = createServer();
  try {
    await assert.rejects(server.listen({ transport: 'quic' as never }), /option listen\.transport: must be 'tcp', 'tls', 'ws' or 'udp'/);
    await assert.rejects(server.listen({ transport: 'tcp', udp: {} }), /option listen\.udp: only applies to transport 'udp'/);
    await assert.rejects(server.listen({ transport: 'udp', udp: { secret: new Uint8Array(4) } }), /option listen\.udp\.secret: must be a Uint8Array of at least 16 bytes/);
    await assert.rejects(server.listen({ transport: 'udp', udp: { cookieLifetimeMs: -1 } }), /option listen\.udp\.cookieLifetimeMs: must be a positive integer/);
    await assert.rejects(server.listen({ transport: 'udp', tls: {} }), /option listen\.tls: transport 'udp' has no TLS/);
    await assert.rejects(server.listen({ transport: 'tcp', path: '/x' }), /option listen\.path: only applies to transport 'ws'/);
    await assert.rejects(server.listen({ transport: 'tls' }), /option listen\.tls: transport 'tls' needs TLS options/);
    await assert.rejects(server.listen({ transport: 'ws', path: 'no-slash' }), /option path: must start with '\/'/);
    assert.throws(() => createServer({ websocket: { origins: 'https://a' as never } }), /option server\.websocket\.origins/);
    assert.throws(() => createServer({ tls: 'key' as never }), /option server\.tls/);
    assert.throws(() => server.address(), /not listening/);
  } finally {
    await server.close();
  }
});
