/**
 * The lab chart as inline SVG: per fault a group of rows, per mechanism one horizontal bar per
 * side that must notice, on a log time axis. Pure string building, deterministic for its input.
 */
import type { LabResult, Side } from './results.js';
import { formatDuration } from './scale.js';
import type { CellSummary } from './summary.js';
import { hasRepetitions } from './report.js';

type Fault = LabResult['faults'][number];
type Mechanism = LabResult['mechanisms'][number];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escape for HTML/SVG text and attribute values. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

export const SIDE_COLOUR: Record<Side, string> = { client: '#2563eb', server: '#ea580c' };
export const GREEN = '#15803d';
export const RED = '#dc2626';

/** Chart labels: milliseconds below one second (the axis is logarithmic), else seconds. */
export function fmtMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Whole seconds without a decimal (windows are whole seconds). */
export function fmtSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : fmtMs(ms);
}

/** Same wording as the terminal table. */
export function neverText(windowMs: number): string {
  return `never (>${Math.round(windowMs / 1000)} s)`;
}

/**
 * What a † cell would have taken at Linux defaults. The timer is the retransmission give-up
 * (tcp_retries2) when this side wrote and no TCP_USER_TIMEOUT bounds it, else idle keepalive
 * (same rule as summarize()). Estimate: measured − scaled give-up + Linux give-up.
 */
export function scaledNote(result: LabResult, fault: Fault, side: Side, mech: Mechanism, measuredMs: number): string {
  if (!result.scale) return `measured ${fmtMs(measuredMs)} with a kernel timer the lab scaled down`;
  const retrans = side === 'client' && fault.appWrites && !mech.kernelTimers.userTimeout;
  const { scaled, linux } = result.scale;
  const scaledS = retrans ? scaled.retransmitGiveUpS : scaled.keepaliveGiveUpS;
  const linuxS = retrans ? linux.retransmitGiveUpS : linux.keepaliveGiveUpS;
  const timer = retrans ? 'tcp_retries2 give-up' : 'keepalive';
  const equivalentS = Math.max(0, measuredMs / 1000 - scaledS) + linuxS;
  return (
    `measured ${fmtMs(measuredMs)} with scaled sysctls (${timer} ${formatDuration(scaledS)}); ` +
    `at Linux defaults (${timer} ${formatDuration(linuxS)}) ≈ ${formatDuration(equivalentS)}`
  );
}

// Geometry (SVG user units; the SVG scales to the page width).
const W = 1160;
const X0 = 350;
const X1 = 1010;
const BAR_H = 12;
const SIDE_GAP = 3;
const ROW_PAD = 6;
const HEADER_H = 30;
const TOP = 78;
const BOTTOM = 56;

function rowHeight(sides: number): number {
  return sides * BAR_H + (sides - 1) * SIDE_GAP + 2 * ROW_PAD;
}

const TICKS_MS = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000];

function tickLabel(ms: number): string {
  return ms < 100 ? `${ms} ms` : `${ms / 1000} s`;
}

const n = (v: number): string => (Math.round(v * 10) / 10).toString();

