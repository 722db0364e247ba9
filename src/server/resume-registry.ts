/**
 * ResumeRegistry: a server's resumable sessions (docs/spec/0006-resume.md) — the ones a resume
 * HELLO may find, and the detached ones (transport lost) waiting for their client within the
 * resume window: at most maxDetachedSessions of them, their replay bytes bounded in sum by
 * maxResumeBytes, the oldest giving way first (spec 0006 §Bounds on detached sessions). Ending a
 * session is its owner's job (the narrow port below); the registry only says when and lets go of it.
 */
import type { CloseReason } from '../connection/close-reason.js';
import type { Clock } from '../time/clock.js';
import type { Scheduler } from '../time/scheduler.js';
import type { ResolvedServerOptions } from './options.js';
import type { Session } from './session.js';

/** What the registry needs from its server (narrow port). */
export interface ResumeRegistryOwner {
  /** End the session for good (its resume window ran out, or it was evicted); calls release(). */
  finishSession(session: Session, reason: CloseReason): void;
}

export type ResumeRegistryOptions = Pick<ResolvedServerOptions, 'resumeWindow' | 'maxResumeBytes' | 'maxDetachedSessions'>;

export class ResumeRegistry {
  /** Detached sessions by id, oldest first, with the replay bytes each held (sum in detachedBytes). */
  private readonly detachedSessions = new Map<string, DetachedSession>();
  private detachedBytes = 0;
  /**
   * Resumable sessions not yet closed (attached or detached), by id: a resume HELLO finds its
   * session in O(1) instead of scanning every connection — a mass reconnect of N clients would
   * otherwise cost N² steps. Only sessions that asked for resume pay the entry.
   */
  private readonly resumableSessions = new Map<string, Session>();

  constructor(
    private readonly options: ResumeRegistryOptions,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    private readonly owner: ResumeRegistryOwner,
  ) {}

  /** A session completed its handshake: findable by id if it asked for resume. */
  opened(session: Session): void {
    if (session.resumable) this.resumableSessions.set(session.id, session);
  }

  /** A resumable session not yet closed (attached or detached: resumableSessions holds both). */
  find(id: string): Session | undefined {
    const session = this.resumableSessions.get(id);
    return session !== undefined && session.state !== 'closed' ? session : undefined;
  }

  /** Whether the session survives this loss of its transport (a deliberate close ends it at once). */
  detachable(session: Session, reason: CloseReason): boolean {
    return session.resumable && DETACHABLE.has(reason.code);
  }

  /** Detached (resumable, transport lost) sessions waiting for their client. */
  get detachedCount(): number {
    return this.detachedSessions.size;
  }

  /** The detached sessions, oldest first. */
  *detached(): IterableIterator<Session> {
    for (const { session } of this.detachedSessions.values()) yield session;
  }

  /** Keep the session for the resume window (then the owner finishes it), within maxDetachedSessions and maxResumeBytes. */
  detach(session: Session, reason: CloseReason): void {
    const windowMs = this.options.resumeWindow;
    const cancelExpiry = this.scheduler.schedule(this.clock.now() + windowMs, () => {
      this.owner.finishSession(session, { ...reason, message: `${reason.message}; not resumed within ${windowMs} ms` });
    });
    const bytes = session.resume?.unackedBytes ?? 0;
    this.detachedSessions.set(session.id, { session, reason, cancelExpiry, bytes });
    this.detachedBytes += bytes;
    session.markDetached(reason);
    this.enforceMaxDetachedSessions();
    this.enforceMaxResumeBytes();
  }

  /**
   * A detached session's replay buffer grew (send() while detached — the only thing that grows
   * while no transport is attached: nothing arrives, and ACKs only shrink it). The sum is
   * checked now, not at the next detach: a server that keeps sending to sessions that are gone
   * would otherwise hold up to maxDetachedSessions × maxResumeBytesPerSession.
   */
  grew(session: Session): void {
    const entry = this.detachedSessions.get(session.id);
    if (entry === undefined || entry.session !== session) return;
    const bytes = session.resume?.unackedBytes ?? 0;
    this.detachedBytes += bytes - entry.bytes;
    entry.bytes = bytes;
    if (this.detachedBytes > this.options.maxResumeBytes) this.enforceMaxResumeBytes();
  }

  /** The session is attached again (resumed): no longer detached, still resumable. */
  forgetDetached(session: Session): void {
    const detached = this.detachedSessions.get(session.id);
    if (detached === undefined || detached.session !== session) return;
    detached.cancelExpiry();
    this.detachedSessions.delete(session.id);
    this.detachedBytes -= detached.bytes;
  }

  /** The session is ending: let go of it entirely. */
  release(session: Session): void {
    this.forgetDetached(session);
    if (this.resumableSessions.get(session.id) === session) this.resumableSessions.delete(session.id);
  }

  /**
   * Bound the memory all waiting sessions hold: the oldest give way first (possibly the one that
   * just grew). A running total and the Map's insertion order keep this O(sessions evicted) per
   * call, not O(all detached): a mass disconnect of N resumable clients must not cost N² steps.
   * Each evicted session ends with its own detach reason, told why it did not wait longer.
   */
  private enforceMaxResumeBytes(): void {
    for (const { session: oldest, reason } of this.detachedSessions.values()) {
      if (this.detachedBytes <= this.options.maxResumeBytes) break;
      this.owner.finishSession(oldest, { ...reason, message: `${reason.message}; resume buffers over maxResumeBytes (${this.options.maxResumeBytes} bytes)` });
    }
  }

  /**
   * Bound how many sessions wait: each costs its Session, ResumeState and wheel entry even with
   * an empty replay buffer, so maxResumeBytes alone does not bound a flood of resumable clients
   * that connect and vanish. The oldest has waited longest and is the least likely to come back.
   */
  private enforceMaxDetachedSessions(): void {
    const max = this.options.maxDetachedSessions;
    for (const { session: oldest, reason } of this.detachedSessions.values()) {
      if (this.detachedSessions.size <= max) break;
      this.owner.finishSession(oldest, { ...reason, message: `${reason.message}; over maxDetachedSessions (${max}): the oldest detached session gives way` });
    }
  }
}

interface DetachedSession {
  readonly session: Session;
  /** Why its transport was lost: an eviction or the expiry ends it with this code. */
  readonly reason: CloseReason;
  readonly cancelExpiry: () => void;
  /** session.resume.unackedBytes as last counted in detachedBytes. */
  bytes: number;
}

/** Transport losses a resumable session survives; deliberate closes end it at once. */
const DETACHABLE = new Set<CloseReason['code']>(['heartbeat-timeout', 'transport-closed', 'transport-error']);
