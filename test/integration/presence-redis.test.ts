/**
 * Integration: presence and routing across nodes on a real redis-server (docs/spec/0014-presence.md).
 * Each test starts its own redis-server (test/fixtures/redis-server.ts) and two lifeline nodes
 * in this process, plus one in a child process where a node has to die by kill -9. Short
 * leases (1 s, sweep 200 ms) keep every bound small; every wait is bounded.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect, createServer, RedisPresenceStore, type Client, type LifelineServer, type OpenInfo, type PresenceChange, type ServerOptions } from '../../src/index.js';
import { Redis } from 'ioredis';
import { encodeFrame } from '../../src/protocol/encode.js';
import { haveRedisServer, RedisProcess } from '../fixtures/redis-server.js';
import { eventually, nextEvent } from './helpers.js';

const TTL_MS = 1000;
const SWEEP_MS = 200;
const skip = haveRedisServer() ? false : 'redis-server is not installed (.ci/run installs it)';
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

interface Node {
  server: LifelineServer;
  port: number;
  changes: PresenceChange[];
  degraded: Error[];
  restored: number;
}

async function startNode(t: TestContext, redis: RedisProcess, nodeId: string, extra: ServerOptions = {}): Promise<Node> {
  const server = createServer({
    tcpKeepalive: false,
    tcpUserTimeout: 0,
    authenticate: (token) => (token ? utf8Decoder.decode(token) : undefined),
    presence: { nodeId, store: new RedisPresenceStore({ redis: redis.url, leaseTtlMs: TTL_MS, sweepIntervalMs: SWEEP_MS, reconnect: { initialDelay: 50, maxDelay: 300 } }) },
    ...extra,
  });
  t.after(() => server.close());
  const node: Node = { server, port: 0, changes: [], degraded: [], restored: 0 };
  server.presence.on('change', (c) => node.changes.push(c));
  server.presence.on('degraded', (e) => node.degraded.push(e));
  server.presence.on('restored', () => node.restored++);
  node.port = (await server.listen(0, '127.0.0.1')).port;
  assert.equal(server.presence.degraded, false);
  return node;
}

async function client(t: TestContext, node: Node, id: string): Promise<Client & { received: string[]; sessionId: string }> {
  const c = Object.assign(connect({ host: '127.0.0.1', port: node.port, reconnect: false, token: id }), { received: [] as string[], sessionId: '' });
  c.on('message', (data) => c.received.push(data.toString()));
  t.after(() => c.close());
  const [info] = await nextEvent<[OpenInfo]>(c, 'open', 3000);
  c.sessionId = info.sessionId;
  return c;
}

/** Resolves the time (ms since `from`) when `node` has seen `id` turn `state`; fails after `timeoutMs`. */
async function sawChange(node: Node, id: string, state: string, timeoutMs: number, from = performance.now()): Promise<number> {
  const seen = (c: PresenceChange) => c.id === id && c.state === state;
  assert.ok(await eventually(() => node.changes.some(seen), timeoutMs), `${node.server.presence.nodeId} saw ${id} ${state} within ${timeoutMs} ms: ${JSON.stringify(node.changes)}`);
  return performance.now() - from;
}

/** A raw protocol peer: HELLO (with the identity as token), then whatever the test does with its socket. */
async function rawPeer(t: TestContext, port: number, id: string, hello: { resumable?: boolean; heartbeatIntervalMs?: number; heartbeatTimeoutMs?: number } = {}): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  t.after(() => void socket.destroy());
  await nextEvent(socket, 'connect', 3000);
  socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 5000, token: utf8.encode(id), ...hello }));
  return socket;
}

