/**
 * A `lifeline bench --json` result as small inline SVG bar charts, one per figure the bench
 * table reports (docs/spec/0017-dashboard.md §Results page): one bar per system that ran, on a
 * linear axis from 0. Pure string building; every text goes through esc().
 */
import type { BenchResult, SystemResult } from '../bench/types.js';
import { esc } from '../lab/html-chart.js';

export interface BenchMetric {
  id: string;
  title: string;
  unit: string;
  /** Smaller is better (said under the title). */
  lowerIsBetter: boolean;
  value: (r: SystemResult) => number | undefined;
}

export const BENCH_METRICS: readonly BenchMetric[] = [
  { id: 'heap', title: 'Server heap per connection', unit: 'B', lowerIsBetter: true, value: (r) => r.derived?.heapPerConnection },
  { id: 'rss', title: 'Server RSS per connection', unit: 'B', lowerIsBetter: true, value: (r) => r.derived?.rssPerConnection },
  { id: 'cpu', title: 'Server CPU per heartbeat', unit: 'µs', lowerIsBetter: true, value: (r) => r.derived?.cpuPerRoundTripMicros },
  { id: 'bytes', title: 'Bytes on the wire per heartbeat', unit: 'B', lowerIsBetter: true, value: (r) => r.derived?.bytesPerRoundTrip },
  { id: 'loop', title: 'Server event-loop delay p99', unit: 'ms', lowerIsBetter: true, value: (r) => r.server?.loopDelayP99Ms },
  { id: 'detect', title: 'Frozen clients detected, p50', unit: 'ms', lowerIsBetter: true, value: (r) => r.detection?.p50Ms },
];

const W = 560;
const LABEL_W = 150;
const BAR_H = 16;
const GAP = 8;
const TOP = 12;
const BOTTOM = 14;
const VALUE_W = 80;

/** Figures with at least one value: the charts worth drawing. */
export function benchCharts(result: BenchResult): Array<{ metric: BenchMetric; svg: string; bars: number }> {
  const ran = result.results.filter((r) => r.skipped === undefined && r.error === undefined);
  const charts: Array<{ metric: BenchMetric; svg: string; bars: number }> = [];
  for (const metric of BENCH_METRICS) {
    const rows = ran.flatMap((r) => {
      const v = metric.value(r);
      return v === undefined || !Number.isFinite(v) ? [] : [{ label: r.label || r.system, system: r.system, value: v }];
    });
    if (rows.length > 0) charts.push({ metric, svg: barChart(metric, rows), bars: rows.length });
  }
  return charts;
}

function fmt(v: number, unit: string): string {
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${v.toLocaleString('en-US', { maximumFractionDigits: digits })} ${unit}`;
}

function barChart(metric: BenchMetric, rows: Array<{ label: string; system: string; value: number }>): string {
  const max = Math.max(...rows.map((r) => r.value), Number.MIN_VALUE);
  const x0 = LABEL_W;
  const x1 = W - VALUE_W;
  const height = TOP + BOTTOM + rows.length * (BAR_H + GAP) - GAP;
  const bars = rows.map((r, i) => {
    const y = TOP + i * (BAR_H + GAP);
    const w = Math.max(1.5, ((x1 - x0) * Math.max(0, r.value)) / max);
    const lifeline = r.system.startsWith('lifeline');
    return (
      `<g class="bar" data-system="${esc(r.system)}" data-value="${r.value}"><title>${esc(`${r.label}: ${fmt(r.value, metric.unit)}`)}</title>` +
      `<text x="${x0 - 8}" y="${y + BAR_H - 4}" text-anchor="end" class="bar-label">${esc(r.label)}</text>` +
      `<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" rx="2" class="${lifeline ? 'bar-fill lifeline' : 'bar-fill'}"/>` +
      `<text x="${(x0 + w + 6).toFixed(1)}" y="${y + BAR_H - 4}" class="value">${esc(fmt(r.value, metric.unit))}</text></g>`
    );
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" class="chart bench-chart" data-metric="${metric.id}" role="img" aria-label="${esc(metric.title)}">` +
    `<line x1="${x0}" y1="${TOP - 4}" x2="${x0}" y2="${height - BOTTOM + 4}" class="axis-line"/>` +
    bars.join('') +
    '</svg>'
  );
}
