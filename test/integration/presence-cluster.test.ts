/**
 * Integration: three lifeline nodes as separate processes on one real redis-server, clients
 * spread over them, a client on node A following contacts on B and C over the wire (PRESENCE,
 * PROTOCOL.md §6.11; docs/spec/0014-presence.md §Subscriptions, §Stores). Short leases (1 s,
 * sweep 200 ms) keep every bound small; every wait is bounded; loopback only.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createToken, type Client, type PresenceUpdate } from '../../src/index.js';
import { haveRedisServer, RedisProcess } from '../fixtures/redis-server.js';
import { eventually, nextEvent, spawnCliServer } from './helpers.js';

const TTL_MS = 1000;
const SWEEP_MS = 200;
const skip = haveRedisServer() ? false : 'redis-server is not installed (.ci/run installs it)';
const root = fileURLToPath(new URL('../../', import.meta.url));

interface NodeProcess {
  child: ChildProcess;
  port: number;
}

async function startNode(t: TestContext, redis: RedisProcess, nodeId: string): Promise<NodeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/presence-node.ts', redis.url, nodeId, String(TTL_MS), String(SWEEP_MS)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${nodeId} did not start`)), 15_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  return { child, port };
}

type Watcher = Client & { updates: Array<PresenceUpdate & { atMs: number }> };

async function device(t: TestContext, node: NodeProcess, id: string, heartbeat: { heartbeatInterval?: number; heartbeatTimeout?: number } = {}): Promise<Watcher> {
  const c = Object.assign(connect({ host: '127.0.0.1', port: node.port, reconnect: false, token: id, tcpKeepalive: false, tcpUserTimeout: 0, ...heartbeat }), { updates: [] as Array<PresenceUpdate & { atMs: number }> });
  c.on('presence', (u) => c.updates.push({ ...u, atMs: performance.now() }));
  c.on('close', () => {});
  t.after(() => c.close());
  await nextEvent(c, 'open', 5000);
  return c;
}

/** Resolves when `watcher` has been told `id` is `state` (after index `from` of its updates); returns when, ms since `sinceMs`. */
async function told(watcher: Watcher, id: string, state: string, timeoutMs: number, sinceMs = performance.now(), from = 0): Promise<number> {
  const find = () => watcher.updates.slice(from).find((u) => u.id === id && u.state === state);
  assert.ok(await eventually(() => find() !== undefined, timeoutMs), `told ${id} ${state} within ${timeoutMs} ms: ${JSON.stringify(watcher.updates.map((u) => `${u.id}:${u.state}`))}`);
  return find()!.atMs - sinceMs;
}