test('presence-redis - an identity online on one node is online on the other, with its device; graceful close is offline at once', { skip }, async (t) => {
  const redis = await RedisProcess.start(t);
  const a = await startNode(t, redis, 'node-a');
  const b = await startNode(t, redis, 'node-b');
  const alice = await client(t, a, 'alice');
  await sawChange(b, 'alice', 'online', 2000);
  const change = b.changes.find((c) => c.id === 'alice')!;
  assert.equal(change.nodeId, 'node-a');
  assert.equal(change.previous, 'offline');
  const info = await b.server.presence.get('alice');
  assert.equal(info.state, 'online');
  assert.equal(info.degraded, false);
  assert.equal(info.devices.length, 1);
  assert.equal(info.devices[0]!.nodeId, 'node-a');
  assert.equal(info.devices[0]!.sessionId, alice.sessionId);
  assert.equal(info.devices[0]!.state, 'online');
  assert.equal((await b.server.presence.get('nobody')).state, 'offline');

  const closedAt = performance.now();
  alice.close();
  const ms = await sawChange(b, 'alice', 'offline', 1000, closedAt);
  t.diagnostic(`graceful close → offline on node-b after ${ms.toFixed(0)} ms`);
  assert.ok(ms < 500, `graceful close seen offline on the other node after ${ms.toFixed(0)} ms`);
  assert.deepEqual((await b.server.presence.get('alice')).devices, []);
  // Each node heard each change once, in the same order.
  assert.deepEqual(a.changes.map((c) => `${c.id}:${c.state}`), ['alice:online', 'alice:offline']);
  assert.deepEqual(b.changes, a.changes);
});

test('presence-redis - cross-node sendTo reaches every device exactly once and says so; offline says offline', { skip }, async (t) => {
  const redis = await RedisProcess.start(t);
  const a = await startNode(t, redis, 'node-a');
  const b = await startNode(t, redis, 'node-b');
  const c = await startNode(t, redis, 'node-c');
  const phone = await client(t, a, 'alice');
  const laptop = await client(t, b, 'alice');
  const tablet = await client(t, b, 'alice');
  const bob = await client(t, a, 'bob');
  assert.ok(await eventually(() => c.changes.some((x) => x.id === 'bob'), 2000));

  const fromC = await c.server.sendTo('alice', 'hello from c');
  assert.deepEqual(fromC, { delivered: 3, away: 0, offline: false, unconfirmed: 0, degraded: false });
  const fromA = await a.server.sendTo('alice', 'hello from a');
  assert.deepEqual(fromA, { delivered: 3, away: 0, offline: false, unconfirmed: 0, degraded: false });
  assert.ok(await eventually(() => [phone, laptop, tablet].every((d) => d.received.length === 2), 2000), 'every device got both');
  await new Promise((resolve) => setTimeout(resolve, 200)); // room for a duplicate to show up
  for (const device of [phone, laptop, tablet]) assert.deepEqual(device.received.sort(), ['hello from a', 'hello from c']);
  assert.deepEqual(bob.received, []);
  assert.deepEqual(await b.server.sendTo('nobody', 'x'), { delivered: 0, away: 0, offline: true, unconfirmed: 0, degraded: false });
});

test('presence-redis - heartbeat death turns an identity offline on the other node within interval + timeout', { skip }, async (t) => {
  const redis = await RedisProcess.start(t);
  const a = await startNode(t, redis, 'node-a');
  const b = await startNode(t, redis, 'node-b');
  // Says HELLO, then never a PING: its kernel keeps ACKing, only the heartbeat can tell.
  const openedAt = performance.now();
  await rawPeer(t, a.port, 'erin', { heartbeatIntervalMs: 250, heartbeatTimeoutMs: 500 });
  await sawChange(b, 'erin', 'online', 2000);
  const ms = await sawChange(b, 'erin', 'offline', 3000, openedAt);
  // Dead 500 ms after its last byte (the HELLO); the wheel's 50 ms and Redis add a little.
  t.diagnostic(`heartbeat death → offline on node-b ${ms.toFixed(0)} ms after the last byte`);
  assert.ok(ms >= 450 && ms < 1250, `offline after ${ms.toFixed(0)} ms`);
});

