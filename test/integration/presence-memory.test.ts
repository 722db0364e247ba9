/**
 * Integration: presence on one server with the default MemoryPresenceStore (docs/spec/0014-presence.md),
 * real sockets — sessions with an identity are devices, sessions without one are not, sendTo
 * delivers locally, a graceful close is offline at once, and the server's close takes every
 * device with it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type PresenceChange } from '../../src/index.js';
import { eventually, nextEvent } from './helpers.js';

test('presence-memory - the default store: devices, sendTo, graceful close offline at once', async (t) => {
  const server = createServer({ tcpKeepalive: false, tcpUserTimeout: 0, authenticate: (token) => (token ? new TextDecoder().decode(token) : 'anonymous-but-counted') });
  t.after(() => server.close());
  const changes: PresenceChange[] = [];
  server.presence.on('change', (c) => changes.push(c));
  const { port } = await server.listen(0, '127.0.0.1');
  const alice = connect({ host: '127.0.0.1', port, reconnect: false, token: 'alice' });
  t.after(() => alice.close());
  await nextEvent(alice, 'open', 3000);
  assert.deepEqual(changes.map((c) => [c.id, c.state, c.nodeId]), [['alice', 'online', server.presence.nodeId]]);
  const info = await server.presence.get('alice');
  assert.equal(info.state, 'online');
  assert.equal(info.devices[0]!.sessionId, [...server.sessions()][0]!.id);

  const got = nextEvent<[Buffer]>(alice, 'message', 2000);
  assert.deepEqual(await server.sendTo('alice', 'hi'), { delivered: 1, away: 0, offline: false, unconfirmed: 0, degraded: false });
  assert.equal((await got)[0].toString(), 'hi');
  assert.equal((await server.sendTo('bob', 'hi')).offline, true);

  alice.close();
  assert.ok(await eventually(() => changes.length === 2, 1000));
  assert.equal(changes[1]!.state, 'offline');
  assert.equal(server.presence.localDeviceCount, 0);
});

test('presence-memory - without authenticate no session is a device; the server close leaves no device', async (t) => {
  const plain = createServer({ tcpKeepalive: false, tcpUserTimeout: 0 });
  t.after(() => plain.close());
  const { port } = await plain.listen(0, '127.0.0.1');
  const c = connect({ host: '127.0.0.1', port, reconnect: false });
  t.after(() => c.close());
  await nextEvent(c, 'open', 3000);
  assert.equal(plain.sessionCount, 1);
  assert.equal(plain.presence.localDeviceCount, 0);

  const server = createServer({ tcpKeepalive: false, tcpUserTimeout: 0, authenticate: () => 'carol' });
  const changes: PresenceChange[] = [];
  server.presence.on('change', (x) => changes.push(x));
  const address = await server.listen(0, '127.0.0.1');
  const carol = connect({ host: '127.0.0.1', port: address.port, reconnect: false });
  carol.on('close', () => {});
  await nextEvent(carol, 'open', 3000);
  await server.close();
  assert.deepEqual(changes.map((x) => x.state), ['online', 'offline']);
  assert.equal((await server.presence.get('carol')).state, 'offline');
});
