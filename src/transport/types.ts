/**
 * Transport: the one small interface every adapter (tcp, tls, ws, udp, memory) maps its socket to.
 * Bytes in, bytes out, close, and why it closed. No framing, heartbeat or retry logic lives in an
 * adapter (STYLE.md §1.8): the connection layer owns those.
 */

import type { TunableSocket } from './socket-tuning.js';

export type TransportKind = 'tcp' | 'tls' | 'ws' | 'udp' | 'memory';

/** Why a transport went away, as the adapter observed it. */
export interface TransportCloseCause {
  /**
   * `end`: the peer closed its side cleanly (TCP FIN) — e.g. its process exited.
   * `error`: the transport failed (ECONNRESET, ETIMEDOUT from TCP keepalive / user timeout, …).
   * `local`: we closed or destroyed it ourselves.
   */
  kind: 'end' | 'error' | 'local';
  error?: Error;
}

/**
 * Who a transport reports to. The method names are distinct from everything else a Connection
 * has (its own close(), its owner's drain()), so a Connection is its transport's handler itself:
 * no adapter object per connection.
 */
export interface TransportHandlers {
  /** Inbound bytes. The array may be a view into a larger buffer; it is not reused by the adapter. */
  onData(chunk: Uint8Array): void;
  /** The write buffer emptied below the adapter's high-water mark. */
  onDrain(): void;
  /** Called exactly once, after which no other handler runs. */
  onTransportClose(cause: TransportCloseCause): void;
}

export interface Transport {
  readonly kind: TransportKind;
  /** Peer address as text (IP for sockets), when known. */
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** Bytes accepted by write() but not yet handed to the kernel / peer. */
  readonly bufferedBytes: number;
  /** Attach the handlers; inbound data starts flowing only after this call. */
  setHandlers(handlers: TransportHandlers): void;
  /** Queue bytes; returns false when the buffer is above the high-water mark (wait for drain). */
  write(bytes: Uint8Array): boolean;
  /** Batch the following writes into one send (TCP cork / writev) until uncork(). */
  cork(): void;
  uncork(): void;
  /** Flush what is queued, then close. close(cause kind 'local') follows. */
  end(): void;
  /** Drop everything and close now. close(cause kind 'local') follows, unless it already closed. */
  destroy(): void;
  /** TCP: the socket kernel options are set on (socket-tuning.ts); absent for other kinds. */
  readonly tunable?: TunableSocket;
  /** Bytes received / sent so far, where the adapter counts them. */
  readonly bytesRead?: number;
  readonly bytesWritten?: number;
}
