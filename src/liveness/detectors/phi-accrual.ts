/**
 * PhiAccrualDetector: the phi-accrual failure detector (Hayashibara, Défago, Yared, Katayama,
 * "The φ Accrual Failure Detector", 2004), shaped like Akka's PhiAccrualFailureDetector.scala:
 * the suspicion after `silence` ms without arrivals is
 *
 *   phi = −log10(1 − Φ((silence − (mean + acceptablePause)) / std))
 *
 * where mean and std come from the last maxSampleSize inter-arrival samples and Φ is the normal
 * CDF in its logistic approximation (Bowling et al. 2009; Akka's constants): the peer is dead
 * when phi reaches the threshold. docs/spec/0002-phi-accrual.md §Algorithm has the full rule.
 *
 * Our departures from Akka (spec 0002 §Rationale):
 * - Flooring. Traffic is idle-driven: an idle connection sees one PONG per pingAfter, a busy one
 *   sees gaps of milliseconds. Each sample is max(gap, expectedIdleGapMs), so a busy period cannot
 *   teach the detector to expect millisecond gaps and then false-alarm when traffic goes idle.
 * - Inverted threshold. The silence at which phi reaches the threshold is solved in closed form
 *   (the logistic approximation is a cubic in the standardized silence), so deadlineMs() is exact
 *   and isDead(t) is simply t >= deadlineMs(): a check scheduled at the deadline always sees death.
 * - Late gaps. A gap that ran past the deadline (the check ran late) is sampled clamped to the
 *   deadline silence; Akka drops it, which biases the history toward short gaps.
 * - Hard floor. Never dead before MIN_TIMEOUT_RATIO × expectedIdleGapMs of silence: the same room
 *   negotiate.ts leaves for a ping to be answered. Declaring death sooner would judge a peer that
 *   had not yet been asked.
 * - Numerics. phi is computed as a stable softplus (finite for any finite silence, never NaN);
 *   the standard deviation is floored at minStdDeviationMs (so zero variance cannot make phi jump
 *   to infinity); sums are kept relative to the first-heartbeat estimate and recomputed exactly
 *   once per ring wrap, so rounding cannot drift over millions of arrivals.
 *
 * Precision: exact in the caller's clock, up to floating-point rounding (≈1e-9 ms) and the
 * approximation's error (|ΔΦ| ≤ 1.4e-4). Pure, O(1) per arrival, no allocation after construction.
 */
import { InvalidOptionError } from '../../errors.js';
import { MIN_TIMEOUT_RATIO } from '../negotiate.js';
import { checkForgiveMs } from './fixed.js';
import type { FailureDetector } from './types.js';

/** Akka's defaults (akka.remote / akka.cluster failure-detector). */
export const PHI_DEFAULTS = Object.freeze({ threshold: 8, maxSampleSize: 1000, minStdDeviationMs: 100 });
/** Upper bound on maxSampleSize: 100,000 samples = 800 kB per connection; more buys nothing. */
export const MAX_SAMPLE_SIZE_LIMIT = 100_000;

/** Logistic approximation Φ(y) ≈ 1 / (1 + e^−(A·y + B·y³)), max error 1.4e-4 (Akka's constants). */
const A = 1.5976;
const B = 0.070566;

export interface PhiAccrualOptions {
  /** phi at which the peer is dead. Default 8. > 0. */
  threshold?: number;
  /** Samples kept in the ring buffer. Default 1000. Integer in [1, MAX_SAMPLE_SIZE_LIMIT]. */
  maxSampleSize?: number;
  /** Floor for the standard deviation, ms. Default 100. > 0. */
  minStdDeviationMs?: number;
  /** Silence tolerated on top of the learned mean, ms (GC pauses, lost pings). >= 0. */
  acceptablePauseMs: number;
  /** The idle cadence (the heartbeat's pingAfterMs): every sample is floored at it, ms. >= 0 (0: no floor). */
  expectedIdleGapMs: number;
  /** Bootstraps the history with mean ± mean/4 (Akka). Default expectedIdleGapMs. > 0. */
  firstHeartbeatEstimateMs?: number;
}

