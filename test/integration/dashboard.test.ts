/**
 * Integration, end to end in a real browser (docs/spec/0017-dashboard.md): `lifeline server
 * --dashboard 0` in its own process (server-led heartbeat 500 ms / 1.5 s, so the server measures
 * RTT), 50 clients in two child processes, Debian's headless Chromium (playwright-core) on the
 * dashboard. The page must count 50 open sessions; after SIGSTOP of the process holding 10 of
 * them, exactly those 10 must appear in the feed as heartbeat-timeout, each no sooner than the
 * heartbeat allows and within interval + timeout + slack of the freeze. Meanwhile a small real
 * lab run (runLab on loopback, the code path of `lifeline lab --json`) is written into the
 * results directory; the results page must draw its chart with one cell per measured side.
 * Screenshots go to $LIFELINE_ARTIFACTS (default: a temp dir). Skips without /usr/bin/chromium.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { runLab } from '../../src/lab/runner.js';
import type { LabResult } from '../../src/lab/results.js';

/** What the functions passed to page.evaluate see (this project compiles without the DOM lib). */
declare const document: any;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium): dashboard browser test skipped`;
const FIXTURE = join(ROOT, 'test/fixtures/dashboard-clients.ts');

const INTERVAL_MS = 500;
const TIMEOUT_MS = 1500;
const HEALTHY = 40;
const FROZEN = 10;
/** A loaded 2-core machine: scheduling, the wheel's tick, the 1 s dashboard sample, SSE, the page. */
const SLACK_MS = 2500;
const VIEWPORT = { width: 1280, height: 800 };

interface CliDashboard {
  child: ChildProcess;
  url: string;
  lifelinePort: number;
}

/** `lifeline server --dashboard 0` under tsx; resolves once both listening lines are logged. */
async function startCli(t: TestContext, resultsDir: string): Promise<CliDashboard> {
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'server', '--port', '0', '--host', '127.0.0.1', '--log', 'json'];
  args.push('--interval', String(INTERVAL_MS), '--timeout', String(TIMEOUT_MS), '--heartbeat-leader', 'server', '--dashboard', '0', '--dashboard-results', resultsDir);
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['pipe', 'ignore', 'pipe'] });
  t.after(() => void child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('lifeline server --dashboard did not start')), 20_000);
    let lifelinePort: number | undefined;
    createInterface({ input: child.stderr! }).on('line', (line) => {
      const event = JSON.parse(line) as { event?: string; port?: number; url?: string };
      if (event.event === 'listening' && lifelinePort === undefined) lifelinePort = event.port;
      if (event.event === 'dashboard-listening') {
        clearTimeout(timer);
        resolve({ child, url: event.url!, lifelinePort: lifelinePort! });
      }
    });
  });
}

/** A child process holding `count` clients; resolves with it and its session ids once all are open. */
async function holdClients(t: TestContext, port: number, count: number): Promise<{ child: ChildProcess; sessions: string[] }> {
  const child = fork(FIXTURE, [String(port), String(count)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  t.after(() => void child.kill('SIGKILL'));
  const sessions = await new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${count} clients did not open`)), 20_000);
    child.once('message', (m: { type: string; sessions: string[] }) => {
      clearTimeout(timer);
      resolve(m.sessions);
    });
  });
  return { child, sessions };
}

/** A screenshot of the viewport into the artifacts directory: a real, non-trivial PNG. */
async function screenshot(t: TestContext, page: Page, dir: string, name: string): Promise<void> {
  const file = join(dir, name);
  const png = await page.screenshot({ path: file, timeout: 10_000 });
  t.diagnostic(`screenshot: ${file} (${png.length} bytes)`);
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], 'PNG signature');
  assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [VIEWPORT.width, VIEWPORT.height]);
  // A blank 1280×800 PNG is a few KB; the page with text and charts is tens of KB.
  assert.ok(statSync(file).size > 20_000, `${name}: ${statSync(file).size} bytes`);
}

