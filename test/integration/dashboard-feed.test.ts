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
import { createServer } from '../../src/index.js';
import { serveDashboard, type DashboardDetection, type DashboardSample, type DashboardSnapshot } from '../../src/dashboard/index.js';

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