/** phi for a standardized silence y: −log10(1 − Φ(y)) = log10(1 + e^z), z = A·y + B·y³. */
export function phiOf(y: number): number {
  const z = y * (A + B * y * y);
  // Stable softplus: no overflow for large z, no 0·∞ for very negative z.
  const softplus = z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
  return softplus / Math.LN10;
}

/** Inverse of phiOf: the standardized silence y at which phi equals threshold (> 0). */
export function standardizedSilenceAt(threshold: number): number {
  // softplus(z) = threshold·ln10  ⇔  z = ln(10^threshold − 1), written so 10^threshold cannot overflow.
  const z = threshold * Math.LN10 + Math.log1p(-Math.pow(10, -threshold));
  // B·y³ + A·y − z = 0 is strictly increasing in y: one real root. For y³ + p·y + q = 0 with p > 0
  // the hyperbolic form avoids Cardano's cancellation.
  const p = A / B;
  const q = -z / B;
  let y = -2 * Math.sqrt(p / 3) * Math.sinh(Math.asinh(((3 * q) / (2 * p)) * Math.sqrt(3 / p)) / 3);
  y -= (y * (A + B * y * y) - z) / (A + 3 * B * y * y); // one Newton step polishes the last ulps
  return y;
}

function requireNumber(name: string, value: number, ok: (v: number) => boolean, rule: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) {
    throw new InvalidOptionError(name, `must be ${rule}, got ${String(value)}`);
  }
  return value;
}

export class PhiAccrualDetector implements FailureDetector {
  readonly kind = 'phi' as const;
  readonly threshold: number;
  readonly maxSampleSize: number;
  readonly minStdDeviationMs: number;
  readonly acceptablePauseMs: number;
  readonly expectedIdleGapMs: number;
  /** Hard floor: never dead before this much silence (MIN_TIMEOUT_RATIO × expectedIdleGapMs). */
  readonly minSilenceMs: number;

  /** Standardized silence at which phi reaches the threshold (constant per detector). */
  private readonly yAtThreshold: number;
  private readonly samples: Float64Array;
  /** Samples are summed as (x − shiftMs) to keep the variance free of cancellation. */
  private readonly shiftMs: number;
  private head = 0;
  private count = 0;
  private sum = 0;
  private sumSq = 0;
  /** Last arrival (or construction), shifted forward by forgive(). */
  private referenceMs: number;
  /** Silence at which the peer is dead, from the current stats; NaN when samples changed since. */
  private silenceAtDeathMs = Number.NaN;

  /** nowMs counts as the first arrival: the handshake just completed. */
  constructor(options: PhiAccrualOptions, nowMs: number) {
    const positive = (v: number) => v > 0;
    const nonNegative = (v: number) => v >= 0;
    this.threshold = requireNumber('threshold', options.threshold ?? PHI_DEFAULTS.threshold, positive, 'a finite number > 0');
    this.maxSampleSize = requireNumber(
      'maxSampleSize',
      options.maxSampleSize ?? PHI_DEFAULTS.maxSampleSize,
      (v) => Number.isInteger(v) && v >= 1 && v <= MAX_SAMPLE_SIZE_LIMIT,
      `an integer in [1, ${MAX_SAMPLE_SIZE_LIMIT}]`,
    );
    this.minStdDeviationMs = requireNumber(
      'minStdDeviationMs',
      options.minStdDeviationMs ?? PHI_DEFAULTS.minStdDeviationMs,
      positive,
      'a finite number > 0',
    );
    this.acceptablePauseMs = requireNumber('acceptablePauseMs', options.acceptablePauseMs, nonNegative, 'a finite number >= 0');
    this.expectedIdleGapMs = requireNumber('expectedIdleGapMs', options.expectedIdleGapMs, nonNegative, 'a finite number >= 0');
    const firstEstimateMs = requireNumber(
      'firstHeartbeatEstimateMs',
      options.firstHeartbeatEstimateMs ?? this.expectedIdleGapMs,
      positive,
      'a finite number > 0 (it defaults to expectedIdleGapMs, which is 0)',
    );
    requireNumber('nowMs', nowMs, () => true, 'a finite number');
    this.minSilenceMs = MIN_TIMEOUT_RATIO * this.expectedIdleGapMs;
    this.yAtThreshold = standardizedSilenceAt(this.threshold);
    this.samples = new Float64Array(this.maxSampleSize);
    this.shiftMs = firstEstimateMs;
    this.referenceMs = nowMs;
    // Akka's bootstrap: two samples at mean ± mean/4, a wide distribution for an unknown path, so
    // a peer that never answers is still declared dead. Not floored: they are a prior, not gaps.
    this.push(firstEstimateMs * 0.75);
    this.push(firstEstimateMs * 1.25);
  }

