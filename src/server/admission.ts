/**
 * Admission: whether a server takes a new connection on, and the refusal it writes when not —
 * over the accept rate (GOAWAY overloaded with a retry-after, then CLOSE; docs/spec/0005
 * §Storms), at maxConnections (CLOSE server-full), or shutting down / draining (CLOSE
 * going-away; docs/spec/0003-enforcement-and-drain.md §Graceful drain). One per server; a
 * connection taken on costs one clock reading and, with maxAcceptRate, one token.
 *
 * TLS and WebSocket connections are judged earlier, at their TCP accept (accept(): a
 * PendingAdmission), so a TLS handshake or an upgrade in progress counts against maxConnections
 * and maxConnectionsPerAddress and takes its accept-rate token before it costs a handshake
 * (docs/spec/0011-transports.md §Admission before the TLS handshake). The listener refuses what
 * accept() refuses in its own terms (TLS: the socket is closed; plain ws: HTTP 503).
 */
import { encodeFrame } from '../protocol/encode.js';
import type { Clock } from '../time/clock.js';
import { TokenBucket } from '../liveness/token-bucket.js';
import type { Transport, TransportHandlers } from '../transport/types.js';
import type { ResolvedServerOptions } from './options.js';

/** What admission needs from its server (narrow port). */
export interface AdmissionHost {
  readonly clock: Clock;
  /** Accepted connections not yet closed, handshaking ones included. */
  readonly connectionCount: number;
  /** close() was called. */
  readonly closing: boolean;
  /** drain() was called. */
  readonly draining: boolean;
  /** A connection was turned away with this code (the server's debug log line, spec 0016). */
  refused?(transport: Transport, code: string): void;
}

export type AdmissionOptions = Pick<ResolvedServerOptions, 'maxAcceptRate' | 'acceptBurst' | 'maxConnections' | 'maxConnectionsPerAddress'>;

/** What accept() answers for a connection it will not take on: why, and (over the rate) when to come back. */
export interface AcceptRefusal {
  readonly refused: string;
  /** Over maxAcceptRate: the spread retry-after, ms (a WebSocket 503's Retry-After). */
  readonly retryAfterMs?: number;
}

/**
 * A connection counted from its TCP accept while it becomes a lifeline connection (TLS
 * handshake, WebSocket upgrade). Its listener hands it to admit() with the transport, or calls
 * abandon() when the socket closes first (both at most once in effect).
 */
export class PendingAdmission {
  /** Handed over (admit) or abandoned: it no longer counts as pending. */
  settled = false;
  constructor(
    private readonly admission: Admission,
    /** The IP it counts for under maxConnectionsPerAddress (undefined without that option). */
    readonly address: string | undefined,
  ) {}

  /** The socket closed before it became a lifeline connection: it stops counting. */
  abandon(): void {
    if (this.settled) return;
    this.settled = true;
    this.admission.abandoned(this);
  }
}

export class Admission {
  private readonly acceptLimiter: TokenBucket | undefined;
  /** Connections accepted by accept() and not yet admitted or abandoned: counted in maxConnections. */
  private pendingCount = 0;
  /** Connections shed in the current second: each gets a later retry-after than the previous. */
  private shedInWindow = 0;
  private shedWindowStartMs = 0;
  /** maxConnectionsPerAddress: connections per IP, and the address each admitted one counts for (made only with the option). */
  private readonly perAddress: Map<string, number> | undefined;
  private readonly countedAs: WeakMap<Transport, string> | undefined;

  constructor(
    private readonly options: AdmissionOptions,
    private readonly host: AdmissionHost,
  ) {
    const rate = options.maxAcceptRate;
    this.acceptLimiter = rate === undefined ? undefined : new TokenBucket(rate, options.acceptBurst ?? rate);
    if (options.maxConnectionsPerAddress !== undefined) {
      this.perAddress = new Map();
      this.countedAs = new WeakMap();
    }
  }

  /**
   * True to take the connection on; false when it was refused (a CLOSE saying why, then the end).
   * A connection accept() already took on (`pending`) spent its token and holds its place under
   * the limits: only a close() or drain() since then refuses it.
   */
  admit(transport: Transport, pending?: PendingAdmission): boolean {
    if (pending !== undefined && !pending.settled) return this.admitPending(transport, pending);
    const refusal = this.refusal() ?? this.perAddressRefusal(transport);
    if (refusal === undefined) return true;
    // Told before the refusal ends the transport: its peer's address is unknown once it closes.
    this.host.refused?.(transport, 'shedAt' in refusal ? 'overloaded' : refusal.code);
    if ('shedAt' in refusal) this.shed(transport, refusal.shedAt);
    else sendAndEnd(transport, [encodeFrame({ type: 'close', code: refusal.code, message: refusal.message })]);
    return false;
  }

