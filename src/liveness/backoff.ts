/**
 * Backoff: the delay before each reconnect attempt (docs/spec/0005-reconnect.md §Backoff). Pure:
 * no timers, no clock, randomness injected (STYLE.md §2.11); the client schedules the waits.
 *
 * Sequence — gRPC's connection backoff (grpc/grpc doc/connection-backoff.md): INITIAL_BACKOFF
 * 1 s, MULTIPLIER 1.6, JITTER 0.2, MAX_BACKOFF 120 s. For the n-th call after construction or
 * reset() (n = 1, 2, …):
 *
 *   base(n)  = min(initialDelay × multiplier^(n−1), maxDelay)
 *   delay(n) = base(n) × (1 + jitter × u),  u uniform in [−1, 1)
 *
 * Two deliberate differences from that document:
 * - gRPC waits INITIAL_BACKOFF un-jittered before its first retry. We jitter every delay: clients
 *   whose first retry failed together (the server was still down) must not retry together again;
 *   the document itself requires that "connection backoffs started at the same time disperse".
 * - `fullJitterFirst`: the first delay after reset() is uniform in [0, initialDelay) ("full
 *   jitter", as in the AWS Architecture Blog's "Exponential Backoff and Jitter"), and the
 *   exponential sequence above starts at the second call. The client uses this after losing a
 *   connection that was stable: thousands of clients lose one server at the same instant, and
 *   ±20 % around 1 s would still put them all into a 400 ms window; [0, 1 s) spreads them evenly
 *   over the whole second, and a client whose server is back at once reconnects sooner on average.
 *
 * maxDelay caps base(n), before jitter (as gRPC does), so a delay can reach maxDelay × (1 + jitter).
 * Clamping after jitter would put half of the clients that reached the cap on exactly maxDelay,
 * synchronising again the very clients that have waited longest.
 *
 * Precision: exact arithmetic on what rng() returns; rng must return values in [0, 1).
 */
import { InvalidOptionError } from '../errors.js';

export interface BackoffOptions {
  /** Base of the first exponential delay, ms. Default 1000. */
  initialDelay?: number;
  /** Growth factor per attempt (≥ 1). Default 1.6. */
  multiplier?: number;
  /** Relative spread of every delay, 0..1: ±jitter × base. Default 0.2. */
  jitter?: number;
  /** Cap on the base delay, ms (a jittered delay may exceed it by up to `jitter`). Default 120000. */
  maxDelay?: number;
  /** The first delay after reset() is uniform in [0, initialDelay). Default false (plain gRPC sequence). */
  fullJitterFirst?: boolean;
}

export type ResolvedBackoffOptions = Required<BackoffOptions>;

export const BACKOFF_DEFAULTS: ResolvedBackoffOptions = {
  initialDelay: 1000,
  multiplier: 1.6,
  jitter: 0.2,
  maxDelay: 120_000,
  fullJitterFirst: false,
};

/** Merge over BACKOFF_DEFAULTS and validate; `prefix` names the option in errors (e.g. `reconnect.`). */
export function resolveBackoffOptions(options: BackoffOptions = {}, prefix = ''): ResolvedBackoffOptions {
  const o: ResolvedBackoffOptions = { ...BACKOFF_DEFAULTS };
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && key in BACKOFF_DEFAULTS) (o as unknown as Record<string, unknown>)[key] = value;
  }
  const finite = (name: keyof ResolvedBackoffOptions, v: unknown, min: number, max = Infinity, minExclusive = false): void => {
    const ok = typeof v === 'number' && Number.isFinite(v) && (minExclusive ? v > min : v >= min) && v <= max;
    if (!ok) {
      const range = max === Infinity ? `${minExclusive ? '>' : '>='} ${min}` : `in [${min}, ${max}]`;
      throw new InvalidOptionError(`${prefix}${name}`, `must be a finite number ${range}, got ${String(v)}`);
    }
  };
  finite('initialDelay', o.initialDelay, 0, Infinity, true);
  finite('multiplier', o.multiplier, 1);
  finite('jitter', o.jitter, 0, 1);
  finite('maxDelay', o.maxDelay, 0, Infinity, true);
  if (o.maxDelay < o.initialDelay) {
    throw new InvalidOptionError(`${prefix}maxDelay`, `must be at least initialDelay (${o.initialDelay} ms), got ${o.maxDelay}`);
  }
  if (typeof o.fullJitterFirst !== 'boolean') {
    throw new InvalidOptionError(`${prefix}fullJitterFirst`, `must be a boolean, got ${String(o.fullJitterFirst)}`);
  }
  return o;
}

export class Backoff {
  readonly options: ResolvedBackoffOptions;
  private readonly rng: () => number;
  private calls = 0;

  constructor(options: BackoffOptions = {}, rng: () => number = Math.random) {
    this.options = resolveBackoffOptions(options);
    this.rng = rng;
  }

  /** How many delays next() has returned since construction or the last reset(). */
  get attempt(): number {
    return this.calls;
  }

  /** The delay before the next attempt, ms; counts the attempt. */
  next(): number {
    this.calls++;
    const { initialDelay, multiplier, jitter, maxDelay, fullJitterFirst } = this.options;
    if (fullJitterFirst && this.calls === 1) return this.rng() * initialDelay;
    const exponent = this.calls - (fullJitterFirst ? 2 : 1);
    // Stop multiplying once past the cap: no Infinity after thousands of attempts.
    let base = initialDelay;
    for (let i = 0; i < exponent && base < maxDelay; i++) base *= multiplier;
    base = Math.min(base, maxDelay);
    return base * (1 + jitter * (2 * this.rng() - 1));
  }

  /** Start over from the first delay (the client calls it once a connection has proved stable). */
  reset(): void {
    this.calls = 0;
  }
}

/**
 * Honour a server's "retry after" (GOAWAY retryAfterMs) as a minimum: a delay already longer is
 * kept; a shorter one becomes retryAfterMs × (1 + jitter × u), u uniform in [0, 1). Waiting
 * exactly retryAfterMs would bring back, at the same instant, every client the server sent away
 * with one GOAWAY broadcast (a drain) — the storm the server asked to avoid.
 */
export function applyRetryAfter(delayMs: number, retryAfterMs: number, jitter: number, rng: () => number = Math.random): number {
  if (!(retryAfterMs > 0) || delayMs >= retryAfterMs) return delayMs;
  return retryAfterMs * (1 + jitter * rng());
}
