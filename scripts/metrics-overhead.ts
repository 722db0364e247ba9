/**
 * Metrics on vs off, same run (BENCHMARKS.md §Metrics): one process, a server leading the
 * heartbeat (every beat is a PING sent + a PONG with an RTT sample, the counted path) and
 * CLIENTS lifeline clients on loopback. Alternating windows: no scrape / a /metrics scrape every
 * second over HTTP; process CPU per window (process.cpuUsage: server and clients together).
 * The counters themselves are always on (plain fields), so "off" here is "not scraped"; the
 * micro-benchmark below times the per-heartbeat increments alone.
 * Usage: npx tsx scripts/metrics-overhead.ts [clients=1000] [windowMs=5000] [rounds=3]
 */
import { connect, createServer } from '../src/index.js';
import { lifelineMetrics, serveMetrics } from '../src/metrics/index.js';
import { ServerCounters } from '../src/server/server-counters.js';

const CLIENTS = Number(process.argv[2] ?? 1000);
const WINDOW_MS = Number(process.argv[3] ?? 5000);
const ROUNDS = Number(process.argv[4] ?? 3);
const INTERVAL_MS = 1000;

const server = createServer({ heartbeatInterval: INTERVAL_MS, heartbeatTimeout: 3 * INTERVAL_MS, heartbeatLeader: 'server', maxAcceptRate: 1e6 });
const { port } = await server.listen(0, '127.0.0.1');
const metrics = lifelineMetrics(server);
const http = await serveMetrics(metrics);
const url = `http://127.0.0.1:${http.address.port}/metrics`;
const clients = [];
for (let i = 0; i < CLIENTS; i++) clients.push(connect({ port, reconnect: false, heartbeatInterval: INTERVAL_MS, heartbeatTimeout: 3 * INTERVAL_MS }));
while (server.sessionCount < CLIENTS) await new Promise((r) => setTimeout(r, 50));
await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS)); // settle

async function window(scrape: boolean): Promise<{ cpuMs: number; beats: number; scrapeMs: number[] }> {
  const beats0 = server.counters.pingsSent;
  const cpu0 = process.cpuUsage();
  const scrapeMs: number[] = [];
  const timer = scrape
    ? setInterval(() => {
        const t0 = performance.now();
        void fetch(url).then((r) => r.text()).then(() => scrapeMs.push(performance.now() - t0));
      }, 1000)
    : undefined;
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  if (timer) clearInterval(timer);
  const cpu = process.cpuUsage(cpu0);
  return { cpuMs: (cpu.user + cpu.system) / 1000, beats: server.counters.pingsSent - beats0, scrapeMs };
}

const rows: string[] = [];
for (let round = 0; round < ROUNDS; round++) {
  for (const scrape of [false, true]) {
    const w = await window(scrape);
    const perBeatUs = (w.cpuMs * 1000) / w.beats;
    const s = w.scrapeMs.sort((a, b) => a - b);
    rows.push(`round ${round + 1} ${scrape ? 'scraped' : 'off    '}: ${w.cpuMs.toFixed(0)} ms CPU, ${w.beats} beats, ${perBeatUs.toFixed(2)} µs CPU / beat${scrape ? `, scrape median ${s[s.length >> 1]?.toFixed(1)} ms` : ''}`);
    console.log(rows.at(-1));
  }
}

// The counted part alone: the increments a heartbeat adds (PING sent + RTT bucket).
const c = new ServerCounters();
const N = 10_000_000;
const t0 = performance.now();
for (let i = 0; i < N; i++) {
  c.pingsSent++;
  c.rtt(i & 7);
}
const ns = ((performance.now() - t0) * 1e6) / N;
console.log(`counters alone: ${ns.toFixed(1)} ns per heartbeat (pingsSent++ + rtt())`);

for (const client of clients) client.close();
await http.close();
metrics.close();
await server.close();
process.exit(0);
