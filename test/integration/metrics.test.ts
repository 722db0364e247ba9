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
import net from 'node:net';
import { connect, createServer, RedisPresenceStore, sessionTag, type Client, type ClientOptions, type CloseReason, type LifelineServer, type OpenInfo, type PongInfo, type ServerOptions, type Session } from '../../src/index.js';
import { lifelineMetrics, serveMetrics } from '../../src/metrics/index.js';
import { FaultProxy } from '../../src/lab/fault-proxy.js';
import { encodeFrame, encodePing, encodePong } from '../../src/protocol/encode.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import type { Frame, FrameType } from '../../src/protocol/frames.js';
import { haveRedisServer, RedisProcess } from '../fixtures/redis-server.js';
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

async function spawnCliClient(t: TestContext, port: number, timeoutMs = 600): Promise<{ pid: number; session: string }> {
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'client', '--connect', `127.0.0.1:${port}`, '--interval', '200', '--timeout', String(timeoutMs), '--stay', '--log', 'json'];
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
  assert.equal(sessionTag(session.id), cli.session, 'the CLI logs the session by its tag (spec 0016)');
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

// --- issue 13 follow-ups: each count scraped after the event that makes it --------------------

/** lifelineMetrics(server) read through its registry (serveMetrics' HTTP path is tested above). */
function attach(t: TestContext, server: LifelineServer): () => Promise<Map<string, number>> {
  const metrics = lifelineMetrics(server, { eventLoopDelay: false });
  t.after(() => metrics.close());
  return async () => parse(await metrics.metrics());
}

async function quietServer(t: TestContext, options: ServerOptions = {}): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({ minHeartbeatInterval: 50, minHeartbeatTimeout: 100, tcpKeepalive: false, tcpUserTimeout: 0, ...options });
  t.after(() => server.close());
  return { server, port: (await server.listen(0, '127.0.0.1')).port };
}

/** A FaultProxy in front of `port`; a client through it. */
async function proxied(t: TestContext, { server, port }: { server: LifelineServer; port: number }, options: ClientOptions): Promise<{ proxy: FaultProxy; client: Client; session: Session }> {
  const proxy = new FaultProxy({ host: '127.0.0.1', port });
  t.after(() => proxy.close());
  const { port: proxyPort } = await proxy.listen();
  const client = connect({ servers: [`127.0.0.1:${proxyPort}`], tcpKeepalive: false, tcpUserTimeout: 0, ...options });
  t.after(() => client.close());
  const [info] = await nextEvent<[OpenInfo]>(client, 'open', 5000);
  const session = [...server.sessions()].find((s) => s.id === info.sessionId)!;
  return { proxy, client, session };
}

test('metrics - a resume after a cut (proxy reset): lifeline_resumes_total 1, replayed = the messages the client missed', async (t) => {
  const at = await quietServer(t);
  const scrape = attach(t, at.server);
  const { proxy, client, session } = await proxied(t, at, { reconnect: { initialDelay: 20 } });
  const got: string[] = [];
  client.on('message', (b: Buffer) => void got.push(b.toString()));
  session.send('before');
  assert.ok(await eventually(() => got.length === 1, 3000));
  const MISSED = 5;
  const reopened = nextEvent<[OpenInfo]>(client, 'open', 5000);
  proxy.setMode('reset');
  proxy.setMode('forward');
  for (let i = 0; i < MISSED; i++) session.send(`missed-${i}`); // written into the dead connection, or while detached
  const [info] = await reopened;
  assert.equal(info.resumed, true);
  assert.ok(await eventually(() => got.length === 1 + MISSED, 3000), `client got ${got}`);
  const m = await scrape();
  assert.equal(m.get('lifeline_resumes_total'), 1);
  assert.equal(m.get('lifeline_replayed_messages_total'), MISSED);
  assert.equal(m.get('lifeline_sessions_opened_total'), 1, 'a resume is not a new session');
  assert.equal(m.get('lifeline_resume_expiries_total'), 0);
});

