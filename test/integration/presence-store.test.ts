/**
 * Integration: RedisPresenceStore's costs and bookkeeping on a real redis-server
 * (docs/spec/0014-presence.md §Subscriptions, §Stores, §Last seen, §Two processes, one nodeId):
 * a SUBSCRIBE of 1,000 ids is one script (INFO commandstats); a sync in chunks leaves Redis
 * exactly as a sync in one script does, and its order holds against the node's own writes;
 * offline identities keep a last-seen time in a TTL'd key; two live processes with one nodeId
 * are warned about, a restart within the lease is not.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import diagnostics from 'node:diagnostics_channel';
import { Redis } from 'ioredis';
import { connect, createServer, Presence, RedisPresenceStore, type LifelineServer, type PresenceUpdate, type PresenceWarning, type ServerOptions } from '../../src/index.js';
import { SCRIPTS, type PresenceScripts } from '../../src/presence/redis-scripts.js';
import { syncInChunks } from '../../src/presence/redis-sync.js';
import type { StoredDevice } from '../../src/presence/types.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import { FakeSession } from '../fixtures/fake-presence-session.js';
import { haveRedisServer, RedisProcess } from '../fixtures/redis-server.js';
import { eventually, nextEvent } from './helpers.js';

const skip = haveRedisServer() ? false : 'redis-server is not installed (.ci/run installs it)';
const P = 'lifeline:';
const utf8 = new TextEncoder();

function admin(t: TestContext, redis: RedisProcess): Redis {
  const r = new Redis(redis.url);
  t.after(() => r.disconnect());
  return r;
}

/** Top-level script calls (EVALSHA + EVAL) and the commands inside them, from INFO commandstats. */
async function calls(r: Redis): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await r.info('commandstats')).matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}

async function startServer(t: TestContext, redis: RedisProcess, nodeId: string, extra: ServerOptions = {}, store: Record<string, unknown> = {}): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({
    tcpKeepalive: false,
    tcpUserTimeout: 0,
    authenticate: (token) => (token ? new TextDecoder().decode(token) : undefined),
    presence: { nodeId, store: new RedisPresenceStore({ redis: redis.url, leaseTtlMs: 60_000, sweepIntervalMs: 60_000, ...store }) },
    ...extra,
  });
  t.after(() => server.close());
  return { server, port: (await server.listen(0, '127.0.0.1')).port };
}

test('presence-store - a SUBSCRIBE of 1,000 ids is answered from one Redis script, not 1,000', { skip }, async (t) => {
  const redis = await RedisProcess.start(t);
  const r = admin(t, redis);
  // Lease refresh and sweep a minute apart: nothing else runs in Redis while we count.
  const { server, port } = await startServer(t, redis, 'snap');
  const watcher = connect({ host: '127.0.0.1', port, reconnect: false, token: 'watcher' });
  t.after(() => watcher.close());
  await nextEvent(watcher, 'open', 3000);
  await server.presence.get('watcher'); // the watcher's own device script has run
  const ids = Array.from({ length: 1000 }, (_, i) => `contact-${i}`);
  const updates: PresenceUpdate[] = [];
  watcher.on('presence', (u) => updates.push(u));
  await r.config('RESETSTAT');
  const t0 = performance.now();
  watcher.subscribePresence(ids);
  assert.ok(await eventually(() => updates.length === 1000, 5000), `answered ${updates.length}`);
  const ms = performance.now() - t0;
  const c = await calls(r);
  const scripts = (c.evalsha ?? 0) + (c.eval ?? 0);
  t.diagnostic(`1,000-id SUBSCRIBE: ${scripts} script(s), ${c.hgetall ?? 0} HGETALL inside, all answered in ${ms.toFixed(0)} ms`);
  assert.equal(scripts, 1, JSON.stringify(c));
  assert.equal(c.hgetall, 1000, 'each id read once, inside the one script');
  assert.ok(updates.every((u) => u.state === 'offline'));
});

