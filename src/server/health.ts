/**
 * The default health hook: what this server reports in every PONG, from its own event loop
 * (docs/spec/0004-availability.md). Sampled on a timer so a PONG costs a field read, not a
 * histogram query.
 *
 * Thresholds (per sample window, default 500 ms):
 * - `busy` when the event-loop delay p99 exceeds 100 ms — a message now waits at least that long
 *   before any handler runs, which interactive traffic (IM, games) notices — or when the loop's
 *   utilization (ELU) exceeds 0.95: the process has no idle time left to absorb a burst.
 * - `ok` otherwise. `draining` is set by server.drain(), not here.
 * - load = round(255 × ELU) for the window: 0 idle … 255 saturated.
 * A loop blocked for the whole window cannot answer PINGs at all; clients see that as
 * "no-answer" from the heartbeat itself, which is why both signals exist.
 */
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { HealthReport } from '../connection/connection.js';

export interface EventLoopHealthOptions {
  /** Event-loop delay p99 above this → busy, ms. Default 100. */
  busyDelayMs?: number;
  /** Event-loop utilization above this → busy (0..1). Default 0.95. */
  busyUtilization?: number;
  /** Sample window, ms. Default 500. */
  sampleMs?: number;
}

export const EVENT_LOOP_HEALTH_DEFAULTS = { busyDelayMs: 100, busyUtilization: 0.95, sampleMs: 500 } as const;

export interface HealthSampler {
  /** The hook to pass as `health`: the last sample's report. */
  readonly health: () => HealthReport;
  /** Stop sampling (the server calls it on close). */
  stop(): void;
  /** Latest raw figures, for metrics and tests. */
  readonly last: { delayP99Ms: number; utilization: number };
  /**
   * The worst sample window since the previous call (event-loop delay p50 / p99 / max, ns), for
   * lifeline/metrics: one delay monitor per server instead of a second one for the metrics
   * (a 10 ms monitor costs ~8 ms of CPU a second on a busy server). undefined: no window yet.
   */
  takeLoopDelay(): { p50Ns: number; p99Ns: number; maxNs: number } | undefined;
}

export function createEventLoopHealth(options: EventLoopHealthOptions = {}): HealthSampler {
  const o = { ...EVENT_LOOP_HEALTH_DEFAULTS, ...options };
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let previous: EventLoopUtilization = performance.eventLoopUtilization();
  let report: HealthReport = { status: 'ok', load: 0 };
  const last = { delayP99Ms: 0, utilization: 0 };
  let worst: { p50Ns: number; p99Ns: number; maxNs: number } | undefined;
  const sample = () => {
    const elu = performance.eventLoopUtilization(previous);
    previous = performance.eventLoopUtilization();
    last.delayP99Ms = histogram.percentile(99) / 1e6;
    if (histogram.count > 0) {
      const p50Ns = histogram.percentile(50);
      const p99Ns = histogram.percentile(99);
      worst = worst ? { p50Ns: Math.max(worst.p50Ns, p50Ns), p99Ns: Math.max(worst.p99Ns, p99Ns), maxNs: Math.max(worst.maxNs, histogram.max) } : { p50Ns, p99Ns, maxNs: histogram.max };
    }
    last.utilization = elu.utilization;
    histogram.reset();
    const busy = last.delayP99Ms > o.busyDelayMs || last.utilization > o.busyUtilization;
    report = { status: busy ? 'busy' : 'ok', load: Math.max(0, Math.min(255, Math.round(255 * last.utilization))) };
  };
  const timer = setInterval(sample, o.sampleMs);
  timer.unref();
  return {
    health: () => report,
    last,
    takeLoopDelay() {
      const taken = worst;
      worst = undefined;
      return taken;
    },
    stop() {
      clearInterval(timer);
      histogram.disable();
    },
  };
}

/**
 * The user's `health` hook, made safe to call from a PONG: it runs inside a socket read, where a
 * throw or an unencodable answer (a load of 0.25, a status of 'down') would be an uncaught
 * exception in the middle of I/O — every connection of the process lost for one bad return
 * value. A bad answer is corrected (load rounded and clamped to 0..255, an unknown status read as
 * 'ok', a throw answered with the last good report) and reported once through `warn`.
 */
export function guardedHealth(hook: () => HealthReport, warn: (message: string) => void): () => HealthReport {
  let last: HealthReport = { status: 'ok', load: 0 };
  let warned = false;
  const once = (message: string) => {
    if (warned) return;
    warned = true;
    warn(message);
  };
  return () => {
    let report: HealthReport;
    try {
      report = hook();
    } catch (error) {
      once(`the health hook threw (${error instanceof Error ? error.message : String(error)}): PONGs carry its last good report; reported once`);
      return last;
    }
    const status = report?.status;
    const load = report?.load;
    if ((status === 'ok' || status === 'busy' || status === 'draining') && (load >>> 0) === load && load < 256) return (last = report);
    const fixedStatus = status === 'ok' || status === 'busy' || status === 'draining' ? status : 'ok';
    const fixedLoad = typeof load === 'number' && Number.isFinite(load) ? Math.min(255, Math.max(0, Math.round(load))) : 0;
    once(`the health hook returned ${JSON.stringify(report)}: status must be 'ok' | 'busy' | 'draining' and load an integer 0..255; sent ${fixedStatus} / ${fixedLoad} instead (reported once)`);
    return (last = { status: fixedStatus, load: fixedLoad });
  };
}
