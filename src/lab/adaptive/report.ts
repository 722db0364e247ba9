/** Terminal table of `lifeline lab --adaptive`: one row per heartbeat setting, figures at the 60 s scale. */
import { renderTable } from '../table.js';
import { FIXED_30S_PINGS_PER_HOUR } from './rows.js';
import type { AdaptiveRowResult } from './summary.js';
import type { AdaptiveNatResult } from './runner.js';

/** Real ms → "3.27 s (49 s)": the real value and, in brackets, what it stands for at scale. */
export function formatScaledInterval(realMs: number, scale: number): string {
  return `${(realMs / 1000).toFixed(2)} s (${Math.round((realMs * scale) / 1000)} s)`;
}

/** Real ms after the start → scaled minutes. */
export function formatScaledMinutes(realMs: number, scale: number): string {
  return `${((realMs * scale) / 60_000).toFixed(1)} min`;
}

function rate(perHour: number): string {
  return `${Math.round(perHour)}/h`;
}

function versus30s(perHour: number): string {
  const change = Math.round((perHour / FIXED_30S_PINGS_PER_HOUR - 1) * 100);
  return change === 0 ? '±0 %' : `${change > 0 ? '+' : '−'}${Math.abs(change)} %`;
}

function settledText(row: AdaptiveRowResult, scale: number): string {
  if (row.kind !== 'adaptive') return '—';
  if (row.settledAfterMs === null) return `not yet (${row.learner?.phase ?? '?'})`;
  const again = row.learner && row.learner.phase !== 'settled' ? ', re-learning now' : '';
  return `${formatScaledMinutes(row.settledAfterMs, scale)}${again}`;
}

export function renderAdaptiveTable(rows: AdaptiveRowResult[], scale: number): string {
  const header = [
    'heartbeat',
    'PINGs',
    'PINGs/h (60 s scale)',
    'steady part',
    'vs fixed 30 s (120/h)',
    'drops',
    'drops, steady',
    'NAT forgot',
    'planned reconnects',
    'interval at end (scaled)',
    'settled at (scaled)',
  ];
  const body = rows.map((r) => [
    r.label,
    String(r.pings.total),
    rate(r.pingsPerScaledHour),
    rate(r.steadyPingsPerScaledHour),
    versus30s(r.steadyPingsPerScaledHour),
    String(r.drops),
    String(r.steadyDrops),
    r.natFlowsForgotten === null ? '—' : `${r.natFlowsForgotten} flows`,
    r.kind === 'adaptive' ? String(r.plannedReconnects) : '—',
    r.finalIntervalMs === null ? '—' : formatScaledInterval(r.finalIntervalMs, scale),
    settledText(r, scale),
  ]);
  return renderTable(header, body);
}

export function adaptiveFootnotes(result: AdaptiveNatResult): string[] {
  const s = result.timeScale;
  const steady =
    result.steadyFrom === 'adaptive-settled'
      ? `from ${formatScaledMinutes(result.steadyFromMs, s)} (when the adaptive heartbeat settled) to the end`
      : `the second half of the run (the adaptive heartbeat did not settle)`;
  const lines = [
    `Time scaled ${s}×: the NAT forgets idle flows after ${result.natTimeoutMs / 1000} s, standing for ${(result.natTimeoutMs * s) / 1000} s; ` +
      `${(result.durationMs / 1000).toFixed(0)} real s = ${formatScaledMinutes(result.durationMs, s)} at scale. ` +
      `PINGs/h (60 s scale) = PINGs per real hour ÷ ${s}; intervals in brackets × ${s}. A fixed 30 s heartbeat sends ${FIXED_30S_PINGS_PER_HOUR}/h.`,
    `PINGs: client PINGs (answered + lost) and server PINGs, seen from the client. Steady part: ${steady}, the same window for every row.`,
    'drops: idle connections lost to a heartbeat timeout (the NAT had forgotten the flow); the client reconnected and resumed its session each time. ' +
      'planned reconnects: the adaptive client reconnecting (and resuming) to propose a longer interval; not a loss.',
    `NAT forgot: flows the NAT forgot while they were still in use (${result.environment.kind === 'netns' ? 'counted in the router: flows whose packets it dropped as unknown' : "the proxy's count"}).`,
    `Adaptive learner (scaled): minIntervalMs ${result.learner.minIntervalMs}, stepMs ${result.learner.stepMs}, resolutionMs ${result.learner.resolutionMs}, ` +
      `safetyMarginMs ${result.learner.safetyMarginMs}, maxIntervalMs ${result.learner.maxIntervalMs}, successesToStepUp ${result.learner.successesToStepUp}; ` +
      `clients propose heartbeatTimeout 3000 (fixed 6 s: 9000; negotiation raises it to ≥ 1.5 × the interval) and reconnect with resume.`,
  ];
  for (const r of result.rows) {
    if (r.learner) {
      lines.push(
        `${r.label}: learned longest survived idle ${(r.learner.goodMs / 1000).toFixed(2)} s, shortest fatal idle ${r.learner.badMs === null ? 'none' : `${(r.learner.badMs / 1000).toFixed(2)} s`}; ` +
          `${r.learner.survived} idle periods survived, ${r.learner.died} died; phase ${r.learner.phase} at the end.`,
      );
    }
    const other = Object.entries(r.otherDisconnects);
    if (other.length > 0) lines.push(`${r.label}: other losses: ${other.map(([code, n]) => `${code} × ${n}`).join(', ')}.`);
    if (r.gaveUp) lines.push(`${r.label}: the client gave up (${r.gaveUp}); its row is not valid.`);
  }
  const env = result.environment;
  lines.push(
    `Environment: ${env.kind === 'netns' ? 'network namespaces + veth + nftables (real kernel NAT)' : `loopback (${env.reason}), user-space NAT`}; ` +
      `${env.nat}; kernel ${env.kernel}; node ${env.node}; ${env.cpus} CPUs.`,
  );
  return lines;
}

export function renderAdaptiveReport(result: AdaptiveNatResult): string {
  return [renderAdaptiveTable(result.rows, result.timeScale), '', ...adaptiveFootnotes(result).map((l) => `> ${l}`)].join('\n');
}

/** One line for the progress display: each row's interval and drops so far. */
export function progressLabel(rows: AdaptiveRowResult[]): string {
  return rows
    .map((r) => {
      const interval = r.kind === 'adaptive' && r.learner ? `${r.learner.phase} ${(r.learner.intervalMs / 1000).toFixed(2)} s` : '';
      return `${r.id}: ${interval ? `${interval}, ` : ''}${r.pings.total} PINGs, ${r.drops} drop${r.drops === 1 ? '' : 's'}`;
    })
    .join(' · ');
}
