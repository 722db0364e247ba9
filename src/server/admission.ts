/**
 * Admission: whether a server takes a new connection on, and the refusal it writes when not —
 * over the accept rate (GOAWAY overloaded with a retry-after, then CLOSE; docs/spec/0005
 * §Storms), at maxConnections (CLOSE server-full), or shutting down / draining (CLOSE
 * going-away; docs/spec/0003-enforcement-and-drain.md §Graceful drain). One per server; a
 * connection taken on costs one clock reading and, with maxAcceptRate, one token.
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
}

export type AdmissionOptions = Pick<ResolvedServerOptions, 'maxAcceptRate' | 'acceptBurst' | 'maxConnections' | 'maxConnectionsPerAddress'>;

export class Admission {
  private readonly acceptLimiter: TokenBucket | undefined;
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

  /** True to take the connection on; false when it was refused (a CLOSE saying why, then the end). */
  admit(transport: Transport): boolean {
    const refusal = this.refusal() ?? this.perAddressRefusal(transport);
    if (refusal === undefined) return true;
    if ('shedAt' in refusal) this.shed(transport, refusal.shedAt);
    else sendAndEnd(transport, [encodeFrame({ type: 'close', code: refusal.code, message: refusal.message })]);
    return false;
  }

  /** An admitted connection closed: it no longer counts against its address. */
  released(transport: Transport): void {
    const address = this.countedAs?.get(transport);
    if (address === undefined) return;
    this.countedAs!.delete(transport);
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
    if (!goingAway && host.connectionCount < this.options.maxConnections) return undefined;
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
    if (now - this.shedWindowStartMs > 1000) {
      this.shedWindowStartMs = now;
      this.shedInWindow = 0;
    }
    this.shedInWindow++;
    const retryAfterMs = this.acceptLimiter!.waitMs(this.shedInWindow, now);
    const message = `server overloaded: over ${this.options.maxAcceptRate} new connections per second`;
    sendAndEnd(transport, [encodeFrame({ type: 'goaway', code: 'overloaded', message, retryAfterMs }), encodeFrame({ type: 'close', code: 'going-away', message })]);
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
