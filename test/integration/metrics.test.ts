/**
 * Integration (issue 13 §Tests): a real server and real clients on loopback, known traffic —
 * N sessions, K closed gracefully, one client process frozen with SIGSTOP — then /metrics is
 * scraped over HTTP and its text parsed: counters and histograms match what happened.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect, createServer, type Client, type CloseReason, type PongInfo, type Session } from '../../src/index.js';
import { lifelineMetrics, serveMetrics } from '../../src/metrics/index.js';
import { eventually, nextEvent } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Prometheus text → `name{labels}` → value (labels as written, sorted by prom-client). */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

function samples(m: Map<string, number>, name: string): Array<[string, number]> {
  return [...m].filter(([key]) => key === name || key.startsWith(`${name}{`));
}

async function scrape(url: string): Promise<{ text: string; values: Map<string, number> }> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const text = await res.text();
  return { text, values: parse(text) };
}

async function spawnCliClient(t: TestContext, port: number): Promise<{ pid: number; session: string }> {
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'client', '--connect', `127.0.0.1:${port}`, '--interval', '200', '--timeout', '600', '--stay', '--log', 'json'];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['pipe', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('CLI client did not open')), 20_000);
    createInterface({ input: child.stderr! }).on('line', (text) => {
      try {
        const line = JSON.parse(text) as { event?: string; session?: string; pid?: number };
        if (line.event === 'open') {
          clearTimeout(timer);
          resolve({ pid: line.pid!, session: line.session! });
        }
      } catch {
        /* not a log line */
      }
    });
  });
}

