/**
 * AdaptiveHeartbeat: the client's side of `heartbeat: 'adaptive'` (docs/spec/0007, §Wiring).
 * It owns one NatLearner per network key (server + local address), the store they persist to,
 * and the rules that turn link events into learner evidence:
 *
 * - HELLO proposes `learner.helloIntervalMs()`; each ping cycle waits
 *   `min(learner.currentIntervalMs(), negotiated)` (never below negotiated / HELLO_HEADROOM, so
 *   the server's ping-rate guard never strikes).
 * - survived: a PING sent after `idleMs` of silence in both directions got an answer (any
 *   inbound frame) — fed at once.
 * - died: the link closed with a PING of an idle cycle unanswered and a transport-level code.
 *   Held as *pending* until the next TCP connect: on the same key it is fed (only the flow was
 *   lost, the path works: a middlebox forgot it); a failed connect or another key drops it (the
 *   network or server was down, which says nothing about the NAT).
 * - renegotiate: the learner wants a longer interval than this connection negotiated; the
 *   client reconnects (resuming its session) so the next HELLO can propose it — at most once per
 *   key per `renegotiateEveryMs`.
 *
 * Learner time is wall-clock (`wallNow`, Date.now by default): learned state outlives the
 * process. Renegotiation spacing uses the client's monotonic clock.
 */
import { HELLO_HEADROOM, NatLearner, type NatLearnerPhase, type ResolvedNatLearnerOptions } from '../liveness/nat-learner.js';
import type { NatStateStore } from '../liveness/nat-store.js';
import type { NegotiatedHeartbeat } from '../liveness/negotiate.js';
import type { CloseReasonCode } from '../connection/close-reason.js';

/** What `lifeline:client:adaptive` publishes and `client.adaptiveHeartbeat` returns. */
export interface AdaptiveSnapshot {
  key: string;
  phase: NatLearnerPhase;
  /** The interval the learner uses for the next idle period, ms. */
  intervalMs: number;
  /** Longest idle survived on this key, ms (0: none yet). */
  goodMs: number;
  /** Shortest idle known to kill an idle connection, ms (null: none). */
  badMs: number | null;
}

export interface AdaptiveEvent extends AdaptiveSnapshot {
  event: 'survived' | 'died' | 'settled' | 'reprobe';
  /** The idle period that was survived or died, ms. */
  idleMs: number;
}

export interface AdaptiveHeartbeatDeps {
  learner: ResolvedNatLearnerOptions;
  store: NatStateStore;
  rng: () => number;
  /** Wall clock, ms. Default Date.now. */
  wallNow?: () => number;
  onEvent?: (event: AdaptiveEvent) => void;
}

/** Link closes that may mean "a middlebox forgot the flow" (spec 0007 §Wiring 7). */
const DEATH_CODES: ReadonlySet<CloseReasonCode> = new Set(['heartbeat-timeout', 'transport-error', 'transport-closed']);

/** Save at most this often when a survival changed nothing that matters (spec 0007 §Wiring 8). */
const ROUTINE_SAVE_EVERY_MS = 60_000;

export class AdaptiveHeartbeat {
  /**
   * Least time between two planned reconnects on one key, monotonic ms: 10 min with the default
   * 15 s minimum interval, proportionally less for a scaled-down learner (the lab's).
   */
  readonly renegotiateEveryMs: number;
  private readonly deps: AdaptiveHeartbeatDeps;
  /** A change of target or known-good this large is saved at once (1 s with the defaults). */
  private readonly significantMs: number;
  private readonly wallNow: () => number;
  private readonly learners = new Map<string, NatLearner>();
  private readonly savedAt = new Map<string, { atMs: number; phase: NatLearnerPhase; targetMs: number; goodMs: number; badMs: number | null }>();
  private readonly renegotiatedAt = new Map<string, number>();
  private pendingDeath: { key: string; idleMs: number } | undefined;

  constructor(deps: AdaptiveHeartbeatDeps) {
    this.deps = deps;
    this.wallNow = deps.wallNow ?? Date.now;
    this.renegotiateEveryMs = Math.min(600_000, 40 * deps.learner.minIntervalMs);
    this.significantMs = Math.min(1000, deps.learner.minIntervalMs / 15);
  }

  /** What is known about `key` right now. */
  snapshot(key: string): AdaptiveSnapshot {
    const learner = this.learner(key);
    const s = learner.state;
    return { key, phase: s.phase, intervalMs: learner.currentIntervalMs(this.wallNow()), goodMs: s.goodMs, badMs: s.badMs };
  }

