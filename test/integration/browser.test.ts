/**
 * Integration, in a real browser: Debian's headless Chromium (/usr/bin/chromium) driven by
 * playwright-core loads test/fixtures/browser/index.html, which imports the browser bundle
 * (scripts/build-browser.mjs, built in memory here) and exposes `window.ll`. One http server per
 * test serves the page and the bundle and has lifeline attached at /ll.
 *
 * How a page is frozen or hidden here (found by trying; see the notes on each test):
 * - Frozen tab: CDP `Debugger.pause` stops the page's JavaScript. `Page.setWebLifecycleState
 *   ({ state: 'frozen' })` does not on a page Playwright launched: such a page stays visible
 *   (below), and Chromium only freezes hidden pages — its timers kept running.
 * - Hidden tab: Playwright turns on `Emulation.setFocusEmulationEnabled` on every page it sets
 *   up, and Chromium keeps a page with focus emulation visible (it counts as being captured):
 *   bringing another page to front, background targets and minimized windows all leave
 *   `document.visibilityState` 'visible'. So the hidden-tab test starts its own Chromium with a
 *   DevTools port and attaches with `connectOverCDP(…, { noDefaults: true })`, which leaves the
 *   default context's pages alone: there a page behind a newer tab is really hidden, and its
 *   timers are throttled (Chromium's 1 s wake-up alignment for hidden pages).
 * Without /usr/bin/chromium (apt-get install chromium) every test skips with that reason.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createServer, type CloseReason, type LifelineServer, type PongInfo, type ServerOptions, type Session } from '../../src/index.js';
import { FaultProxy } from '../../src/lab/fault-proxy.js';
import { testCertificates } from '../fixtures/certs.js';
import { eventually, nextEvent } from './helpers.js';
// @ts-expect-error -- a plain .mjs build script, no declarations
import { buildBrowserBundle } from '../../scripts/build-browser.mjs';

/** What the functions passed to page.evaluate see (this project compiles without the DOM lib). */
declare const window: any;
declare const document: { visibilityState: 'visible' | 'hidden' };

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PAGE_HTML = readFileSync(join(ROOT, 'test/fixtures/browser/index.html'), 'utf8');
/** Scheduling on a loaded 2-core CI machine, the server's 50 ms wheel tick, the page's event loop. */
const SLACK_MS = 700;

let browser: Browser | undefined;
let bundleJs = '';

before(async () => {
  if (!HAVE_CHROMIUM) return;
  const result = (await buildBrowserBundle({ write: false })) as { outputFiles: Array<{ path: string; text: string }> };
  bundleJs = result.outputFiles.find((f) => f.path.endsWith('.js'))!.text;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
});

after(async () => {
  await browser?.close();
});

/** The file's browser, or undefined after skipping the test with the reason. */
function needBrowser(t: TestContext): Browser | undefined {
  if (!HAVE_CHROMIUM) t.skip(`${CHROMIUM} is not installed (apt-get install chromium): browser tests skipped`);
  return HAVE_CHROMIUM ? browser : undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or a rejection naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Site {
  /** http://127.0.0.1:PORT */
  origin: string;
  port: number;
  /** ws://127.0.0.1:PORT/ll */
  wsUrl: string;
  server: LifelineServer;
}

/** One http server on loopback: the page at /, the bundle at /lifeline.js, lifeline at /ll. */
async function startSite(t: TestContext, options: ServerOptions = {}): Promise<Site> {
  const httpServer = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(PAGE_HTML);
    } else if (path === '/lifeline.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(bundleJs);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
    }
  });
  const server = createServer({ minHeartbeatInterval: 50, minHeartbeatTimeout: 100, ...options });
  await server.attach(httpServer, { path: '/ll' });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(0, '127.0.0.1', () => resolve());
  });
  t.after(async () => {
    await server.close();
    httpServer.closeAllConnections();
    await new Promise<void>((resolve) => httpServer.close(() => resolve()));
  });
  const port = (httpServer.address() as { port: number }).port;
  return { origin: `http://127.0.0.1:${port}`, port, wsUrl: `ws://127.0.0.1:${port}/ll`, server };
}