test('metrics - detached sessions: one evicted over maxResumeBytes, the others expire; a send over the per-session bound is an overflow', async (t) => {
  const WINDOW_MS = 800;
  const at = await quietServer(t, { resumeWindow: WINDOW_MS, maxResumeBytes: 1000, maxResumeBytesPerSession: 1000 });
  const { server } = at;
  const scrape = attach(t, server);
  const ended: CloseReason[] = [];
  server.on('sessionClose', (_s: Session, reason: CloseReason) => void ended.push(reason));
  const peers = [];
  for (let i = 0; i < 3; i++) peers.push(await proxied(t, at, { reconnect: false, resume: true }));
  let overflows = 0;
  for (const [i, { proxy, session }] of peers.entries()) {
    proxy.setMode('reset');
    assert.ok(await eventually(() => session.state === 'detached' || session.state === 'closed', 3000), `peer ${i} detached`);
    if (i === 2) break;
    session.send(Buffer.alloc(600)); // held for a resume: 600 + 600 > 1000 once the third detaches
    try {
      session.send(Buffer.alloc(600));
    } catch (err) {
      if ((err as Error).name === 'BufferOverflowError') overflows++;
      else throw err;
    }
  }
  assert.equal(overflows, 2, 'past maxResumeBytesPerSession');
  assert.equal(peers[0]!.session.state, 'closed', 'the oldest detached session gave way');
  assert.ok(await eventually(() => server.sessionCount === 0, WINDOW_MS + 3000), 'the others expired');
  const m = await scrape();
  const said = (re: RegExp) => ended.filter((r) => re.test(r.message)).length;
  assert.equal(said(/resume buffers over maxResumeBytes/), 1);
  assert.equal(said(/not resumed within \d+ ms$/), 2);
  assert.equal(m.get('lifeline_resume_evictions_total{bound="max-resume-bytes"}'), 1);
  assert.equal(m.get('lifeline_resume_evictions_total{bound="max-detached-sessions"}'), 0);
  assert.equal(m.get('lifeline_resume_expiries_total'), 2);
  assert.equal(m.get('lifeline_buffer_overflows_total'), overflows);
  assert.equal(samples(m, 'lifeline_sessions_closed_total').reduce((n, [, v]) => n + v, 0), 3);
});

test('metrics - a stall of our own loop: lifeline_stalls_total counts the reports, and no healthy peer is blamed', async (t) => {
  const { server, port } = await quietServer(t);
  const scrape = attach(t, server);
  const stalls: number[] = [];
  server.on('stall', (ms: number) => void stalls.push(ms));
  // In its own process, it keeps beating while we are blocked; its 3 s timeout outlasts the block
  // (the guard's threshold is a quarter of it: 750 ms).
  const cli = await spawnCliClient(t, port, 3000);
  assert.ok(await eventually(() => server.sessionCount === 1, 5000));
  await new Promise((r) => setTimeout(r, 400));
  const end = Date.now() + 1500;
  while (Date.now() < end) {
    /* our event loop is stuck */
  }
  assert.ok(await eventually(() => stalls.length > 0, 3000), 'the stall was reported');
  await new Promise((r) => setTimeout(r, 700));
  const m = await scrape();
  assert.equal(m.get('lifeline_stalls_total'), stalls.length);
  assert.equal(samples(m, 'lifeline_detections_total').length, 0, 'no detection');
  assert.equal(m.get('lifeline_sessions'), 1, `client ${cli.session} still open`);
});

