/**
 * Failure detectors: the "is the peer dead?" judgement of the heartbeat, separated from the ping
 * schedule (docs/spec/0002-phi-accrual.md). Two kinds: 'fixed' (dead after timeoutMs of silence,
 * spec 0001) and 'phi' (phi-accrual, Hayashibara et al. 2004, as in Akka).
 *
 * A detector sees arrival times only, never a clock: every time is an argument (STYLE.md §2.10),
 * so detectors are pure and table-testable.
 */

/** Decides, from arrival times only, whether the peer is dead. Pure; clock values are passed in. */
export interface FailureDetector {
  readonly kind: 'fixed' | 'phi';
  /** An inbound frame arrived. O(1), no allocation (runs per chunk). */
  arrival(nowMs: number): void;
  /** Dead at nowMs (nothing arrived for too long)? */
  isDead(nowMs: number): boolean;
  /** Earliest time at which isDead can become true if nothing arrives (re-evaluated after each arrival); Infinity if never. */
  deadlineMs(): number;
  /** Current suspicion for reports: phi value for 'phi'; for 'fixed', silence / timeout (dead at >= 1). */
  suspicion(nowMs: number): number;
  /** Shift the reference point forward by ms without counting a sample (stall guard: our own process was suspended; don't count that time as the peer's silence). */
  forgive(ms: number): void;
}

/**
 * Which detector a server or client uses (option `detector`). Omitted fields take the defaults
 * of docs/spec/0002-phi-accrual.md §Settings.
 */
export type DetectorSpec =
  | { kind: 'fixed' }
  | {
      kind: 'phi';
      /** Suspicion (phi) at which the peer is dead. Default 8 (Akka). > 0. */
      threshold?: number;
      /** Inter-arrival samples kept (ring buffer). Default 1000 (Akka). Integer in [1, 100000]. */
      maxSampleSize?: number;
      /** Floor for the standard deviation, ms. Default 100 (Akka). > 0. */
      minStdDeviationMs?: number;
      /** Silence tolerated on top of the learned mean, ms. Default timeoutMs − pingAfterMs. >= 0. */
      acceptablePauseMs?: number;
    };
