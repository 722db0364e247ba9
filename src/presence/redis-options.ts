/**
 * RedisPresenceStore's options (docs/spec/0014-presence.md §Stores): defaults, checks, and the
 * two ioredis connections made from them (the settings the store relies on, see redis-store.ts).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { InvalidOptionError } from '../errors.js';
import { positiveNumber, stripUndefined } from '../options.js';
import type { Backoff, BackoffOptions } from '../liveness/backoff.js';

export interface RedisPresenceStoreOptions {
  /** A redis:// URL, ioredis options, or an ioredis client (duplicated; never closed by the store). Default 'redis://127.0.0.1:6379'. */
  redis?: string | RedisOptions | Redis;
  /** Prefix of every key and channel. Default 'lifeline:'. */
  prefix?: string;
  /** The node's lease, ms; refreshed every leaseTtlMs / 3. Default 10000. */
  leaseTtlMs?: number;
  /** How often this node looks for other nodes' expired leases, ms. Default 2000. */
  sweepIntervalMs?: number;
  /** How long sendTo waits for another node's answer, ms. Default 1000. */
  sendTimeoutMs?: number;
  /** A Redis command not answered within it counts as an outage, ms. Default 2000. */
  commandTimeoutMs?: number;
  /** How long `ready` (and so the server's listen()) waits for the first sync, ms. Default 2000. */
  readyTimeoutMs?: number;
  /** Reconnect backoff (liveness/backoff.ts). Default 100 ms × 1.6ⁿ, at most 5 s, ±20 %. */
  reconnect?: BackoffOptions;
  /** Wall clock for a change's `at`, ms. Default Date.now. */
  now?: () => number;
  /** How long an offline identity's last-seen time is kept (a key per identity, PX), ms; 0 keeps none. Default 30 days. */
  lastSeenTtlMs?: number;
  /** Devices per sync script, and records per step of its cleanup (spec 0014 §Stores, sync in chunks). Default 1000. */
  syncChunk?: number;
}

export const REDIS_PRESENCE_DEFAULTS = {
  redis: 'redis://127.0.0.1:6379',
  prefix: 'lifeline:',
  leaseTtlMs: 10_000,
  sweepIntervalMs: 2000,
  sendTimeoutMs: 1000,
  commandTimeoutMs: 2000,
  readyTimeoutMs: 2000,
  lastSeenTtlMs: 30 * 24 * 3600 * 1000,
  syncChunk: 1000,
  reconnect: { initialDelay: 100, multiplier: 1.6, maxDelay: 5000, jitter: 0.2 },
} as const;

export type Resolved = Required<Omit<RedisPresenceStoreOptions, 'redis'>> & { redis: string | RedisOptions | Redis };

/** The options with their defaults, checked. */
export function resolveOptions(options: RedisPresenceStoreOptions): Resolved {
  const o: Resolved = { ...REDIS_PRESENCE_DEFAULTS, now: Date.now, ...stripUndefined(options) };
  for (const key of ['leaseTtlMs', 'sweepIntervalMs', 'sendTimeoutMs', 'commandTimeoutMs', 'readyTimeoutMs'] as const) positiveNumber(`RedisPresenceStore.${key}`, o[key]);
  if (!Number.isSafeInteger(o.lastSeenTtlMs) || o.lastSeenTtlMs < 0) throw new InvalidOptionError('RedisPresenceStore.lastSeenTtlMs', `must be an integer >= 0 (0 = keep none), got ${String(o.lastSeenTtlMs)}`);
  if (!Number.isSafeInteger(o.syncChunk) || o.syncChunk < 1) throw new InvalidOptionError('RedisPresenceStore.syncChunk', `must be an integer >= 1, got ${String(o.syncChunk)}`);
  if (typeof o.prefix !== 'string') throw new InvalidOptionError('RedisPresenceStore.prefix', 'must be a string');
  if (typeof o.redis !== 'string' && (typeof o.redis !== 'object' || o.redis === null)) throw new InvalidOptionError('RedisPresenceStore.redis', 'must be a URL, ioredis options or an ioredis client');
  return o;
}

/** Connection settings we rely on (see the header); the user's own settings are kept otherwise. */
function connectionOptions(o: Resolved, backoff: Backoff, commands: boolean): RedisOptions {
  return {
    retryStrategy: () => backoff.next(),
    commandTimeout: o.commandTimeoutMs,
    ...(commands ? { enableOfflineQueue: false, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0 } : { maxRetriesPerRequest: null }),
  };
}

export function connect(o: Resolved, backoff: Backoff, commands: boolean): Redis {
  const extra = connectionOptions(o, backoff, commands);
  if (o.redis instanceof Redis) return o.redis.duplicate(extra);
  if (typeof o.redis === 'string') return new Redis(o.redis, extra);
  return new Redis({ ...o.redis, ...extra });
}
