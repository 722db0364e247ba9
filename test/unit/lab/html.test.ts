import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderLabHtml } from '../../../src/lab/html.js';
import { esc, scaledNote } from '../../../src/lab/html-chart.js';
import type { LabResult } from '../../../src/lab/results.js';
import { summarize } from '../../../src/lab/summary.js';

const fixture = (name: string): LabResult =>
  JSON.parse(readFileSync(new URL(`../../fixtures/lab/${name}`, import.meta.url), 'utf8')) as LabResult;

const count = (haystack: string, needle: string | RegExp): number =>
  typeof needle === 'string' ? haystack.split(needle).length - 1 : (haystack.match(needle) ?? []).length;

/** The quick fixture as a full run: 5 repetitions with jitter, plus one false alarm and one partial cell. */
function fullResult(): LabResult {
  const quick = fixture('quick.json');
  const factors = [0.9, 1, 1.05, 1.1, 1.4];
  const measurements = quick.measurements.flatMap((m) =>
    factors.map((f, repetition) => {
      const scale = (o: typeof m.client) => (o.afterMs === undefined ? { ...o } : { ...o, afterMs: Math.round(o.afterMs * f) });
      return { ...m, repetition, client: scale(m.client), server: scale(m.server) };
    }),
  );
  // heartbeat on the frozen server: a false alarm in every run.
  for (const m of measurements.filter((c) => c.fault === 'frozen-server' && c.mechanism === 'heartbeat')) {
    m.client = { relevant: true, detected: false, falseAlarm: true, how: 'heartbeat-timeout' };
  }
  // tuned keepalive on the idle cable cut: the client missed it in two runs.
  for (const m of measurements.filter((c) => c.fault === 'cable-cut-idle' && c.mechanism === 'keepalive-tuned' && c.repetition < 2)) {
    m.client = { relevant: true, detected: false, falseAlarm: false };
  }
  return { ...quick, mode: 'full', measurements };
}