test('presence-redis - a detached resumable session is away until its resume window ends, then offline', { skip }, async (t) => {
  const redis = await RedisProcess.start(t);
  const a = await startNode(t, redis, 'node-a', { resumeWindow: 800 });
  const b = await startNode(t, redis, 'node-b');
  const socket = await rawPeer(t, a.port, 'frank', { resumable: true });
  await sawChange(b, 'frank', 'online', 2000);
  const lostAt = performance.now();
  socket.destroy();
  await sawChange(b, 'frank', 'away', 1000, lostAt);
  const info = await b.server.presence.get('frank');
  assert.equal(info.state, 'away');
  assert.equal(info.devices[0]!.state, 'away');
  assert.equal(typeof info.devices[0]!.lastSeen, 'number');
  const queued = await b.server.sendTo('frank', 'for later');
  assert.deepEqual(queued, { delivered: 1, away: 1, offline: false, unconfirmed: 0, degraded: false });
  const ms = await sawChange(b, 'frank', 'offline', 2500, lostAt);
  assert.ok(ms >= 750 && ms < 1800, `offline ${ms.toFixed(0)} ms after the transport was lost (window 800 ms)`);
});

test('presence-redis - a node killed with -9: its identities go offline on the others within TTL + sweep', { skip }, async (t) => {
  const redis = await RedisProcess.start(t);
  const b = await startNode(t, redis, 'node-b');
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/presence-node.ts', redis.url, 'node-x', String(TTL_MS), String(SWEEP_MS)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => void child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('node-x did not start')), 15_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  const x: Node = { server: undefined as never, port, changes: [], degraded: [], restored: 0 };
  const carol = await client(t, x, 'carol');
  carol.on('close', () => {});
  await client(t, b, 'dan');
  await sawChange(b, 'carol', 'online', 2000);
  assert.equal((await b.server.presence.get('carol')).devices[0]!.nodeId, 'node-x');

  const killedAt = performance.now();
  child.kill('SIGKILL');
  // Right away: the dead node's inbox has no subscriber, so a sendTo does not wait for it.
  await nextEvent(child, 'exit', 3000);
  const send = await b.server.sendTo('carol', 'anyone?');
  assert.equal(send.delivered, 0);
  const ms = await sawChange(b, 'carol', 'offline', TTL_MS + SWEEP_MS + 1500, killedAt);
  t.diagnostic(`kill -9 → offline on node-b after ${ms.toFixed(0)} ms`);
  assert.ok(ms < TTL_MS + SWEEP_MS + 500, `offline on node-b ${ms.toFixed(0)} ms after kill -9 (TTL ${TTL_MS} + sweep ${SWEEP_MS})`);
  assert.equal(b.changes.find((c) => c.id === 'carol' && c.state === 'offline')!.nodeId, 'node-x');
  assert.equal((await b.server.presence.get('dan')).state, 'online', 'the living node’s identities are untouched');
});

test('presence-redis - a node restarted with the same nodeId cleans up what it left', { skip }, async (t) => {
  const redis = await RedisProcess.start(t);
  const b = await startNode(t, redis, 'node-b');
  // node-a's first life: a store we never close (its process "dies"), with a long lease.
  const first = createServer({ tcpKeepalive: false, tcpUserTimeout: 0, authenticate: (token) => (token ? utf8Decoder.decode(token) : undefined), presence: { nodeId: 'node-a', store: new RedisPresenceStore({ redis: redis.url, leaseTtlMs: 60_000 }) } });
  const firstNode: Node = { server: first, port: (await first.listen(0, '127.0.0.1')).port, changes: [], degraded: [], restored: 0 };
  t.after(() => first.close());
  await client(t, firstNode, 'gina');
  await sawChange(b, 'gina', 'online', 2000);
  // Second life, same nodeId: the old records go at its start, long before the old lease would end.
  const restartedAt = performance.now();
  await startNode(t, redis, 'node-a');
  const ms = await sawChange(b, 'gina', 'offline', 2000, restartedAt);
  assert.ok(ms < 1000, `cleaned up ${ms.toFixed(0)} ms after the restart`);
});

