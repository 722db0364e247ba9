/**
 * liveness/: pure, clock-injected detection (STYLE.md §1.3, §1.7). Verdicts out, no I/O.
 */
export { Heartbeat, sharedHeartbeatOptions } from './heartbeat.js';
export type { HeartbeatOptions, HeartbeatVerdict, RttReadings } from './heartbeat.js';
export { PingLog } from './ping-log.js';
export { RttEstimator } from './rtt.js';
export * from './negotiate.js';
export { createDetector, validateDetectorSpec } from './detectors/index.js';
export type { FailureDetector, DetectorSpec } from './detectors/types.js';
export { FixedTimeoutDetector } from './detectors/fixed.js';
export { PhiAccrualDetector } from './detectors/phi-accrual.js';
export { AvailabilityMonitor } from './availability.js';
export type { AvailabilityChange, UnavailableReason } from './availability.js';
export { NO_PING_YET, PingRateGuard, PingRatePolicy } from './enforcement.js';
export type { PingRateState, PingRateVerdict } from './enforcement.js';