test('metrics - phi detector: a black-holed client is lifeline_detections_total{mechanism="phi",reason="heartbeat-timeout"}', async (t) => {
  const at = await quietServer(t, { detector: { kind: 'phi' } });
  const scrape = attach(t, at.server);
  const { proxy, session } = await proxied(t, at, { reconnect: false, resume: false, heartbeatInterval: 100, heartbeatTimeout: 400 });
  await new Promise((r) => setTimeout(r, 500)); // arrivals for the detector to learn from
  const closed = nextEvent<[CloseReason]>(session, 'close', 5000);
  proxy.setMode('blackhole');
  const [reason] = await closed;
  assert.equal(reason.code, 'heartbeat-timeout');
  const m = await scrape();
  assert.deepEqual(samples(m, 'lifeline_detections_total'), [['lifeline_detections_total{mechanism="phi",reason="heartbeat-timeout"}', 1]]);
});

test('metrics - ping strikes: a PING flood is 2 strikes then too-many on its server, none on another server of the process', async (t) => {
  const { server, port } = await quietServer(t);
  const { server: other } = await quietServer(t);
  const [scrape, scrapeOther] = [attach(t, server), attach(t, other)];
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  t.after(() => void socket.destroy());
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => void (bytes += chunk.length));
  await nextEvent(socket, 'connect', 3000);
  const closed = nextEvent<[Session, CloseReason]>(server, 'sessionClose', 5000);
  socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 3000 }));
  assert.ok(await eventually(() => bytes > 0, 3000), 'WELCOME');
  // PINGs 10 ms apart, each its own write (one read = one PING event): all but the first are early.
  for (let i = 0; i < 50 && !socket.destroyed && server.sessionCount > 0; i++) {
    socket.write(encodePing(i % 32));
    await new Promise((r) => setTimeout(r, 10));
  }
  const [, reason] = await closed;
  assert.equal(reason.code, 'too-many-pings');
  const m = await scrape();
  assert.equal(m.get('lifeline_ping_strikes_total{verdict="strike"}'), 2, 'maxPingStrikes (2) forgiven');
  assert.equal(m.get('lifeline_ping_strikes_total{verdict="too-many"}'), 1);
  assert.equal(m.get('lifeline_detections_total{mechanism="enforcement",reason="too-many-pings"}'), 1);
  const o = await scrapeOther();
  assert.equal(o.get('lifeline_ping_strikes_total{verdict="strike"}'), 0);
  assert.equal(o.get('lifeline_ping_strikes_total{verdict="too-many"}'), 0);
});

test('metrics - presence on Redis: degraded gauge follows an outage; two live servers sharing a nodeId each count their conflict warnings', { skip: haveRedisServer() ? false : 'redis-server is not installed', timeout: 30_000 }, async (t) => {
  const redis = await RedisProcess.start(t);
  const store = () => new RedisPresenceStore({ redis: redis.url, leaseTtlMs: 600, sweepIntervalMs: 200, reconnect: { initialDelay: 50, maxDelay: 300 } });
  const twins = [await quietServer(t, { presence: { nodeId: 'twin', store: store() } }), await quietServer(t, { presence: { nodeId: 'twin', store: store() } })];
  const scrapes = twins.map(({ server }) => attach(t, server));
  const warnings = [0, 0];
  twins.forEach(({ server }, i) => server.presence.on('warning', () => void warnings[i]!++));
  assert.ok(await eventually(() => warnings.every((n) => n > 0), 5000), `both warned: ${warnings}`);
  for (const [i, scrape] of scrapes.entries()) {
    const m = await scrape();
    assert.equal(m.get('lifeline_presence_warnings_total{code="node-id-conflict"}'), warnings[i]);
    assert.equal(m.get('lifeline_presence_degraded'), 0);
  }
  await redis.stop();
  assert.ok(await eventually(() => twins[0]!.server.presence.degraded, 5000), 'degraded');
  assert.equal((await scrapes[0]!()).get('lifeline_presence_degraded'), 1);
  await redis.run();
  assert.ok(await eventually(() => !twins[0]!.server.presence.degraded, 5000), 'restored');
  assert.equal((await scrapes[0]!()).get('lifeline_presence_degraded'), 0);
});

