/**
 * Integration (no browser): the dashboard's live feed over its real SSE stream
 * (docs/spec/0017-dashboard.md §Live feed). Two client processes are SIGKILLed: one holding
 * resumable sessions (the server keeps them detached for a short resume window, then lets them
 * expire), one holding sessions that are not resumable (they end at once). Every session must be
 * one `detection` event with reason transport-closed — the resumable ones at the loss, with
 * `detached: true`, and not again when their window expires — and samples must show the
 * detached sessions and then none.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { connect, createServer, RedisPresenceStore, type CloseReason } from '../../src/index.js';
import { serveDashboard, type DashboardDetection, type DashboardFailure, type DashboardSample, type DashboardSnapshot } from '../../src/dashboard/index.js';
import { haveRedisServer, RedisProcess } from '../fixtures/redis-server.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/dashboard-clients.ts', import.meta.url));
const RESUME_WINDOW_MS = 600;
const SAMPLE_MS = 100;

async function holdClients(t: TestContext, port: number, count: number, once: boolean): Promise<{ child: ChildProcess; sessions: string[] }> {
  const child = fork(FIXTURE, [String(port), String(count), ...(once ? ['once'] : [])], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  t.after(() => void child.kill('SIGKILL'));
  const sessions = await new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${count} clients did not open`)), 20_000);
    child.once('message', (m: { sessions: string[] }) => {
      clearTimeout(timer);
      resolve(m.sessions);
    });
  });
  return { child, sessions };
}

/** Reads an SSE stream into parsed events until aborted. */
function readEvents(url: string, signal: AbortSignal): { events: Array<{ event: string; data: unknown }>; done: Promise<void> } {
  const events: Array<{ event: string; data: unknown }> = [];
  const done = (async () => {
    const res = await fetch(url, { signal });
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data) });
      }
    }
  })().catch((err: Error) => {
    if (err.name !== 'AbortError') throw err;
  });
  return { events, done };
}

