/**
 * Presence on Redis (BENCHMARKS.md §Presence on Redis; docs/spec/0014-presence.md; issue 12's
 * targets). A real redis-server on loopback (its own, in a temp dir), three parts:
 *
 * 1. latency — three lifeline nodes as separate processes (test/fixtures/presence-node.ts); a
 *    watcher client on node A subscribed (PRESENCE) to ROUNDS identities; for each, a device
 *    connects to node C, then closes. Time from the device's connect() call (and from its 'open')
 *    to the watcher's 'presence' event: connect, handshake, the device script in Redis, pub/sub
 *    to node A, node A's PRESENCE frame to the watcher. p50 / p99 / max.
 * 2. idle — SESSIONS real client connections on one node, heartbeat every 250 ms, left idle for
 *    IDLE_MS; Redis INFO commandstats before / after: commands per heartbeat per session.
 * 3. scale — 100,000 simulated sessions on four nodes (Presence + RedisPresenceStore in this
 *    process, fake sessions: no sockets — the store sees exactly what a server's lifecycle calls
 *    would send it): ramp-up, idle, and churn at CHURN changes/s; Redis commands/s (commandstats:
 *    top-level EVALSHA and the commands run inside the scripts), Redis CPU and memory.
 *
 * 4. snapshot — a client on one node subscribes (PRESENCE) to SNAPSHOT_IDS ids, SNAPSHOT_ROUNDS
 *    times on fresh connections: Redis scripts per SUBSCRIBE (commandstats) and the time until
 *    every id is answered, p50 / max.
 * 5. sync — SYNC_SESSIONS simulated sessions on one node; its lease is deleted, so it re-syncs
 *    them all: how many scripts and their total time (commandstats), the longest (SLOWLOG above
 *    2 ms: Redis 7 logs the commands inside scripts too, all far shorter), and the worst
 *    latency a probe client saw meanwhile (a PING every 2 ms on its own connection): how long
 *    Redis was held for everyone else.
 *
 * Usage: npx tsx scripts/presence-bench.ts [part=all|latency|idle|scale|snapshot|sync] — prints JSON lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { connect, createServer, Presence, RedisPresenceStore, type Client } from '../src/index.js';
import { FakeSession } from '../test/fixtures/fake-presence-session.js';
import { RedisProcess } from '../test/fixtures/redis-server.js';

const PART = process.argv[2] ?? 'all';
const ROUNDS = Number(process.env.ROUNDS ?? 400);
const SESSIONS = Number(process.env.SESSIONS ?? 2000);
const IDLE_MS = Number(process.env.IDLE_MS ?? 10_000);
const SIMULATED = Number(process.env.SIMULATED ?? 100_000);
const CHURN = Number(process.env.CHURN ?? 1000);
const SNAPSHOT_IDS = Number(process.env.SNAPSHOT_IDS ?? 1000);
const SNAPSHOT_ROUNDS = Number(process.env.SNAPSHOT_ROUNDS ?? 20);
const SYNC_SESSIONS = Number(process.env.SYNC_SESSIONS ?? 100_000);
const TTL_MS = 10_000;
const SWEEP_MS = 2000;
const root = fileURLToPath(new URL('../', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** commandstats: calls per command, CPU seconds, memory. */
async function redisStats(admin: Redis): Promise<{ calls: Map<string, number>; cpu: number; memory: number }> {
  const [stats, cpu, memory] = await Promise.all([admin.info('commandstats'), admin.info('cpu'), admin.info('memory')]);
  const calls = new Map<string, number>();
  for (const m of stats.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) calls.set(m[1]!, Number(m[2]));
  const num = (text: string, key: string) => Number(new RegExp(`${key}:([\\d.]+)`).exec(text)?.[1] ?? 0);
  return { calls, cpu: num(cpu, 'used_cpu_sys') + num(cpu, 'used_cpu_user'), memory: num(memory, 'used_memory') };
}

function delta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, n] of after) {
    const d = n - (before.get(name) ?? 0);
    if (d > 0 && !['info', 'config|resetstat', 'config'].includes(name)) out[name] = d;
  }
  return out;
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

async function startNode(url: string, nodeId: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/presence-node.ts', url, nodeId, String(TTL_MS), String(SWEEP_MS)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => createInterface({ input: child.stdout! }).once('line', (line) => resolve((JSON.parse(line) as { port: number }).port)));
  return { child, port };
}

