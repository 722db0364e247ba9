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
 *   default the fixed timeout, dead exactly at lastSeenAtMs + timeoutMs, never before; or
 *   phi-accrual. Every inbound frame is an arrival for the detector. forgive(ms) (stall guard)
 *   shifts only the detector's reference: pings stay on the real last-seen time.
 *
 * Memory (a server holds ~100k of these): the fixed timeout, the default, is judged here from
 * one field (the same rule as FixedTimeoutDetector, which a test holds them to) rather than by a
 * detector object per connection; what only our own PINGs need lives in a PingLog made on the
 * first one; and the settings are read in place from the options object, which connections
 * with the same settings share (sharedHeartbeatOptions).
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
import { RttEstimator } from './rtt.js';
import { checkForgiveMs } from './detectors/fixed.js';
import type { FailureDetector } from './detectors/types.js';
import { PingLog } from './ping-log.js';

/** Read in place for the heartbeat's life (never copied), so do not mutate them after construction; one object may serve many heartbeats. */
export interface HeartbeatOptions {
  /** Silence, ms, after which a PING is due (and the repeat period while silence lasts). > 0. */
  intervalMs: number;
  /** Silence, ms, after which the peer is dead. > intervalMs + jitterMs. */
  timeoutMs: number;
  /** Each ping cycle waits an extra random [0, jitterMs) before pinging, so connections that started together drift apart instead of pinging in one burst. Default 0. Must keep intervalMs + jitterMs < timeoutMs. */
  jitterMs?: number;
  /** Uniform [0, 1) source for the jitter. Default Math.random; injected for tests. */
  rng?: () => number;
  /** Judges death from arrival times (detectors/createDetector). Default: the fixed timeout (FixedTimeoutDetector's rule, judged inline). Must be fresh (its reference time = the constructor's nowMs). */
  detector?: FailureDetector;
}

export type HeartbeatVerdict =
  | { kind: 'alive'; nextCheckAtMs: number }
  /** The caller must send PING(id) now. */
  | { kind: 'ping'; id: number; nextCheckAtMs: number }
  | { kind: 'dead'; lastSeenAtMs: number; sinceLastSeenMs: number; unansweredPings: number };

type DeadVerdict = Extract<HeartbeatVerdict, { kind: 'dead' }>;

/** What a reader of the RTT gets: the estimator's figures, not its sample(). */
export type RttReadings = Pick<RttEstimator, 'lastMs' | 'smoothedMs' | 'samples'>;

/** Before our first PING: no samples (shared, frozen). */
const NO_RTT: RttReadings = Object.freeze(new RttEstimator());

export class Heartbeat {
  /** Our PINGs and their RTTs: made on the first one (a server whose clients lead rarely pings). */
  private pings: PingLog | undefined = undefined;
  /** The options as given (validated; never mutated: setPingInterval replaces them). */
  private settings: Readonly<HeartbeatOptions>;
  /** Fixed timeout: the last arrival, shifted forward by forgive() (dead at it + timeoutMs). */
  private fixedReferenceMs: number;

