/**
 * Client-side resume (docs/spec/0006-resume.md): the lifeline client resumes its session after a
 * cut, and when the server no longer has it, reports what was sent but never confirmed while
 * delivering what never left it to the new session.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { FaultProxy } from '../../src/lab/fault-proxy.js';
import { connect, createServer, type LifelineServer, type OpenInfo, type Session } from '../../src/index.js';
import { eventually, nextEvent } from './helpers.js';

async function serverOn(t: TestContext, port = 0): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({ minHeartbeatInterval: 50, minHeartbeatTimeout: 100, tcpKeepalive: false, tcpUserTimeout: 0 });
  t.after(() => server.close());
  const address = await server.listen(port, '127.0.0.1');
  return { server, port: address.port };
}

test('resume (client) - after a cut the client resumes the same session; nothing lost or doubled', async (t) => {
  const { server, port } = await serverOn(t);
  const proxy = new FaultProxy({ host: '127.0.0.1', port });
  t.after(() => proxy.close());
  const { port: proxyPort } = await proxy.listen();
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const client = connect({ servers: [`127.0.0.1:${proxyPort}`], reconnect: { initialDelay: 20 }, tcpKeepalive: false, tcpUserTimeout: 0 });
  t.after(() => client.close());
  await nextEvent(client, 'open', 3000);
  const [session] = await sessionP;
  const atServer: string[] = [];
  const atClient: string[] = [];
  session.on('message', (b: Buffer) => atServer.push(b.toString()));
  client.on('message', (b: Buffer) => atClient.push(b.toString()));
  client.send('c1');
  session.send('s1');
  assert.ok(await eventually(() => atServer.length === 1 && atClient.length === 1, 2000));

  const reopened = nextEvent<[OpenInfo]>(client, 'open', 5000);
  proxy.setMode('reset');
  proxy.setMode('forward');
  client.send('c2'); // while reconnecting
  session.send('s2'); // while the server still has it attached or detached
  const [info] = await reopened;
  assert.equal(info.resumed, true);
  assert.equal(info.sessionId, session.id);
  client.send('c3');
  session.send('s3');
  assert.ok(await eventually(() => atServer.length === 3 && atClient.length === 3, 3000), `server ${atServer} client ${atClient}`);
  assert.deepEqual(atServer, ['c1', 'c2', 'c3']);
  assert.deepEqual(atClient, ['s1', 's2', 's3']);
  assert.equal(server.sessionCount, 1);
});

test('resume (client) - a lost session: sent-but-unconfirmed messages are reported, unsent ones go to the new session', async (t) => {
  const first = await serverOn(t);
  const proxy = new FaultProxy({ host: '127.0.0.1', port: first.port });
  t.after(() => proxy.close());
  const { port: proxyPort } = await proxy.listen();
  const client = connect({ servers: [`127.0.0.1:${proxyPort}`], reconnect: { initialDelay: 20 }, heartbeatInterval: 100, heartbeatTimeout: 400, tcpKeepalive: false, tcpUserTimeout: 0 });
  t.after(() => client.close());
  await nextEvent(client, 'open', 3000);
  const undelivered: string[] = [];
  client.on('undelivered', (msgs: Buffer[]) => undelivered.push(...msgs.map(String)));

  // Written into a black hole: it left the client but the server never saw it.
  proxy.setMode('blackhole');
  client.send('lost-in-flight');
  await nextEvent(client, 'disconnect', 3000); // heartbeat timeout
  client.send('queued-while-away'); // never written to any transport
  // Meanwhile the server restarted: the old session is gone.
  await first.server.close();
  const second = await serverOn(t, first.port);
  const atNew: string[] = [];
  second.server.on('session', (s: Session) => s.on('message', (b: Buffer) => atNew.push(b.toString())));
  proxy.setMode('forward');
  const [info] = await nextEvent<[OpenInfo]>(client, 'open', 5000);
  assert.equal(info.resumed, false);
  assert.ok(await eventually(() => atNew.length === 1, 2000), `new session got ${atNew}`);
  assert.deepEqual(atNew, ['queued-while-away']);
  assert.deepEqual(undelivered, ['lost-in-flight']);
});