test('presence-redis - Redis restarted mid-run: nodes keep serving, report degraded, re-publish, presence converges', { skip }, async (t) => {
  const redis = await RedisProcess.start(t);
  const a = await startNode(t, redis, 'node-a');
  const b = await startNode(t, redis, 'node-b');
  const alice = await client(t, a, 'alice');
  const bob = await client(t, b, 'bob');
  await sawChange(a, 'bob', 'online', 2000);

  await redis.stop();
  assert.ok(await eventually(() => a.server.presence.degraded && b.server.presence.degraded, 3000), 'both nodes say degraded');
  assert.ok(a.degraded.length === 1 && b.degraded.length === 1, 'one degraded event each');
  // Local service goes on: sendTo reaches a local device, and says it could not ask the store.
  assert.deepEqual(await a.server.sendTo('alice', 'local'), { delivered: 1, away: 0, offline: false, unconfirmed: 0, degraded: true });
  assert.ok(await eventually(() => alice.received.includes('local'), 2000));
  const local = await a.server.presence.get('alice');
  assert.equal(local.degraded, true);
  assert.equal(local.state, 'online');
  // Changes during the outage: alice leaves node-a, dave arrives on node-b.
  alice.close();
  const dave = await client(t, b, 'dave');

  await redis.run(); // empty: no persistence
  assert.ok(await eventually(() => a.restored === 1 && b.restored === 1, 5000), `both restored (a ${a.restored}, b ${b.restored})`);
  assert.equal(a.server.presence.degraded, false);
  // Converged: both nodes re-published their state into the empty Redis.
  for (const node of [a, b]) {
    assert.equal((await node.server.presence.get('alice')).state, 'offline');
    assert.equal((await node.server.presence.get('bob')).state, 'online');
    assert.equal((await node.server.presence.get('dave')).state, 'online');
  }
  // (Changes published before a node's subscriber was back are not heard there — spec 0014
  // §Redis outage: a listener re-reads on 'restored' — so no 'change' is asserted here.)
  assert.deepEqual(await a.server.sendTo('dave', 'after'), { delivered: 1, away: 0, offline: false, unconfirmed: 0, degraded: false });
  assert.ok(await eventually(() => dave.received.includes('after'), 2000));
  assert.equal(bob.state, 'open');
});

