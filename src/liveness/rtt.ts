/**
 * RttEstimator: round-trip time from PING/PONG pairs, smoothed the way TCP does (RFC 6298 §2:
 * the first sample sets SRTT, then SRTT = 7/8 SRTT + 1/8 sample). Pure, O(1), no allocation.
 * Precision: whatever the caller's clock gives (monotonic ms, fractional allowed).
 */

export class RttEstimator {
  // Numbers from the start (read through `count`), never undefined: V8 keeps such fields as
  // doubles updated in place, so a sample stores no fresh heap number for the GC to copy.
  private last = 0;
  private smoothed = 0;
  private count = 0;

  /** Record one round trip, ms. Negative or non-finite samples are ignored (clock misuse). */
  sample(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.last = ms;
    this.smoothed = this.count === 0 ? ms : this.smoothed + (ms - this.smoothed) / 8;
    this.count++;
  }

  /** Most recent sample, ms; undefined before the first. */
  get lastMs(): number | undefined {
    return this.count === 0 ? undefined : this.last;
  }

  /** Smoothed RTT (SRTT), ms; undefined before the first sample. */
  get smoothedMs(): number | undefined {
    return this.count === 0 ? undefined : this.smoothed;
  }

  /** Number of samples taken. */
  get samples(): number {
    return this.count;
  }
}
