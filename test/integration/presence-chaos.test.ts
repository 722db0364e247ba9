/**
 * Integration: everything at once (docs/spec/0014-presence.md §Stores, §Redis outage,
 * §Subscriptions): three lifeline node processes on one real redis-server, devices on each,
 * a PRESENCE subscriber on each node following all of them. Redis is restarted empty mid-run
 * while devices come and go, then a node is killed with kill -9. Presence must converge on every
 * node, the subscribers must end with the right states, and nothing may be counted online that
 * is not — checked on the subscribers and in Redis itself. Short leases (1 s, sweep 200 ms);
 * every wait is bounded.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { connect, type Client, type PresenceUpdate } from '../../src/index.js';
import { haveRedisServer, RedisProcess } from '../fixtures/redis-server.js';
import { eventually, nextEvent } from './helpers.js';

const TTL_MS = 1000;
const SWEEP_MS = 200;
const skip = haveRedisServer() ? false : 'redis-server is not installed (.ci/run installs it)';
const root = fileURLToPath(new URL('../../', import.meta.url));
const IDS = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7'];

interface NodeProcess {
  child: ChildProcess;
  port: number;
}

async function startNode(t: TestContext, redis: RedisProcess, nodeId: string): Promise<NodeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/presence-node.ts', redis.url, nodeId, String(TTL_MS), String(SWEEP_MS)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => void child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${nodeId} did not start`)), 15_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  return { child, port };
}

type Device = Client & { updates: PresenceUpdate[] };

async function device(t: TestContext, node: NodeProcess, id: string): Promise<Device> {
  const c = Object.assign(connect({ host: '127.0.0.1', port: node.port, reconnect: false, token: id, tcpKeepalive: false, tcpUserTimeout: 0 }), { updates: [] as PresenceUpdate[] });
  c.on('presence', (u) => c.updates.push(u));
  c.on('close', () => {});
  t.after(() => c.close());
  await nextEvent(c, 'open', 5000);
  return c;
}

const view = (w: Device) => Object.fromEntries(IDS.map((id) => [id, w.presenceOf(id)]));

async function converged(watchers: Device[], expected: Record<string, string>, timeoutMs: number, what: string): Promise<void> {
  const ok = () => watchers.every((w) => IDS.every((id) => w.presenceOf(id) === expected[id]));
  assert.ok(await eventually(ok, timeoutMs), `${what}: ${JSON.stringify(watchers.map(view))}`);
}

/** Who Redis counts online or away: the announced states, and the devices of live nodes. */
async function redisView(r: Redis): Promise<{ announced: Record<string, string>; devices: string[]; nodes: string[] }> {
  const announced: Record<string, string> = {};
  for (const key of await r.keys('lifeline:state:*')) announced[key.slice('lifeline:state:'.length)] = (await r.get(key))!;
  const devices: string[] = [];
  for (const key of await r.keys('lifeline:id:*')) for (const field of Object.keys(await r.hgetall(key))) devices.push(`${key.slice('lifeline:id:'.length)}@${field.split('/')[0]}`);
  return { announced, devices: devices.sort(), nodes: (await r.smembers('lifeline:nodes')).sort() };
}

test('presence-chaos - three node processes, subscribers on each; Redis restarted empty mid-run, then kill -9 of a node: presence converges everywhere, nothing online that is not', { skip, timeout: 40_000 }, async (t) => {
  const startedAt = performance.now();
  const redis = await RedisProcess.start(t);
  const r = new Redis(redis.url, { retryStrategy: () => 50, maxRetriesPerRequest: 1 });
  r.on('error', () => {});
  t.after(() => r.disconnect());
  const [a, b, c] = await Promise.all([startNode(t, redis, 'node-a'), startNode(t, redis, 'node-b'), startNode(t, redis, 'node-c')]);
  const [wa, wb, wc] = await Promise.all([device(t, a!, 'watch-a'), device(t, b!, 'watch-b'), device(t, c!, 'watch-c')]);
  for (const w of [wa, wb, wc]) w.subscribePresence(IDS);
  const u1 = await device(t, a!, 'u1');
  await Promise.all([device(t, a!, 'u0'), device(t, b!, 'u2'), device(t, b!, 'u3'), device(t, c!, 'u4'), device(t, c!, 'u5')]);
  const expected: Record<string, string> = { u0: 'online', u1: 'online', u2: 'online', u3: 'online', u4: 'online', u5: 'online', u6: 'offline', u7: 'offline' };
  await converged([wa, wb, wc], expected, 5000, 'before the outage');

  // Redis goes away, comes back empty; meanwhile u1 leaves node A and u6 arrives on node B.
  await redis.stop();
  u1.close();
  const u6 = await device(t, b!, 'u6'); // nodes keep serving while Redis is away
  await new Promise((resolve) => setTimeout(resolve, 300));
  const restartedAt = performance.now();
  await redis.run();
  Object.assign(expected, { u1: 'offline', u6: 'online' });
  await converged([wa, wb, wc], expected, 8000, 'after the Redis restart');
  t.diagnostic(`Redis restarted empty → every subscriber converged after ${(performance.now() - restartedAt).toFixed(0)} ms`);
  let seen = await redisView(r);
  assert.deepEqual(seen.announced, { u0: 'online', u2: 'online', u3: 'online', u4: 'online', u5: 'online', u6: 'online', 'watch-a': 'online', 'watch-b': 'online', 'watch-c': 'online' }, 'Redis re-filled by the nodes, u1 not in it');
  assert.deepEqual(seen.nodes, ['node-a', 'node-b', 'node-c']);

  // kill -9 node C: its devices (u4, u5, watch-c) must go offline everywhere within TTL + sweep.
  const killedAt = performance.now();
  c!.child.kill('SIGKILL');
  await nextEvent(c!.child, 'exit', 3000);
  Object.assign(expected, { u4: 'offline', u5: 'offline' });
  await converged([wa, wb], expected, TTL_MS + SWEEP_MS + 3000, 'after kill -9 of node C');
  const killMs = performance.now() - killedAt;
  t.diagnostic(`kill -9 node C → its identities offline on A and B's subscribers after ${killMs.toFixed(0)} ms`);
  assert.ok(killMs < TTL_MS + SWEEP_MS + 1500, `${killMs.toFixed(0)} ms`);

  // Settled: one more TTL + sweep, and nothing moves back.
  await new Promise((resolve) => setTimeout(resolve, TTL_MS + SWEEP_MS));
  await converged([wa, wb], expected, 0, 'still, a lease later');
  seen = await redisView(r);
  assert.deepEqual(seen.announced, { u0: 'online', u2: 'online', u3: 'online', u6: 'online', 'watch-a': 'online', 'watch-b': 'online' }, 'no identity counted online that is not');
  assert.deepEqual(seen.devices, ['u0@node-a', 'u2@node-b', 'u3@node-b', 'u6@node-b', 'watch-a@node-a', 'watch-b@node-b']);
  assert.deepEqual(seen.nodes, ['node-a', 'node-b'], 'the dead node swept');
  // Each subscriber's last word on each id is the final state (no stale online after an offline).
  for (const w of [wa, wb]) {
    for (const id of IDS) assert.equal(w.updates.filter((u) => u.id === id).at(-1)?.state, expected[id], `${id} on a subscriber`);
  }
  assert.equal(u6.state, 'open');
  t.diagnostic(`whole run ${(performance.now() - startedAt).toFixed(0)} ms`);
});