interface PageEvent {
  type: string;
  t: number;
  code?: string;
  message?: string;
  sessionId?: string;
  resumed?: boolean;
  reason?: string;
  state?: string;
}

/** A new page (in a context of its own unless one is given) with the fixture loaded; page errors fail the test. */
async function openPage(t: TestContext, site: Site, context?: BrowserContext): Promise<{ page: Page; errors: string[] }> {
  let ctx = context;
  if (ctx === undefined) {
    const fresh = await browser!.newContext({ viewport: { width: 1100, height: 720 } });
    t.after(() => within(fresh.close(), 10_000, 'closing the browser context').catch(() => {}));
    ctx = fresh;
  }
  const page = await ctx.newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(`${site.origin}/`, { timeout: 10_000 });
  await page.waitForFunction(() => window.ll?.ready === true, null, { timeout: 10_000 });
  return { page, errors };
}

/** Calls ll.connect(url, options) in the page. */
function pageConnect(page: Page, url: string, options: Record<string, unknown>): Promise<boolean> {
  return page.evaluate(([u, o]) => window.ll.connect(u, o), [url, options] as const);
}

const pageEvents = (page: Page): Promise<PageEvent[]> => page.evaluate(() => window.ll.events.filter((e: PageEvent) => e.type !== 'message'));
const pageMessages = (page: Page): Promise<string[]> => page.evaluate(() => window.ll.messages.slice());
const pageSend = (page: Page, text: string): Promise<boolean> => page.evaluate((m) => window.ll.send(m), text);

/** Waits (bounded) until the page has recorded an event of `type` (the `nth`, 1-based) and returns it. */
async function waitPageEvent(page: Page, type: string, timeoutMs: number, nth = 1): Promise<PageEvent> {
  await page.waitForFunction(([ty, n]) => window.ll.events.filter((e: PageEvent) => e.type === ty).length >= n, [type, nth] as const, { timeout: timeoutMs, polling: 20 });
  const events = (await pageEvents(page)).filter((e) => e.type === type);
  return events[nth - 1]!;
}

/** A transport-peer.ts process (see transports.test.ts); resolves with its first JSON line. */
async function spawnPeer(t: TestContext, args: string[]): Promise<{ child: ChildProcess; first: Record<string, unknown> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/transport-peer.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    await exited;
  });
  const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`peer ${args.join(' ')} printed nothing within 20 s`)), 20_000);
    void exited.then(() => reject(new Error(`peer ${args.join(' ')} exited early`)));
    createInterface({ input: child.stdout! }).once('line', (text) => {
      clearTimeout(timer);
      resolve(JSON.parse(text) as Record<string, unknown>);
    });
  });
  return { child, first };
}

function collect(session: Session, into: string[]): void {
  session.on('message', (m: Buffer) => into.push(m.toString()));
}

