/**
 * Heartbeat: idle-driven liveness DETECTION for one connection (STYLE.md §1.3). It says when a
 * PING is due and when the peer is dead; sending the ping and closing are the caller's job.
 *
 * Rule (docs/spec/0001-idle-heartbeat.md §Detection; gRPC A8 keepalive, made idle-driven):
 * - Any inbound frame proves the peer alive; outbound traffic never does (a write into a dead
 *   path succeeds locally for minutes), which is why there is no "sent" input at all.
 * - A PING is due once nothing has been received for intervalMs + this cycle's jitter, and then
 *   again every intervalMs while still nothing arrives (repeats survive lossy transports).
 * - Whether the peer is dead is the FailureDetector's judgement (detectors/, spec 0002): by
 *   default FixedTimeoutDetector, dead exactly at lastSeenAtMs + timeoutMs, never before; or
 *   phi-accrual. Every inbound frame is an arrival for the detector. forgive(ms) (stall guard)
 *   shifts only the detector's reference: pings stay on the real last-seen time.
 *
 * Lazy, like Netty's IdleStateHandler (§1.4): received() only stores a timestamp and feeds the
 * detector (O(1)); the caller runs check() at nextCheckAtMs, which computes what is left of the
 * window. A check that comes early (traffic moved the deadline) just answers 'alive' with the new
 * nextCheckAtMs.
 *
 * Precision: exact in the caller's clock; verdicts are as timely as the caller's scheduler
 * (TimerWheel: up to one tick late). Pure: time and randomness are arguments.
 */
import { InvalidOptionError } from '../errors.js';
import { PING_ID_MODULO } from '../protocol/frames.js';
import { RttEstimator } from './rtt.js';
import { FixedTimeoutDetector } from './detectors/fixed.js';
import type { FailureDetector } from './detectors/types.js';

export interface HeartbeatOptions {
  /** Silence, ms, after which a PING is due (and the repeat period while silence lasts). > 0. */
  intervalMs: number;
  /** Silence, ms, after which the peer is dead. > intervalMs + jitterMs. */
  timeoutMs: number;
  /** Each ping cycle waits an extra random [0, jitterMs) before pinging, so connections that started together drift apart instead of pinging in one burst. Default 0. Must keep intervalMs + jitterMs < timeoutMs. */
  jitterMs?: number;
  /** Uniform [0, 1) source for the jitter. Default Math.random; injected for tests. */
  rng?: () => number;
  /** Judges death from arrival times (detectors/createDetector). Default: FixedTimeoutDetector(timeoutMs, nowMs). Must be fresh (its reference time = the constructor's nowMs). */
  detector?: FailureDetector;
}

export type HeartbeatVerdict =
  | { kind: 'alive'; nextCheckAtMs: number }
  /** The caller must send PING(id) now. */
  | { kind: 'ping'; id: number; nextCheckAtMs: number }
  | { kind: 'dead'; lastSeenAtMs: number; sinceLastSeenMs: number; unansweredPings: number };

type DeadVerdict = Extract<HeartbeatVerdict, { kind: 'dead' }>;

/** Marks a ping slot with no outstanding ping. */
const NONE = -1;

export class Heartbeat {
  /** Made on first use: a server whose clients lead the heartbeat rarely times a round trip. */
  private rttEstimator: RttEstimator | undefined = undefined;
  readonly timeoutMs: number;
  /** The death judgement; read it for suspicion() in reports. */
  readonly detector: FailureDetector;
  private pingIntervalMs: number;
  private jitterMs: number;
  private readonly rng: () => number;

  private seenAtMs: number;
  /** Pings sent since the last inbound frame. */
  private unanswered = 0;
  private lastPingAtMs = 0;
  /** Extra wait before the first ping of the current idle cycle. */
  private cycleJitterMs: number;
  private nextPingId = 0;
  /** Send time of each outstanding ping, indexed by id; NONE when not outstanding. */
  /**
   * Send time of each outstanding ping, by id; allocated on the first ping we send (a server
   * whose clients lead rarely pings: ~440 bytes saved per connection).
   */
  private pingSentAtMs: Float64Array | undefined;
  private dead: DeadVerdict | undefined = undefined;

