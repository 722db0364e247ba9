/** Integration: client.stats() over loopback — RTT, last heard, status, messages / bytes, a reconnect that resumes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Session } from '../../src/index.js';
import { eventually, nextEvent } from './helpers.js';

test('client stats - after traffic and a resumed reconnect', async (t) => {
  const server = createServer({ heartbeatInterval: 100, heartbeatTimeout: 400, minHeartbeatInterval: 50, minHeartbeatTimeout: 100 });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  server.on('session', (s: Session) => s.on('message', (data) => void (s.isOpen && s.send(data.subarray(0, 4)))));
  const client = connect({ port, heartbeatInterval: 100, heartbeatTimeout: 400, resume: true, reconnect: { initialDelay: 10, maxDelay: 20 } });
  t.after(() => client.close());
  const fresh = client.stats();
  assert.equal(fresh.connects, 0);
  assert.equal(fresh.messagesSent, 0);
  await nextEvent(client, 'open', 5000);
  for (let i = 0; i < 3; i++) client.send(Buffer.alloc(10));
  assert.ok(await eventually(() => client.stats().messagesReceived === 3, 5000));
  assert.ok(await eventually(() => client.stats().rttMs !== undefined, 2000), 'a PONG gave an RTT');
  let s = client.stats();
  assert.equal(s.messagesSent, 3);
  assert.equal(s.bytesSent, 30);
  assert.equal(s.bytesReceived, 12);
  assert.equal(s.serverStatus, 'ok');
  assert.equal(typeof s.serverLoad, 'number');
  assert.ok(s.smoothedRttMs !== undefined && s.smoothedRttMs < 100);
  assert.ok(s.lastHeardMs !== undefined && s.lastHeardMs < 400);
  assert.deepEqual([s.connects, s.reconnects, s.resumes], [1, 0, 0]);

  // The server drops the transport: the client reconnects and resumes its session.
  const [session] = [...server.sessions()];
  session!.currentPeer.connection.destroy({ code: 'transport-error', message: 'test drop', initiator: 'local', detectedBy: 'transport' });
  const [info] = await nextEvent<[{ resumed: boolean }]>(client, 'open', 5000);
  assert.equal(info.resumed, true);
  s = client.stats();
  assert.deepEqual([s.connects, s.reconnects, s.resumes], [2, 1, 1]);
  assert.equal(server.counters.resumes, 1, 'the server counted the resume too');
});
