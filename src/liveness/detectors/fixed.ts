/**
 * FixedTimeoutDetector: the peer is dead once nothing has arrived for timeoutMs — dead exactly at
 * lastArrival + timeoutMs, never before (docs/spec/0001-idle-heartbeat.md §Detection, step 1).
 * The default detector. Precision: exact in the caller's clock. Pure, O(1), no allocation.
 */
import { InvalidOptionError } from '../../errors.js';
import type { FailureDetector } from './types.js';

export class FixedTimeoutDetector implements FailureDetector {
  readonly kind = 'fixed' as const;
  readonly timeoutMs: number;
  /** Last arrival (or construction), shifted forward by forgive(). */
  private referenceMs: number;

  /** nowMs counts as the first arrival: the handshake just completed. */
  constructor(timeoutMs: number, nowMs: number) {
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new InvalidOptionError('timeoutMs', `must be a finite number > 0, got ${timeoutMs}`);
    }
    if (!Number.isFinite(nowMs)) throw new InvalidOptionError('nowMs', `must be a finite number, got ${nowMs}`);
    this.timeoutMs = timeoutMs;
    this.referenceMs = nowMs;
  }

  arrival(nowMs: number): void {
    // A stale timestamp (or one inside forgiven time) never moves the reference backwards.
    if (nowMs > this.referenceMs) this.referenceMs = nowMs;
  }

  isDead(nowMs: number): boolean {
    // Same expression as deadlineMs(), so a check run exactly at the deadline always sees it.
    return nowMs >= this.referenceMs + this.timeoutMs;
  }

  deadlineMs(): number {
    return this.referenceMs + this.timeoutMs;
  }

  suspicion(nowMs: number): number {
    return Math.max(0, nowMs - this.referenceMs) / this.timeoutMs;
  }

  forgive(ms: number): void {
    this.referenceMs += checkForgiveMs(ms);
  }
}

/** forgive(ms) takes a finite ms >= 0; anything else is a caller bug, not a long stall. */
export function checkForgiveMs(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new InvalidOptionError('forgive(ms)', `must be a finite number >= 0, got ${ms}`);
  return ms;
}
