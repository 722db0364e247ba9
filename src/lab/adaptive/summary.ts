/**
 * From the agents' raw events to one result per row of `lifeline lab --adaptive`: PINGs, rates at
 * the 60 s scale, drops, when the learner settled. Pure (no I/O), so it is unit-tested on
 * hand-made event lists.
 *
 * Definitions:
 * - PINGs: the client's PINGs (answered = PONGs received; lost = the unanswered ones a
 *   heartbeat-timeout reported) plus the server's PINGs that reached the client. Timestamps:
 *   the PONG's arrival, the loss's detection.
 * - drop: the client lost its connection to a heartbeat timeout (an idle flow the NAT forgot; the
 *   client then reconnects and resumes). Planned reconnects of the adaptive heartbeat
 *   ('renegotiate') are not drops and not reported as disconnects: they are counted apart.
 * - steady part: from the first 'settled' of the (first) adaptive row to the end of the run; if it
 *   never settled, the second half of the run. The same window for every row, so their rates
 *   compare.
 * - scaled: real rates ÷ TIME_SCALE (one real hour stands for 15 hours), real durations × TIME_SCALE.
 */
import { TIME_SCALE, type AdaptiveRowSpec } from './rows.js';

export interface AdaptiveAgentEvent {
  ev: string;
  row?: string;
  at?: number;
  [key: string]: unknown;
}

export interface LearnerSnapshot {
  phase: string;
  intervalMs: number;
  goodMs: number;
  badMs: number | null;
}

export interface AdaptiveRowResult {
  id: string;
  label: string;
  description: string;
  kind: 'fixed' | 'adaptive';
  pings: {
    /** Client PINGs answered + lost, plus server PINGs received: what the heartbeat cost. */
    total: number;
    answered: number;
    lost: number;
    fromServer: number;
    /** Client PINGs the server saw arrive (cross-check of answered). */
    seenByServer: number;
  };
  /** PINGs per hour at the 60 s scale over the whole run. */
  pingsPerScaledHour: number;
  /** The same over the steady part. */
  steadyPingsPerScaledHour: number;
  /** Heartbeat-timeout losses (idle deaths), whole run and steady part. */
  drops: number;
  steadyDrops: number;
  /** Other losses, by close code (normally none). */
  otherDisconnects: Record<string, number>;
  /** Connections opened after the first one that were not preceded by a loss (adaptive renegotiation). */
  plannedReconnects: number;
  /** Flows the NAT forgot while in use (null: not measurable here). */
  natFlowsForgotten: number | null;
  /** Interval in force at the end, real ms: the learner's for the adaptive row, the negotiated one otherwise. */
  finalIntervalMs: number | null;
  /** Negotiated interval of the last connection, real ms. */
  negotiatedIntervalMs: number | null;
  /** Adaptive: first 'settled', ms after the start (null: not settled). */
  settledAfterMs: number | null;
  /** Adaptive: the learner at the end. */
  learner?: LearnerSnapshot & { survived: number; died: number; settledEvents: number };
  /** The client gave up (final 'close'): the row is not valid. */
  gaveUp?: string;
}

export interface SummaryInput {
  rows: readonly AdaptiveRowSpec[];
  events: readonly AdaptiveAgentEvent[];
  /** Wall-clock ms: the measured window. */
  startAt: number;
  endAt: number;
  /** Forgotten flows by row id, when the NAT could be asked. */
  natForgotten?: ReadonlyMap<string, number>;
}

export interface AdaptiveSummary {
  rows: AdaptiveRowResult[];
  /** Where the steady part starts, ms after the start. */
  steadyFromMs: number;
  /** Why it starts there. */
  steadyFrom: 'adaptive-settled' | 'second-half';
}

/** PINGs per hour at the 60 s scale, from a count over `realMs` of real time. */
export function perScaledHour(count: number, realMs: number): number {
  if (realMs <= 0) return 0;
  return (count / (realMs / 3_600_000)) / TIME_SCALE;
}