/** No horizontal scrolling, and none of these boxes overlap another (a clean layout at 1280×800). */
async function assertNoOverlap(page: Page, selector: string): Promise<void> {
  const layout = await page.evaluate((sel: string) => {
    const boxes = [...document.querySelectorAll(sel)].map((el: any) => {
      const r = el.getBoundingClientRect();
      return { name: el.id || el.className, x: r.x, y: r.y, w: r.width, h: r.height };
    });
    return { boxes, scrollWidth: document.documentElement.scrollWidth };
  }, selector);
  assert.ok(layout.scrollWidth <= VIEWPORT.width, `page scrolls sideways: ${layout.scrollWidth} px`);
  const b = layout.boxes;
  assert.ok(b.length >= 2, `found ${b.length} boxes for ${selector}`);
  for (let i = 0; i < b.length; i++) {
    for (let j = i + 1; j < b.length; j++) {
      const [p, q] = [b[i]!, b[j]!];
      const overlap = p.x < q.x + q.w - 0.5 && q.x < p.x + p.w - 0.5 && p.y < q.y + q.h - 0.5 && q.y < p.y + p.h - 0.5;
      assert.ok(!overlap, `${p.name} overlaps ${q.name}: ${JSON.stringify([p, q])}`);
    }
  }
}

const text = (page: Page, selector: string) => page.locator(selector).innerText();

