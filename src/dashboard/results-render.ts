/**
 * Turns a result file's text into what the results page shows (docs/spec/0017-dashboard.md
 * §Results page): a `lifeline lab --json` run as the lab's own chart (src/lab/html-chart.ts, the
 * same one `lab --html` writes), a `lifeline bench --json` run as bar charts (bench-chart.ts).
 * Rendered on the server so the page needs no copy of either chart's code; the SVG is built
 * from escaped strings only. Anything else is refused with what was expected.
 */
import type { LabResult } from '../lab/results.js';
import type { BenchResult } from '../bench/types.js';
import { renderChart } from '../lab/html-chart.js';
import { summarize } from '../lab/summary.js';
import { formatDuration } from '../lab/scale.js';
import { benchCharts } from './bench-chart.js';

export interface RenderedChart {
  id: string;
  title: string;
  /** What smaller / larger means, one line. */
  subtitle: string;
  svg: string;
  /** Bars (bench) or cells (lab) drawn. */
  series: number;
}

export interface RenderedResult {
  kind: 'lab' | 'bench';
  title: string;
  meta: string[];
  charts: RenderedChart[];
  /** Problems the run itself reported (lab errors, systems that failed or were skipped). */
  notes: string[];
}

export class ResultShapeError extends Error {}

export function renderResultText(text: string): RenderedResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ResultShapeError(`not JSON: ${(err as Error).message}`);
  }
  if (isLab(value)) return renderLab(value);
  if (isBench(value)) return renderBench(value);
  throw new ResultShapeError('not a lifeline result: expected the file `lifeline lab --json FILE` or `lifeline bench --json FILE` writes');
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function isLab(v: unknown): v is LabResult {
  return isObject(v) && v.tool === 'lifeline lab' && Array.isArray(v.faults) && Array.isArray(v.mechanisms) && Array.isArray(v.measurements) && isObject(v.environment);
}

function isBench(v: unknown): v is BenchResult {
  return isObject(v) && isObject(v.config) && isObject(v.machine) && Array.isArray(v.results);
}

function renderLab(result: LabResult): RenderedResult {
  let svg: string;
  let summaries: ReturnType<typeof summarize>;
  try {
    summaries = summarize(result);
    svg = renderChart(result, summaries);
  } catch (err) {
    throw new ResultShapeError(`a lab result, but not one this version can draw: ${(err as Error).message}`);
  }
  const series = (svg.match(/<g class="cell /g) ?? []).length;
  const env = result.environment;
  return {
    kind: 'lab',
    title: 'lifeline lab: time from fault to detection',
    meta: [
      `${result.mode} run`,
      `started ${String(result.startedAt).replace('T', ' ').replace(/\.\d+Z$/, 'Z')}`,
      `took ${formatDuration(result.durationMs / 1000)}`,
      env.kind === 'netns' ? 'network namespaces' : `loopback (${env.reason ?? 'no reason given'})`,
      `${result.faults.length} fault${result.faults.length === 1 ? '' : 's'} × ${result.mechanisms.length} mechanism${result.mechanisms.length === 1 ? '' : 's'}`,
      ...(result.windowScale !== undefined ? [`observation windows × ${result.windowScale}`] : []),
      `node ${env.node}`,
    ],
    charts: [{ id: 'lab', title: 'Time from fault to detection (log scale)', subtitle: 'Shorter is better; a hatched bar was not detected within the window.', svg, series }],
    notes: [
      ...result.errors.map((e) => `error: ${e}`),
      ...result.skipped.map((s) => `skipped ${s.fault}${s.mechanism ? ` × ${s.mechanism}` : ''}: ${s.reason}`),
    ],
  };
}

function renderBench(result: BenchResult): RenderedResult {
  const c = result.config;
  const m = result.machine;
  return {
    kind: 'bench',
    title: 'lifeline bench',
    meta: [
      `started ${String(result.startedAt).replace('T', ' ').replace(/\.\d+Z$/, 'Z')}`,
      `${Number(c.connections).toLocaleString('en-US')} connections per system`,
      `heartbeat ${c.intervalMs} ms`,
      `window ${formatDuration(c.durationMs / 1000)}`,
      ...(c.rounds && c.rounds > 1 ? [`${c.rounds} rounds (last shown)`] : []),
      `${m.cpus} × ${m.cpuModel}`,
      `node ${m.node}`,
    ],
    charts: benchCharts(result).map(({ metric, svg, bars }) => ({
      id: metric.id,
      title: `${metric.title} (${metric.unit})`,
      subtitle: metric.lowerIsBetter ? 'Lower is better.' : 'Higher is better.',
      svg,
      series: bars,
    })),
    notes: result.results.flatMap((r) => (r.skipped ? [`skipped ${r.system}: ${r.skipped}`] : r.error ? [`error ${r.system}: ${r.error}`] : [])),
  };
}