test('browser - 1. the page loads the bundle, connects over ws and exchanges messages both ways, in order', async (t) => {
  if (!needBrowser(t)) return;
  const site = await startSite(t);
  const { page, errors } = await openPage(t, site);
  const atServer: string[] = [];
  const sessionP = nextEvent<[Session]>(site.server, 'session', 10_000);
  await pageConnect(page, site.wsUrl, { heartbeatInterval: 1000, heartbeatTimeout: 3000, reconnect: false });
  const [[session], open] = await Promise.all([sessionP, waitPageEvent(page, 'open', 10_000)]);
  assert.equal(open.sessionId, session.id, 'the page and the server agree on the session id');
  assert.equal(open.resumed, false);
  assert.equal(session.transport, 'ws');
  session.on('message', (m: Buffer) => {
    if (m.length === 65_536) {
      const intact = m.every((byte, i) => byte === ((i * 7) & 255));
      atServer.push(`bin:${m.length}:${intact ? 'intact' : 'corrupt'}`);
      session.send(`bin-ok:${m.length}:${intact}`);
      return;
    }
    const text = m.toString();
    atServer.push(text);
    session.send(`echo:${text}`);
  });

  const N = 30;
  // Page → server → page (echo) and server → page (push), interleaved.
  await page.evaluate((n) => {
    for (let i = 1; i <= n; i++) window.ll.send(`p${i}`);
  }, N);
  for (let i = 1; i <= N; i++) session.send(`push${i}`);
  await page.evaluate(() => window.ll.sendPattern(65_536));
  await page.waitForFunction((total) => window.ll.messages.length >= total, 2 * N + 1, { timeout: 10_000, polling: 20 });

  const got = await pageMessages(page);
  assert.deepEqual(atServer, [...Array.from({ length: N }, (_, i) => `p${i + 1}`), 'bin:65536:intact'], 'the server got the page\'s messages once each, in order');
  assert.deepEqual(got.filter((m) => m.startsWith('echo:')), Array.from({ length: N }, (_, i) => `echo:p${i + 1}`), 'echoes came back in order');
  assert.deepEqual(got.filter((m) => m.startsWith('push')), Array.from({ length: N }, (_, i) => `push${i + 1}`), 'pushes arrived in order');
  assert.deepEqual(got.filter((m) => m.startsWith('bin-ok')), ['bin-ok:65536:true'], 'a 64 KiB Uint8Array went out intact');
  assert.equal(got.length, 2 * N + 1, 'nothing doubled');
  assert.equal((await page.evaluate(() => window.ll.snapshot())).state, 'open');
  assert.deepEqual(errors, []);

  await t.test('6. a screenshot of the page shows the connection state', async (t) => {
    const dir = process.env.LIFELINE_ARTIFACTS ?? mkdtempSync(join(tmpdir(), 'lifeline-browser-'));
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'browser-echo.png');
    const png = await page.screenshot({ path: file, fullPage: false, timeout: 10_000 });
    t.diagnostic(`screenshot: ${file} (${png.length} bytes)`);
    // A real PNG of the viewport, with content (a blank 1100×720 PNG is well under 10 KB).
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [1100, 720], 'the viewport size');
    assert.ok(statSync(file).size > 10_000, `non-trivial image (${statSync(file).size} bytes)`);
    // What the screenshot shows: the state fields, read back from the DOM, inside the viewport.
    const shown: Record<string, string> = {};
    for (const id of ['state', 'session', 'count', 'sent', 'last-event', 'resumed']) {
      const element = page.locator(`#${id}`);
      const box = await element.boundingBox();
      assert.ok(box && box.y >= 0 && box.y + box.height <= 720 && box.x + box.width <= 1100, `#${id} is inside the screenshot (${JSON.stringify(box)})`);
      shown[id] = (await element.innerText()).trim();
    }
    t.diagnostic(`shown: ${JSON.stringify(shown)}`);
    assert.equal(shown.state, 'open');
    assert.equal(shown.session, session.id);
    assert.equal(shown.count, String(2 * N + 1));
    assert.equal(shown.sent, String(N + 1));
    assert.equal(shown.resumed, 'no');
    assert.match(shown['last-event']!, /^message — /);
    const lastMessages = await page.locator('#messages li').allInnerTexts();
    assert.deepEqual(lastMessages, got.slice(-8), 'the list shows the last 8 messages received');
  });
});

test('browser - 2. a SIGSTOPped server: the page reports unavailable, then heartbeat-timeout within interval + timeout', async (t) => {
  if (!needBrowser(t)) return;
  const INTERVAL_MS = 300;
  const TIMEOUT_MS = 900;
  const site = await startSite(t);
  const peer = await spawnPeer(t, ['server', 'ws', testCertificates().dir]); // the peer reads the files even for ws
  const { page, errors } = await openPage(t, site);
  await pageConnect(page, `ws://127.0.0.1:${peer.first.port as number}/`, { heartbeatInterval: INTERVAL_MS, heartbeatTimeout: TIMEOUT_MS, reconnect: false });
  const open = await waitPageEvent(page, 'open', 10_000);
  assert.equal(typeof open.sessionId, 'string');
  // The echo server answers: the connection is healthy before the freeze.
  await pageSend(page, 'before');
  await page.waitForFunction(() => window.ll.messages.includes('before'), null, { timeout: 5000 });

  const frozenAt = await page.evaluate(() => window.ll.mark() as number);
  peer.child.kill('SIGSTOP');
  const closed = await waitPageEvent(page, 'close', INTERVAL_MS + TIMEOUT_MS + 5000);
  const unavailable = (await pageEvents(page)).find((e) => e.type === 'unavailable');
  peer.child.kill('SIGCONT');

  assert.ok(unavailable, 'the page reported unavailable before dead');
  const unavailableMs = unavailable.t - frozenAt;
  const deadMs = closed.t - frozenAt;
  t.diagnostic(`page: unavailable (${unavailable.reason}) after ${Math.round(unavailableMs)} ms, close ${closed.code} after ${Math.round(deadMs)} ms (interval ${INTERVAL_MS}, timeout ${TIMEOUT_MS})`);
  assert.equal(closed.code, 'heartbeat-timeout');
  assert.ok(unavailableMs < deadMs, 'unavailable came first');
  assert.ok(deadMs <= INTERVAL_MS + TIMEOUT_MS + SLACK_MS, `dead after ${Math.round(deadMs)} ms, bound ${INTERVAL_MS + TIMEOUT_MS + SLACK_MS}`);
  assert.deepEqual(errors, []);
});

