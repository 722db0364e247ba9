/**
 * The SUBSCRIBE rate rule (docs/spec/0014-presence.md §Subscriptions, rate): a token bucket per
 * connection over SUBSCRIBE *entries* — each entry costs the server a canSubscribe call and a
 * store read, whatever frame it came in — plus strikes, as the ping-rate rule counts them
 * (liveness/enforcement.ts, after gRPC A8's ping strikes).
 *
 * - A SUBSCRIBE the bucket covers is served at once ('ok').
 * - One it does not cover — or one that arrives while earlier entries still wait — is a strike;
 *   its entries wait and are served as tokens come ('wait'): nothing is dropped, the answers
 *   just come later, and the store sees at most `ratePerSec` reads per second from the connection.
 * - More than `maxStrikes` strikes → 'too-many': the connection is closed.
 * - Strikes are forgiven once the bucket is full again: the client kept to the rate for a whole
 *   burst. The default burst is the connection's subscription limit, so a client that sends its
 *   whole contact list on connect, in one frame or one per id, is never struck.
 *
 * Pure: time is an argument; the rule is shared, a connection keeps its three numbers.
 */
import { InvalidOptionError } from '../errors.js';

export interface SubscribeRateState {
  tokens: number;
  atMs: number;
  strikes: number;
}

export type SubscribeVerdict = 'ok' | 'wait' | 'too-many';

export const DEFAULT_SUBSCRIBE_RATE = 100;
export const DEFAULT_SUBSCRIBE_STRIKES = 3;

export class SubscribeRatePolicy {
  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
    readonly maxStrikes: number,
  ) {
    if (typeof ratePerSec !== 'number' || !Number.isFinite(ratePerSec) || ratePerSec <= 0) throw new InvalidOptionError('server.presence.subscribeRate', `must be a finite number > 0 (entries per second), got ${String(ratePerSec)}`);
    if (!Number.isSafeInteger(burst) || burst < 1) throw new InvalidOptionError('server.presence.subscribeBurst', `must be an integer >= 1, got ${String(burst)}`);
    if (!Number.isSafeInteger(maxStrikes) || maxStrikes < 0) throw new InvalidOptionError('server.presence.subscribeStrikes', `must be an integer >= 0, got ${String(maxStrikes)}`);
  }

  /** A new connection's state: a full bucket. */
  fresh(nowMs: number): SubscribeRateState {
    return { tokens: this.burst, atMs: nowMs, strikes: 0 };
  }

  /** A SUBSCRIBE of `entries` at `nowMs`; `waiting`: earlier entries of the connection still wait. */
  admit(state: SubscribeRateState, entries: number, nowMs: number, waiting: boolean): SubscribeVerdict {
    this.refill(state, nowMs);
    if (state.tokens >= this.burst) state.strikes = 0;
    if (!waiting && state.tokens >= entries) {
      state.tokens -= entries;
      return 'ok';
    }
    state.strikes++;
    return state.strikes > this.maxStrikes ? 'too-many' : 'wait';
  }

  /** Take up to `max` whole tokens for waiting entries; → how many were taken. */
  take(state: SubscribeRateState, max: number, nowMs: number): number {
    this.refill(state, nowMs);
    const taken = Math.min(max, Math.floor(state.tokens));
    state.tokens -= taken;
    return taken;
  }

  /** ms until `count` tokens are there (0: now). */
  waitMs(state: SubscribeRateState, count: number, nowMs: number): number {
    this.refill(state, nowMs);
    const missing = Math.min(count, this.burst) - state.tokens;
    return missing <= 0 ? 0 : Math.ceil((missing / this.ratePerSec) * 1000);
  }

  private refill(state: SubscribeRateState, nowMs: number): void {
    if (nowMs > state.atMs) state.tokens = Math.min(this.burst, state.tokens + ((nowMs - state.atMs) / 1000) * this.ratePerSec);
    state.atMs = nowMs;
  }
}