function open(port: number, token: string, extra: Record<string, unknown> = {}): Promise<Client> {
  const c = connect({ host: '127.0.0.1', port, reconnect: false, token, tcpKeepalive: false, tcpUserTimeout: 0, ...extra });
  c.on('close', () => {});
  return new Promise((resolve, reject) => {
    c.once('open', () => resolve(c));
    c.once('close', (r) => reject(new Error(r.message)));
  });
}

async function latency(url: string): Promise<void> {
  const nodes = await Promise.all(['node-a', 'node-b', 'node-c'].map((id) => startNode(url, id)));
  const [a, , c] = nodes;
  const watcher = await open(a!.port, 'watcher');
  const ids = Array.from({ length: ROUNDS }, (_, i) => `contact-${i}`);
  const waiting = new Map<string, (at: number) => void>();
  watcher.on('presence', (u) => waiting.get(`${u.id}:${u.state}`)?.(performance.now()));
  const told = (id: string, state: string) => new Promise<number>((resolve) => waiting.set(`${id}:${state}`, resolve));
  const snapshot = Promise.all(ids.map((id) => told(id, 'offline')));
  watcher.subscribePresence(ids);
  await snapshot;
  const fromConnect: number[] = [];
  const fromOpen: number[] = [];
  const offline: number[] = [];
  for (const id of ids) {
    const online = told(id, 'online');
    const t0 = performance.now();
    const device = await open(c!.port, id);
    const opened = performance.now();
    const at = await online;
    fromConnect.push(at - t0);
    fromOpen.push(Math.max(0, at - opened));
    const gone = told(id, 'offline');
    const t1 = performance.now();
    device.close();
    offline.push((await gone) - t1);
  }
  const report = (xs: number[]) => {
    const s = [...xs].sort((x, y) => x - y);
    return { p50: +pct(s, 50).toFixed(2), p99: +pct(s, 99).toFixed(2), max: +s.at(-1)!.toFixed(2) };
  };
  console.log(JSON.stringify({ part: 'latency', rounds: ROUNDS, onlineFromConnectMs: report(fromConnect), onlineFromOpenMs: report(fromOpen), offlineFromCloseMs: report(offline) }));
  watcher.close();
  for (const n of nodes) n.child.kill('SIGKILL');
}

async function idle(url: string, admin: Redis): Promise<void> {
  await admin.flushall(); // no records of the latency part's (killed) nodes left for this node to sweep
  const node = await startNode(url, 'node-idle');
  const clients: Client[] = [];
  let pongs = 0;
  for (let i = 0; i < SESSIONS; i += 200) {
    const batch = await Promise.all(Array.from({ length: Math.min(200, SESSIONS - i) }, (_, k) => open(node.port, `idle-${i + k}`, { heartbeatInterval: 250, heartbeatTimeout: 2000 })));
    clients.push(...batch);
  }
  for (const c of clients) c.on('pong', () => pongs++);
  await sleep(1000); // the opens' writes are done
  const before = await redisStats(admin);
  const pongs0 = pongs;
  const t0 = performance.now();
  await sleep(IDLE_MS);
  const after = await redisStats(admin);
  const seconds = (performance.now() - t0) / 1000;
  const heartbeats = pongs - pongs0;
  const commands = delta(before.calls, after.calls);
  console.log(JSON.stringify({ part: 'idle', sessions: SESSIONS, seconds: +seconds.toFixed(1), heartbeats, redisCommands: commands, commandsPerHeartbeatPerSession: sum(commands) / heartbeats, note: 'the node keeps a lease (PEXPIRE script: EVALSHA + GET + PEXPIRE, every TTL/3 = 3.3 s) and sweeps (SMEMBERS every 2 s): per node, not per session or heartbeat' }));
  for (const c of clients) c.close();
  await sleep(500);
  node.child.kill('SIGKILL');
}

