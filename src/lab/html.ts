/**
 * `lifeline lab --html`: one self-contained page (inline CSS and SVG, no scripts, no network)
 * with the chart, the same data as a table, and what each fault and mechanism is.
 */
import { formatCell, formatUnavailable, hasRepetitions, labFootnotes, skippedText } from './report.js';
import type { LabResult } from './results.js';
import { formatDuration } from './scale.js';
import { summarize, type CellSummary } from './summary.js';
import { esc, fmtSeconds, GREEN, RED, renderChart, scaledNote, SIDE_COLOUR } from './html-chart.js';

export function renderLabHtml(result: LabResult): string {
  const summaries = summarize(result);
  const full = hasRepetitions(result);
  const repetitions = Math.max(1, ...result.measurements.map((m) => m.repetition + 1));
  const env = result.environment;
  const envText =
    env.kind === 'netns' ? 'network namespaces + veth + nftables (real kernel faults)' : `loopback (${env.reason ?? 'no reason given'})`;
  const title = `lifeline lab: how long until a dead connection is noticed`;

  const meta = [
    `${result.mode} run${full ? `, ${repetitions} repetition${repetitions > 1 ? 's' : ''} per cell` : ''}`,
    `started ${result.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}`,
    `took ${formatDuration(result.durationMs / 1000)}`,
    envText,
    `kernel ${env.kernel}`,
    `node ${env.node}`,
    `net-keepalive ${env.netKeepalive ? 'loaded' : 'unavailable'}`,
  ];

  const body = [
    `<h1>${esc(title)}</h1>`,
    `<p class="meta">${meta.map(esc).join(' · ')}</p>`,
    `<p class="intro">The lab breaks connections on purpose: each fault below is injected for real ` +
      (env.kind === 'netns'
        ? `with the kernel's own tools (network namespaces, veth pairs, nftables, signals), `
        : `on loopback (${esc(env.reason ?? 'no reason given')}), `) +
      `and each detection mechanism runs on its own TCP connection between a client and a server that live through it. ` +
      `It records when each side noticed, that is, closed its connection, counted from the moment the fault was injected. ` +
      `<strong>Every number on this page was measured in this run</strong>; nothing is simulated or copied from documentation. ` +
      (full
        ? `Each cell ran ${repetitions} times: the bar is the median (p50), the whisker reaches the p99.`
        : `Each cell ran once (quick mode).`) +
      (result.scale
        ? ` Linux's own timers take minutes to hours, so the lab scaled them down inside its namespaces; results that came from such a timer are marked † (hover over them for the Linux-default equivalent).`
        : '') +
      `</p>`,
    `<figure>${renderChart(result, summaries)}` +
      `<figcaption>Time from fault to detection, log scale. The dashed line in each group is the end of that fault's observation window. ` +
      `Hover over a bar for details.</figcaption></figure>`,
    `<h2>The same data as a table</h2>`,
    table(result, summaries, full),
    footnotes(result),
    `<h2>Faults</h2>`,
    `<dl class="defs">${result.faults.map(faultEntry).join('')}</dl>`,
    `<h2>Mechanisms</h2>`,
    `<dl class="defs">${result.mechanisms.map((m) => `<dt>${esc(m.label)}</dt><dd>${esc(m.description)}</dd>`).join('')}</dl>`,
    problems(result),
  ];

  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    ...body.filter(Boolean),
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function table(result: LabResult, summaries: CellSummary[], full: boolean): string {
  const head =
    `<thead><tr><th scope="col">fault</th><th scope="col">who notices</th>` +
    result.mechanisms.map((m) => `<th scope="col">${esc(m.label)}</th>`).join('') +
    `</tr></thead>`;
  const rows: string[] = [];
  result.faults.forEach((fault, fi) => {
    const group = fi % 2 === 0 ? ' class="even"' : '';
    const sideSummaries = (side: string) =>
      result.mechanisms.map((m) => summaries.find((c) => c.fault === fault.id && c.side === side && c.mechanism === m.id));
    const extraRows = fault.sides.filter((side) => sideSummaries(side).some((c) => c && c.unavailable > 0)).length;
    fault.sides.forEach((side, i) => {
      const cells = result.mechanisms.map((mech) => {
        const s = summaries.find((c) => c.fault === fault.id && c.side === side && c.mechanism === mech.id);
        if (!s) return `<td class="empty">${esc(skippedText(result, fault.id, mech.id))}</td>`;
        const cls =
          s.falseAlarms > 0 && s.detected === 0 ? 'false-alarm' : s.keptAlive ? 'kept-alive' : s.detected === 0 ? 'never' : 'detected';
        let html = esc(formatCell(s, fault.windowMs, full));
        if (s.keptAlive) html = `✓ ${html}`;
        if (s.scaledKernelTimer && s.p50Ms !== undefined) {
          const note = esc(scaledNote(result, fault, side, mech, s.p50Ms));
          html = html.replace('†', `<span class="dagger" title="${note}">†</span>`);
        }
        return `<td class="${cls}"${s.how ? ` title="${esc(s.how)}"` : ''}>${html}</td>`;
      });
      const faultCell = i === 0 ? `<th scope="rowgroup" rowspan="${fault.sides.length + extraRows}">${esc(fault.label)}</th>` : '';
      rows.push(`<tr${group}>${faultCell}<td class="side ${side}">${side}</td>${cells.join('')}</tr>`);
      // "Alive but not serving" as the lifeline client reported it (same row as the terminal table).
      const summariesForSide = sideSummaries(side);
      if (summariesForSide.some((c) => c && c.unavailable > 0)) {
        const unavailableCells = summariesForSide.map((c) => `<td class="unavailable">${esc(formatUnavailable(c, full))}</td>`);
        rows.push(`<tr${group}><td class="side ${side}">${side}: unavailable</td>${unavailableCells.join('')}</tr>`);
      }
    });
  });
  return (
    `<div class="table-wrap"><table class="results">` +
    `<caption>Time from fault to detection per fault, side and mechanism${full ? ' (p50 / p99)' : ''}</caption>` +
    `${head}<tbody>${rows.join('')}</tbody></table></div>`
  );
}

function footnotes(result: LabResult): string {
  return `<div class="notes">${labFootnotes(result).map((l) => `<p>${esc(l)}</p>`).join('')}</div>`;
}

function faultEntry(fault: LabResult['faults'][number]): string {
  const who = fault.sides.join(' and ');
  return (
    `<dt>${esc(fault.label)} <span class="muted">· window ${esc(fmtSeconds(fault.windowMs))} · ${esc(who)} must notice</span></dt>` +
    `<dd>${esc(fault.how)}${fault.note ? `<br><span class="note">Note: ${esc(fault.note)}</span>` : ''}</dd>`
  );
}

function problems(result: LabResult): string {
  const parts: string[] = [];
  if (result.skipped.length) {
    parts.push(
      `<h2>Skipped</h2><ul class="skipped">` +
        result.skipped.map((s) => `<li><strong>${esc(s.fault)}${s.mechanism ? ` × ${esc(s.mechanism)}` : ''}</strong>: ${esc(s.reason)}</li>`).join('') +
        `</ul>`,
    );
  }
  if (result.errors.length) {
    parts.push(`<h2>Errors</h2><ul class="errors">${result.errors.map((e) => `<li>${esc(e)}</li>`).join('')}</ul>`);
  }
  return parts.join('\n');
}

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: #1f2937; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 28px 24px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 18px; margin: 36px 0 10px; }
.meta { color: #6b7280; font-size: 13px; margin: 0 0 14px; }
.intro { max-width: 80ch; }
figure { margin: 22px 0 0; }
figcaption { color: #6b7280; font-size: 13px; margin-top: 6px; }
svg.chart { display: block; width: 100%; height: auto; font-family: inherit; }
svg .fault-label { font-size: 14px; font-weight: 650; fill: #111827; }
svg .mech-label { font-size: 12.5px; fill: #374151; }
svg .side-tag { font-size: 10.5px; }
svg .muted { font-size: 11.5px; fill: #6b7280; }
svg .small { font-size: 10.5px; }
svg .value { font-size: 11.5px; fill: #111827; font-variant-numeric: tabular-nums; }
svg .value.inside { fill: #fff; font-weight: 600; }
svg .value.inside .how, svg .value.inside .dagger { fill: #fff; fill-opacity: 0.85; }
svg .value.inside.on-light, svg .value.inside.on-light .how { fill: #111827; }
svg .value.inside.on-light .dagger { fill: #5b21b6; }
svg .never-text { fill: #6b7280; }
svg .how { fill: #9ca3af; font-size: 10.5px; }
svg .dagger { font-weight: 700; fill: #7c3aed; }
svg .mark { font-size: 10px; fill: #fff; font-weight: 700; }
svg .legend { font-size: 12px; fill: #374151; }
svg .tick { font-size: 11px; fill: #6b7280; }
svg .axis-title { font-size: 12px; fill: #374151; }
svg .grid { stroke: #e5e7eb; stroke-width: 1; }
svg .grid.major { stroke: #d1d5db; }
svg .window { stroke: #9ca3af; stroke-width: 1; stroke-dasharray: 3 3; }
svg .whisker { stroke-width: 1.6; }
svg g.cell:hover rect, svg g.cell:hover circle { filter: brightness(0.9); }
.table-wrap { overflow-x: auto; }
table.results { border-collapse: collapse; font-size: 13px; width: 100%; font-variant-numeric: tabular-nums; }
table.results caption { text-align: left; color: #6b7280; font-size: 13px; padding-bottom: 6px; }
table.results th, table.results td { border: 1px solid #e5e7eb; padding: 5px 8px; text-align: left; vertical-align: top; }
table.results thead th { background: #f3f4f6; font-weight: 600; }
table.results tbody th { font-weight: 600; }
table.results tr.even { background: #f9fafb; }
table.results td { white-space: nowrap; }
td.side { font-size: 12px; font-weight: 600; }
td.side.client { color: ${SIDE_COLOUR.client}; }
td.side.server { color: ${SIDE_COLOUR.server}; }
td.never { color: #9ca3af; }
td.kept-alive { color: ${GREEN}; font-weight: 600; }
td.false-alarm { color: ${RED}; font-weight: 700; }
.dagger { color: #7c3aed; font-weight: 700; cursor: help; }
.notes { color: #4b5563; font-size: 13px; margin-top: 10px; }
.notes p { margin: 2px 0; }
dl.defs { margin: 0; }
dl.defs dt { font-weight: 600; margin-top: 10px; }
dl.defs dd { margin: 2px 0 0 18px; color: #374151; max-width: 90ch; }
.muted { color: #6b7280; font-weight: 400; font-size: 13px; }
.note { color: #6b7280; font-style: italic; }
ul.errors li { color: ${RED}; }
`;
