/**
 * Drain: one server's graceful drain (docs/spec/0003-enforcement-and-drain.md §Graceful drain) —
 * the GOAWAY every session is told, the deadline that closes stragglers, and the promise that
 * resolves once no connection is left. Made by the first drain() call; a drained server stays
 * draining (refusals and the `draining` PONG status are the server's, read from its presence).
 */
import type { Connection } from '../connection/connection.js';
import type { GoawayFrame } from '../protocol/frames.js';
import type { Cancel, Clock } from '../time/clock.js';
import type { Scheduler } from '../time/scheduler.js';
import type { ResolvedDrainOptions } from './options.js';

/** A connection as the drain sees it (narrow port: a ServerPeer fits). */
export interface DrainPeer {
  readonly connection: Pick<Connection, 'goaway' | 'close' | 'state'>;
}

export class Drain {
  readonly done: Promise<void>;
  /** What every session is told: now, or when a handshake in flight at the start completes. */
  readonly goaway: Omit<GoawayFrame, 'type'>;
  private resolve!: () => void;
  private cancelDeadline: Cancel | undefined;

  constructor(private readonly o: ResolvedDrainOptions) {
    this.done = new Promise<void>((r) => (this.resolve = r));
    this.goaway = {
      code: 'draining',
      message: o.message,
      retryAfterMs: o.retryAfterMs,
      ...(o.redirect === undefined ? {} : { redirect: o.redirect }),
    };
  }

  /**
   * GOAWAY to every connection, then the deadline; resolves at once when none is left. `peers`
   * is the server's live set: the deadline closes whoever is still in it then. Returns how many
   * GOAWAYs were sent.
   */
  start(peers: ReadonlySet<DrainPeer>, scheduler: Scheduler, clock: Clock): number {
    // Connection.goaway() is a no-op before the handshake completes; sessionOpened() covers those.
    let told = 0;
    for (const peer of peers) told += this.tell(peer.connection);
    if (peers.size === 0) {
      this.resolve();
      return told;
    }
    const deadlineMs = this.o.deadlineMs;
    this.cancelDeadline = scheduler.schedule(clock.now() + deadlineMs, () => {
      this.cancelDeadline = undefined;
      for (const peer of peers) peer.connection.close('going-away', `drain deadline (${deadlineMs} ms) reached`);
    });
    return told;
  }

  /** GOAWAY to one connection if it is open (1: sent, 0: not; counted for metrics). */
  tell(connection: DrainPeer['connection']): number {
    if (connection.state !== 'open') return 0;
    connection.goaway(this.goaway);
    return 1;
  }

  /** The last connection closed. */
  finished(): void {
    this.cancelDeadline?.();
    this.cancelDeadline = undefined;
    this.resolve();
  }
}