  /**
   * A TLS or WebSocket connection at its TCP accept: counted from now until admit() or its
   * abandon(), or refused — over the accept rate, at maxConnections or at
   * maxConnectionsPerAddress — before its TLS handshake or upgrade costs anything. Closing and
   * draining refuse it only after the handshake, with a CLOSE the client can read.
   */
  accept(remoteAddress: string | undefined): PendingAdmission | AcceptRefusal {
    const host = this.host;
    const now = host.clock.now();
    const goingAway = host.closing || host.draining;
    if (this.acceptLimiter && !goingAway && !this.acceptLimiter.take(now)) {
      return { refused: this.overRateMessage(), retryAfterMs: this.retryAfterMs(now) };
    }
    if (!goingAway && host.connectionCount + this.pendingCount >= this.options.maxConnections) {
      return { refused: `server is at maxConnections (${this.options.maxConnections})` };
    }
    let address: string | undefined;
    if (this.perAddress) {
      address = remoteAddress ?? 'unknown';
      const n = this.perAddress.get(address) ?? 0;
      const limit = this.options.maxConnectionsPerAddress!;
      if (n >= limit) return { refused: `too many connections from ${address} (maxConnectionsPerAddress ${limit})` };
      this.perAddress.set(address, n + 1);
    }
    this.pendingCount++;
    return new PendingAdmission(this, address);
  }

  /** @internal (PendingAdmission) Its socket closed first: release its places. */
  abandoned(pending: PendingAdmission): void {
    this.pendingCount--;
    if (pending.address !== undefined) this.releaseAddress(pending.address);
  }

  private admitPending(transport: Transport, pending: PendingAdmission): boolean {
    pending.settled = true;
    this.pendingCount--;
    const host = this.host;
    if (host.closing || host.draining) {
      if (pending.address !== undefined) this.releaseAddress(pending.address);
      host.refused?.(transport, 'going-away');
      sendAndEnd(transport, [encodeFrame({ type: 'close', code: 'going-away', message: host.closing ? 'server shutting down' : 'server draining' })]);
      return false;
    }
    // Its place under maxConnectionsPerAddress moves to the transport (released() frees it).
    if (pending.address !== undefined) this.countedAs!.set(transport, pending.address);
    return true;
  }

  /** An admitted connection closed: it no longer counts against its address. */
  released(transport: Transport): void {
    const address = this.countedAs?.get(transport);
    if (address === undefined) return;
    this.countedAs!.delete(transport);
    this.releaseAddress(address);
  }

  private releaseAddress(address: string): void {
    const n = this.perAddress!.get(address)! - 1;
    if (n > 0) this.perAddress!.set(address, n);
    else this.perAddress!.delete(address);
  }

  /** maxConnectionsPerAddress: count the connection for its IP, or refuse it when that IP is at the limit. */
  private perAddressRefusal(transport: Transport): Refusal | undefined {
    if (!this.perAddress) return undefined;
    const address = transport.remoteAddress ?? 'unknown';
    const n = this.perAddress.get(address) ?? 0;
    const limit = this.options.maxConnectionsPerAddress!;
    if (n >= limit) return { code: 'server-full', message: `too many connections from ${address} (maxConnectionsPerAddress ${limit})` };
    this.perAddress.set(address, n + 1);
    this.countedAs!.set(transport, address);
    return undefined;
  }

  /** Why a new connection is refused now, or undefined to take it. Consumes an accept token. */
  private refusal(): Refusal | undefined {
    const host = this.host;
    // One clock reading for the refused take() and the retry-after: read twice, the bucket could
    // refill in between and tell the client to come back after 0 ms.
    const now = host.clock.now();
    if (this.acceptLimiter && !host.closing && !host.draining && !this.acceptLimiter.take(now)) return { shedAt: now };
    const goingAway = host.closing || host.draining;
    if (!goingAway && host.connectionCount + this.pendingCount < this.options.maxConnections) return undefined;
    const message = host.closing
      ? 'server shutting down'
      : host.draining
        ? 'server draining'
        : `server is at maxConnections (${this.options.maxConnections})`;
    return { code: goingAway ? 'going-away' : 'server-full', message };
  }

  /**
   * Over the accept rate: tell the client when to come back instead of taking the handshake on.
   * The n-th connection shed within a second is sent to the time the bucket will have n tokens,
   * so a storm is spread over the following seconds rather than bounced back all at once.
   */
  private shed(transport: Transport, now: number): void {
    const retryAfterMs = this.retryAfterMs(now);
    const message = this.overRateMessage();
    sendAndEnd(transport, [encodeFrame({ type: 'goaway', code: 'overloaded', message, retryAfterMs }), encodeFrame({ type: 'close', code: 'going-away', message })]);
  }

  /** The retry-after for the next connection shed now (see shed()). */
  private retryAfterMs(now: number): number {
    if (now - this.shedWindowStartMs > 1000) {
      this.shedWindowStartMs = now;
      this.shedInWindow = 0;
    }
    this.shedInWindow++;
    return this.acceptLimiter!.waitMs(this.shedInWindow, now);
  }

  private overRateMessage(): string {
    return `server overloaded: over ${this.options.maxAcceptRate} new connections per second`;
  }
}

/** Why refusal() turned a connection away: over the accept rate, or a CLOSE to send. */
type Refusal = { readonly shedAt: number } | { readonly code: 'going-away' | 'server-full'; readonly message: string };

/** Refusals: read and discard until the peer's FIN (the transport's end() bounds a peer that never sends it). */
const DISCARD: TransportHandlers = { onData() {}, onDrain() {}, onTransportClose() {} };

/** Write a refusal's frames, then close gracefully: the peer reads why before the FIN. */
function sendAndEnd(transport: Transport, frames: Uint8Array[]): void {
  transport.setHandlers(DISCARD);
  transport.cork();
  for (const frame of frames) transport.write(frame);
  transport.uncork();
  transport.end();
}