export function renderChart(result: LabResult, summaries: CellSummary[]): string {
  const full = hasRepetitions(result);
  const maxMs = Math.max(1000, ...result.faults.map((f) => f.windowMs));
  const fastest = Math.min(Infinity, ...summaries.map((s) => s.p50Ms ?? Infinity));
  const minMs = fastest < 50 ? 10 : 50;
  const span = Math.log10(maxMs) - Math.log10(minMs);
  const x = (ms: number): number => X0 + ((Math.log10(Math.min(maxMs, Math.max(minMs, ms))) - Math.log10(minMs)) / span) * (X1 - X0);

  const height = TOP + BOTTOM + result.faults.reduce((h, f) => h + HEADER_H + result.mechanisms.length * rowHeight(f.sides.length), 0);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" role="img" aria-labelledby="chart-title chart-desc" class="chart">`,
    `<title id="chart-title">Time from fault to detection, per fault, mechanism and side</title>`,
    `<desc id="chart-desc">Horizontal bars on a logarithmic time axis from ${tickLabel(minMs)} to ${fmtMs(maxMs)}; the table below holds the same data.</desc>`,
    '<defs>',
    ...(['client', 'server'] as const).map(
      (side) =>
        `<pattern id="hatch-${side}" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">` +
        `<rect width="6" height="6" fill="${SIDE_COLOUR[side]}" fill-opacity="0.08"/>` +
        `<line x1="0" y1="0" x2="0" y2="6" stroke="${SIDE_COLOUR[side]}" stroke-width="2" stroke-opacity="0.35"/></pattern>`,
    ),
    '</defs>',
  );
  out.push(legend(full));

  // Group backgrounds first, then the grid over them, then the bars.
  const groups: string[] = [];
  const bars: string[] = [];
  let y = TOP;
  result.faults.forEach((fault, gi) => {
    const groupH = HEADER_H + result.mechanisms.length * rowHeight(fault.sides.length);
    if (gi % 2 === 0) groups.push(`<rect x="0" y="${y}" width="${W}" height="${groupH}" fill="#f6f7f9"/>`);
    const xw = x(fault.windowMs);
    const who = fault.sides.length === 2 ? 'client and server must notice' : `the ${fault.sides[0]} must notice`;
    bars.push(
      `<g class="fault-header"><text x="14" y="${y + 20}"><tspan class="fault-label">${esc(fault.label)}</tspan>` +
        `<tspan class="muted" dx="12">${esc(who)}</tspan></text>` +
        `<text x="${n(xw)}" y="${y + 20}" class="muted small" text-anchor="middle">window ${esc(fmtSeconds(fault.windowMs))}</text></g>`,
      `<line x1="${n(xw)}" y1="${y + 25}" x2="${n(xw)}" y2="${y + groupH - 3}" class="window"/>`,
    );
    y += HEADER_H;
    for (const mech of result.mechanisms) {
      const rowH = rowHeight(fault.sides.length);
      const mid = y + rowH / 2;
      bars.push(`<text x="${X0 - 58}" y="${n(mid + 4)}" text-anchor="end" class="mech-label">${esc(mech.label)}</text>`);
      fault.sides.forEach((side, si) => {
        const by = y + ROW_PAD + si * (BAR_H + SIDE_GAP);
        bars.push(`<text x="${X0 - 8}" y="${by + BAR_H - 2}" text-anchor="end" class="side-tag" fill="${SIDE_COLOUR[side]}">${side}</text>`);
        const s = summaries.find((c) => c.fault === fault.id && c.side === side && c.mechanism === mech.id);
        if (s) bars.push(cell(result, fault, mech, side, s, by, x, full));
      });
      y += rowH;
    }
  });
  out.push(...groups);
  out.push(axis(minMs, maxMs, x, height));
  out.push(...bars);
  out.push('</svg>');
  return out.join('\n');
}

