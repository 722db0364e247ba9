/**
 * liveness/: pure, clock-injected detection (STYLE.md §1.3, §1.7). Verdicts out, no I/O.
 */
export { Heartbeat } from './heartbeat.js';
export type { HeartbeatOptions, HeartbeatVerdict } from './heartbeat.js';
export { RttEstimator } from './rtt.js';
export * from './negotiate.js';
