/** The lab's terminal table: faults × sides down, mechanisms across, time to detect in cells. */
import { renderTable } from './table.js';
import type { LabResult } from './results.js';
import { formatDuration } from './scale.js';
import { summarize, type CellSummary } from './summary.js';

/** A detection time for a table cell: ms below one second, else seconds with one decimal. */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function formatCell(s: CellSummary | undefined, windowMs: number, full: boolean): string {
  if (!s) return '';
  if (s.falseAlarms > 0 && s.detected === 0) return `FALSE ALARM`;
  if (s.keptAlive) return 'kept alive';
  if (s.detected === 0) return `never (>${Math.round(windowMs / 1000)} s)`;
  const t = formatMs;
  let text = full && s.runs > 1 ? `${t(s.p50Ms!)} / ${t(s.p99Ms!)}` : t(s.p50Ms!);
  if (s.detected < s.runs) text += ` (${s.detected}/${s.runs})`;
  if (s.scaledKernelTimer) text += '†';
  if (s.falseAlarms > 0) text += ` +${s.falseAlarms} false`;
  return text;
}

export function formatUnavailable(s: CellSummary | undefined, full: boolean): string {
  if (!s || s.unavailable === 0 || s.unavailableP50Ms === undefined) return '—';
  const t = formatMs;
  const text = full && s.runs > 1 ? `${t(s.unavailableP50Ms)} / ${t(s.unavailableP99Ms!)}` : t(s.unavailableP50Ms);
  return s.unavailable < s.runs ? `${text} (${s.unavailable}/${s.runs})` : text;
}

/** A cell with no measurement because it was skipped on purpose (the reason is listed below the table). */
export function skippedText(result: LabResult, fault: string, mechanism: string): string {
  return result.skipped.some((s) => s.fault === fault && s.mechanism === mechanism) ? 'skipped' : '';
}

/** More than one repetition per cell: show p50 / p99 (full mode, or quick with --repetitions). */
export function hasRepetitions(result: LabResult): boolean {
  return result.measurements.some((m) => m.repetition > 0);
}

/** What the cells mean, the time scale, and where it ran: shared by the terminal and HTML reports. */
export function labFootnotes(result: LabResult): string[] {
  const lines = [
    hasRepetitions(result)
      ? 'Cells: time from fault to detection, p50 / p99 over repetitions; "never" = not within the window.'
      : 'Cells: time from fault to detection (one run); "never" = not detected within the observation window.',
    '"unavailable" rows: when a lifeline client reported the server alive but not serving (a PING unanswered for the availability budget, or busy / draining PONGs); "—" = no such signal.',
    '"kept alive": the mechanism kept the flow alive through the NAT (the message sent after the idle period got through and nothing closed), so there was nothing to detect.',
  ];
  if (result.scale) {
    const { scaled, linux } = result.scale;
    lines.push(
      `† a kernel timer the lab scaled down in its namespaces. Measured with keepalive ${formatDuration(scaled.keepaliveGiveUpS)} ` +
        `(Linux default: ${formatDuration(linux.keepaliveGiveUpS)}) and tcp_retries2 give-up ${formatDuration(scaled.retransmitGiveUpS)} ` +
        `(Linux default: ${formatDuration(linux.retransmitGiveUpS)}).`,
    );
    const sysctls = Object.entries(scaled.sysctls).map(([k, v]) => `${k}=${v}`).join(', ');
    lines.push(`Scaled sysctls (client and server namespaces only): ${sysctls}.`);
  }
  const env = result.environment;
  lines.push(
    `Environment: ${env.kind === 'netns' ? 'network namespaces + veth + nftables (real kernel faults)' : `loopback (${env.reason})`}; ` +
      `kernel ${env.kernel}; node ${env.node}; net-keepalive ${env.netKeepalive ? 'loaded' : 'unavailable'}.`,
  );
  return lines;
}

export function renderLabReport(result: LabResult): string {
  const summaries = summarize(result);
  const full = hasRepetitions(result);
  const lines: string[] = [];
  const header = ['fault', 'who notices', ...result.mechanisms.map((m) => m.label)];
  const rows: string[][] = [];
  for (const fault of result.faults) {
    fault.sides.forEach((side, i) => {
      const cells = result.mechanisms.map((m) => summaries.find((s) => s.fault === fault.id && s.side === side && s.mechanism === m.id));
      rows.push([
        i === 0 ? fault.label : '',
        side === 'client' ? 'client' : 'server',
        ...cells.map((c, mi) => (c ? formatCell(c, fault.windowMs, full) : skippedText(result, fault.id, result.mechanisms[mi]!.id))),
      ]);
      // "Alive but not serving": lifeline clients say so before the heartbeat timeout.
      if (cells.some((c) => c && c.unavailable > 0)) {
        rows.push(['', `${side}: unavailable`, ...cells.map((c) => formatUnavailable(c, full))]);
      }
    });
  }
  lines.push(renderTable(header, rows));
  lines.push('');
  lines.push(...labFootnotes(result));
  for (const s of result.skipped) lines.push(`skipped ${s.fault}${s.mechanism ? ` × ${s.mechanism}` : ''}: ${s.reason}`);
  for (const e of result.errors) lines.push(`ERROR ${e}`);
  return lines.join('\n');
}