  arrival(nowMs: number): void {
    const gapMs = nowMs - this.referenceMs;
    if (!(gapMs >= 0)) return; // stale timestamp, or inside forgiven time: proves nothing new
    let sampleMs = Math.max(gapMs, this.expectedIdleGapMs);
    // A gap that ran past the deadline is clamped to it (winsorized), not dropped as in Akka:
    // the peer survived it, so it is evidence for more tolerance; dropping it biases the history
    // toward short gaps (a second mode of gaps would never be learned), while its full length
    // (our check ran late, a stall the guard missed) could inflate the deviation for a whole
    // window. Gaps under the hard floor cannot reach the deadline: skip the sqrt.
    if (gapMs >= this.minSilenceMs) sampleMs = Math.min(sampleMs, this.silenceAtDeathMsNow());
    this.push(sampleMs);
    this.referenceMs = nowMs;
  }

  isDead(nowMs: number): boolean {
    // Defined by the deadline (phi is increasing in silence), so a check at deadlineMs() sees it.
    return nowMs >= this.referenceMs + this.silenceAtDeathMsNow();
  }

  deadlineMs(): number {
    return this.referenceMs + this.silenceAtDeathMsNow();
  }

  /** phi now; equals threshold at deadlineMs() unless the hard floor decided the deadline. */
  suspicion(nowMs: number): number {
    const silenceMs = Math.max(0, nowMs - this.referenceMs);
    return phiOf((silenceMs - this.meanMs - this.acceptablePauseMs) / this.stdDeviationMs);
  }

  forgive(ms: number): void {
    this.referenceMs += checkForgiveMs(ms);
  }

  /** Samples currently in the ring (bootstrap included), <= maxSampleSize. */
  get sampleCount(): number {
    return this.count;
  }

  /** Mean of the (floored) inter-arrival samples, ms. */
  get meanMs(): number {
    return this.shiftMs + this.sum / this.count;
  }

  /** Standard deviation of the samples, floored at minStdDeviationMs, ms. */
  get stdDeviationMs(): number {
    const m = this.sum / this.count;
    const variance = this.sumSq / this.count - m * m; // may round below 0 when all samples agree
    return Math.max(Math.sqrt(Math.max(0, variance)), this.minStdDeviationMs);
  }

  private silenceAtDeathMsNow(): number {
    if (Number.isNaN(this.silenceAtDeathMs)) {
      const phiSilenceMs = this.meanMs + this.acceptablePauseMs + this.yAtThreshold * this.stdDeviationMs;
      this.silenceAtDeathMs = Math.max(phiSilenceMs, this.minSilenceMs);
    }
    return this.silenceAtDeathMs;
  }

  private push(sampleMs: number): void {
    const samples = this.samples;
    if (this.count === this.maxSampleSize) {
      const old = samples[this.head]! - this.shiftMs;
      this.sum -= old;
      this.sumSq -= old * old;
    } else {
      this.count++;
    }
    samples[this.head] = sampleMs;
    const d = sampleMs - this.shiftMs;
    this.sum += d;
    this.sumSq += d * d;
    this.silenceAtDeathMs = Number.NaN;
    if (++this.head === this.maxSampleSize) {
      this.head = 0;
      this.recomputeSums();
    }
  }

  /** Once per wrap (amortized O(1)): exact sums, so add/subtract rounding never accumulates. */
  private recomputeSums(): void {
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < this.count; i++) {
      const d = this.samples[i]! - this.shiftMs;
      sum += d;
      sumSq += d * d;
    }
    this.sum = sum;
    this.sumSq = sumSq;
  }
}