test('metrics - `lifeline server --metrics-port 0` as a real process: scraped after a session opened and closed', async (t) => {
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'server', '--port', '0', '--host', '127.0.0.1', '--log', 'json', '--metrics-port', '0'];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => void child.kill('SIGKILL'));
  const ports: { lifeline?: number; metrics?: string } = {};
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('lifeline server did not log listening + metrics-listening')), 20_000);
    createInterface({ input: child.stderr! }).on('line', (line) => {
      const e = JSON.parse(line) as { event?: string; port?: number; url?: string };
      if (e.event === 'listening') ports.lifeline ??= e.port;
      if (e.event === 'metrics-listening') ports.metrics = e.url;
      if (ports.lifeline !== undefined && ports.metrics !== undefined) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const before = await scrape(ports.metrics!);
  assert.equal(before.values.get('lifeline_sessions_opened_total'), 0);
  const client = connect({ port: ports.lifeline!, reconnect: false });
  t.after(() => client.close());
  await nextEvent(client, 'open', 5000);
  const opened = await scrape(ports.metrics!);
  assert.equal(opened.values.get('lifeline_sessions'), 1);
  const done = nextEvent(client, 'close', 5000);
  client.close();
  await done;
  let m = new Map<string, number>();
  for (let i = 0; i < 100 && m.get('lifeline_sessions_closed_total{reason="remote-close"}') !== 1; i++) {
    m = (await scrape(ports.metrics!)).values;
    if (m.get('lifeline_sessions_closed_total{reason="remote-close"}') !== 1) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(m.get('lifeline_sessions_closed_total{reason="remote-close"}'), 1);
  assert.equal(m.get('lifeline_sessions_opened_total'), 1);
  assert.equal(m.get('lifeline_sessions'), 0);
  assert.equal(m.get('lifeline_presence_degraded'), 0);
  assert.equal(m.get('lifeline_ping_strikes_total{verdict="strike"}'), 0);
  assert.ok(m.get('lifeline_received_bytes_total')! > 0);
});

// --- frames by type (spec 0015 §Frames by type) ----------------------------------------------

/**
 * A hand-written lifeline peer on a raw socket: every frame it writes is counted here, and
 * everything the server writes is decoded, so both sides of the server's frame counts are known
 * without trusting the server's own code.
 */
class RawPeer {
  readonly socket: net.Socket;
  readonly wrote = new Map<FrameType, number>();
  readonly got: Frame[] = [];
  readonly ended: Promise<void>;
  private readonly decoder = new FrameDecoder();

  constructor(t: TestContext, port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.socket.on('error', () => {});
    t.after(() => void this.socket.destroy());
    this.socket.on('data', (chunk: Buffer) => this.decoder.push(chunk, (frame) => void this.got.push(frame)));
    this.ended = new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  /** Frames in one write (one read on loopback for a few bytes), each counted by type. */
  send(...frames: Array<[FrameType, Uint8Array]>): void {
    for (const [type] of frames) this.wrote.set(type, (this.wrote.get(type) ?? 0) + 1);
    this.socket.write(Buffer.concat(frames.map(([, bytes]) => bytes)));
  }

  count(type: FrameType): number {
    return this.got.filter((f) => f.type === type).length;
  }
}

test('metrics - frames by type: N DATA each way, PINGs in one read, PONG, ACK, PRESENCE, GOAWAY, CLOSE both ways — exact counts', async (t) => {
  const N = 7;
  const { server, port } = await quietServer(t);
  const scrape = attach(t, server);
  const sessions: Session[] = [];
  const messages: string[] = [];
  server.on('session', (s: Session) => {
    sessions.push(s);
    s.on('message', (b: Buffer) => void messages.push(b.toString()));
  });
  const hello = (resumable: boolean): [FrameType, Uint8Array] => ['hello', encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 3000, ...(resumable ? { resumable } : {}) })];
  const data = (seq: number): [FrameType, Uint8Array] => ['data', encodeFrame({ type: 'data', seq, payload: Buffer.from(`m${seq}`) })];

  // Connection 1: DATA both ways, three PINGs in one write, one status PONG; the server closes it.
  const a = new RawPeer(t, port);
  await nextEvent(a.socket, 'connect', 3000);
  a.send(hello(false));
  assert.ok(await eventually(() => a.count('welcome') === 1 && sessions.length === 1, 3000), 'WELCOME 1');
  for (let seq = 1; seq <= N; seq++) a.send(data(seq));
  for (let i = 0; i < N; i++) sessions[0]!.send(`s${i}`);
  a.send(['ping', encodePing(1)], ['ping', encodePing(2)], ['ping', encodePing(3)]);
  a.send(['pong', encodePong(0, 'ok', 0)]);
  assert.ok(await eventually(() => messages.length === N && a.count('data') === N && a.count('pong') >= 1, 3000), 'DATA both ways, a PONG');
  a.socket.on('end', () => void a.socket.end()); // the server's CLOSE, then its end: ours follows
  sessions[0]!.close('bye');
  await a.ended;

  // Connection 2 (resumable: ACKs both ways): PRESENCE, then a drain's GOAWAY, which it leaves with CLOSE.
  const b = new RawPeer(t, port);
  await nextEvent(b.socket, 'connect', 3000);
  b.send(hello(true));
  assert.ok(await eventually(() => b.count('welcome') === 1 && sessions.length === 2, 3000), 'WELCOME 2');
  for (let seq = 1; seq <= N; seq++) b.send(data(seq));
  for (let i = 0; i < N; i++) sessions[1]!.send(`s${i}`);
  assert.ok(await eventually(() => b.count('data') === N && b.count('ack') >= 1, 3000), 'DATA and an ACK from the server');
  b.send(['ack', encodeFrame({ type: 'ack', seq: N })]);
  b.send(['presence', encodeFrame({ type: 'presence', kind: 'subscribe', ids: ['alice'] })]);
  assert.ok(await eventually(() => b.count('presence') >= 1, 3000), 'PRESENCE answered');
  const drained = server.drain({ deadlineMs: 5000 });
  assert.ok(await eventually(() => b.count('goaway') === 1, 3000), 'GOAWAY');
  b.send(['close', encodeFrame({ type: 'close', code: 'normal', message: '' })]);
  b.socket.end();
  await b.ended;
  await drained;
  assert.ok(await eventually(() => server.sessionCount === 0, 3000));

  const m = await scrape();
  const frames = (direction: 'received' | 'sent') => new Map(samples(m, `lifeline_frames_${direction}_total`).map(([key, n]) => [key.match(/type="(\w+)"/)![1]!, n]));
  const received = frames('received');
  const sent = frames('sent');
  const types: FrameType[] = ['hello', 'welcome', 'data', 'ack', 'ping', 'pong', 'goaway', 'close', 'presence'];
  assert.deepEqual([...received.keys()].sort(), [...types].sort(), 'every type has a sample, zeros included');
  // Received: exactly what the two peers wrote, frame by frame (PINGs in one read count each).
  for (const type of types) assert.equal(received.get(type), (a.wrote.get(type) ?? 0) + (b.wrote.get(type) ?? 0), `received ${type}`);
  assert.equal(received.get('ping'), 3);
  // Sent: exactly what the two peers decoded.
  for (const type of types) assert.equal(sent.get(type), a.count(type) + b.count(type), `sent ${type}`);
  assert.equal(sent.get('welcome'), 2);
  assert.equal(sent.get('data'), 2 * N);
  assert.equal(sent.get('goaway'), 1);
  assert.equal(sent.get('close'), 1, "connection 1's CLOSE (connection 2 ended on the peer's)");
  // Three PINGs in one read: one PONG, one ping event (lifeline_pings_received_total counts reads).
  assert.equal(a.got.filter((f) => f.type === 'pong' && f.id === 3).length, 1);
  assert.equal(m.get('lifeline_pings_received_total'), 1);
});
