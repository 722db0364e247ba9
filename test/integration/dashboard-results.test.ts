/**
 * Integration (no browser): the dashboard's HTTP side on a real loopback port
 * (docs/spec/0017-dashboard.md). The results directory gives out only `.json` files directly
 * inside it — `..`, encoded separators, absolute paths, sub-directories and a symlink pointing
 * out are all refused before anything is read; a real `lifeline bench` run (tiny: 20 connections,
 * raw + lifeline, the code path of `bench --json`) posted to the page's render endpoint comes
 * back as bar charts whose bars carry the run's own figures; anything else is refused with what
 * was expected; /metrics is mounted only when given; the CLI flag check names the missing flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from '../../src/index.js';
import { serveDashboard, type RenderedResult } from '../../src/dashboard/index.js';
import { lifelineMetrics } from '../../src/metrics/prometheus.js';
import { runBench } from '../../src/bench/harness.js';
import { killAllChildren } from '../../src/lab/processes.js';
import { serverFlagError, type ServerCommandOptions } from '../../src/cli/server-command.js';

test('dashboard results - only .json files directly inside the directory; traversal, symlinks out and other files refused', { timeout: 20_000 }, async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'lifeline-dash-files-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const dir = join(base, 'results');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(base, 'secret.json'), '{"secret":true}');
  writeFileSync(join(dir, 'not-a-result.json'), '{"hello":1}');
  writeFileSync(join(dir, 'sub', 'inner.json'), '{}');
  writeFileSync(join(dir, 'notes.txt'), 'text');
  symlinkSync(join(base, 'secret.json'), join(dir, 'link-out.json'));

  const server = createServer();
  t.after(() => server.close());
  const dash = await serveDashboard(server, { resultsDir: dir });
  t.after(() => dash.close());
  assert.equal(dash.address.address, '127.0.0.1', 'loopback by default');
  const get = async (path: string) => {
    const res = await fetch(new URL(path, dash.url));
    return { status: res.status, body: (await res.json()) as { error?: string; files?: Array<{ name: string }> } };
  };

  const list = await get('/api/results');
  assert.deepEqual(list.body.files!.map((f) => f.name), ['not-a-result.json'], 'listed: .json files inside, not the symlink out, not sub-directories');
  for (const file of ['../secret.json', '..%2Fsecret.json', '%2e%2e%2fsecret.json', '..%5csecret.json', encodeURIComponent(join(base, 'secret.json')), 'sub%2Finner.json', 'link-out.json', 'notes.txt']) {
    const r = await get(`/api/results/render?file=${file}`);
    assert.equal(r.status, 403, `${file}: ${JSON.stringify(r.body)}`);
    assert.doesNotMatch(JSON.stringify(r.body), /secret":true/);
  }
  assert.equal((await get('/api/results/render?file=missing.json')).status, 404);
  assert.equal((await get('/api/results/render')).status, 400, 'no file named');
  // Inside and readable, but not a lifeline result: refused with what was expected.
  const shape = await get('/api/results/render?file=not-a-result.json');
  assert.equal(shape.status, 422);
  assert.match(shape.body.error!, /lifeline lab --json.*lifeline bench --json/);
  assert.equal((await get('/metrics').catch(() => ({ status: 0 }))).status, 404, 'no /metrics unless given');
});

test('dashboard results - a real bench run posted as text renders one bar per system with its own figures; /metrics mounted when given', { timeout: 60_000 }, async (t) => {
  t.after(() => killAllChildren());
  const bench = await runBench({ connections: 20, intervalMs: 200, durationMs: 1000, systems: ['raw', 'lifeline'], scale: false, freeze: false });
  const ran = bench.results.filter((r) => r.skipped === undefined && r.error === undefined);
  assert.equal(ran.length, 2, JSON.stringify(bench.results.map((r) => [r.system, r.skipped, r.error])));

  const server = createServer();
  t.after(() => server.close());
  const metrics = lifelineMetrics(server);
  t.after(() => metrics.close());
  const dash = await serveDashboard(server, { metrics });
  t.after(() => dash.close());

  const res = await fetch(new URL('/api/results/render', dash.url), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(bench) });
  assert.equal(res.status, 200);
  const rendered = (await res.json()) as RenderedResult;
  assert.equal(rendered.kind, 'bench');
  const byId = new Map(rendered.charts.map((c) => [c.id, c]));
  const figures: Record<string, (r: (typeof ran)[number]) => number | undefined> = {
    heap: (r) => r.derived?.heapPerConnection,
    cpu: (r) => r.derived?.cpuPerRoundTripMicros,
    bytes: (r) => r.derived?.bytesPerRoundTrip,
  };
  for (const [id, figure] of Object.entries(figures)) {
    const chart = byId.get(id);
    assert.ok(chart, `a ${id} chart among ${[...byId.keys()].join(', ')}`);
    const bars = [...chart.svg.matchAll(/<g class="bar" data-system="([^"]+)" data-value="([^"]+)">/g)].map((m) => [m[1], Number(m[2])]);
    assert.equal(chart.series, bars.length);
    assert.deepEqual(bars, ran.map((r) => [r.system, figure(r)]), `${id}: one bar per system, the run's own figure`);
  }
  assert.equal(byId.has('detect'), false, 'no freeze in this run: no detection chart');

  const bad = await fetch(new URL('/api/results/render', dash.url), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"tool":"lifeline lab"' });
  assert.equal(bad.status, 422);
  assert.match(((await bad.json()) as { error: string }).error, /not JSON/);

  const scrape = await fetch(new URL('/metrics', dash.url));
  assert.equal(scrape.status, 200);
  assert.match(await scrape.text(), /^lifeline_sessions 0$/m);
});

test('dashboard results - lifeline server: --dashboard-host and --dashboard-results need --dashboard', () => {
  const base = { host: '127.0.0.1', port: 0, interval: 5000, timeout: 15000, echo: false, heartbeatLeader: 'auto', log: 'json' } as ServerCommandOptions;
  assert.match(serverFlagError({ ...base, dashboardResults: '/tmp' }) ?? '', /--dashboard-results applies to the dashboard: add --dashboard PORT/);
  assert.match(serverFlagError({ ...base, dashboardHost: '0.0.0.0' }) ?? '', /--dashboard-host/);
  assert.equal(serverFlagError({ ...base, dashboard: 0, dashboardResults: '/tmp' }), undefined);
});
