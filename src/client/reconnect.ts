/**
 * ReconnectPlanner: after each loss, decides whether the client tries again, after how long and
 * where (docs/spec/0005-reconnect.md §Algorithm). Detection and decision only: no timers and no
 * sockets (STYLE.md §1.3) — the Client waits and dials what the plan says.
 *
 * - Retry or not: retryable() below. Non-retryable reasons end the client with a final 'close'.
 * - How long: Backoff (src/liveness/backoff.ts) with `fullJitterFirst`, reset once a connection
 *   stayed up `stableAfter`; a GOAWAY's retryAfterMs is a minimum (applyRetryAfter).
 * - Where: a GOAWAY's redirect first (once), otherwise the next server of the list, in rotation.
 * - Until when: `maxAttempts` attempts in a row without a stable connection.
 */
import type { CloseReason } from '../connection/close-reason.js';
import { Backoff, applyRetryAfter } from '../liveness/backoff.js';
import type { ResolvedReconnectOptions } from './options.js';
import { formatServer, parseServer, type ServerAddress } from './servers.js';

export type ReconnectPlan =
  | {
      kind: 'retry';
      /** 1 for the first attempt after a stable connection (or after the first dial failed). */
      attempt: number;
      delayMs: number;
      server: ServerAddress;
      /** The server came from a GOAWAY redirect. */
      redirected: boolean;
    }
  | { kind: 'give-up'; why: 'not-retryable' | 'max-attempts' };

/**
 * Whether a loss is worth another attempt. Not retried, because another attempt would end the
 * same way and only load the server:
 * - `local-close`: the application closed the client;
 * - `protocol-error`: the two sides disagree about the bytes (a bug, or not a lifeline server);
 * - `unsupported-version`: no version in common — the answer will not change by retrying;
 * - `remote-close` with remote code `normal` or `auth-failed`: the server's application ended
 *   the session on purpose (kicked, credentials refused), like socket.io's "io server disconnect".
 * Everything else is a property of the moment (a dead path, a restart, a full or draining server).
 */
export function retryable(reason: CloseReason): boolean {
  switch (reason.code) {
    case 'local-close':
    case 'protocol-error':
    case 'unsupported-version':
      return false;
    case 'remote-close':
      return reason.remoteCode !== 'normal' && reason.remoteCode !== 'auth-failed';
    case 'heartbeat-timeout':
    case 'handshake-timeout':
    case 'goaway':
    case 'transport-closed':
    case 'transport-error':
    case 'connect-failed':
    case 'server-full':
    case 'server-shutdown':
    case 'too-many-pings':
    case 'slow-consumer':
    case 'failover':
    case 'renegotiate':
      return true;
    default: {
      const never: never = reason.code;
      return never;
    }
  }
}

export class ReconnectPlanner {
  readonly servers: readonly ServerAddress[];
  private readonly options: ResolvedReconnectOptions;
  private readonly backoff: Backoff;
  private readonly rng: () => number;
  /** Index in `servers` of the last server dialled from the list (a redirect does not move it). */
  private index = 0;
  private target: ServerAddress;

  constructor(servers: readonly ServerAddress[], options: ResolvedReconnectOptions, rng: () => number) {
    if (servers.length === 0) throw new RangeError('ReconnectPlanner needs at least one server');
    this.servers = servers;
    this.options = options;
    this.rng = rng;
    this.backoff = new Backoff({ ...options, fullJitterFirst: true }, rng);
    this.target = servers[0]!;
  }

  /** The server to dial now (the first one before any loss). */
  get current(): ServerAddress {
    return this.target;
  }

  /** Attempts since the last stable connection. */
  get attempt(): number {
    return this.backoff.attempt;
  }

  /** The connection has stayed open `stableAfter`: the next loss starts the backoff over. */
  stable(): void {
    this.backoff.reset();
  }

  /**
   * Plan after a loss. `force`: retry whatever the reason (the client itself left an
   * unavailable server, a 'local-close' that is not the application's).
   */
  afterLoss(reason: CloseReason, force = false): ReconnectPlan {
    if (!force && !retryable(reason)) return { kind: 'give-up', why: 'not-retryable' };
    if (this.backoff.attempt >= this.options.maxAttempts) return { kind: 'give-up', why: 'max-attempts' };
    let delayMs = this.backoff.next();
    const goaway = reason.goaway;
    if (goaway && goaway.retryAfterMs > 0) delayMs = applyRetryAfter(delayMs, goaway.retryAfterMs, this.options.jitter, this.rng);
    const parsed = goaway?.redirect === undefined ? undefined : parseServer(goaway.redirect);
    // A redirect may name another transport (a URL), but never one without TLS from one with it:
    // a GOAWAY is plaintext to whoever sits on an unencrypted path, and reaches us over TLS only
    // from the server itself — which must not talk a client out of encryption either.
    const redirect = parsed && downgrades(this.target, parsed) ? undefined : parsed;
    if (redirect) {
      // GOAWAY's redirect is `host:port` (PROTOCOL.md §6.7): the transport and path stay ours.
      this.target = redirect.transport === undefined ? { ...redirect, ...transportPart(this.target) } : redirect;
    } else {
      this.index = (this.index + 1) % this.servers.length;
      this.target = this.servers[this.index]!;
    }
    return { kind: 'retry', attempt: this.backoff.attempt, delayMs, server: this.target, redirected: redirect !== undefined };
  }

  /** For messages: `host:port` (or the URL) of the current target. */
  get currentAddress(): string {
    return formatServer(this.target);
  }
}

const ENCRYPTED: ReadonlySet<string> = new Set(['tls', 'wss']);

/** Whether following `to` would drop the encryption `from` has. */
function downgrades(from: ServerAddress, to: ServerAddress): boolean {
  return to.transport !== undefined && ENCRYPTED.has(from.transport ?? 'tcp') && !ENCRYPTED.has(to.transport);
}

function transportPart(server: ServerAddress): Pick<ServerAddress, 'transport' | 'path'> {
  return {
    ...(server.transport === undefined ? {} : { transport: server.transport }),
    ...(server.path === undefined ? {} : { path: server.path }),
  };
}