  /**
   * TCP is up on `key`, HELLO is about to be built: settle a pending death first (same key: the
   * flow died, the path works), then return the interval to propose.
   */
  connected(key: string): number {
    const pending = this.pendingDeath;
    this.pendingDeath = undefined;
    if (pending && pending.key === key) {
      const learner = this.learner(key);
      learner.died(pending.idleMs, this.wallNow());
      this.save(key, true);
      this.publish(key, 'died', pending.idleMs);
    }
    return this.learner(key).helloIntervalMs(this.wallNow());
  }

  /** The connect attempt failed: a pending death was the network's or the server's, not a NAT's. */
  connectFailed(): void {
    this.pendingDeath = undefined;
  }

  /** WELCOME arrived: a new run of survivals starts. */
  opened(key: string): void {
    this.learner(key).connectionStarted();
  }

  /** This cycle's ping wait and jitter on a connection that negotiated `negotiated`. */
  pingSchedule(key: string, negotiated: NegotiatedHeartbeat): { pingAfterMs: number; jitterMs: number } {
    const wanted = this.learner(key).currentIntervalMs(this.wallNow());
    const floor = Math.ceil(negotiated.intervalMs / HELLO_HEADROOM);
    const pingAfterMs = Math.max(floor, Math.min(wanted, negotiated.intervalMs));
    const jitterMs = Math.max(0, Math.floor(Math.min(pingAfterMs * 0.1, (negotiated.timeoutMs - pingAfterMs) / 4)));
    return { pingAfterMs, jitterMs };
  }

  survived(key: string, idleMs: number): void {
    const learner = this.learner(key);
    const before = learner.state;
    learner.survived(idleMs, this.wallNow());
    const after = learner.state;
    if (after.reprobeCount > before.reprobeCount) this.publish(key, 'reprobe', idleMs);
    this.publish(key, before.phase !== 'settled' && after.phase === 'settled' ? 'settled' : 'survived', idleMs);
    this.save(key, false);
  }

  /**
   * A link on `key` closed; `unansweredIdleMs`: the silence before an idle cycle's PING that got
   * no answer (undefined: no such PING). Only a transport-level loss becomes a pending death.
   */
  linkClosed(key: string, unansweredIdleMs: number | undefined, code: CloseReasonCode): void {
    this.pendingDeath = unansweredIdleMs !== undefined && DEATH_CODES.has(code) ? { key, idleMs: unansweredIdleMs } : undefined;
  }

  /**
   * Should the client reconnect now to propose a longer interval? Only when the server granted
   * what we proposed (a server that clamped would clamp again) and not too often per key.
   */
  wantsRenegotiate(key: string, negotiatedIntervalMs: number, granted: boolean, nowMonoMs: number): boolean {
    if (!granted) return false;
    if (this.learner(key).currentIntervalMs(this.wallNow()) <= negotiatedIntervalMs) return false;
    const last = this.renegotiatedAt.get(key);
    if (last !== undefined && nowMonoMs - last < this.renegotiateEveryMs) return false;
    this.renegotiatedAt.set(key, nowMonoMs);
    return true;
  }

  /** Persist every learner (client.close()). */
  saveAll(): void {
    for (const key of this.learners.keys()) this.save(key, true);
  }

  private learner(key: string): NatLearner {
    let learner = this.learners.get(key);
    if (!learner) {
      learner = new NatLearner(this.deps.learner, this.deps.store.load(key), this.deps.rng);
      this.learners.set(key, learner);
    }
    return learner;
  }

  /** Save on what matters at once; routine progress (counters) at most once a minute. */
  private save(key: string, force: boolean): void {
    const s = this.learner(key).state;
    const now = this.wallNow();
    const last = this.savedAt.get(key);
    const changed =
      !last ||
      last.phase !== s.phase ||
      last.badMs !== s.badMs ||
      Math.abs(last.targetMs - s.targetMs) >= this.significantMs ||
      Math.abs(last.goodMs - s.goodMs) >= this.significantMs;
    if (!force && !changed && now - last.atMs < ROUTINE_SAVE_EVERY_MS) return;
    this.deps.store.save(key, s);
    this.savedAt.set(key, { atMs: now, phase: s.phase, targetMs: s.targetMs, goodMs: s.goodMs, badMs: s.badMs });
  }

  private publish(key: string, event: AdaptiveEvent['event'], idleMs: number): void {
    const onEvent = this.deps.onEvent;
    if (onEvent) onEvent({ ...this.snapshot(key), event, idleMs });
  }
}