async function scale(url: string, admin: Redis): Promise<void> {
  await admin.flushall();
  const NODES = 4;
  const nodes = Array.from({ length: NODES }, (_, n) => new Presence({ nodeId: `sim-${n}`, store: new RedisPresenceStore({ redis: url, leaseTtlMs: TTL_MS, sweepIntervalMs: SWEEP_MS, commandTimeoutMs: 10_000 }) }));
  await Promise.all(nodes.map((p) => p.ready));
  let changes = 0;
  nodes[0]!.on('change', () => changes++);
  const identities = Math.round(SIMULATED * 0.6); // some identities have two devices
  let nextSession = 0;
  const live: Array<{ session: FakeSession<{ id: string }>; node: number }> = [];
  const openOne = () => {
    const n = nextSession % NODES;
    const session = new FakeSession(`s${nextSession++}`, { id: `u${Math.floor(Math.random() * identities)}` }, false);
    nodes[n]!.opened(session);
    live.push({ session, node: n });
  };
  const stats0 = await redisStats(admin);
  const t0 = performance.now();
  for (let i = 0; i < SIMULATED; i++) {
    openOne();
    if (i % 2000 === 1999) await sleep(0); // let ioredis write; the scripts pipeline
  }
  // Wait until Redis has them all (a get of the last one answers once the writes before it ran).
  await nodes[(SIMULATED - 1) % NODES]!.get(live.at(-1)!.session.identity.id);
  const rampSeconds = (performance.now() - t0) / 1000;
  const stats1 = await redisStats(admin);
  const ramp = delta(stats0.calls, stats1.calls);
  console.log(JSON.stringify({ part: 'scale-ramp', sessions: SIMULATED, seconds: +rampSeconds.toFixed(2), redisCommandsPerSecond: Math.round(sum(ramp) / rampSeconds), evalshaPerSecond: Math.round((ramp.evalsha ?? 0) / rampSeconds), redisCpuPercent: +((100 * (stats1.cpu - stats0.cpu)) / rampSeconds).toFixed(1), redisMemoryMB: +(stats1.memory / 1e6).toFixed(1) }));

  await sleep(2000);
  const s2 = await redisStats(admin);
  const ti = performance.now();
  await sleep(IDLE_MS);
  const s3 = await redisStats(admin);
  const idleSeconds = (performance.now() - ti) / 1000;
  const idleCommands = delta(s2.calls, s3.calls);
  console.log(JSON.stringify({ part: 'scale-idle', sessions: live.length, nodes: NODES, seconds: +idleSeconds.toFixed(1), redisCommandsPerSecond: +(sum(idleCommands) / idleSeconds).toFixed(2), commands: idleCommands, redisCpuPercent: +((100 * (s3.cpu - s2.cpu)) / idleSeconds).toFixed(2) }));

  // Churn: every 10 ms, CHURN / 100 sessions end and as many new ones open (each is one device
  // script; about half change an identity's state and publish).
  const s4 = await redisStats(admin);
  const changes0 = changes;
  const tc = performance.now();
  const perTick = Math.max(1, Math.round(CHURN / 100));
  let churned = 0;
  while (performance.now() - tc < IDLE_MS) {
    for (let k = 0; k < perTick; k++) {
      const i = Math.floor(Math.random() * live.length);
      const { session, node } = live[i]!;
      live[i] = live.at(-1)!;
      live.pop();
      session.state = 'closed';
      nodes[node]!.closed(session);
      openOne();
      churned += 2;
    }
    await sleep(10);
  }
  await nodes[0]!.get('u0');
  const churnSeconds = (performance.now() - tc) / 1000;
  const s5 = await redisStats(admin);
  const churnCommands = delta(s4.calls, s5.calls);
  console.log(JSON.stringify({ part: 'scale-churn', sessions: live.length, deviceChangesPerSecond: Math.round(churned / churnSeconds), identityChangesPerSecond: Math.round((changes - changes0) / churnSeconds), redisCommandsPerSecond: Math.round(sum(churnCommands) / churnSeconds), commands: Object.fromEntries(Object.entries(churnCommands).map(([k, v]) => [k, Math.round(v / churnSeconds)])), redisCpuPercent: +((100 * (s5.cpu - s4.cpu)) / churnSeconds).toFixed(1) }));
  await Promise.all(nodes.map((p) => p.close()));
}

async function snapshot(url: string, admin: Redis): Promise<void> {
  await admin.flushall();
  const server = createServer({ authenticate: (t) => (t ? new TextDecoder().decode(t) : undefined), presence: { nodeId: 'snap', store: new RedisPresenceStore({ redis: url, leaseTtlMs: 60_000, sweepIntervalMs: 60_000 }) } });
  const { port } = await server.listen(0, '127.0.0.1');
  const ids = Array.from({ length: SNAPSHOT_IDS }, (_, i) => `contact-${i}`);
  const ms: number[] = [];
  let scripts = 0;
  for (let round = 0; round < SNAPSHOT_ROUNDS; round++) {
    const c = await open(port, `watcher-${round}`);
    await server.presence.get(`watcher-${round}`); // its own device script is done
    let answered = 0;
    const done = new Promise<void>((resolve) => c.on('presence', () => ++answered === ids.length && resolve()));
    const before = await redisStats(admin);
    const t0 = performance.now();
    c.subscribePresence(ids);
    await done;
    ms.push(performance.now() - t0);
    const d = delta(before.calls, (await redisStats(admin)).calls);
    scripts += (d.evalsha ?? 0) + (d.eval ?? 0);
    c.close();
  }
  const s = [...ms].sort((x, y) => x - y);
  console.log(JSON.stringify({ part: 'snapshot', ids: SNAPSHOT_IDS, rounds: SNAPSHOT_ROUNDS, scriptsPerSubscribe: scripts / SNAPSHOT_ROUNDS, answeredMs: { p50: +pct(s, 50).toFixed(1), max: +s.at(-1)!.toFixed(1) } }));
  await server.close();
}

