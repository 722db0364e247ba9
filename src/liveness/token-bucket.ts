/**
 * Token bucket: at most `ratePerSec` events per second on average, bursts up to `burst`.
 * Pure (time passed in). Used by the server to shed connection storms (docs/spec/0005 §Storms).
 */
export class TokenBucket {
  private tokens: number;
  private lastMs: number | undefined;

  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
  ) {
    if (!(ratePerSec > 0)) throw new RangeError(`ratePerSec must be > 0, got ${ratePerSec}`);
    if (!(burst >= 1)) throw new RangeError(`burst must be >= 1, got ${burst}`);
    this.tokens = burst;
  }

  /** Take one token if there is one. */
  take(nowMs: number): boolean {
    this.refill(nowMs);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** ms until `count` more tokens will have accumulated (0 if they are there already). */
  waitMs(count: number, nowMs: number): number {
    this.refill(nowMs);
    const missing = count - this.tokens;
    return missing <= 0 ? 0 : Math.ceil((missing / this.ratePerSec) * 1000);
  }

  private refill(nowMs: number): void {
    if (this.lastMs !== undefined && nowMs > this.lastMs) {
      this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.lastMs) / 1000) * this.ratePerSec);
    }
    this.lastMs = nowMs;
  }
}