test('dashboard - 50 sessions live on the page, 10 frozen clients in the feed as heartbeat-timeout in time, a real lab run charted', { skip, timeout: 90_000 }, async (t) => {
  const artifacts = process.env.LIFELINE_ARTIFACTS ?? mkdtempSync(join(tmpdir(), 'lifeline-dashboard-'));
  mkdirSync(artifacts, { recursive: true });
  const resultsDir = mkdtempSync(join(tmpdir(), 'lifeline-dashboard-results-'));
  t.after(() => rmSync(resultsDir, { recursive: true, force: true }));

  // The lab run goes on while the browser part runs (its agents are child processes).
  const labRun = runLab({ mode: 'quick', loopback: true, faults: ['frozen-server', 'process-crash'], mechanisms: ['heartbeat', 'keepalive-tuned'], windowScale: 0.25 }).then((result) => {
    writeFileSync(join(resultsDir, 'lab-quick.json'), `${JSON.stringify(result, null, 2)}\n`);
    return result;
  });

  const cli = await startCli(t, resultsDir);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: VIEWPORT });
  page.setDefaultTimeout(15_000);
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(cli.url);
  await page.waitForFunction(() => document.getElementById('status').dataset.status === 'ok');

  const healthy = await holdClients(t, cli.lifelinePort, HEALTHY);
  const frozen = await holdClients(t, cli.lifelinePort, FROZEN);
  await page.waitForFunction((n: number) => document.getElementById('open-sessions').textContent === String(n), HEALTHY + FROZEN);
  assert.equal(await text(page, '#connections'), String(HEALTHY + FROZEN));
  // The server leads the heartbeat here, so it measures RTT: the histogram has bars.
  await page.waitForFunction(() => document.querySelectorAll('#rtt-chart .rtt-bar').length > 0);
  assert.ok(await page.locator('#sessions-chart path[data-series="open"]').count() === 1, 'the sessions line is drawn');
  await screenshot(t, page, artifacts, 'dashboard-50-sessions.png');
  await assertNoOverlap(page, '.tile, .panels > .panel, .feed-panel, header.top');

  const frozenAt = Date.now();
  frozen.child.kill('SIGSTOP');
  t.after(() => void frozen.child.kill('SIGCONT'));
  const bound = INTERVAL_MS + TIMEOUT_MS + SLACK_MS;
  await page.waitForFunction((n: number) => document.querySelectorAll('#feed tbody tr[data-reason="heartbeat-timeout"]').length >= n, FROZEN, { timeout: bound + 5000 });
  const seenAfterMs = Date.now() - frozenAt;
  // One more interval + timeout: a duplicate or a healthy client wrongly detected would show by then.
  await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS + TIMEOUT_MS));
  const rows = await page.evaluate(() =>
    [...document.querySelectorAll('#feed tbody tr')].map((tr: any) => ({
      reason: tr.dataset.reason,
      session: tr.dataset.session,
      t: Number(tr.dataset.t),
      sinceLastSeenMs: Number(tr.dataset.sinceLastSeenMs),
      text: tr.innerText as string,
    })),
  );
  t.diagnostic(`page showed ${FROZEN} detections ${seenAfterMs} ms after SIGSTOP; server-side: ${rows.map((r) => r.t - frozenAt).join(', ')} ms; silence ${rows.map((r) => r.sinceLastSeenMs).join(', ')} ms`);
  assert.equal(rows.length, FROZEN, `exactly the frozen clients: ${JSON.stringify(rows)}`);
  assert.deepEqual(rows.map((r) => r.session).sort(), [...frozen.sessions].sort(), 'the frozen process’s sessions, each once');
  for (const r of rows) {
    assert.equal(r.reason, 'heartbeat-timeout');
    // The heartbeat's own verdict: silence reached the timeout (its last PONG came at most an interval before the freeze)…
    assert.ok(r.sinceLastSeenMs >= TIMEOUT_MS, `silence ${r.sinceLastSeenMs} ms`);
    const afterMs = r.t - frozenAt;
    assert.ok(afterMs >= TIMEOUT_MS - INTERVAL_MS * 1.1, `detected ${afterMs} ms after the freeze: sooner than the heartbeat can`);
    assert.ok(afterMs <= bound, `detected ${afterMs} ms after the freeze (bound ${bound} ms)`);
    assert.match(r.text, /heartbeat-timeout/);
    assert.match(r.text, /\t\d(\.\d)? s\t/, 'time since last heard, in seconds');
    assert.match(r.text, /\d\d:\d\d:\d\d/, 'time of day');
  }
  assert.ok(seenAfterMs <= bound + 1000, `on the page ${seenAfterMs} ms after the freeze`);
  // Resumable sessions: the frozen ones wait in the resume window, the rest stay open.
  await page.waitForFunction((n: number) => document.getElementById('open-sessions').textContent === String(n), HEALTHY);
  assert.equal(await text(page, '#detached-sessions'), String(FROZEN));
  assert.equal(await text(page, '#detection-count'), String(FROZEN));
  await screenshot(t, page, artifacts, 'dashboard-detections.png');
  await assertNoOverlap(page, '.tile, .panels > .panel, .feed-panel, header.top');
  assert.equal(await page.locator('#failures tbody tr').count(), 0, 'no failed handshake in this run');
  assert.equal(await page.locator('#presence').isHidden(), true, 'presence is not degraded (memory store)');
  healthy.child.kill('SIGKILL');

  // The results page, on the lab run written meanwhile.
  const lab: LabResult = await labRun;
  assert.deepEqual(lab.errors, []);
  const expectedCells = lab.faults.reduce((n, f) => n + f.sides.length * lab.mechanisms.filter((m) => lab.measurements.some((c) => c.fault === f.id && c.mechanism === m.id)).length, 0);
  assert.ok(expectedCells >= 2, `the lab measured ${expectedCells} cells`);
  await page.goto(`${cli.url}results?file=lab-quick.json`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  const chart = page.locator('figure[data-chart="lab"] svg');
  assert.equal(await chart.count(), 1, `lab chart: ${await text(page, '#output')}`);
  assert.equal(await chart.locator('g.cell').count(), expectedCells, 'one bar (cell) per fault × mechanism × side measured');
  assert.equal(await page.locator('figure[data-chart="lab"]').getAttribute('data-series'), String(expectedCells));
  assert.equal(await page.locator('#files a[aria-current]').innerText(), 'lab-quick.json');
  assert.match(await text(page, '#output h1'), /lab/);
  // windowScale 0.25: the chart's windows are the ones the run waited (frozen-server 20 s → 5 s).
  const frozenFault = lab.faults.find((f) => f.id === 'frozen-server');
  assert.equal(frozenFault?.windowMs, 5000);
  const chartText = (await chart.textContent()) ?? '';
  assert.match(chartText, /window 5 s/);
  assert.doesNotMatch(chartText, /window 20 s|>20 s/);
  await screenshot(t, page, artifacts, 'dashboard-results-lab.png');
  await assertNoOverlap(page, 'header.top, aside.source, #output');
  assert.deepEqual(errors, []);
});