export function summarizeAdaptive(input: SummaryInput): AdaptiveSummary {
  const { rows, events, startAt, endAt } = input;
  const within = (e: AdaptiveAgentEvent) => typeof e.at === 'number' && e.at >= startAt && e.at <= endAt;
  const firstSettle = rows
    .filter((r) => r.adaptive)
    .map((r) => events.find((e) => e.ev === 'adaptive' && e.row === r.id && e.event === 'settled' && within(e))?.at)
    .find((at): at is number => at !== undefined);
  const steadyFromAt = firstSettle ?? startAt + (endAt - startAt) / 2;
  const steadyFrom = firstSettle !== undefined ? 'adaptive-settled' : 'second-half';

  const results = rows.map((row): AdaptiveRowResult => {
    const mine = events.filter((e) => e.row === row.id);
    const inWindow = mine.filter(within);
    const of = (ev: string) => inWindow.filter((e) => e.ev === ev);
    // PING instants: answered ones at their PONG, lost ones at the loss, the server's on arrival.
    const pingTimes: number[] = [];
    const pongs = of('pong');
    for (const e of pongs) pingTimes.push(e.at!);
    const disconnects = of('disconnect');
    let lost = 0;
    for (const e of disconnects) {
      const n = typeof e.unanswered === 'number' ? e.unanswered : 0;
      lost += n;
      for (let i = 0; i < n; i++) pingTimes.push(e.at!);
    }
    const fromServer = of('ping');
    for (const e of fromServer) pingTimes.push(e.at!);
    const steadyPings = pingTimes.filter((t) => t >= steadyFromAt).length;
    const drops = disconnects.filter((e) => e.code === 'heartbeat-timeout');
    const otherDisconnects: Record<string, number> = {};
    for (const e of disconnects) if (e.code !== 'heartbeat-timeout') otherDisconnects[String(e.code)] = (otherDisconnects[String(e.code)] ?? 0) + 1;
    // Every open after the first follows either a reported loss or a planned reconnect.
    const opens = mine.filter((e) => e.ev === 'open' && (e.at ?? 0) <= endAt);
    const allDisconnects = mine.filter((e) => e.ev === 'disconnect' && (e.at ?? 0) <= endAt).length;
    const lastOpen = opens.at(-1);
    const negotiatedIntervalMs = typeof lastOpen?.intervalMs === 'number' ? lastOpen.intervalMs : null;
    const adaptiveEvents = mine.filter((e) => e.ev === 'adaptive' && (e.at ?? 0) <= endAt);
    const report = reportFor(events, row.id);
    const lastLearner = (report ?? adaptiveEvents.at(-1)) as Partial<LearnerSnapshot> | undefined;
    const settled = adaptiveEvents.find((e) => e.event === 'settled' && within(e));
    const closed = mine.find((e) => e.ev === 'closed');
    const learner =
      row.adaptive && lastLearner && typeof lastLearner.intervalMs === 'number'
        ? {
            phase: String(lastLearner.phase),
            intervalMs: lastLearner.intervalMs,
            goodMs: Number(lastLearner.goodMs ?? 0),
            badMs: typeof lastLearner.badMs === 'number' ? lastLearner.badMs : null,
            survived: adaptiveEvents.filter((e) => e.event === 'survived' || e.event === 'settled').length,
            died: adaptiveEvents.filter((e) => e.event === 'died').length,
            settledEvents: adaptiveEvents.filter((e) => e.event === 'settled').length,
          }
        : undefined;
    const natFlowsForgotten = input.natForgotten ? (input.natForgotten.get(row.id) ?? 0) : null;
    return {
      id: row.id,
      label: row.label,
      description: row.description,
      kind: row.adaptive ? 'adaptive' : 'fixed',
      pings: {
        total: pingTimes.length,
        answered: pongs.length,
        lost,
        fromServer: fromServer.length,
        seenByServer: of('server-ping').length,
      },
      pingsPerScaledHour: perScaledHour(pingTimes.length, endAt - startAt),
      steadyPingsPerScaledHour: perScaledHour(steadyPings, endAt - steadyFromAt),
      drops: drops.length,
      steadyDrops: drops.filter((e) => e.at! >= steadyFromAt).length,
      otherDisconnects,
      plannedReconnects: Math.max(0, opens.length - 1 - allDisconnects),
      natFlowsForgotten,
      finalIntervalMs: row.adaptive ? (learner?.intervalMs ?? null) : negotiatedIntervalMs,
      negotiatedIntervalMs,
      settledAfterMs: settled ? settled.at! - startAt : null,
      ...(learner ? { learner } : {}),
      ...(closed ? { gaveUp: `${String(closed.code)}: ${String(closed.message)}` } : {}),
    };
  });
  return { rows: results, steadyFromMs: steadyFromAt - startAt, steadyFrom };
}

/** The learner snapshot the client agent reported at the end, if any. */
function reportFor(events: readonly AdaptiveAgentEvent[], rowId: string): Record<string, unknown> | undefined {
  const report = [...events].reverse().find((e) => e.ev === 'report');
  const rows = (report?.rows ?? []) as { row: string; adaptive?: Record<string, unknown> }[];
  return rows.find((r) => r.row === rowId)?.adaptive;
}
