/**
 * FailoverWatch (docs/spec/0005-reconnect.md §Failover): when a client with more than one
 * server leaves one that stays unavailable. Draining: at once. Busy, slow or silent may be a
 * blip: only if it lasts one more heartbeat round — the interval plus the availability budget,
 * by when the next PONG is due (a PONG saying ok, `available`, cancels the check). The watch
 * decides when; leaving (and reconnecting elsewhere) is its owner's. One per client.
 */
import type { AvailabilityChange, UnavailableReason } from '../liveness/availability.js';
import type { Cancel, Clock } from '../time/clock.js';
import type { Scheduler } from '../time/scheduler.js';
import type { Link } from './link.js';

/** What the watch needs from its client (narrow port). */
export interface FailoverOwner {
  /** Whether `link` is still the client's current one. */
  isCurrent(link: Link): boolean;
  failover(link: Link, why: UnavailableReason): void;
}

export class FailoverWatch {
  private cancelCheck: Cancel | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    private readonly owner: FailoverOwner,
  ) {}

  /** An availability verdict on an open link of a client that may fail over. */
  changed(link: Link, change: AvailabilityChange, heartbeatIntervalMs: number): void {
    if (change.kind === 'available') return this.cancel();
    if (change.reason === 'draining') return this.owner.failover(link, change.reason);
    if (this.cancelCheck) return;
    const waitMs = heartbeatIntervalMs + (link.availabilityBudgetMs ?? 0);
    const reason = change.reason;
    this.cancelCheck = this.scheduler.schedule(this.clock.now() + waitMs, () => {
      this.cancelCheck = undefined;
      if (this.owner.isCurrent(link) && link.state === 'open' && !link.available) this.owner.failover(link, reason);
    });
  }

  cancel(): void {
    this.cancelCheck?.();
    this.cancelCheck = undefined;
  }
}

/**
 * Leave `link` for the next server: gracefully, unless the server is not answering at all
 * (waiting for its CLOSE would only add the transport's end timeout).
 */
export function leaveUnavailable(link: Link, why: UnavailableReason): void {
  link.leave({ code: 'failover', message: `failover: ${link.address} unavailable (${why})`, initiator: 'local', detectedBy: 'heartbeat' }, why !== 'no-answer');
}