test('browser - 3. after a cut the page resumes its session; messages both ways arrive exactly once, in order', async (t) => {
  if (!needBrowser(t)) return;
  const site = await startSite(t, { resumeWindow: 30_000 });
  const proxy = new FaultProxy({ host: '127.0.0.1', port: site.port });
  t.after(() => proxy.close());
  const { port: proxyPort } = await proxy.listen();
  const { page, errors } = await openPage(t, site);
  const sessionP = nextEvent<[Session]>(site.server, 'session', 10_000);
  await pageConnect(page, `ws://127.0.0.1:${proxyPort}/ll`, { heartbeatInterval: 300, heartbeatTimeout: 900, reconnect: { initialDelay: 20 } });
  const [[session], open] = await Promise.all([sessionP, waitPageEvent(page, 'open', 10_000)]);
  assert.equal(open.sessionId, session.id);
  const atServer: string[] = [];
  collect(session, atServer);
  let serverDisconnects = 0;
  session.on('disconnect', () => serverDisconnects++);

  await pageSend(page, 'c1');
  session.send('s1');
  assert.ok(await eventually(() => atServer.length === 1, 5000), 'c1 arrived');
  await page.waitForFunction(() => window.ll.messages.length === 1, null, { timeout: 5000 });

  proxy.setMode('reset');
  proxy.setMode('forward');
  // During the cut: the page may not know yet (send queues or goes into the lost socket: resume replays it).
  await pageSend(page, 'c2');
  session.send('s2');
  const reopened = await waitPageEvent(page, 'open', 10_000, 2);
  assert.equal(reopened.resumed, true, 'the second open resumed the session');
  assert.equal(reopened.sessionId, session.id, 'same session id');
  await pageSend(page, 'c3');
  session.send('s3');
  assert.ok(await eventually(() => atServer.length >= 3, 5000), `server got ${JSON.stringify(atServer)}`);
  await page.waitForFunction(() => window.ll.messages.length >= 3, null, { timeout: 5000 });
  await sleep(200); // a late duplicate would show up here

  assert.deepEqual(atServer, ['c1', 'c2', 'c3']);
  assert.deepEqual(await pageMessages(page), ['s1', 's2', 's3']);
  const types = (await pageEvents(page)).map((e) => e.type);
  assert.ok(types.includes('disconnect') && types.includes('reconnecting'), `the page saw the cut: ${types.join(', ')}`);
  assert.ok(!types.includes('close'), 'no final close');
  assert.equal(serverDisconnects, 1, 'the server saw one transport loss');
  assert.equal(site.server.sessionCount, 1);
  assert.deepEqual(errors, []);
});

/**
 * A closed tab's WebSocket ends without a lifeline CLOSE: the browser closes the socket
 * ('transport-closed', the usual case), or resets it when bytes from the server were still
 * arriving as it went ('transport-error', ECONNRESET) — both seen here, with resume on and off alike.
 */
const TAB_CLOSED_CODES: readonly string[] = ['transport-closed', 'transport-error'];

