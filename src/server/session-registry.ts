/**
 * SessionRegistry: a server's connections (every ServerPeer, handshaking ones included) and the
 * lifecycle of their sessions — open, detach, resume, finish — with the events, counts,
 * presence calls and log lines each step owes. One per server; server.ts hands its PeerHost
 * lifecycle calls to it. Detached sessions live in the resume registry (resume-registry.ts),
 * open ones with their peer: no registry of sessions of its own (one Set entry per connection
 * fewer, at ~100k connections).
 */
import type { CloseReason } from '../connection/close-reason.js';
import { channels, publish } from '../diagnostics.js';
import type { Presence } from '../presence/presence.js';
import type { Clock } from '../time/clock.js';
import type { Admission } from './admission.js';
import type { Drain } from './drain.js';
import { ServerPeer } from './peer.js';
import type { ResumeRegistry } from './resume-registry.js';
import type { ServerCounters } from './server-counters.js';
import type { ServerLog } from './server-log.js';
import { ConnectionCounts, type ServerStats } from './server-stats.js';
import type { Session } from './session.js';

/** What the registry needs from its server (narrow port). */
export interface RegistryHost {
  readonly closing: boolean;
  /** The drain in progress, if drain() was called. */
  readonly drainState: Drain | undefined;
  readonly resumeWindowMs: number;
  emit(event: string | symbol, ...args: unknown[]): boolean;
}

/** The server's parts the registry calls (one of each per server). */
export interface RegistryParts {
  readonly clock: Clock;
  readonly admission: Admission;
  readonly resume: ResumeRegistry;
  readonly presence: Presence;
  readonly counters: ServerCounters;
  readonly log: ServerLog;
}

export class SessionRegistry {
  /** Every accepted connection not yet closed, in accept order. */
  readonly peers = new Set<ServerPeer>();
  private readonly counts = new ConnectionCounts();
  /** Sessions open or detached. */
  private liveSessionCount = 0;

  constructor(
    private readonly host: RegistryHost,
    private readonly parts: RegistryParts,
  ) {}

  get sessionCount(): number {
    return this.liveSessionCount;
  }

  stats(): ServerStats {
    return this.counts.stats(this.peers);
  }

  /** Open sessions (by accept order), then detached ones. */
  *sessions(): IterableIterator<Session> {
    for (const peer of this.peers) {
      const session = peer.session;
      if (session !== undefined && session.state !== 'closed') yield session;
    }
    yield* this.parts.resume.detached();
  }

  opened(peer: ServerPeer, session: Session): void {
    const { resume, presence, counters, log } = this.parts;
    this.liveSessionCount++;
    resume.opened(session);
    presence.opened(session);
    log.sessionOpened(peer, session, this.liveSessionCount);
    // A handshake that was in flight when the drain began completes and is sent away at once:
    // unlike a refusing CLOSE, GOAWAY carries the redirect and retryAfterMs (spec 0003).
    const drain = this.host.drainState;
    if (drain) counters.goawaysDraining += drain.tell(peer.connection);
    this.host.emit('session', session);
    publish(channels.sessionOpen, () => ({ session }));
  }

  peerClosed(peer: ServerPeer, reason: CloseReason): void {
    const { admission, resume, presence, counters, log } = this.parts;
    if (this.peers.delete(peer)) this.counts.closed(peer);
    admission.released(peer.connection.transport);
    counters.connectionClosed(reason);
    log.connectionClosed(peer, reason);
    const session = peer.session;
    if (session) {
      // A resumable session survives the loss of its transport (not a deliberate close) for the
      // resume window, unless the server itself is going away.
      if (resume.detachable(session, reason) && !this.host.closing && !this.host.drainState) {
        resume.detach(session, reason);
        presence.detached(session, reason.sinceLastSeenMs);
        log.sessionDetached(peer, session, reason, this.host.resumeWindowMs);
      } else this.finish(session, reason);
    }
    // Read again: a 'sessionClose' listener may have called drain().
    const drain = this.host.drainState;
    if (drain && this.peers.size === 0) drain.finished();
  }

  resumable(id: string): Session | undefined {
    if (this.host.closing || this.host.drainState) return undefined;
    return this.parts.resume.find(id);
  }

  resumed(peer: ServerPeer, session: Session, replayedMessages: number): void {
    this.parts.resume.forgetDetached(session);
    this.parts.presence.resumed(session);
    // The client came back before we noticed its old transport died (half-open): retire it.
    const old = session.state === 'open' ? session.currentPeer : undefined;
    if (old instanceof ServerPeer && old !== peer && this.peers.delete(old)) {
      this.counts.closed(old);
      old.retired = true;
      old.connection.destroy({ code: 'remote-close', message: 'replaced by a resumed connection', initiator: 'peer', detectedBy: 'peer' });
    }
    this.parts.log.sessionResumed(peer, session, replayedMessages);
    this.host.emit('sessionResume', session);
  }

  /** The session is over for good: one 'sessionClose', counted once. */
  finish(session: Session, reason: CloseReason): void {
    const { resume, presence, counters, log, clock } = this.parts;
    resume.release(session);
    if (session.state === 'closed') return;
    this.liveSessionCount--;
    session.finish(reason);
    counters.sessionClosed(reason);
    presence.closed(session);
    log.sessionClosed(session.currentPeer, session, reason, clock.now() - session.openedAtMs, this.liveSessionCount);
    this.host.emit('sessionClose', session, reason);
    publish(channels.sessionClose, () => ({ session, reason }));
  }
}