test('presence-cluster - three node processes: a client on A follows contacts on B and C; SIGSTOP C → offline within TTL + sweep, no stale resurrection on SIGCONT', { skip, timeout: 30_000 }, async (t) => {
  const redis = await RedisProcess.start(t);
  const [a, b, c] = await Promise.all([startNode(t, redis, 'node-a'), startNode(t, redis, 'node-b'), startNode(t, redis, 'node-c')]);
  const watcher = await device(t, a, 'alice');
  watcher.subscribePresence(['carol', 'dave', 'erin']);
  await told(watcher, 'carol', 'offline', 2000);
  await told(watcher, 'dave', 'offline', 2000);

  // Online / offline across processes: carol on node C, dave on node B.
  let from = watcher.updates.length;
  let since = performance.now();
  const carol = await device(t, c, 'carol');
  const onlineMs = await told(watcher, 'carol', 'online', 2000, since, from);
  t.diagnostic(`carol online on node C → told on node A after ${onlineMs.toFixed(1)} ms`);
  from = watcher.updates.length;
  since = performance.now();
  carol.close();
  const offlineMs = await told(watcher, 'carol', 'offline', 2000, since, from);
  t.diagnostic(`carol's graceful close on C → told on A after ${offlineMs.toFixed(1)} ms`);
  assert.ok(onlineMs < 500 && offlineMs < 500, `online ${onlineMs} ms, offline ${offlineMs} ms`);
  await device(t, b, 'dave');
  await told(watcher, 'dave', 'online', 2000);

  // On C: carol2 with a 1 s heartbeat timeout (her client gives up during the stop, closing its
  // socket), erin with 10 s (her connection outlives the stop).
  from = watcher.updates.length;
  const carol2 = await device(t, c, 'carol', { heartbeatInterval: 250, heartbeatTimeout: 1000 });
  const erin = await device(t, c, 'erin', { heartbeatInterval: 5000, heartbeatTimeout: 10_000 });
  await told(watcher, 'carol', 'online', 2000, performance.now(), from);
  await told(watcher, 'erin', 'online', 2000, performance.now(), from);
  const carolClosed = nextEvent(carol2, 'close', 5000);

  from = watcher.updates.length;
  const stoppedAt = performance.now();
  c.child.kill('SIGSTOP');
  const carolOff = await told(watcher, 'carol', 'offline', TTL_MS + SWEEP_MS + 1500, stoppedAt, from);
  const erinOff = await told(watcher, 'erin', 'offline', TTL_MS + SWEEP_MS + 1500, stoppedAt, from);
  t.diagnostic(`SIGSTOP node C → its identities offline on A after ${carolOff.toFixed(0)} / ${erinOff.toFixed(0)} ms (TTL ${TTL_MS} + sweep ${SWEEP_MS})`);
  for (const ms of [carolOff, erinOff]) assert.ok(ms > TTL_MS * 0.6 && ms < TTL_MS + SWEEP_MS + 600, `offline ${ms.toFixed(0)} ms after SIGSTOP`);
  await carolClosed; // her heartbeat gave up on the stopped node (1 s)
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, stoppedAt + 2500 - performance.now())));

  from = watcher.updates.length;
  const wokeAt = performance.now();
  c.child.kill('SIGCONT');
  // Spec 0014 §Stores (lease refresh): C finds its lease lost and re-syncs after one I/O turn,
  // so carol's socket (closed by her client meanwhile) is gone first; erin is still connected.
  const erinBack = await told(watcher, 'erin', 'online', 3000, wokeAt, from);
  t.diagnostic(`SIGCONT → erin (still connected) online again on A after ${erinBack.toFixed(0)} ms`);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const after = watcher.updates.slice(from).map((u) => `${u.id}:${u.state}`);
  assert.deepEqual(after, ['erin:online'], 'carol, whose connection died meanwhile, was not resurrected; dave untouched');
  assert.equal(watcher.presenceOf('dave'), 'online');
  assert.equal(watcher.presenceOf('carol'), 'offline');
  assert.equal(erin.state, 'open');
});

test('presence-cluster - two `lifeline server --redis --node-id` processes: a subscriber on one sees a device on the other; both log the change', { skip, timeout: 30_000 }, async (t) => {
  const redis = await RedisProcess.start(t);
  const secret = 'f3a1c0de9b8e7d6c5b4a39281706f5e4d3c2b1a0';
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-cli-presence-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'secret');
  writeFileSync(file, `${secret}\n`);
  const logs: Array<Array<{ event?: string; id?: string; state?: string; node?: string }>> = [[], []];
  const servers = await Promise.all(
    ['eu-1', 'eu-2'].map(async (nodeId, i) => {
      const { child, port } = await spawnCliServer(t, ['--redis', redis.url, '--node-id', nodeId, '--token-secret-file', file]);
      createInterface({ input: child.stderr! }).on('line', (line) => logs[i]!.push(JSON.parse(line)));
      return port;
    }),
  );
  const token = (id: string) => createToken({ secret, id, ttlMs: 60_000 });
  const watcher = Object.assign(connect({ host: '127.0.0.1', port: servers[0]!, reconnect: false, token: token('alice') }), { updates: [] as Array<PresenceUpdate & { atMs: number }> });
  watcher.on('presence', (u) => watcher.updates.push({ ...u, atMs: performance.now() }));
  t.after(() => watcher.close());
  watcher.subscribePresence('bob');
  await told(watcher, 'bob', 'offline', 3000);
  const bob = connect({ host: '127.0.0.1', port: servers[1]!, reconnect: false, token: token('bob') });
  t.after(() => bob.close());
  await told(watcher, 'bob', 'online', 3000);
  for (const log of logs) {
    assert.ok(await eventually(() => log.some((l) => l.event === 'presence' && l.id === 'bob' && l.state === 'online' && l.node === 'eu-2'), 2000), JSON.stringify(log.filter((l) => l.event === 'presence')));
  }
  bob.close();
  await told(watcher, 'bob', 'offline', 3000, performance.now(), watcher.updates.length);
});