test('browser - 4a. the server reclaims the session of a closed tab: at once without resume, after the resume window with it', async (t) => {
  if (!needBrowser(t)) return;
  const RESUME_WINDOW_MS = 500;
  const site = await startSite(t, { resumeWindow: RESUME_WINDOW_MS });
  for (const resume of [false, true]) {
    const { page } = await openPage(t, site);
    const sessionP = nextEvent<[Session]>(site.server, 'session', 10_000);
    // Resume is on by default with reconnect; `resume: false` here means nothing waits for the tab.
    await pageConnect(page, site.wsUrl, { heartbeatInterval: 1000, heartbeatTimeout: 3000, ...(resume ? { reconnect: { initialDelay: 20 } } : { reconnect: false }) });
    const [[session]] = await Promise.all([sessionP, waitPageEvent(page, 'open', 10_000)]);
    const closeP = nextEvent<[CloseReason]>(session, 'close', 10_000);
    const disconnectP = resume ? nextEvent<[CloseReason]>(session, 'disconnect', 5000) : undefined;
    const closedAt = performance.now();
    await within(page.close(), 10_000, 'page.close()');
    if (disconnectP) {
      const [lost] = await disconnectP;
      const lostMs = performance.now() - closedAt;
      t.diagnostic(`resume on: session disconnect ${lost.code} (${lost.detectedBy}: ${lost.message} / ${String(lost.error)}) ${Math.round(lostMs)} ms after page.close()`);
      assert.ok(TAB_CLOSED_CODES.includes(lost.code), `a transport loss: ${lost.code}`);
      assert.equal(lost.detectedBy, 'transport');
      assert.ok(lostMs < SLACK_MS, `transport loss seen at once (${Math.round(lostMs)} ms)`);
      assert.equal(session.state, 'detached');
      assert.equal(site.server.detachedCount, 1);
    }
    const [reason] = await closeP;
    const tookMs = performance.now() - closedAt;
    t.diagnostic(`resume ${resume ? 'on' : 'off'}: session close ${reason.code} (detected by ${reason.detectedBy}: ${reason.message} / ${String(reason.error)}) ${Math.round(tookMs)} ms after page.close()`);
    if (resume) {
      assert.ok(tookMs >= RESUME_WINDOW_MS - 60 && tookMs <= RESUME_WINDOW_MS + SLACK_MS, `closed after the ${RESUME_WINDOW_MS} ms resume window (${Math.round(tookMs)} ms)`);
    } else {
      assert.ok(TAB_CLOSED_CODES.includes(reason.code), `a transport loss: ${reason.code}`);
      assert.equal(reason.detectedBy, 'transport');
      assert.ok(tookMs < SLACK_MS, `closed at once (${Math.round(tookMs)} ms)`);
    }
    assert.ok(await eventually(() => site.server.sessionCount === 0 && site.server.connectionCount === 0 && site.server.detachedCount === 0, 3000), 'session and connection reclaimed');
  }
});

