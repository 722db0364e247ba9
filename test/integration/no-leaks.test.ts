/**
 * Integration: 50 connections opened and ended every way a connection ends (client close, server
 * close, heartbeat timeout through a blackholed path) leave nothing behind: no session, no
 * connection, no pending heartbeat check in the server's TimerWheel, and no socket, listener or
 * timer handle once everything is closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FaultProxy } from '../../src/lab/fault-proxy.js';
import { connect, createServer, type Client, type CloseReason, type OpenInfo, type Session } from '../../src/index.js';
import { nextEvent, eventually } from './helpers.js';

const INTERVAL_MS = 200;
const TIMEOUT_MS = 600;
const BY_CLIENT = 22;
const BY_SERVER = 22;
const BY_HEARTBEAT = 6;
const WATCHED = ['TCPSocketWrap', 'TCPServerWrap', 'Timeout'] as const;

/** Counts of the watched handle kinds (Timeout counts only ref'd timers). */
function resources(): Record<(typeof WATCHED)[number], number> {
  const all = process.getActiveResourcesInfo();
  return Object.fromEntries(WATCHED.map((kind) => [kind, all.filter((r) => r === kind).length])) as Record<(typeof WATCHED)[number], number>;
}

test('no leaks - 50 connections ended by client, server and heartbeat leave no session, timer or handle', async (t) => {
  const before = resources();
  const server = createServer({ minHeartbeatInterval: 50, minHeartbeatTimeout: 100 });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const proxy = new FaultProxy({ host: '127.0.0.1', port });
  t.after(() => proxy.close());
  const { port: proxyPort } = await proxy.listen();

  const sessions = new Map<string, Session>();
  server.on('session', (s: Session) => sessions.set(s.id, s));
  const serverReasons: CloseReason[] = [];
  server.on('sessionClose', (_s: Session, r: CloseReason) => serverReasons.push(r));

  const clients: Client[] = [];
  async function open(viaPort: number): Promise<Client> {
    const client = connect({ reconnect: false, host: '127.0.0.1', port: viaPort, heartbeatInterval: INTERVAL_MS, heartbeatTimeout: TIMEOUT_MS });
    clients.push(client);
    t.after(() => client.close());
    await nextEvent<[OpenInfo]>(client, 'open', 5000);
    return client;
  }
  const direct = await Promise.all(Array.from({ length: BY_CLIENT + BY_SERVER }, () => open(port)));
  const proxied = await Promise.all(Array.from({ length: BY_HEARTBEAT }, () => open(proxyPort)));
  assert.equal(server.sessionCount, 50);
  assert.equal(server.connectionCount, 50);
  assert.equal(proxy.connectionCount, BY_HEARTBEAT);
  assert.ok(server.scheduler.size > 0, 'open sessions have heartbeat checks pending');

  const clientReasons = new Map<Client, CloseReason>();
  const allClosed = Promise.all(
    clients.map((c) => nextEvent<[CloseReason]>(c, 'close', 10_000).then(([r]) => void clientReasons.set(c, r))),
  );

  direct.slice(0, BY_CLIENT).forEach((c) => c.close('client leaves'));
  direct.slice(BY_CLIENT).forEach((c) => sessions.get(c.info!.sessionId)!.close('server ends it'));
  proxy.setMode('blackhole');
  await allClosed;
  assert.ok(
    await eventually(() => serverReasons.length === 50, 3000),
    `the server saw ${serverReasons.length} of 50 sessions close`,
  );

  // Each group ended the way it was ended.
  const codes = (list: Client[]) => list.map((c) => clientReasons.get(c)?.code);
  assert.deepEqual(codes(direct.slice(0, BY_CLIENT)), Array(BY_CLIENT).fill('local-close'));
  assert.deepEqual(codes(direct.slice(BY_CLIENT)), Array(BY_SERVER).fill('remote-close'));
  assert.deepEqual(codes(proxied), Array(BY_HEARTBEAT).fill('heartbeat-timeout'));
  const serverCodes: Record<string, number> = {};
  for (const r of serverReasons) serverCodes[r.code] = (serverCodes[r.code] ?? 0) + 1;
  assert.deepEqual(serverCodes, { 'remote-close': BY_CLIENT, 'local-close': BY_SERVER, 'heartbeat-timeout': BY_HEARTBEAT });

  // Nothing left in the server before close() (close() clears the wheel itself).
  assert.equal(server.sessionCount, 0);
  assert.equal(server.connectionCount, 0);
  assert.equal(server.scheduler.size, 0, 'the TimerWheel holds no heartbeat check');
  assert.equal([...server.sessions()].length, 0);
  for (const c of clients) assert.equal(c.state, 'closed');
  // The proxy finished both halves of every dead pair on its own.
  assert.ok(await eventually(() => proxy.connectionCount === 0, 2000), `proxy still holds ${proxy.connectionCount} pairs`);

  await proxy.close();
  await server.close();
  let after = resources();
  const settled = await eventually(() => {
    after = resources();
    return WATCHED.every((kind) => after[kind] <= before[kind]);
  }, 2000);
  t.diagnostic(`resources before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
  assert.ok(settled, `handles left behind: before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
});
