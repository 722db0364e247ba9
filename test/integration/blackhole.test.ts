/**
 * Integration: client → FaultProxy → server. A blackholed path (both sockets open, every byte
 * silently lost) can only be found by the application heartbeat — on both sides, independently.
 * A reset path must be found at once by the transport.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { FaultProxy } from '../../src/lab/fault-proxy.js';
import { connect, createServer, type Client, type CloseReason, type LifelineServer, type OpenInfo, type Session } from '../../src/index.js';
import { nextEvent } from './helpers.js';

const INTERVAL_MS = 200;
const TIMEOUT_MS = 600;
const DETECTION_BOUND_MS = (INTERVAL_MS + TIMEOUT_MS) * 1.2;

/** Server + proxy in front of it, both closed after the test. */
async function setup(t: TestContext): Promise<{ server: LifelineServer; proxy: FaultProxy; proxyPort: number }> {
  const server = createServer({ minHeartbeatInterval: 50, minHeartbeatTimeout: 100 });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const proxy = new FaultProxy({ host: '127.0.0.1', port });
  t.after(() => proxy.close());
  const { port: proxyPort } = await proxy.listen();
  return { server, proxy, proxyPort };
}

async function openThrough(t: TestContext, server: LifelineServer, proxyPort: number): Promise<{ client: Client; session: Session }> {
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const client = connect({ reconnect: false, host: '127.0.0.1', port: proxyPort, heartbeatInterval: INTERVAL_MS, heartbeatTimeout: TIMEOUT_MS });
  t.after(() => client.close());
  const [[info], [session]] = await Promise.all([nextEvent<[OpenInfo]>(client, 'open', 3000), sessionP]);
  assert.equal(info.sessionId, session.id);
  return { client, session };
}

test('blackhole - messages and heartbeats pass through the proxy in forward mode', async (t) => {
  const { server, proxy, proxyPort } = await setup(t);
  const { client, session } = await openThrough(t, server, proxyPort);
  assert.equal(proxy.mode, 'forward');
  assert.equal(proxy.connectionCount, 1);
  session.on('message', (data) => session.send(data));
  const echoed = nextEvent<[Buffer]>(client, 'message', 3000);
  client.send('through the proxy');
  assert.equal((await echoed)[0].toString(), 'through the proxy');
  await nextEvent(session, 'ping', 2000);
  assert.ok(proxy.stats.bytesUp > 0 && proxy.stats.bytesDown > 0);
  assert.equal(proxy.stats.droppedUp + proxy.stats.droppedDown, 0);
});

test('blackhole - both the server and the client detect a blackholed path by heartbeat in time', async (t) => {
  const { server, proxy, proxyPort } = await setup(t);
  const { client, session } = await openThrough(t, server, proxyPort);

  // Cut right after a heartbeat exchange completed (the client got the PONG to its PING), so
  // both sides' silence clocks start ~ at the cut.
  await nextEvent(client, 'pong', 2000);
  const serverClosed = nextEvent<[Session, CloseReason]>(server, 'sessionClose', 5 * TIMEOUT_MS);
  const clientClosed = nextEvent<[CloseReason]>(client, 'close', 5 * TIMEOUT_MS);
  const serverDetectedAt = serverClosed.then(() => performance.now());
  const clientDetectedAt = clientClosed.then(() => performance.now());
  const cutAt = performance.now();
  proxy.setMode('blackhole');
  assert.equal(proxy.mode, 'blackhole');

  const [[closedSession, serverReason], [clientReason]] = await Promise.all([serverClosed, clientClosed]);
  const serverMs = (await serverDetectedAt) - cutAt;
  const clientMs = (await clientDetectedAt) - cutAt;
  t.diagnostic(`server detected after ${Math.round(serverMs)} ms, client after ${Math.round(clientMs)} ms`);
  t.diagnostic(`dropped ${proxy.stats.droppedUp} bytes up, ${proxy.stats.droppedDown} down`);

  assert.equal(closedSession, session);
  assert.equal(serverReason.code, 'heartbeat-timeout');
  assert.equal(serverReason.detectedBy, 'heartbeat');
  assert.equal(clientReason.code, 'heartbeat-timeout');
  assert.equal(clientReason.detectedBy, 'heartbeat');
  assert.equal(clientReason.initiator, 'local');
  for (const [side, ms, reason] of [['server', serverMs, serverReason], ['client', clientMs, clientReason]] as const) {
    assert.ok(ms <= DETECTION_BOUND_MS, `${side} took ${Math.round(ms)} ms (bound ${DETECTION_BOUND_MS} ms)`);
    assert.ok(ms >= TIMEOUT_MS - INTERVAL_MS, `${side} detected suspiciously early: ${Math.round(ms)} ms`);
    assert.ok(reason.sinceLastSeenMs >= TIMEOUT_MS, `${side} declared dead after ${reason.sinceLastSeenMs} ms of silence`);
  }
  // Both sides kept pinging into the hole (the client, which leads, at least twice).
  assert.ok(proxy.stats.droppedUp >= 2, 'client pings were dropped');
  assert.ok(proxy.stats.droppedDown >= 1, 'server pings were dropped');
  assert.equal(server.sessionCount, 0);
  assert.equal(server.connectionCount, 0);
  assert.equal(client.state, 'closed');
});