function assertStructure(html: string, result: LabResult): void {
  assert.ok(html.startsWith('<!DOCTYPE html>\n<html lang="en">'));
  assert.ok(html.trimEnd().endsWith('</html>'));
  assert.equal(count(html, '<svg'), 1, 'exactly one svg');
  assert.equal(count(html, '</svg>'), 1);
  assert.equal(count(html, '<table'), 1);
  assert.doesNotMatch(html, /<script|<link|@import|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'self-contained');
  const cells = summarize(result);
  assert.equal(count(html, /<g class="cell /g), cells.length, 'one bar or label per cell');
  // Table rows: one per fault × side.
  const rows = result.faults.reduce((n, f) => n + f.sides.length, 0);
  assert.equal(count(html, /<tr( class="even")?><(th scope="rowgroup"|td class="side)/g), rows);
  for (const f of result.faults) assert.ok(html.includes(esc(f.how)), `fault how: ${f.id}`);
  for (const m of result.mechanisms) assert.ok(html.includes(esc(m.description)), `mechanism: ${m.id}`);
}

test('quick sample: structure, never, kept alive, † tooltips', () => {
  const result = fixture('quick.json');
  const html = renderLabHtml(result);
  assertStructure(html, result);
  const cells = summarize(result);

  const never = cells.filter((s) => s.detected === 0 && !s.keptAlive && s.falseAlarms === 0).length;
  assert.equal(count(html, /<g class="cell never"/g), never);
  assert.ok(html.includes('never (&gt;20 s)') && html.includes('never (&gt;26 s)'));

  const kept = cells.filter((s) => s.keptAlive).length;
  assert.equal(kept, 6);
  assert.equal(count(html, /<g class="cell kept-alive"/g), kept);
  assert.ok(html.includes('>kept alive</text>'));

  const scaled = cells.filter((s) => s.scaledKernelTimer).length;
  assert.ok(scaled > 0);
  assert.equal(count(html, /<g class="cell detected scaled"[^>]*><title>[^<]*† measured [^<]*at Linux defaults/g), scaled);
  assert.equal(count(html, /<span class="dagger" title="measured [^"]*at Linux defaults/g), scaled, 'table † carries the tooltip too');
  // Idle keepalive at Linux defaults: 2 h 11 min; the NAT client's retransmissions: ~15 min.
  assert.ok(html.includes('at Linux defaults (keepalive 2 h 11 min) ≈ 2 h 11 min'));
  assert.match(html, /NAT forgets idle flows \(4 s\) · client · plain TCP: detected after 22\.4 s \(ETIMEDOUT\)\n† measured 22\.4 s with scaled sysctls \(tcp_retries2 give-up 12\.6 s\); at Linux defaults \(tcp_retries2 give-up 15\.4 min\) ≈ 15\.6 min/);

  // Footnotes, worded like the terminal report.
  assert.ok(html.includes('† a kernel timer the lab scaled down in its namespaces. Measured with keepalive 16.0 s (Linux default: 2 h 11 min)'));
  assert.ok(html.includes('Every number on this page was measured in this run'));
  assert.ok(html.includes('kernel 6.18.44-fc-v782') && html.includes('node v20.20.2'));
  assert.doesNotMatch(html, /<h2>(Skipped|Errors)<\/h2>/);
});

test('small sample renders', () => {
  const result = fixture('small.json');
  const html = renderLabHtml(result);
  assertStructure(html, result);
  assert.ok(html.includes('never (&gt;20 s)'));
  assert.ok(html.includes('window 8 s'));
});

test('full run: p50 bar with p99 whisker, partial detection, false alarm in red', () => {
  const result = fullResult();
  const html = renderLabHtml(result);
  assertStructure(html, result);
  const cells = summarize(result);
  const whiskered = cells.filter((s) => s.detected > 0 && !s.keptAlive && s.p99Ms! > s.p50Ms!).length;
  assert.ok(whiskered > 10);
  assert.equal(count(html, /<line [^>]*class="whisker"/g), whiskered * 2, 'a whisker and its cap per cell');
  assert.ok(html.includes('2.7 s (p99 3.5 s)'), 'heartbeat cable-cut-idle p50/p99 label');
  assert.ok(html.includes('(3/5 runs)'));
  assert.equal(count(html, /<g class="cell false-alarm"/g), 1);
  assert.ok(html.includes('FALSE ALARM: closed before the fault'));
  assert.match(html, /<td class="false-alarm"[^>]*>FALSE ALARM<\/td>/);
  assert.ok(html.includes('Each cell ran 5 times'));
  assert.ok(html.includes('bar p50, whisker p99'));
});

test('every interpolated string is escaped', () => {
  const result = fixture('small.json');
  const evil = '<script>alert("x")</script> & \'q\'';
  result.faults[0]!.label = evil;
  result.faults[0]!.how = `how ${evil}`;
  result.faults[0]!.note = `note ${evil}`;
  result.faults[0]!.id = `id"><script>`;
  for (const m of result.measurements) if (m.fault === 'frozen-server') m.fault = `id"><script>`;
  result.mechanisms[0]!.label = `mech ${evil}`;
  result.mechanisms[0]!.description = `desc ${evil}`;
  result.measurements[0]!.client = { relevant: true, detected: true, afterMs: 1234, how: `<img src=x onerror=alert(1)>`, falseAlarm: false };
  result.environment = { ...result.environment, kernel: `k ${evil}`, node: `n ${evil}` };
  result.startedAt = `<b>2025</b>`;
  result.skipped = [{ fault: `<i>f</i>`, mechanism: `<u>m</u>`, reason: `r ${evil}` }];
  result.errors = [`e ${evil}`];
  const html = renderLabHtml(result);
  assert.doesNotMatch(html, /<script|<img|<b>2025|<i>f|<u>m/i);
  assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;'));
  assert.ok(html.includes('data-fault="id&quot;&gt;&lt;script&gt;"'));
  assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
  assert.match(html, /<h2>Skipped<\/h2>[\s\S]*r &lt;script&gt;/);
  assert.match(html, /<h2>Errors<\/h2>[\s\S]*e &lt;script&gt;/);
  assert.equal(count(html, '<svg'), 1);
});

test('deterministic for a given input', () => {
  const result = fullResult();
  assert.equal(renderLabHtml(result), renderLabHtml(structuredClone(result)));
});

test('scaledNote picks the timer the way summarize() does', () => {
  const result = fixture('quick.json');
  const fault = (id: string) => result.faults.find((f) => f.id === id)!;
  const mech = (id: string) => result.mechanisms.find((m) => m.id === id)!;
  assert.match(scaledNote(result, fault('cable-cut-idle'), 'client', mech('keepalive-default'), 14_856), /keepalive 16\.0 s\).*≈ 2 h 11 min$/);
  assert.match(scaledNote(result, fault('nat-timeout'), 'server', mech('keepalive-default'), 14_790), /\(keepalive 16\.0 s\)/);
  assert.match(scaledNote(result, fault('nat-timeout'), 'client', mech('none'), 22_386), /tcp_retries2 give-up 12\.6 s.*≈ 15\.6 min$/);
  assert.match(scaledNote({ ...result, scale: undefined }, fault('nat-timeout'), 'client', mech('none'), 22_386), /scaled down$/);
});