function cell(result: LabResult, fault: Fault, mech: Mechanism, side: Side, s: CellSummary, by: number, x: (ms: number) => number, full: boolean): string {
  const colour = SIDE_COLOUR[side];
  const base = `${fault.label} · ${side} · ${mech.label}`;
  const textY = by + BAR_H - 2;
  const attrs = `data-fault="${esc(fault.id)}" data-side="${side}" data-mech="${esc(mech.id)}"`;
  const falseText = s.falseAlarms > 0 ? ` +${s.falseAlarms} false alarm${s.falseAlarms > 1 ? 's' : ''}` : '';

  if (s.falseAlarms > 0 && s.detected === 0) {
    const tip = `${base}: FALSE ALARM: closed before the fault was injected (${s.falseAlarms}/${s.runs} runs)`;
    return (
      `<g class="cell false-alarm" ${attrs}><title>${esc(tip)}</title>` +
      `<rect x="${X0}" y="${by}" width="${BAR_H}" height="${BAR_H}" rx="2" fill="${RED}"/>` +
      `<text x="${X0 + BAR_H / 2}" y="${textY}" text-anchor="middle" class="mark">✕</text>` +
      `<text x="${X0 + BAR_H + 6}" y="${textY}" class="value" fill="${RED}">FALSE ALARM: closed before the fault</text></g>`
    );
  }
  if (s.keptAlive) {
    const tip = `${base}: kept alive: the message sent after the idle period reached the server and nothing closed, so there was nothing to detect`;
    const cx = X0 + BAR_H / 2;
    return (
      `<g class="cell kept-alive" ${attrs}><title>${esc(tip)}</title>` +
      `<circle cx="${cx}" cy="${by + BAR_H / 2}" r="${BAR_H / 2 + 0.5}" fill="${GREEN}"/>` +
      `<path d="M${cx - 3} ${by + 6.2} l2.2 2.3 l4 -4.6" fill="none" stroke="#fff" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>` +
      `<text x="${X0 + BAR_H + 6}" y="${textY}" class="value" fill="${GREEN}">kept alive${esc(falseText)}</text></g>`
    );
  }
  if (s.detected === 0 || s.p50Ms === undefined) {
    const xw = x(fault.windowMs);
    const tip = `${base}: not detected within the ${fmtSeconds(fault.windowMs)} observation window${falseText}`;
    return (
      `<g class="cell never" ${attrs}><title>${esc(tip)}</title>` +
      `<rect x="${X0}" y="${by}" width="${n(xw - X0)}" height="${BAR_H}" fill="url(#hatch-${side})" stroke="${colour}" stroke-opacity="0.25"/>` +
      `<path d="M${n(xw)} ${by - 1} l7 ${BAR_H / 2 + 1} l-7 ${BAR_H / 2 + 1}z" fill="${colour}" fill-opacity="0.45"/>` +
      `<text x="${n(xw + 11)}" y="${textY}" class="value never-text">${esc(neverText(fault.windowMs))}</text>` +
      (falseText ? `<text x="${n(xw + 100)}" y="${textY}" class="value" fill="${RED}">${esc(falseText)}</text>` : '') +
      '</g>'
    );
  }
  const p50 = s.p50Ms;
  const p99 = s.p99Ms ?? p50;
  const xe = x(p50);
  const whisker = full && s.runs > 1 && x(p99) - xe >= 1;
  const xEnd = whisker ? x(p99) : xe;
  let value = full && s.runs > 1 ? `${fmtMs(p50)} (p99 ${fmtMs(p99)})` : fmtMs(p50);
  if (s.detected < s.runs) value += ` (${s.detected}/${s.runs} runs)`;
  let tip = `${base}: detected after ${full && s.runs > 1 ? `p50 ${fmtMs(p50)}, p99 ${fmtMs(p99)} over ${s.runs} runs` : fmtMs(p50)}`;
  if (s.how) tip += ` (${s.how})`;
  if (s.detected < s.runs) tip += `; ${s.runs - s.detected} of ${s.runs} runs not detected within the window`;
  tip += falseText;
  if (s.scaledKernelTimer) tip += `\n† ${scaledNote(result, fault, side, mech, p50)}`;
  // The label goes right of the bar (or whisker); if it would run off the chart, inside the bar.
  const labelChars = value.length + (s.scaledKernelTimer ? 1 : 0) + (s.how ? s.how.length + 1 : 0) + falseText.length;
  const outside = Math.max(xEnd, X0 + 2) + 5;
  const labelAt =
    outside + labelChars * 6.2 > W - 4 && xe - X0 > labelChars * 6.2 + 8
      ? `x="${n(xe - 4)}" y="${textY}" text-anchor="end" class="value inside${s.scaledKernelTimer ? ' on-light' : ''}"`
      : `x="${n(outside)}" y="${textY}" class="value"`;
  return (
    `<g class="cell detected${s.scaledKernelTimer ? ' scaled' : ''}" ${attrs}><title>${esc(tip)}</title>` +
    `<rect x="${X0}" y="${by}" width="${n(Math.max(2, xe - X0))}" height="${BAR_H}" rx="2" fill="${colour}"${s.scaledKernelTimer ? ' fill-opacity="0.55"' : ''}/>` +
    (whisker
      ? `<line x1="${n(xe)}" y1="${by + BAR_H / 2}" x2="${n(xEnd)}" y2="${by + BAR_H / 2}" class="whisker" stroke="${colour}"/>` +
        `<line x1="${n(xEnd)}" y1="${by + 1}" x2="${n(xEnd)}" y2="${by + BAR_H - 1}" class="whisker" stroke="${colour}"/>`
      : '') +
    `<text ${labelAt}>${esc(value)}` +
    (s.scaledKernelTimer ? `<tspan class="dagger">†</tspan>` : '') +
    (s.how ? `<tspan class="how" dx="6">${esc(s.how)}</tspan>` : '') +
    (falseText ? `<tspan dx="6" fill="${RED}">${esc(falseText)}</tspan>` : '') +
    '</text></g>'
  );
}