test('blackhole - a new connection through a blackholed path never completes its handshake', async (t) => {
  const { server, proxy, proxyPort } = await setup(t);
  proxy.setMode('blackhole');
  const client = connect({ reconnect: false, host: '127.0.0.1', port: proxyPort, handshakeTimeout: 400 });
  t.after(() => client.close());
  const [reason] = await nextEvent<[CloseReason]>(client, 'close', 3000);
  assert.equal(reason.code, 'handshake-timeout');
  assert.equal(server.sessionCount, 0);
  assert.ok(proxy.stats.droppedUp > 0, 'the HELLO was dropped');
});

test('blackhole - reset mode: the client sees the transport fail at once, and so does the server', async (t) => {
  const { server, proxy, proxyPort } = await setup(t);
  const { client, session } = await openThrough(t, server, proxyPort);
  const serverClosed = nextEvent<[Session, CloseReason]>(server, 'sessionClose', 3000);
  const clientClosed = nextEvent<[CloseReason]>(client, 'close', 3000);
  const resetAt = performance.now();
  proxy.setMode('reset');
  const [clientReason] = await clientClosed;
  const clientMs = performance.now() - resetAt;
  const [closedSession, serverReason] = await serverClosed;
  t.diagnostic(`client: ${clientReason.code} after ${Math.round(clientMs)} ms (${clientReason.message}); server: ${serverReason.code}`);
  assert.ok(['transport-error', 'transport-closed'].includes(clientReason.code), `client close reason ${clientReason.code}`);
  assert.equal(clientReason.detectedBy, 'transport');
  assert.ok(clientMs < TIMEOUT_MS / 2, `client took ${Math.round(clientMs)} ms: that is a heartbeat, not the transport`);
  assert.equal(closedSession, session);
  assert.ok(['transport-error', 'transport-closed'].includes(serverReason.code), `server close reason ${serverReason.code}`);
  assert.equal(server.sessionCount, 0);

  // New connections are reset too while the mode lasts. On loopback the RST can beat the
  // client's own 'connect' callback, so connect-failed (ECONNRESET) is as right as transport-error.
  const again = connect({ reconnect: false, host: '127.0.0.1', port: proxyPort });
  t.after(() => again.close());
  const [againReason] = await nextEvent<[CloseReason]>(again, 'close', 3000);
  assert.ok(['transport-error', 'transport-closed', 'connect-failed'].includes(againReason.code), `new connection: ${againReason.code}`);
  assert.equal(again.info, undefined, 'never opened');
  assert.equal(server.sessionCount, 0);
  assert.equal(proxy.connectionCount, 0);
});

test('blackhole - the path recovers when the proxy forwards again before the timeout', async (t) => {
  const { server, proxy, proxyPort } = await setup(t);
  const { client, session } = await openThrough(t, server, proxyPort);
  const closes: string[] = [];
  client.on('close', (r) => closes.push(`client ${r.code}`));
  session.on('close', (r) => closes.push(`server ${r.code}`));
  await nextEvent(session, 'ping', 2000);
  proxy.setMode('blackhole');
  await new Promise((resolve) => setTimeout(resolve, TIMEOUT_MS / 3));
  proxy.setMode('forward');
  // Pings repeat every interval while silence lasts, so a later one gets through and is answered.
  await nextEvent(session, 'ping', TIMEOUT_MS);
  await new Promise((resolve) => setTimeout(resolve, TIMEOUT_MS));
  assert.deepEqual(closes, []);
  assert.equal(client.state, 'open');
  assert.equal(server.sessionCount, 1);
});