/** Every lifeline key with its value (the lease's random incarnation and PTTLs left out). */
async function dump(r: Redis): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const key of (await r.keys(`${P}*`)).sort()) {
    const type = await r.type(key);
    if (key.startsWith(`${P}lease:`)) out[key] = 'lease';
    else if (type === 'string') out[key] = await r.get(key);
    else if (type === 'hash') out[key] = await r.hgetall(key);
    else if (type === 'set') out[key] = (await r.smembers(key)).sort();
    else out[key] = type;
  }
  return out;
}

const identityOf = (i: number) => `u${i % 250}`;

/** What a previous process with this nodeId left: sessions 400..899, 600.. of identities nobody else has. */
async function seedStale(r: Redis, node: string): Promise<void> {
  await r.set(`${P}lease:${node}`, 'old-incarnation', 'PX', 60_000);
  await r.sadd(`${P}nodes`, node);
  for (let i = 400; i < 900; i++) {
    const identity = i < 600 ? identityOf(i) : `z${i % 120}`;
    await r.hset(`${P}node:${node}`, `s${i}`, identity);
    await r.hset(`${P}id:${identity}`, `${node}/s${i}`, JSON.stringify({ sessionId: `s${i}`, nodeId: node, state: 'online', since: 1 }));
    await r.set(`${P}state:${identity}`, 'online');
  }
}

/** A node whose 600 devices (every fifth away) exist before its store connects: its first sync carries them all. */
async function syncedNode(t: TestContext, redis: RedisProcess, syncChunk: number): Promise<Presence> {
  const presence = new Presence({ nodeId: 'n', now: () => 5000, store: new RedisPresenceStore({ redis: redis.url, leaseTtlMs: 60_000, sweepIntervalMs: 60_000, syncChunk, now: () => 6000, readyTimeoutMs: 30_000, commandTimeoutMs: 20_000 }) });
  t.after(() => presence.close());
  for (let i = 0; i < 600; i++) {
    const session = new FakeSession(`s${i}`, { id: identityOf(i) }, false);
    presence.opened(session);
    if (i % 5 === 0) presence.detached(session, 100);
  }
  await presence.ready; // the whole sync went through (a busy machine: the long timeouts above)
  assert.equal(presence.degraded, false);
  return presence;
}

test('presence-store - a sync in chunks of 7 leaves Redis exactly as one sync script does, stale records of a previous process removed', { skip, timeout: 30_000 }, async (t) => {
  const redis = await RedisProcess.start(t);
  const r = admin(t, redis);
  const states: Record<string, unknown>[] = [];
  const scripts: number[] = [];
  for (const chunk of [100_000, 7]) {
    await r.flushall();
    await seedStale(r, 'n');
    await r.config('RESETSTAT');
    const presence = await syncedNode(t, redis, chunk);
    const c = await calls(r);
    scripts.push((c.evalsha ?? 0) + (c.eval ?? 0));
    states.push(await dump(r));
    await presence.close();
  }
  t.diagnostic(`600 devices + 500 stale records: ${scripts[0]} script(s) in one chunk, ${scripts[1]} in chunks of 7`);
  // One SYNC + its sweep step per sync; at start the subscriber connection's 'ready' may ask for
  // a second sync while the first runs, and `ready` waits for that one too.
  assert.ok(scripts[0]! <= 2 * 3, `one SYNC + its sweep step (per sync, at most two syncs): ${scripts[0]}`);
  assert.ok(scripts[1]! >= Math.ceil(600 / 7) + Math.ceil(1100 / 7) / 2, `chunked: ${scripts[1]} scripts`);
  assert.deepEqual(states[1], states[0], 'the same state either way');
  const state = states[0]!;
  // And it is the right state: exactly the current devices, the stale-only identities offline with a last seen.
  assert.equal(Object.keys(state[`${P}node:n`] as object).length, 600);
  // u<k> has sessions k, k + 250, k + 500: all away when k is a multiple of 5, all online otherwise.
  for (let i = 0; i < 250; i++) assert.equal(state[`${P}state:u${i}`], i % 5 === 0 ? 'away' : 'online', `u${i}`);
  for (let i = 0; i < 120; i++) {
    assert.equal(state[`${P}state:z${i}`], undefined, `z${i} offline`);
    assert.equal(state[`${P}id:z${i}`], undefined);
    assert.equal(state[`${P}seen:z${i}`], '6000', `z${i} last seen when its stale device was removed`);
  }
  assert.equal(state[`${P}sync:n`], undefined, 'no sync left in progress');
});

