/**
 * Availability: is the peer *serving*, not just alive? Pure detection from what the heartbeat
 * already carries (docs/spec/0004-availability.md): every PONG brings the peer's status
 * (ok / busy / draining) and load, and its lateness shows how responsive the peer's process is.
 * TCP keepalive cannot see any of this: a frozen or overloaded process's kernel still ACKs.
 *
 * Verdicts (the connection's owner reacts: emit 'unavailable', fail over…):
 * - `draining` as soon as one PONG says draining;
 * - `busy` after `busyPongs` consecutive PONGs saying busy;
 * - `slow` when a PONG arrives later than `budgetMs` after its PING;
 * - `no-answer` when a PING has gone unanswered for `budgetMs` (before any PONG can say "slow");
 * and `available` again after an `ok` PONG within the budget.
 */
import type { PeerStatus } from '../protocol/frames.js';

export type UnavailableReason = 'busy' | 'draining' | 'slow' | 'no-answer';

export interface AvailabilityOptions {
  /** A PING unanswered this long, or a PONG this late, means unavailable, ms. */
  budgetMs: number;
  /** Consecutive `busy` PONGs before unavailable. */
  busyPongs: number;
}

export type AvailabilityChange =
  | { kind: 'unavailable'; reason: UnavailableReason; status: PeerStatus; load: number; waitedMs?: number }
  | { kind: 'available'; status: PeerStatus; load: number; rttMs?: number };

export class AvailabilityMonitor {
  readonly budgetMs: number;
  readonly busyPongs: number;
  private unavailable: UnavailableReason | undefined;
  private busyStreak = 0;
  /** When the oldest unanswered PING was sent (NaN when none is outstanding). */
  private waitingSinceMs = Number.NaN;
  private lastStatus: PeerStatus = 'ok';
  private lastLoad = 0;

  constructor(options: AvailabilityOptions) {
    if (!(options.budgetMs > 0)) throw new RangeError(`availability budgetMs must be > 0, got ${options.budgetMs}`);
    if (!(Number.isInteger(options.busyPongs) && options.busyPongs >= 1)) {
      throw new RangeError(`availability busyPongs must be an integer >= 1, got ${options.busyPongs}`);
    }
    this.budgetMs = options.budgetMs;
    this.busyPongs = options.busyPongs;
  }

  get isAvailable(): boolean {
    return this.unavailable === undefined;
  }

  get reason(): UnavailableReason | undefined {
    return this.unavailable;
  }

  /** We sent a PING. Returns when check() should run if no PONG arrives (NaN: no check needed). */
  pingSent(nowMs: number): number {
    if (Number.isNaN(this.waitingSinceMs)) this.waitingSinceMs = nowMs;
    return this.waitingSinceMs + this.budgetMs;
  }

  /** A PONG arrived, with the RTT of its PING when known. */
  pong(status: PeerStatus, load: number, rttMs: number | undefined, nowMs: number): AvailabilityChange | undefined {
    const waitedMs = Number.isNaN(this.waitingSinceMs) ? rttMs : nowMs - this.waitingSinceMs;
    this.waitingSinceMs = Number.NaN;
    this.lastStatus = status;
    this.lastLoad = load;
    this.busyStreak = status === 'busy' ? this.busyStreak + 1 : 0;
    if (status === 'draining') return this.become('draining', waitedMs);
    if (status === 'busy' && this.busyStreak >= this.busyPongs) return this.become('busy', waitedMs);
    if (waitedMs !== undefined && waitedMs > this.budgetMs) return this.become('slow', waitedMs);
    if (status === 'ok' && this.unavailable !== undefined) {
      this.unavailable = undefined;
      return { kind: 'available', status, load, ...(rttMs === undefined ? {} : { rttMs }) };
    }
    return undefined;
  }

  /**
   * The server leads the heartbeat (spec 0010) and pinged us: it is running, and its status is
   * what it last pushed (it pushes a PONG with the PING when the status changes). Counts as one
   * more PONG with that status — so `busyPongs` still means that many beats in a row.
   */
  serverPinged(nowMs: number): AvailabilityChange | undefined {
    return this.pong(this.lastStatus, this.lastLoad, undefined, nowMs);
  }

  /** The peer announced it is draining (GOAWAY): unavailable at once, whatever PONGs said. */
  draining(): AvailabilityChange | undefined {
    this.lastStatus = 'draining';
    return this.become('draining', undefined);
  }

  /** Run at the time pingSent() returned: reports a PING left unanswered past the budget. */
  check(nowMs: number): AvailabilityChange | undefined {
    if (Number.isNaN(this.waitingSinceMs)) return undefined;
    const waitedMs = nowMs - this.waitingSinceMs;
    if (waitedMs < this.budgetMs) return undefined;
    return this.become('no-answer', waitedMs);
  }

  private become(reason: UnavailableReason, waitedMs: number | undefined): AvailabilityChange | undefined {
    if (this.unavailable === reason) return undefined;
    this.unavailable = reason;
    return {
      kind: 'unavailable',
      reason,
      status: this.lastStatus,
      load: this.lastLoad,
      ...(waitedMs === undefined ? {} : { waitedMs }),
    };
  }
}
