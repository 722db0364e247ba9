/**
 * The lab's results model (src/lab/results.ts): a fault's recorded window is the one the run
 * waited. With windowScale < 1 the JSON used to keep the unscaled window, so the chart and the
 * table said "window 20 s" / "never (>20 s)" for a run that watched 5 s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { labFault, type LabResult } from '../../../src/lab/results.js';
import { FAULTS } from '../../../src/lab/faults/index.js';
import { renderChart } from '../../../src/lab/html-chart.js';
import { renderLabReport } from '../../../src/lab/report.js';
import { summarize } from '../../../src/lab/summary.js';
import { renderResultText } from '../../../src/dashboard/results-render.js';

const frozen = FAULTS.find((f) => f.id === 'frozen-server')!;

test('lab results - labFault records the scaled window, and the rest of the fault as specified', () => {
  assert.equal(frozen.windowMs, 20_000, 'the spec this test reasons about');
  const scaled = labFault(frozen, 0.25);
  assert.equal(scaled.windowMs, 5_000);
  assert.deepEqual(labFault(frozen, 1), { ...scaled, windowMs: 20_000 });
  assert.deepEqual(scaled.sides, frozen.sides);
  assert.equal(scaled.appWrites, frozen.dataInFlight === true || frozen.probeAfterMs !== undefined);
});

test('lab results - a 0.25-scaled run never detected draws "window 5 s" and "never (>5 s)", in the chart, the table and the dashboard', () => {
  const base = JSON.parse(readFileSync(new URL('../../fixtures/lab/quick.json', import.meta.url), 'utf8')) as LabResult;
  const mechanism = base.mechanisms[0]!;
  const undetected = { relevant: true, detected: false, falseAlarm: false };
  const result: LabResult = {
    ...base,
    windowScale: 0.25,
    faults: [labFault(frozen, 0.25)],
    mechanisms: [mechanism],
    measurements: [{ fault: frozen.id, mechanism: mechanism.id, repetition: 0, client: undetected, server: { ...undetected, relevant: false } }],
    skipped: [],
    errors: [],
  };
  const svg = renderChart(result, summarize(result));
  assert.match(svg, /window 5 s/);
  assert.match(svg, /never \(&gt;5 s\)|never \(>5 s\)/);
  assert.doesNotMatch(svg, /20 s/);
  const table = renderLabReport(result);
  assert.match(table, /never \(>5 s\)/);
  assert.doesNotMatch(table, /20 s/);
  const page = renderResultText(JSON.stringify(result));
  assert.match(page.charts[0]!.svg, /window 5 s/);
  assert.ok(page.meta.includes('observation windows × 0.25'), page.meta.join(' · '));
});