  /** nowMs counts as "last seen": the handshake just completed. */
  constructor(options: HeartbeatOptions, nowMs: number) {
    const { intervalMs, timeoutMs, jitterMs = 0, rng = Math.random, detector } = options;
    if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
      throw new InvalidOptionError('intervalMs', `must be a finite number > 0, got ${intervalMs}`);
    }
    if (!Number.isFinite(timeoutMs) || timeoutMs <= intervalMs) {
      throw new InvalidOptionError('timeoutMs', `must be a finite number > intervalMs (${intervalMs}), got ${timeoutMs}`);
    }
    if (!Number.isFinite(jitterMs) || jitterMs < 0) {
      throw new InvalidOptionError('jitterMs', `must be a finite number >= 0, got ${jitterMs}`);
    }
    if (intervalMs + jitterMs >= timeoutMs) {
      // Otherwise the first ping could come at or after the death deadline: dead without asking.
      throw new InvalidOptionError(
        'jitterMs',
        `intervalMs + jitterMs (${intervalMs} + ${jitterMs}) must be < timeoutMs (${timeoutMs})`,
      );
    }
    if (typeof rng !== 'function') throw new InvalidOptionError('rng', 'must be a function returning [0, 1)');
    if (!Number.isFinite(nowMs)) throw new InvalidOptionError('nowMs', `must be a finite number, got ${nowMs}`);
    if (detector !== undefined && (typeof detector !== 'object' || typeof detector.isDead !== 'function')) {
      throw new InvalidOptionError('detector', 'must be a FailureDetector (see createDetector)');
    }
    this.pingIntervalMs = intervalMs;
    this.timeoutMs = timeoutMs;
    this.jitterMs = jitterMs;
    this.rng = rng;
    this.detector = detector ?? new FixedTimeoutDetector(timeoutMs, nowMs);
    this.seenAtMs = nowMs;
    this.cycleJitterMs = this.drawJitterMs();
  }

  /** Round-trip times of our PINGs. */
  get rtt(): RttEstimator {
    return (this.rttEstimator ??= new RttEstimator());
  }

  /** Silence before a PING is due, ms (see setPingInterval). */
  get intervalMs(): number {
    return this.pingIntervalMs;
  }

  /**
   * Change the ping interval and jitter (a client learning its path's NAT timeout, spec 0007).
   * The death timeout is unchanged, so the same bound holds: intervalMs + jitterMs < timeoutMs.
   * An idle cycle already under way keeps its jitter but pings by the new interval.
   */
  setPingInterval(intervalMs: number, jitterMs: number): void {
    if (!Number.isFinite(intervalMs) || intervalMs <= 0 || !Number.isFinite(jitterMs) || jitterMs < 0) {
      throw new InvalidOptionError('intervalMs', `must be finite, > 0 (jitter >= 0), got ${intervalMs} / ${jitterMs}`);
    }
    if (intervalMs + jitterMs >= this.timeoutMs) {
      throw new InvalidOptionError('intervalMs', `intervalMs + jitterMs (${intervalMs} + ${jitterMs}) must be < timeoutMs (${this.timeoutMs})`);
    }
    this.pingIntervalMs = intervalMs;
    this.jitterMs = jitterMs;
    if (this.cycleJitterMs > jitterMs) this.cycleJitterMs = this.drawJitterMs();
  }

  /** Any inbound frame. O(1), no allocation: this runs per frame. */
  received(nowMs: number): void {
    if (nowMs > this.seenAtMs) this.seenAtMs = nowMs;
    this.unanswered = 0;
    this.detector.arrival(nowMs);
  }

  /**
   * Our own process was suspended for ms (stall guard): don't count that time as the peer's
   * silence. Postpones only the death judgement; the ping schedule stays on the real last-seen
   * time, so a ping goes out at once after a stall. No-op once dead.
   */
  forgive(ms: number): void {
    if (this.dead === undefined) this.detector.forgive(ms);
  }

  /**
   * A PONG arrived with this id; returns the RTT sample when it matches an outstanding ping (and
   * feeds the estimator), else undefined. Also counts as received(). A matching PONG also answers
   * every ping sent before it.
   */
  pong(id: number, nowMs: number): number | undefined {
    this.received(nowMs);
    if (!Number.isInteger(id) || id < 0 || id >= PING_ID_MODULO) return undefined;
    const slots = this.pingSentAtMs;
    if (slots === undefined) return undefined;
    const sentAtMs = slots[id]!;
    if (sentAtMs === NONE) return undefined;
    // A PONG answers its PING and every PING sent before it (PROTOCOL.md §8.3: bunched PINGs
    // may get a single PONG), so older slots must not linger as "unanswered".
    for (let i = 0; i < slots.length; i++) if (slots[i]! <= sentAtMs) slots[i] = NONE;
    const rttMs = Math.max(0, nowMs - sentAtMs);
    this.rtt.sample(rttMs);
    return rttMs;
  }

  /** Evaluate at (or after) nextCheckAtMs; idempotent when nothing is due. Once dead, stays dead. */
  check(nowMs: number): HeartbeatVerdict {
    if (this.dead !== undefined) return this.dead;
    // Detectors define isDead(t) as t >= deadlineMs(), the value nextCheckAtMs uses, so a check
    // run exactly at the deadline always sees it.
    if (this.detector.isDead(nowMs)) {
      this.dead = Object.freeze({
        kind: 'dead',
        lastSeenAtMs: this.seenAtMs,
        sinceLastSeenMs: nowMs - this.seenAtMs,
        unansweredPings: this.unanswered,
      });
      return this.dead;
    }
    if (nowMs < this.nextPingAtMs()) return { kind: 'alive', nextCheckAtMs: this.nextCheckAtMs };
    const id = this.nextPingId;
    this.nextPingId = (id + 1) % PING_ID_MODULO;
    (this.pingSentAtMs ??= new Float64Array(PING_ID_MODULO).fill(NONE))[id] = nowMs;
    this.lastPingAtMs = nowMs;
    // The first ping of an idle cycle consumes this cycle's jitter; draw the next cycle's now so
    // received() never has to touch the rng.
    if (this.unanswered === 0) this.cycleJitterMs = this.drawJitterMs();
    this.unanswered++;
    return { kind: 'ping', id, nextCheckAtMs: this.nextCheckAtMs };
  }

  /** When check() next needs to run (min of next ping due and the detector's deadline); Infinity once dead. */
  get nextCheckAtMs(): number {
    if (this.dead !== undefined) return Infinity;
    return Math.min(this.nextPingAtMs(), this.detector.deadlineMs());
  }

  /** Time of the last inbound frame (or of construction), ms. */
  get lastSeenAtMs(): number {
    return this.seenAtMs;
  }

  private nextPingAtMs(): number {
    return this.unanswered === 0
      ? this.seenAtMs + this.pingIntervalMs + this.cycleJitterMs
      : this.lastPingAtMs + this.pingIntervalMs;
  }

  private drawJitterMs(): number {
    if (this.jitterMs === 0) return 0;
    const r = this.rng();
    // Guard against an rng that returns 1 or garbage: jitter must stay in [0, jitterMs).
    return r >= 0 && r < 1 ? r * this.jitterMs : 0;
  }
}
