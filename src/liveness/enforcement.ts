/**
 * PingRateGuard: server-side DETECTION of a peer that pings too often (STYLE.md §1.3). It only
 * returns a verdict per PING; sending GOAWAY / CLOSE `too-many-pings` is the server peer's job
 * (src/server/peer.ts). Spec: docs/spec/0003-enforcement-and-drain.md §Ping-rate enforcement.
 *
 * Why a server polices PINGs at all: every PING costs the server a read, a PONG write and a
 * health() call, and a server holds ~100k connections. gRPC A8 ("Client-side Keepalive",
 * section "Server Enforcement") calls keepalive an easy way to DDoS yourself and makes servers
 * count "ping strikes", answering a misbehaving client with GOAWAY ENHANCE_YOUR_CALM
 * "too_many_pings" and closing. MQTT 3.1.1 §3.1.2.10 bounds the other direction (1.5 × the
 * keep-alive without a packet = dead); this bounds the too-frequent side.
 *
 * Rule (per peer, monotonic ms):
 * - The first PING is always fine (A8 starts `last_valid_ping_time` at the epoch).
 * - A PING less than minPingIntervalMs after the *previous* PING is a strike.
 * - A well-spaced PING resets the strikes to 0. A lifeline client pings only after a whole
 *   heartbeat interval of silence (docs/spec/0001-idle-heartbeat.md), and every answer it gets
 *   restarts that silence, so two PINGs close together mean a broken or hostile client. One late
 *   client timer, a GC pause or a TCP retransmission that bunches two PINGs in flight produces a
 *   single early arrival followed by normally spaced ones; that client must not carry the strike
 *   forever (A8 likewise clears strikes, there on sending data).
 * - More than maxStrikes strikes in a row → 'too-many' (A8: `ping_strikes > MAX_PING_STRIKES`).
 *   The verdict is sticky: once 'too-many', every later call says so too.
 *
 * Deliberate difference from A8: A8 measures each PING against the last *valid* PING and does
 * not move that mark on a strike. A client alternating "one early, one on time" then never
 * exceeds the strike limit while pinging up to twice the permitted rate. We measure against the
 * previous PING, valid or not, so a steady too-fast rate always ends in 'too-many'.
 *
 * Precision: exact in the caller's clock (the server reads it once per PING). Pure: no timers,
 * no I/O; time is an argument.
 *
 * Memory: the rule (PingRatePolicy) is shared by every peer with the same limits; a peer keeps
 * only its two numbers (PingRateState, fields of the server peer itself). PingRateGuard bundles
 * one policy with its own state, for a single peer.
 */
import { InvalidOptionError } from '../errors.js';

export interface PingRateGuardOptions {
  /** PINGs closer together than this are strikes, ms. 0 disables the check. */
  minPingIntervalMs: number;
  /** Consecutive strikes tolerated; the next one is 'too-many'. 0 = the first early PING is. */
  maxStrikes: number;
}

/** 'strike': early, tolerated (for now). 'too-many': the peer must be sent away. */
export type PingRateVerdict = 'ok' | 'strike' | 'too-many';

/** What the rule remembers per peer: two small numbers, kept wherever the peer likes. */
export interface PingRateState {
  /** When the previous PING arrived, ms; meaningless while pingStrikes is NO_PING_YET. */
  lastPingAtMs: number;
  /** Consecutive early PINGs; NO_PING_YET before the first PING; past maxStrikes: sticky 'too-many'. */
  pingStrikes: number;
}

/**
 * pingStrikes before the first PING (which is therefore always well spaced). A small integer
 * rather than lastPingAtMs = -Infinity: V8 keeps both fields as small integers then, not a
 * boxed double per peer.
 */
export const NO_PING_YET = -1;

/** The rule with its limits; shared by every peer that has them. */
export class PingRatePolicy {
  readonly minPingIntervalMs: number;
  readonly maxStrikes: number;

  constructor(options: PingRateGuardOptions) {
    const { minPingIntervalMs, maxStrikes } = options;
    if (typeof minPingIntervalMs !== 'number' || !Number.isFinite(minPingIntervalMs) || minPingIntervalMs < 0) {
      throw new InvalidOptionError('minPingIntervalMs', `must be a finite number >= 0, got ${String(minPingIntervalMs)}`);
    }
    if (!Number.isInteger(maxStrikes) || maxStrikes < 0) {
      throw new InvalidOptionError('maxStrikes', `must be an integer >= 0, got ${String(maxStrikes)}`);
    }
    this.minPingIntervalMs = minPingIntervalMs;
    this.maxStrikes = maxStrikes;
  }

  /** Record in `state` a PING received at nowMs and judge it. */
  onPing(state: PingRateState, nowMs: number): PingRateVerdict {
    const strikes = state.pingStrikes;
    if (strikes > this.maxStrikes) return 'too-many';
    const previous = state.lastPingAtMs;
    state.lastPingAtMs = nowMs;
    if (strikes === NO_PING_YET || nowMs - previous >= this.minPingIntervalMs) {
      state.pingStrikes = 0;
      return 'ok';
    }
    state.pingStrikes = strikes + 1;
    if (strikes + 1 > this.maxStrikes) return 'too-many';
    return 'strike';
  }
}

/** One peer's guard: a policy of its own plus the state (for callers that track a single peer). */
export class PingRateGuard implements PingRateState {
  private readonly policy: PingRatePolicy;
  /** @internal PingRateState */
  lastPingAtMs = 0;
  /** @internal PingRateState */
  pingStrikes = NO_PING_YET;

  constructor(options: PingRateGuardOptions) {
    this.policy = new PingRatePolicy(options);
  }

  get minPingIntervalMs(): number {
    return this.policy.minPingIntervalMs;
  }

  get maxStrikes(): number {
    return this.policy.maxStrikes;
  }

  /** Consecutive early PINGs so far (0 after a well-spaced one). */
  get strikes(): number {
    return Math.max(0, this.pingStrikes);
  }

  /** Record a PING received at nowMs and judge it. */
  onPing(nowMs: number): PingRateVerdict {
    return this.policy.onPing(this, nowMs);
  }
}