const eventually = async (what: string, ok: () => boolean, ms: number) => {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

test('dashboard feed - killed clients are one detection each over SSE: resumable ones at the loss (not again at expiry), the others at close', { timeout: 40_000 }, async (t) => {
  const server = createServer({ resumeWindow: RESUME_WINDOW_MS });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const dash = await serveDashboard(server, { sampleMs: SAMPLE_MS });
  t.after(() => dash.close());
  const resumable = await holdClients(t, port, 5, false);
  const once = await holdClients(t, port, 5, true);

  const abort = new AbortController();
  t.after(() => abort.abort());
  const stream = readEvents(new URL('/events', dash.url).href, abort.signal);
  await eventually('snapshot', () => stream.events.length > 0, 5000);
  const snapshot = stream.events[0]!;
  assert.equal(snapshot.event, 'snapshot');
  assert.equal((snapshot.data as DashboardSnapshot).detections.length, 0);

  resumable.child.kill('SIGKILL');
  once.child.kill('SIGKILL');
  const detections = () => stream.events.filter((e) => e.event === 'detection').map((e) => e.data as DashboardDetection);
  const samples = () => stream.events.filter((e) => e.event === 'sample').map((e) => (e.data as { sample: DashboardSample }).sample);
  await eventually('10 detections', () => detections().length >= 10, 10_000);
  await eventually('detached sessions shown', () => samples().some((s) => s.detached === 5), 5000);
  // The resume window passes: the detached sessions end for good, silently for the feed.
  await eventually('the resume window expires', () => server.sessionCount === 0, RESUME_WINDOW_MS + 5000);
  await eventually('a sample with no session', () => samples().at(-1)?.open === 0 && samples().at(-1)?.detached === 0, 5000);
  await new Promise((resolve) => setTimeout(resolve, 3 * SAMPLE_MS));

  const seen = detections();
  assert.equal(seen.length, 10, JSON.stringify(seen));
  for (const d of seen) assert.equal(d.reason, 'transport-closed');
  const byState = (detached: boolean) => seen.filter((d) => d.detached === detached).map((d) => d.session).sort();
  assert.deepEqual(byState(true), [...resumable.sessions].sort(), 'resumable: at the loss, detached');
  assert.deepEqual(byState(false), [...once.sessions].sort(), 'not resumable: closed');
  assert.ok(samples().some((s) => s.detached === 5), 'a sample showed the 5 detached sessions');
  const snap = (await (await fetch(new URL('/api/snapshot', dash.url))).json()) as DashboardSnapshot;
  assert.deepEqual(snap.detectionsByReason, { 'transport-closed': 10 });
  assert.equal(snap.detections.length, 10);
});

test('dashboard feed - failed handshakes are feed rows with their reason (auth rejected, WebSocket upgrade refused), not detections', { timeout: 20_000 }, async (t) => {
  const server = createServer({ authenticate: (token) => (token !== undefined && new TextDecoder().decode(token) === 'good' ? 'good' : undefined) });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const { port: wsPort } = await server.listen({ transport: 'ws', port: 0, host: '127.0.0.1' });
  const dash = await serveDashboard(server, { sampleMs: SAMPLE_MS });
  t.after(() => dash.close());
  const abort = new AbortController();
  t.after(() => abort.abort());
  const stream = readEvents(new URL('/events', dash.url).href, abort.signal);
  await eventually('snapshot', () => stream.events.length > 0, 5000);

  const refused = connect({ port, token: 'bad', reconnect: false });
  t.after(() => refused.close());
  const [reason] = await new Promise<[CloseReason]>((resolve) => refused.once('close', (r: CloseReason) => resolve([r])));
  assert.equal(reason.remoteCode, 'auth-failed');
  // An upgrade request without Sec-WebSocket-Key: 400, reported as the server's 'clientError'.
  const raw = net.connect({ host: '127.0.0.1', port: wsPort });
  raw.on('error', () => {});
  t.after(() => void raw.destroy());
  raw.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n');
  const failures = () => stream.events.filter((e) => e.event === 'failure').map((e) => e.data as DashboardFailure);
  await eventually('2 failures', () => failures().length >= 2, 5000);
  await new Promise((resolve) => setTimeout(resolve, 3 * SAMPLE_MS));

  const byKind = Object.fromEntries(failures().map((f) => [f.kind, f]));
  assert.equal(failures().length, 2, JSON.stringify(failures()));
  assert.equal(byKind['auth-failure']?.code, 'rejected');
  assert.equal(byKind['auth-failure']?.transport, 'tcp');
  assert.match(byKind['auth-failure']?.remote ?? '', /^127\.0\.0\.1:\d+$/);
  assert.equal(byKind['auth-failure']?.message, undefined, "the hook's words stay out of the page");
  assert.equal(byKind['client-error']?.code, 'ws-upgrade-refused');
  assert.match(byKind['client-error']?.message ?? '', /^400: /);
  assert.equal(stream.events.filter((e) => e.event === 'detection').length, 0, 'no session, no detection');
  const snap = (await (await fetch(new URL('/api/snapshot', dash.url))).json()) as DashboardSnapshot;
  assert.deepEqual(snap.failuresByCode, { rejected: 1, 'ws-upgrade-refused': 1 });
  assert.equal(snap.failures.length, 2);
  assert.equal(snap.samples.at(-1)?.presenceDegraded, false);
});

test('dashboard feed - samples say presence is degraded while its Redis store is down, and not once it is back', { skip: haveRedisServer() ? false : 'redis-server is not installed', timeout: 30_000 }, async (t) => {
  const redis = await RedisProcess.start(t);
  const store = new RedisPresenceStore({ redis: redis.url, leaseTtlMs: 600, sweepIntervalMs: 200, reconnect: { initialDelay: 50, maxDelay: 300 } });
  const server = createServer({ presence: { nodeId: 'dash-node', store } });
  t.after(() => server.close());
  await server.listen(0, '127.0.0.1');
  await server.presence.ready;
  const dash = await serveDashboard(server, { sampleMs: SAMPLE_MS });
  t.after(() => dash.close());
  const abort = new AbortController();
  t.after(() => abort.abort());
  const stream = readEvents(new URL('/events', dash.url).href, abort.signal);
  const samples = () => stream.events.filter((e) => e.event === 'sample').map((e) => (e.data as { sample: DashboardSample }).sample);
  await eventually('a sample', () => samples().length > 0, 5000);
  assert.equal(samples().at(-1)!.presenceDegraded, false);
  assert.equal((stream.events[0]!.data as DashboardSnapshot).presence.nodeId, 'dash-node');
  await redis.stop();
  await eventually('a degraded sample', () => samples().at(-1)!.presenceDegraded, 5000);
  assert.equal(server.presence.degraded, true);
  await redis.run();
  await eventually('a restored sample', () => !samples().at(-1)!.presenceDegraded, 5000);
});