test('metrics - /metrics after known traffic: sessions, one heartbeat-timeout detection, bytes, RTT histogram', { skip: process.platform !== 'linux' && 'SIGSTOP on a child' }, async (t) => {
  const N = 5;
  const K = 2;
  const MESSAGES = 10;
  const SIZE = 100;
  // The server leads the heartbeat (spec 0010), so it measures RTT on every PONG.
  const server = createServer({ heartbeatInterval: 200, heartbeatTimeout: 600, minHeartbeatInterval: 50, minHeartbeatTimeout: 100, heartbeatLeader: 'server' });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const metrics = lifelineMetrics(server);
  const http = await serveMetrics(metrics);
  t.after(() => http.close());
  t.after(() => metrics.close());
  const url = `http://127.0.0.1:${http.address.port}/metrics`;

  // Count what the metrics should show from the public events, independently.
  let rttSamples = 0;
  const received: Buffer[] = [];
  server.on('session', (s: Session) => {
    s.on('pong', (info: PongInfo) => void (info.rttMs !== undefined && rttSamples++));
    s.on('message', (data) => void received.push(data));
  });

  const clients: Client[] = [];
  for (let i = 0; i < N; i++) {
    const client = connect({ port, reconnect: false });
    t.after(() => client.close());
    await nextEvent(client, 'open', 5000);
    clients.push(client);
  }
  const payload = Buffer.alloc(SIZE, 7);
  for (const client of clients) for (let i = 0; i < MESSAGES; i++) client.send(payload);
  assert.ok(await eventually(() => received.length === N * MESSAGES, 5000), 'every message arrived');

  // K graceful closes.
  for (const client of clients.slice(0, K)) {
    const done = nextEvent(client, 'close', 5000);
    client.close();
    await done;
  }
  assert.ok(await eventually(() => server.sessionCount === N - K, 5000));

  // One frozen client process: exactly one heartbeat-timeout.
  const cli = await spawnCliClient(t, port);
  assert.ok(await eventually(() => server.sessionCount === N - K + 1, 5000));
  await new Promise((r) => setTimeout(r, 300)); // a heartbeat or two first
  const closed = nextEvent<[Session, CloseReason]>(server, 'sessionClose', 5000);
  process.kill(cli.pid, 'SIGSTOP');
  const [session, reason] = await closed;
  assert.equal(session.id, cli.session);
  assert.equal(reason.code, 'heartbeat-timeout');

  const before = server.stats();
  const rttBefore = rttSamples;
  const { values: m, text } = await scrape(url);
  const after = server.stats();
  t.diagnostic(`${text.length} bytes of metrics`);

  assert.equal(m.get('lifeline_sessions'), N - K);
  assert.equal(m.get('lifeline_sessions_opened_total'), N + 1);
  assert.deepEqual(samples(m, 'lifeline_sessions_closed_total').sort(), [
    ['lifeline_sessions_closed_total{reason="heartbeat-timeout"}', 1],
    ['lifeline_sessions_closed_total{reason="remote-close"}', K],
  ]);
  assert.deepEqual(samples(m, 'lifeline_detections_total'), [['lifeline_detections_total{mechanism="heartbeat",reason="heartbeat-timeout"}', 1]]);
  assert.equal(m.get('lifeline_connections'), N - K);
  assert.equal(m.get('lifeline_connections_closed_total{reason="remote-close"}'), K);

  // Bytes: at least the payloads and frames we sent; between server.stats() read just before and after the scrape.
  const inBytes = m.get('lifeline_received_bytes_total')!;
  const outBytes = m.get('lifeline_sent_bytes_total')!;
  assert.ok(inBytes >= N * MESSAGES * (SIZE + 3), `received ${inBytes}`);
  assert.ok(before.bytesRead <= inBytes && inBytes <= after.bytesRead, `${before.bytesRead} ≤ ${inBytes} ≤ ${after.bytesRead}`);
  assert.ok(before.bytesWritten <= outBytes && outBytes <= after.bytesWritten);

  // RTT histogram: cumulative buckets, +Inf = count = the PONGs with an RTT the sessions reported.
  const buckets = samples(m, 'lifeline_heartbeat_rtt_seconds_bucket');
  assert.equal(buckets.length, 14);
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]![1] >= buckets[i - 1]![1], 'cumulative');
  const count = m.get('lifeline_heartbeat_rtt_seconds_count')!;
  assert.equal(m.get('lifeline_heartbeat_rtt_seconds_bucket{le="+Inf"}'), count);
  assert.ok(count > 0 && count >= rttBefore && count <= rttSamples, `${rttBefore} ≤ ${count} ≤ ${rttSamples}`);
  assert.ok(m.get('lifeline_heartbeat_rtt_seconds_sum')! < count * 0.05, 'loopback RTTs are small');
  assert.ok(m.get('lifeline_pings_sent_total')! >= count, 'a PONG answers a PING we sent');

  assert.equal(m.get('lifeline_server_status{status="ok"}'), 1);
  assert.equal(m.get('lifeline_server_status{status="draining"}'), 0);
  assert.equal(m.get('lifeline_goaways_total{code="draining"}'), 0);
  assert.equal(m.get('lifeline_resumes_total'), 0);
  assert.equal(m.get('lifeline_buffer_overflows_total'), 0);
  assert.ok(m.has('lifeline_event_loop_delay_seconds{quantile="0.99"}'));
  assert.equal(samples(m, 'lifeline_udp_datagrams_total').length, 0, 'no UDP listener, no UDP samples');

  // Drain: one GOAWAY per open session, and the status gauge follows.
  const drained = server.drain({ deadlineMs: 2000 });
  const { values: d } = await scrape(url);
  assert.equal(d.get('lifeline_goaways_total{code="draining"}'), N - K);
  assert.equal(d.get('lifeline_server_status{status="draining"}'), 1);
  await drained;
});

test('metrics - UDP listener counters appear once a UDP listener exists', async (t) => {
  const server = createServer();
  t.after(() => server.close());
  await server.listen({ transport: 'udp', port: 0, host: '127.0.0.1' });
  const metrics = lifelineMetrics(server, { eventLoopDelay: false });
  const text = await metrics.metrics();
  assert.match(text, /lifeline_udp_datagrams_total\{event="datagrams_received"\} 0/);
  assert.doesNotMatch(text, /lifeline_event_loop_delay_seconds\{/);
  metrics.close();
  assert.equal(await metrics.registry.metrics(), '\n');
});