test('browser - 4b. a frozen tab (CDP Debugger.pause): the server closes its session with heartbeat-timeout within the timeout', async (t) => {
  if (!needBrowser(t)) return;
  const INTERVAL_MS = 300;
  const TIMEOUT_MS = 900;
  const site = await startSite(t);
  const { page } = await openPage(t, site);
  const sessionP = nextEvent<[Session]>(site.server, 'session', 10_000);
  await pageConnect(page, site.wsUrl, { heartbeatInterval: INTERVAL_MS, heartbeatTimeout: TIMEOUT_MS, reconnect: false });
  const [[session]] = await Promise.all([sessionP, waitPageEvent(page, 'open', 10_000)]);
  assert.equal(session.heartbeatTimeout, TIMEOUT_MS);
  // A 50 ms ticker in the page: after the resume, its longest gap shows the JS really stood still.
  await page.evaluate(() => {
    const w = window as any;
    w.maxTickGap = 0;
    let last = performance.now();
    setInterval(() => {
      const now = performance.now();
      w.maxTickGap = Math.max(w.maxTickGap, now - last);
      last = now;
    }, 50);
  });
  await sleep(300);
  const cdp = await page.context().newCDPSession(page);
  const closeP = nextEvent<[CloseReason]>(session, 'close', TIMEOUT_MS + 5000);
  await cdp.send('Debugger.enable');
  const frozenAt = performance.now();
  await cdp.send('Debugger.pause');
  let reason: CloseReason;
  let tookMs: number;
  try {
    [reason] = await closeP;
    tookMs = performance.now() - frozenAt;
  } finally {
    await within(cdp.send('Debugger.resume'), 5000, 'Debugger.resume').catch(() => {});
  }
  const pausedMs = performance.now() - frozenAt;
  const maxTickGap = await page.evaluate(() => window.maxTickGap as number);
  t.diagnostic(`server: ${reason.code} (${reason.detectedBy}) ${Math.round(tookMs)} ms after Debugger.pause; the page's 50 ms ticker then showed a ${Math.round(maxTickGap)} ms gap`);
  assert.ok(maxTickGap >= Math.min(tookMs, pausedMs) - 100, `the page's JS stood still while paused (longest ticker gap ${Math.round(maxTickGap)} ms)`);
  assert.equal(reason.code, 'heartbeat-timeout');
  assert.equal(reason.detectedBy, 'heartbeat');
  assert.ok(tookMs <= TIMEOUT_MS + SLACK_MS, `closed after ${Math.round(tookMs)} ms, bound ${TIMEOUT_MS + SLACK_MS}`);
  assert.ok(await eventually(() => site.server.sessionCount === 0 && site.server.connectionCount === 0, 3000), 'session and connection reclaimed');
  // Once running again the page learns its connection is gone.
  const closed = await waitPageEvent(page, 'close', 5000);
  t.diagnostic(`the page, resumed, closed with ${closed.code}`);
});

/**
 * A Chromium of our own with a DevTools port, attached with connectOverCDP({ noDefaults: true }):
 * its default context's pages get no focus emulation, so they can really be hidden (see the top).
 */