test('presence-store - a chunked sync keeps its order against the node’s own writes: a device gone after the read stays gone, one added is kept', { skip }, async (t) => {
  const redis = await RedisProcess.start(t);
  const r = admin(t, redis);
  const cmd = new Redis(redis.url) as Redis & PresenceScripts;
  t.after(() => cmd.disconnect());
  for (const [name, lua] of Object.entries(SCRIPTS)) cmd.defineCommand(name, { numberOfKeys: 0, lua });
  await r.hset(`${P}node:m`, 'stale', 'zed');
  await r.hset(`${P}id:zed`, 'm/stale', JSON.stringify({ sessionId: 'stale', nodeId: 'm', state: 'online', since: 1 }));
  const device = (i: number): StoredDevice => ({ identityId: `v${i % 40}`, sessionId: `d${i}`, nodeId: 'm', state: 'online', since: 1 });
  const target = { cmd, prefix: P, seenTtlMs: 60_000, nodeId: 'm', incarnation: 'me', leaseTtlMs: 60_000, chunk: 10, now: () => 2 };
  const sync = syncInChunks(target, Array.from({ length: 100 }, (_, i) => device(i)));
  // The same turn, after the chunks were written: d5 ends, d-new opens (device scripts, as put / remove send them).
  const removed = cmd.llPresenceDevice(P, 60_000, 'm', 'me', 'v5', 'd5', '', 3);
  const added = cmd.llPresenceDevice(P, 60_000, 'm', 'me', 'v1', 'd-new', JSON.stringify({ sessionId: 'd-new', nodeId: 'm', state: 'online', since: 3 }), 3);
  assert.deepEqual(await Promise.all([sync, removed, added]), ['synced', 1, 1]);
  const sessions = Object.keys(await r.hgetall(`${P}node:m`)).sort();
  const expected = [...Array.from({ length: 100 }, (_, i) => `d${i}`).filter((s) => s !== 'd5'), 'd-new'].sort();
  assert.deepEqual(sessions, expected);
  assert.equal(await r.hexists(`${P}id:v5`, 'm/d5'), 0);
  assert.equal(await r.exists(`${P}id:zed`), 0, 'the stale record swept');
  assert.equal(await r.exists(`${P}sync:m`), 0);
  // A sync that finds the lease held by someone else says so (a restart, or a second process).
  await r.set(`${P}lease:m`, 'other', 'PX', 60_000);
  assert.equal(await syncInChunks(target, [device(0)]), 'took-over');
  assert.equal(await syncInChunks(target, [device(0)]), 'synced');
});

