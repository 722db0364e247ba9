/** What one lab run measured, and how raw agent events become per-cell outcomes. */
import type { AgentEvent } from './agent-handle.js';
import type { FaultSpec } from './faults/types.js';
import type { ScaleInfo } from './scale.js';

export type Side = 'client' | 'server';

export interface SideOutcome {
  /** Does this fault ask this side to notice anything? */
  relevant: boolean;
  /** The side noticed (closed its connection) after the fault. */
  detected: boolean;
  /** ms from fault injection to detection. */
  afterMs?: number;
  /** How: lifeline close code, errno (ETIMEDOUT, ECONNRESET…), or FIN. */
  how?: string;
  message?: string;
  /** Closed *before* the fault: a false alarm. */
  falseAlarm: boolean;
  /** ms from fault to the first 'unavailable' report (lifeline clients: alive but not serving). */
  unavailableAfterMs?: number;
  /** Why: no-answer, slow, busy, draining. */
  unavailableReason?: string;
}

export interface CellMeasurement {
  fault: string;
  mechanism: string;
  repetition: number;
  client: SideOutcome;
  server: SideOutcome;
  /** NAT fault: the message sent after the idle period reached the server. */
  probeDelivered?: boolean;
}

export interface SkippedCell {
  fault: string;
  mechanism?: string;
  reason: string;
}

export interface LabResult {
  tool: 'lifeline lab';
  mode: 'quick' | 'full';
  startedAt: string;
  durationMs: number;
  environment: { kind: 'netns' | 'loopback'; reason?: string; kernel: string; node: string; netKeepalive: boolean };
  scale: ScaleInfo | undefined;
  /**
   * The run's `windowScale` when it was not 1 (tests and demos shorten the observation windows);
   * every `faults[].windowMs` already has it applied.
   */
  windowScale?: number;
  faults: LabFault[];
  mechanisms: {
    id: string;
    label: string;
    description: string;
    /** What the agents connect over (absent in results written before WebSocket rows: 'tcp'). */
    transport?: 'tcp' | 'ws' | 'udp';
    /** Kernel timers the mechanism sets itself (not scaled by the lab). */
    kernelTimers: { tunedKeepalive: boolean; userTimeout: boolean };
  }[];
  measurements: CellMeasurement[];
  skipped: SkippedCell[];
  errors: string[];
}

export interface LabFault {
  id: string;
  label: string;
  how: string;
  /** The observation window this run really waited after the fault, ms (windowScale applied). */
  windowMs: number;
  sides: Side[];
  /** The client application writes after the fault (data in flight / a probe message). */
  appWrites: boolean;
  /** An RST can only come back this long after the fault (rebooted host). */
  resetsAfterMs?: number;
  note?: string;
}

/**
 * A fault as the run's JSON records it. The window is the one the run waited — scaled — since
 * every reader (table, chart, dashboard) draws "window N s" and "never (>N s)" from it; a 5 s
 * window reported as 20 s would claim four times the patience the run had.
 */
export function labFault(f: FaultSpec, windowScale: number): LabFault {
  return {
    id: f.id,
    label: f.label,
    how: f.how,
    windowMs: f.windowMs * windowScale,
    sides: f.sides,
    appWrites: f.dataInFlight === true || f.probeAfterMs !== undefined,
    ...(f.resetsAfterMs === undefined ? {} : { resetsAfterMs: f.resetsAfterMs }),
    ...(f.note ? { note: f.note } : {}),
  };
}

export function outcomeFor(
  events: AgentEvent[],
  mechanism: string,
  side: Side,
  faultAt: number,
  relevant: boolean,
): SideOutcome {
  const unavailable = events.find(
    (e) => e.ev === 'unavailable' && e.mech === mechanism && e.side === side && e.at !== undefined && e.at >= faultAt,
  );
  const unavailableInfo = unavailable
    ? { unavailableAfterMs: Math.round(unavailable.at! - faultAt), ...(unavailable.how ? { unavailableReason: unavailable.how } : {}) }
    : {};
  const closed = events.find((e) => e.ev === 'closed' && e.mech === mechanism && e.side === side);
  if (!closed || closed.at === undefined) return { relevant, detected: false, falseAlarm: false, ...unavailableInfo };
  const falseAlarm = closed.at < faultAt;
  return {
    relevant,
    detected: !falseAlarm,
    ...(falseAlarm ? {} : { afterMs: Math.round(closed.at - faultAt) }),
    ...(closed.how ? { how: closed.how } : {}),
    ...(closed.message ? { message: closed.message } : {}),
    falseAlarm,
    ...unavailableInfo,
  };
}