async function launchUnpinnedBrowser(t: TestContext): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'lifeline-chromium-'));
  const child = spawn(CHROMIUM, [...CHROMIUM_ARGS, '--remote-debugging-port=0', '--remote-debugging-address=127.0.0.1', `--user-data-dir=${profile}`, 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let connected: Browser | undefined;
  t.after(async () => {
    await within(connected?.close() ?? Promise.resolve(), 10_000, 'closing the CDP browser').catch(() => {});
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await within(exited, 5000, 'chromium exit').catch(() => child.kill('SIGKILL'));
    // Chromium's helper processes may still write into the profile for a moment after the main
    // one exits (a CI run hit ENOTEMPTY): retry, and leave a temp dir rather than fail the test.
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    } catch (error) {
      t.diagnostic(`chromium profile ${profile} not removed: ${(error as Error).message}`);
    }
  });
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('chromium printed no DevTools endpoint within 20 s')), 20_000);
    void exited.then(() => reject(new Error('chromium exited before it listened')));
    let seen = '';
    let found = false;
    // Keeps reading stderr to the end (a full pipe would block Chromium), looking only once.
    child.stderr!.on('data', (chunk: Buffer) => {
      if (found) return;
      seen += chunk.toString();
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(seen);
      if (m) {
        found = true;
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  connected = await chromium.connectOverCDP(endpoint, { noDefaults: true, timeout: 20_000 });
  return connected;
}

test('browser - 5. a hidden tab with throttled timers stays connected for 60 s (interval 1000, timeout 3000, the server leading)', { timeout: 120_000 }, async (t) => {
  if (!needBrowser(t)) return;
  const HIDDEN_MS = 60_000;
  const PROBE_MS = 250;
  const site = await startSite(t, { heartbeatLeader: 'server' });
  const hiddenBrowser = await launchUnpinnedBrowser(t);
  const context = hiddenBrowser.contexts()[0]!;
  const { page, errors } = await openPage(t, site, context);
  const sessionP = nextEvent<[Session]>(site.server, 'session', 10_000);
  await pageConnect(page, site.wsUrl, { heartbeatInterval: 1000, heartbeatTimeout: 3000, reconnect: false });
  const [[session]] = await Promise.all([sessionP, waitPageEvent(page, 'open', 10_000)]);
  const snap = await page.evaluate(() => window.ll.snapshot());
  assert.equal(snap.leader, 'server', 'the page follows the server\'s pings');
  assert.equal(session.heartbeatLeader, 'server');
  assert.equal(snap.visibility, 'visible');

  const serverSide: string[] = [];
  session.on('close', (r: CloseReason) => serverSide.push(`close ${r.code}`));
  session.on('disconnect', (r: CloseReason) => serverSide.push(`disconnect ${r.code}`));
  const rtts: number[] = [];
  session.on('pong', (info: PongInfo) => info.rttMs !== undefined && rtts.push(info.rttMs));
  let maxServerSilence = 0;
  const sampler = setInterval(() => (maxServerSilence = Math.max(maxServerSilence, session.sinceLastSeen)), 50);
  t.after(() => clearInterval(sampler));

  // Another tab in front: this one is hidden (a real visibilitychange, not an emulation).
  await page.evaluate((p) => window.ll.startProbe(p), PROBE_MS);
  const front = await context.newPage();
  await page.waitForFunction(() => document.visibilityState === 'hidden', null, { timeout: 5000, polling: 50 });
  await page.evaluate((p) => window.ll.startProbe(p), PROBE_MS); // samples from here on are hidden ones
  const hiddenFrom = performance.now();
  const hiddenMark = await page.evaluate(() => window.ll.mark() as number);
  await sleep(HIDDEN_MS);
  const samples = (await page.evaluate(() => window.ll.probeSamples())) as Array<{ lateMs: number; visibility: string; sinceLastSeen: number | null }>;
  const hiddenForMs = performance.now() - hiddenFrom;
  clearInterval(sampler);
  const events = await pageEvents(page);

  const late = samples.map((s) => s.lateMs).sort((a, b) => a - b);
  const pct = (q: number) => Math.round(late[Math.min(late.length - 1, Math.floor(q * late.length))] ?? NaN);
  const rttMax = Math.round(Math.max(0, ...rtts));
  const pageSilence = Math.round(Math.max(0, ...samples.map((s) => s.sinceLastSeen ?? 0)));
  t.diagnostic(
    `hidden ${Math.round(hiddenForMs / 1000)} s: setInterval(${PROBE_MS}) ran ${samples.length} times (${Math.round(hiddenForMs / PROBE_MS)} due), ` +
      `late by p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms, max ${pct(1)} ms`,
  );
  t.diagnostic(`server: ${rtts.length} pings answered, RTT max ${rttMax} ms, longest silence ${Math.round(maxServerSilence)} ms; page: longest silence ${pageSilence} ms; page events while hidden: ${events.filter((e) => e.t >= hiddenMark).map((e) => e.type).join(', ') || 'none'}`);

  assert.ok(samples.length > 0 && samples.every((s) => s.visibility === 'hidden'), 'the page stayed hidden');
  assert.ok(pct(1) >= 400, `the hidden page's timers were really throttled (max ${pct(1)} ms late)`);
  assert.deepEqual(serverSide, [], 'the server neither closed nor lost the session');
  assert.equal(session.state, 'open');
  const bad = events.filter((e) => e.type === 'close' || e.type === 'disconnect' || e.type === 'reconnecting');
  assert.deepEqual(bad, [], 'the page neither closed nor disconnected');
  assert.ok(rtts.length >= HIDDEN_MS / 1000 / 2, `the server kept pinging and the hidden page answered (${rtts.length} PONGs)`);
  assert.ok(maxServerSilence < 3000, `the server never came near its timeout (${Math.round(maxServerSilence)} ms)`);

  // Back in front, the same connection still carries messages both ways.
  await front.close();
  await page.bringToFront();
  await page.waitForFunction(() => document.visibilityState === 'visible', null, { timeout: 5000, polling: 50 });
  const atServer: string[] = [];
  collect(session, atServer);
  await pageSend(page, 'after-hidden');
  session.send('welcome-back');
  assert.ok(await eventually(() => atServer.includes('after-hidden'), 5000));
  await page.waitForFunction(() => window.ll.messages.includes('welcome-back'), null, { timeout: 5000 });
  assert.deepEqual(errors, []);
});