function axis(minMs: number, maxMs: number, x: (ms: number) => number, height: number): string {
  const ticks = TICKS_MS.filter((t) => t >= minMs && t <= maxMs);
  const yTop = TOP - 4;
  const yBottom = height - BOTTOM + 4;
  const parts = ticks.map((t) => {
    const xt = n(x(t));
    const major = [10, 100, 1000, 10_000, 100_000].includes(t);
    return (
      `<line x1="${xt}" y1="${yTop}" x2="${xt}" y2="${yBottom}" class="${major ? 'grid major' : 'grid'}"/>` +
      `<text x="${xt}" y="${yTop - 6}" text-anchor="middle" class="tick">${tickLabel(t)}</text>` +
      `<text x="${xt}" y="${yBottom + 14}" text-anchor="middle" class="tick">${tickLabel(t)}</text>`
    );
  });
  parts.push(
    `<text x="${(X0 + X1) / 2}" y="${height - 12}" text-anchor="middle" class="axis-title">time from fault to detection (log scale)</text>`,
  );
  return `<g class="axis">${parts.join('')}</g>`;
}

function legend(full: boolean): string {
  const items: string[] = [];
  let lx = 14;
  let y = 12;
  const add = (swatch: string, label: string): void => {
    const width = 20 + label.length * 6.4 + 22;
    if (lx + width > W) [lx, y] = [14, y + 22];
    items.push(`<g transform="translate(${n(lx)} ${y})">${swatch}<text x="20" y="10" class="legend">${esc(label)}</text></g>`);
    lx += width;
  };
  const box = (fill: string, extra = ''): string => `<rect width="14" height="${BAR_H}" rx="2" fill="${fill}"${extra}/>`;
  add(box(SIDE_COLOUR.client), 'client noticed');
  add(box(SIDE_COLOUR.server), 'server noticed');
  add(box('url(#hatch-client)', ` stroke="${SIDE_COLOUR.client}" stroke-opacity="0.25"`), 'not detected within the window');
  add(`<circle cx="7" cy="6" r="6.5" fill="${GREEN}"/><path d="M4 6.2 l2.2 2.3 l4 -4.6" fill="none" stroke="#fff" stroke-width="1.8" stroke-linecap="round"/>`, 'kept alive (nothing to detect)');
  add(box(RED), 'false alarm');
  add(box(SIDE_COLOUR.client, ' fill-opacity="0.55"'), '† scaled kernel timer (hover)');
  if (full) add(`<rect width="8" height="${BAR_H}" fill="#555"/><line x1="8" y1="6" x2="16" y2="6" stroke="#555" stroke-width="1.5"/><line x1="16" y1="1" x2="16" y2="11" stroke="#555" stroke-width="1.5"/>`, 'bar p50, whisker p99');
  return `<g class="legend-box">${items.join('')}</g>`;
}