test('presence-redis - no Redis command per heartbeat: heartbeating sessions cost nothing beyond the lease and the sweep', { skip }, async (t) => {
  const redis = await RedisProcess.start(t);
  const a = await startNode(t, redis, 'node-a');
  const clients: Client[] = [];
  let pongs = 0;
  for (let i = 0; i < 10; i++) {
    const c = connect({ host: '127.0.0.1', port: a.port, reconnect: false, token: `user-${i}`, heartbeatInterval: 250, heartbeatTimeout: 1000 });
    t.after(() => c.close());
    c.on('pong', () => pongs++);
    await nextEvent(c, 'open', 3000);
    clients.push(c);
  }
  await new Promise((resolve) => setTimeout(resolve, 300)); // the opens' own writes are done
  const admin = new Redis(redis.url);
  t.after(() => admin.disconnect());
  // Calls per command (commands run inside our scripts count too: the GET and PEXPIRE of a refresh).
  const calls = async () => new Map([...(await admin.info('commandstats')).matchAll(/cmdstat_(\w+):calls=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
  const before = await calls();
  pongs = 0;
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const after = await calls();
  const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  assert.ok(pongs >= 40, `the sessions heartbeat (${pongs} PONGs)`);
  // No session wrote anything: no device script, no hash write, no change published.
  for (const name of ['hset', 'hdel', 'publish', 'sadd']) assert.equal(delta(name), 0, `${name} during ${pongs} heartbeats`);
  // What is left is the node's own upkeep: a lease refresh every 333 ms, a sweep every 200 ms.
  assert.ok(delta('evalsha') + delta('eval') <= 7, `${delta('evalsha')} scripts in 1.5 s`);
  assert.ok(delta('smembers') <= 10, `${delta('smembers')} sweeps in 1.5 s`);
});

test('presence-redis - Redis outage: PRESENCE subscribers are re-synced on restore; PONG status stays ok; the diagnostics channels say degraded / restored', { skip }, async (t) => {
  const diagnostics = await import('node:diagnostics_channel');
  const events: Array<{ kind: string; nodeId: string; degradedForMs?: number }> = [];
  const onDegraded = (m: unknown) => events.push({ kind: 'degraded', nodeId: (m as { nodeId: string }).nodeId });
  const onRestored = (m: unknown) => events.push({ kind: 'restored', nodeId: (m as { nodeId: string }).nodeId, degradedForMs: (m as { degradedForMs: number }).degradedForMs });
  diagnostics.subscribe('lifeline:presence:degraded', onDegraded);
  diagnostics.subscribe('lifeline:presence:restored', onRestored);
  t.after(() => {
    diagnostics.unsubscribe('lifeline:presence:degraded', onDegraded);
    diagnostics.unsubscribe('lifeline:presence:restored', onRestored);
  });
  const redis = await RedisProcess.start(t);
  const a = await startNode(t, redis, 'node-a');
  const b = await startNode(t, redis, 'node-b');
  const alice = await client(t, a, 'alice');
  const watcher = connect({ host: '127.0.0.1', port: b.port, reconnect: false, token: 'watcher', heartbeatInterval: 250, heartbeatTimeout: 3000 });
  t.after(() => watcher.close());
  const told: string[] = [];
  const statuses: string[] = [];
  watcher.on('presence', (u) => told.push(`${u.id}:${u.state}`));
  watcher.on('pong', (p) => statuses.push(p.status));
  watcher.subscribePresence(['alice', 'dave']);
  assert.ok(await eventually(() => told.length === 2, 2000), told.join());
  assert.deepEqual(told.sort(), ['alice:online', 'dave:offline']);

  await redis.stop();
  assert.ok(await eventually(() => b.server.presence.degraded, 3000));
  alice.close();
  await client(t, a, 'dave');
  await new Promise((resolve) => setTimeout(resolve, 600)); // a few heartbeats while degraded
  assert.equal(watcher.state, 'open');
  assert.ok(statuses.length >= 2 && statuses.every((s) => s === 'ok'), `PONG status while the store is degraded: ${statuses.join()}`);
  const before = told.length;

  await redis.run();
  assert.ok(await eventually(() => told.slice(before).includes('alice:offline') && told.slice(before).includes('dave:online'), 5000), `re-synced: ${told.join()}`);
  assert.ok(events.some((e) => e.kind === 'degraded' && e.nodeId === 'node-b'));
  const restored = events.find((e) => e.kind === 'restored' && e.nodeId === 'node-b');
  assert.ok(restored && restored.degradedForMs! > 0, JSON.stringify(events));
});

test("presence-redis - degradedStatus 'busy': PONGs say busy while Redis is away and ok once it is back; the default keeps ok", { skip }, async (t) => {
  const redis = await RedisProcess.start(t);
  const fast: ServerOptions = { heartbeatInterval: 200, heartbeatTimeout: 2000, minHeartbeatInterval: 100, health: () => ({ status: 'ok', load: 64 }) };
  const busyNode = await startNode(t, redis, 'node-busy', { ...fast, presence: { nodeId: 'node-busy', degradedStatus: 'busy', store: new RedisPresenceStore({ redis: redis.url, leaseTtlMs: TTL_MS, sweepIntervalMs: SWEEP_MS, reconnect: { initialDelay: 50, maxDelay: 300 } }) } });
  const okNode = await startNode(t, redis, 'node-ok', fast);
  const statuses = (c: Client) => {
    const seen: string[] = [];
    c.on('pong', (info: { status: string }) => seen.push(info.status));
    return seen;
  };
  const onBusy = await client(t, busyNode, 'erin');
  const onOk = await client(t, okNode, 'fred');
  const busySeen = statuses(onBusy);
  const okSeen = statuses(onOk);

  await redis.stop();
  assert.ok(await eventually(() => busyNode.server.presence.degraded && okNode.server.presence.degraded, 3000), 'both degraded');
  assert.ok(await eventually(() => busySeen.includes('busy'), 3000), `the busy node's client heard busy: ${JSON.stringify(busySeen)}`);
  assert.equal(onBusy.state, 'open', 'busy is not dead: the session stays');

  await redis.run();
  assert.ok(await eventually(() => !busyNode.server.presence.degraded, 5000), 'restored');
  assert.ok(await eventually(() => busySeen.at(-1) === 'ok', 3000), `back to ok: ${JSON.stringify(busySeen)}`);
  assert.deepEqual(okSeen.filter((s) => s !== 'ok'), [], `the default node never said anything but ok: ${JSON.stringify(okSeen)}`);
  assert.throws(() => createServer({ presence: { degradedStatus: 'down' as never } }), /degradedStatus/);
});
