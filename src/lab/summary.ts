/** Aggregate repetitions of each (fault, side, mechanism) cell: detection count, p50 / p99, how. */
import type { CellMeasurement, LabResult, Side } from './results.js';

export interface CellSummary {
  fault: string;
  side: Side;
  mechanism: string;
  runs: number;
  detected: number;
  falseAlarms: number;
  p50Ms?: number;
  p99Ms?: number;
  /** Most frequent detection cause. */
  how?: string;
  /** NAT fault: the post-idle message got through in every run and nothing closed. */
  keptAlive: boolean;
  /** Detected by a kernel timer that the lab scaled down (see LabResult.scale). */
  scaledKernelTimer: boolean;
  /** Runs in which the side reported the peer unavailable before (or without) closing. */
  unavailable: number;
  unavailableP50Ms?: number;
  unavailableP99Ms?: number;
}

export function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

export function summarize(result: LabResult): CellSummary[] {
  const out: CellSummary[] = [];
  for (const fault of result.faults) {
    for (const side of fault.sides) {
      for (const mech of result.mechanisms) {
        const cells = result.measurements.filter((c) => c.fault === fault.id && c.mechanism === mech.id);
        if (cells.length === 0) continue;
        // ETIMEDOUT came from a timer the lab scaled: retransmissions (tcp_retries2) when this
        // side's application wrote (only clients write) and no TCP_USER_TIMEOUT bounds them, or
        // default keepalive when the mechanism does not tune it.
        const writes = side === 'client' && fault.appWrites;
        const scaled = !mech.kernelTimers.userTimeout && (writes || !mech.kernelTimers.tunedKeepalive);
        // After a reboot, an RST answers whatever packet reaches the new host first: when that was
        // a scaled keepalive probe, the detection time is the scaled timer's too.
        out.push(summarizeCell(fault.id, side, mech.id, cells, scaled, fault.resetsAfterMs));
      }
    }
  }
  return out;
}

function summarizeCell(
  fault: string,
  side: Side,
  mechanism: string,
  cells: CellMeasurement[],
  scaledTimer: boolean,
  resetsAfterMs: number | undefined,
): CellSummary {
  const outcomes = cells.map((c) => c[side]);
  const times = outcomes.filter((o) => o.detected && o.afterMs !== undefined).map((o) => o.afterMs!).sort((a, b) => a - b);
  const hows = new Map<string, number>();
  for (const o of outcomes) if (o.how) hows.set(o.how, (hows.get(o.how) ?? 0) + 1);
  const how = [...hows.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  const unavailableTimes = outcomes
    .filter((o) => o.unavailableAfterMs !== undefined)
    .map((o) => o.unavailableAfterMs!)
    .sort((a, b) => a - b);
  const keptAlive = cells.every((c) => c.probeDelivered === true) && outcomes.every((o) => !o.detected && !o.falseAlarm);
  return {
    fault,
    side,
    mechanism,
    runs: cells.length,
    detected: times.length,
    falseAlarms: outcomes.filter((o) => o.falseAlarm).length,
    ...(times.length ? { p50Ms: percentile(times, 50), p99Ms: percentile(times, 99) } : {}),
    ...(how ? { how } : {}),
    keptAlive,
    unavailable: unavailableTimes.length,
    ...(unavailableTimes.length
      ? { unavailableP50Ms: percentile(unavailableTimes, 50), unavailableP99Ms: percentile(unavailableTimes, 99) }
      : {}),
    scaledKernelTimer:
      scaledTimer &&
      (how === 'ETIMEDOUT' || (how === 'ECONNRESET' && resetsAfterMs !== undefined && (times[0] ?? 0) >= resetsAfterMs)),
  };
}
