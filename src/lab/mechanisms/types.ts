/**
 * A lab mechanism: one way of noticing that the other side is gone. Each row of the lab table is
 * one of these, defined in its own small file; `index.ts` lists them in display order.
 * Durations here are the lab's (scaled) values, not production defaults.
 */
import type { SocketTuningOptions } from '../../transport/socket-tuning.js';
import type { DetectorSpec } from '../../liveness/detectors/types.js';

export interface MechanismSpec {
  id: string;
  /** Short row label. */
  label: string;
  /** One sentence: what is configured. */
  description: string;
  /** Kernel socket options on both ends (undefined = SO_KEEPALIVE off, everything default). */
  socket?: SocketTuningOptions;
  /** lifeline application heartbeat on both ends; absent = plain TCP socket, no heartbeat. */
  heartbeat?: { intervalMs: number; timeoutMs: number };
  /** Dead-peer detector for the heartbeat rows (default: fixed timeout). */
  detector?: DetectorSpec;
  /** How the agents connect for a heartbeat row (default 'tcp'); 'ws' = plain WebSocket (ws://), 'udp' = udp:// (spec 0012). */
  transport?: 'tcp' | 'ws' | 'udp';
  /** Faults this row does not run in, each with why: the table shows "skipped", the reason below it. */
  notFor?: Readonly<Record<string, string>>;
}