  private seenAtMs: number;
  /** Pings sent since the last inbound frame. */
  private unanswered = 0;
  /** Extra wait before the first ping of the current idle cycle. */
  private cycleJitterMs: number;
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
    this.settings = options;
    this.fixedReferenceMs = nowMs;
    this.seenAtMs = nowMs;
    this.cycleJitterMs = this.drawJitterMs();
  }

  /** Silence, ms, after which the peer is dead. */
  get timeoutMs(): number {
    return this.settings.timeoutMs;
  }

  /** The detector given in the options; undefined: the fixed timeout, judged from fixedReferenceMs. */
  get detector(): FailureDetector | undefined {
    return this.settings.detector;
  }

  private get pingIntervalMs(): number {
    return this.settings.intervalMs;
  }

  private get jitterMs(): number {
    return this.settings.jitterMs ?? 0;
  }

  /** Round-trip times of our PINGs (reading them allocates nothing). */
  get rtt(): RttReadings {
    return this.pings?.rtt ?? NO_RTT;
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
    this.settings = { ...this.settings, intervalMs, jitterMs };
    if (this.cycleJitterMs > jitterMs) this.cycleJitterMs = this.drawJitterMs();
  }

  /** Any inbound frame. O(1), no allocation: this runs per frame. */
  received(nowMs: number): void {
    if (nowMs > this.seenAtMs) this.seenAtMs = nowMs;
    this.unanswered = 0;
    const detector = this.detector;
    if (detector === undefined) {
      // A stale timestamp (or one inside forgiven time) never moves the reference backwards.
      if (nowMs > this.fixedReferenceMs) this.fixedReferenceMs = nowMs;
    } else {
      detector.arrival(nowMs);
    }
  }

  /**
   * Our own process was suspended for ms (stall guard): don't count that time as the peer's
   * silence. Postpones only the death judgement; the ping schedule stays on the real last-seen
   * time, so a ping goes out at once after a stall. No-op once dead.
   */
  forgive(ms: number): void {
    if (this.dead !== undefined) return;
    if (this.detector === undefined) this.fixedReferenceMs += checkForgiveMs(ms);
    else this.detector.forgive(ms);
  }

  /**
   * When the peer is judged dead if nothing arrives (the detector's deadlineMs()); Infinity if
   * never. Unlike nextCheckAtMs it ignores the ping schedule, and stays put once dead.
   */
  deathDeadlineMs(): number {
    return this.detector === undefined ? this.fixedReferenceMs + this.timeoutMs : this.detector.deadlineMs();
  }

  /** Suspicion for reports: phi for 'phi'; for the fixed timeout, silence / timeout (dead at >= 1). */
  suspicion(nowMs: number): number {
    if (this.detector !== undefined) return this.detector.suspicion(nowMs);
    return Math.max(0, nowMs - this.fixedReferenceMs) / this.timeoutMs;
  }

  /**
   * A PONG arrived with this id; returns the RTT sample when it matches an outstanding ping (and
   * feeds the estimator), else undefined. Also counts as received(). A matching PONG also answers
   * every ping sent before it.
   */
  pong(id: number, nowMs: number): number | undefined {
    this.received(nowMs);
    return this.pings?.answered(id, nowMs);
  }

  /** Evaluate at (or after) nextCheckAtMs; idempotent when nothing is due. Once dead, stays dead. */
  check(nowMs: number): HeartbeatVerdict {
    if (this.dead !== undefined) return this.dead;
    // Detectors define isDead(t) as t >= deadlineMs(), the value nextCheckAtMs uses, so a check
    // run exactly at the deadline always sees it.
    if (this.detector === undefined ? nowMs >= this.fixedReferenceMs + this.timeoutMs : this.detector.isDead(nowMs)) {
      this.dead = Object.freeze({
        kind: 'dead',
        lastSeenAtMs: this.seenAtMs,
        sinceLastSeenMs: nowMs - this.seenAtMs,
        unansweredPings: this.unanswered,
      });
      return this.dead;
    }
    if (nowMs < this.nextPingAtMs()) return { kind: 'alive', nextCheckAtMs: this.nextCheckAtMs };
    const id = (this.pings ??= new PingLog()).sent(nowMs);
    // The first ping of an idle cycle consumes this cycle's jitter; draw the next cycle's now so
    // received() never has to touch the rng.
    if (this.unanswered === 0) this.cycleJitterMs = this.drawJitterMs();
    this.unanswered++;
    return { kind: 'ping', id, nextCheckAtMs: this.nextCheckAtMs };
  }

  /** When check() next needs to run (min of next ping due and the detector's deadline); Infinity once dead. */
  get nextCheckAtMs(): number {
    if (this.dead !== undefined) return Infinity;
    return Math.min(this.nextPingAtMs(), this.deathDeadlineMs());
  }

  /** Time of the last inbound frame (or of construction), ms. */
  get lastSeenAtMs(): number {
    return this.seenAtMs;
  }

  private nextPingAtMs(): number {
    return this.unanswered === 0
      ? this.seenAtMs + this.pingIntervalMs + this.cycleJitterMs
      : this.pings!.lastPingAtMs + this.pingIntervalMs;
  }

  private drawJitterMs(): number {
    if (this.jitterMs === 0) return 0;
    const r = (this.settings.rng ?? Math.random)();
    // Guard against an rng that returns 1 or garbage: jitter must stay in [0, jitterMs).
    return r >= 0 && r < 1 ? r * this.jitterMs : 0;
  }
}

const sharedOptions = new Map<string, Readonly<HeartbeatOptions>>();
const MAX_SHARED_OPTIONS = 64;

/**
 * Frozen options for a heartbeat with the fixed timeout, one object per distinct setting: a
 * server's connections all negotiate the same few, and a Heartbeat reads its settings in place.
 */
export function sharedHeartbeatOptions(intervalMs: number, timeoutMs: number, jitterMs: number): Readonly<HeartbeatOptions> {
  const key = `${intervalMs}/${timeoutMs}/${jitterMs}`;
  let options = sharedOptions.get(key);
  if (options === undefined) {
    options = Object.freeze({ intervalMs, timeoutMs, jitterMs });
    if (sharedOptions.size < MAX_SHARED_OPTIONS) sharedOptions.set(key, options);
  }
  return options;
}