async function sync(url: string, admin: Redis): Promise<void> {
  await admin.flushall();
  const presence = new Presence({ nodeId: 'big', store: new RedisPresenceStore({ redis: url, leaseTtlMs: 3000, sweepIntervalMs: 60_000, commandTimeoutMs: 30_000 }) });
  await presence.ready;
  for (let i = 0; i < SYNC_SESSIONS; i++) {
    presence.opened(new FakeSession(`s${i}`, { id: `u${i % Math.round(SYNC_SESSIONS * 0.6)}` }, false));
    if (i % 2000 === 1999) await sleep(0);
  }
  await presence.get('u0');
  await admin.config('SET', 'slowlog-log-slower-than', '2000');
  await admin.config('SET', 'slowlog-max-len', '10000');
  await admin.slowlog('RESET');
  const evalsha = async () => {
    const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await admin.info('commandstats'));
    return { calls: Number(m?.[1] ?? 0), usec: Number(m?.[2] ?? 0) };
  };
  const before = await evalsha();
  // The probe in its own process: this one is busy building the node's chunks meanwhile.
  const PROBE_MS = 8000;
  const probeCode = `import { Redis } from 'ioredis'; const r = new Redis(${JSON.stringify(url)}); let worst = 0; const end = performance.now() + ${PROBE_MS}; while (performance.now() < end) { const t = performance.now(); await r.ping(); worst = Math.max(worst, performance.now() - t); await new Promise((ok) => setTimeout(ok, 2)); } console.log(worst); r.disconnect();`;
  const probe = spawn(process.execPath, ['--input-type=module', '-e', probeCode], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const probed = new Promise<number>((resolve) => createInterface({ input: probe.stdout! }).once('line', (line) => resolve(Number(line))));
  await sleep(300); // the probe is connected
  await admin.del('lifeline:lease:big'); // lost: the node re-syncs everything at its next refresh (≤ 1 s; the probe runs 8 s)
  const t0 = performance.now();
  const resynced = () => admin.hlen('lifeline:node:big').then((n) => n === SYNC_SESSIONS);
  await sleep(1200);
  while (!(await admin.exists('lifeline:lease:big')) || (await admin.exists('lifeline:sync:big')) || !(await resynced())) {
    if (performance.now() - t0 > 120_000) throw new Error('no re-sync within 120 s');
    await sleep(50);
  }
  const worst = await probed;
  const log = (await admin.slowlog('GET', -1)) as Array<[number, number, number, string[]]>;
  const longest = Math.max(0, ...log.filter((e) => /^eval/i.test(String(e[3][0]))).map((e) => e[2])) / 1000;
  const after = await evalsha();
  const scripts = after.calls - before.calls;
  const total = (after.usec - before.usec) / 1000;
  console.log(JSON.stringify({ part: 'sync', sessions: SYNC_SESSIONS, scripts, longestScriptMs: +longest.toFixed(1), scriptsTotalMs: +total.toFixed(0), probeWorstLatencyMs: +worst.toFixed(1), note: 'scripts: sync chunks + sweep steps + the lease refreshes meanwhile' }));
  await admin.config('SET', 'slowlog-log-slower-than', '10000');
  await presence.close();
}

const redis = await RedisProcess.launch();
const admin = new Redis(redis.url);
try {
  if (PART === 'all' || PART === 'latency') await latency(redis.url);
  if (PART === 'all' || PART === 'idle') await idle(redis.url, admin);
  if (PART === 'all' || PART === 'scale') await scale(redis.url, admin);
  if (PART === 'all' || PART === 'snapshot') await snapshot(redis.url, admin);
  if (PART === 'all' || PART === 'sync') await sync(redis.url, admin);
} finally {
  admin.disconnect();
  await redis.remove();
}
process.exit(0);