test('presence-store - an offline identity has a last-seen time: its last device’s, kept in a TTL’d key; online ones have none', { skip }, async (t) => {
  const redis = await RedisProcess.start(t);
  const r = admin(t, redis);
  const store = { lastSeenTtlMs: 60_000 };
  const a = await startServer(t, redis, 'node-a', { resumeWindow: 400 }, store);
  const b = await startServer(t, redis, 'node-b', {}, store);
  const alice = connect({ host: '127.0.0.1', port: a.port, reconnect: false, token: 'alice' });
  await nextEvent(alice, 'open', 3000);
  assert.equal((await b.server.presence.get('alice')).lastSeen, undefined, 'online: no last seen');
  const beforeClose = Date.now();
  alice.close();
  let info = await b.server.presence.get('alice');
  for (let i = 0; i < 250 && info.state !== 'offline'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    info = await b.server.presence.get('alice');
  }
  assert.equal(info.state, 'offline');
  assert.ok(info.lastSeen !== undefined && info.lastSeen >= beforeClose && info.lastSeen <= Date.now(), `alice last seen ${info.lastSeen} (closed at ${beforeClose})`);
  const pttl = await r.pttl(`${P}seen:alice`);
  assert.ok(pttl > 0 && pttl <= 60_000, `the key expires: PTTL ${pttl}`);

  // A resumable device that lost its transport: last seen is when its client was last heard, not when the window ended.
  const socket = net.connect({ host: '127.0.0.1', port: a.port });
  socket.on('error', () => {});
  t.after(() => void socket.destroy());
  await nextEvent(socket, 'connect', 3000);
  socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 5000, token: utf8.encode('frank'), resumable: true }));
  for (let i = 0; i < 250 && (await b.server.presence.get('frank')).state !== 'online'; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  const heardBefore = Date.now();
  socket.destroy();
  let frank = await b.server.presence.get('frank');
  for (let i = 0; i < 250 && frank.state !== 'offline'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    frank = await b.server.presence.get('frank');
  }
  const offlineAt = Date.now();
  assert.equal(frank.state, 'offline');
  assert.ok(frank.lastSeen !== undefined && frank.lastSeen <= heardBefore + 50, `frank last seen ${frank.lastSeen}, last heard before ${heardBefore}`);
  assert.ok(offlineAt - frank.lastSeen >= 300, 'the resume window (400 ms) is not counted as seen');
  assert.equal(frank.devices.length, 0);
});

test('presence-store - two live processes with one nodeId: both warn (event + diagnostics channel); a restart within the old lease does not', { skip, timeout: 20_000 }, async (t) => {
  const redis = await RedisProcess.start(t);
  const r = admin(t, redis);
  const published: Array<{ code: string; nodeId: string }> = [];
  const listener = (message: unknown) => published.push(message as { code: string; nodeId: string });
  diagnostics.subscribe('lifeline:presence:warning', listener);
  t.after(() => diagnostics.unsubscribe('lifeline:presence:warning', listener));

  // A restart: the previous process's lease is still there, its process is not.
  await r.set(`${P}lease:solo`, 'previous-process', 'PX', 30_000);
  const solo = new Presence({ nodeId: 'solo', store: new RedisPresenceStore({ redis: redis.url, leaseTtlMs: 600, sweepIntervalMs: 200 }) });
  t.after(() => solo.close());
  const soloWarnings: PresenceWarning[] = [];
  solo.on('warning', (w) => soloWarnings.push(w));
  await solo.ready;

  const twins = [0, 1].map(() => new Presence({ nodeId: 'twin', store: new RedisPresenceStore({ redis: redis.url, leaseTtlMs: 600, sweepIntervalMs: 200 }) }));
  const warnings: PresenceWarning[][] = [[], []];
  twins.forEach((p, i) => {
    t.after(() => p.close());
    p.on('warning', (w) => warnings[i]!.push(w));
  });
  twins[0]!.opened(new FakeSession('t0', { id: 'tess' }));
  await twins[0]!.ready;
  twins[1]!.opened(new FakeSession('t1', { id: 'tom' }));
  await twins[1]!.ready;
  assert.ok(await eventually(() => warnings.every((w) => w.length > 0), 5000), `both twins warned: ${warnings.map((w) => w.length)}`);
  for (const [w] of warnings) {
    assert.equal(w!.code, 'node-id-conflict');
    assert.equal(w!.nodeId, 'twin');
    assert.match(w!.message, /two processes share one nodeId/);
  }
  assert.ok(published.some((m) => m.code === 'node-id-conflict' && m.nodeId === 'twin'), 'published on lifeline:presence:warning');
  await new Promise((resolve) => setTimeout(resolve, 1200)); // two leases' worth more: still one warning each (throttled)
  assert.deepEqual(warnings.map((w) => w.length), [1, 1]);
  assert.deepEqual(soloWarnings, [], 'a restart within the old lease is not a conflict');
  assert.equal((await solo.get('nobody')).state, 'offline');
});
