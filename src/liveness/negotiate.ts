/**
 * Heartbeat negotiation (PROTOCOL.md §Handshake): the client proposes an interval and timeout in
 * HELLO, the server answers in WELCOME with the values in force. Pure policy, no I/O.
 *
 * Rules, in order:
 * 1. A proposal of 0 means "server default".
 * 2. The interval is clamped to [minIntervalMs, maxIntervalMs].
 * 3. The timeout is clamped to [minTimeoutMs, maxTimeoutMs], and then raised to at least
 *    interval × MIN_TIMEOUT_RATIO: a timeout must leave room for a ping to be answered, or
 *    healthy peers would be declared dead on every cycle.
 */
export const MIN_TIMEOUT_RATIO = 1.5;

export interface HeartbeatBounds {
  defaultIntervalMs: number;
  defaultTimeoutMs: number;
  minIntervalMs: number;
  maxIntervalMs: number;
  minTimeoutMs: number;
  maxTimeoutMs: number;
}

export interface NegotiatedHeartbeat {
  intervalMs: number;
  timeoutMs: number;
}

export function negotiateHeartbeat(
  proposal: { intervalMs: number; timeoutMs: number },
  bounds: HeartbeatBounds,
): NegotiatedHeartbeat {
  const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
  // Whole milliseconds: WELCOME carries integers.
  const intervalMs = Math.round(clamp(proposal.intervalMs || bounds.defaultIntervalMs, bounds.minIntervalMs, bounds.maxIntervalMs));
  let timeoutMs = Math.round(clamp(proposal.timeoutMs || bounds.defaultTimeoutMs, bounds.minTimeoutMs, bounds.maxTimeoutMs));
  timeoutMs = Math.max(timeoutMs, Math.ceil(intervalMs * MIN_TIMEOUT_RATIO));
  return { intervalMs, timeoutMs };
}

/**
 * Who pings. Both sides run the same idle-driven rule, but if both waited exactly the interval
 * they would ping each other in the same instant every cycle (two round trips instead of one).
 * So one side leads: it pings after `interval` (+ up to 10 % jitter, drawn per cycle, so peers
 * that connected together — a reconnect storm — spread out), and the follower waits a margin
 * longer, so in steady state it only answers (one PING + one PONG per interval) and pings itself
 * only when the leader went quiet. Detection time is unaffected: death is judged on the time
 * since the last *receive*.
 *
 * - The client leads by default: every PONG then reaches the client and carries the *server's*
 *   status and load, and the client times its own PINGs (its RTT, spec 0005's availability).
 *   The server's answers cost it a read and a write per interval and no timer-driven writes.
 * - The server leads when it is configured to and the client offered it (HELLO
 *   followServerPings, spec 0010): the server's PINGs of one timer-wheel tick go out in one
 *   pass and their PONGs come back together, so one wake-up reads many (measured on loopback:
 *   0.80–0.87× a raw echo's server CPU per beat (medians of 5 rounds), 0.88–0.95× client-led;
 *   BENCHMARKS.md). The server then pushes its status with a PONG in front of a PING only when
 *   it changed (connection/connection.ts pushStatus).
 */
/** Lateness the follower allows for the leader's timer and the path before pinging itself. */
export const LEADER_TIMER_SLACK_MS = 100;

export type HeartbeatLeader = 'client' | 'server';

export function pingSchedule(
  role: 'client' | 'server',
  negotiated: NegotiatedHeartbeat,
  leader: HeartbeatLeader = 'client',
): { pingAfterMs: number; jitterMs: number } {
  const slackMs = negotiated.timeoutMs - negotiated.intervalMs;
  const leaderJitterMs = Math.floor(Math.min(negotiated.intervalMs * 0.1, slackMs / 4));
  if (role === leader) return { pingAfterMs: negotiated.intervalMs, jitterMs: leaderJitterMs };
  // Wait past the leader's latest possible ping (interval + jitter + timer lateness), but never
  // so long that our own ping could not be answered before the timeout.
  const marginMs = Math.min(Math.max(negotiated.intervalMs * 0.25, leaderJitterMs + LEADER_TIMER_SLACK_MS), slackMs / 2);
  return { pingAfterMs: negotiated.intervalMs + marginMs, jitterMs: 0 };
}
