/**
 * Connection and byte counts for `server.stats()`: closed connections are added up as they
 * close, open ones only when asked (O(connections): for metrics, not per message).
 */
import type { Transport } from '../transport/types.js';

/** What `server.stats()` reports. */
export interface ServerStats {
  /** Accepted connections not yet closed, handshaking ones included. */
  connections: number;
  /** Accepted connections closed since listen() (refused ones are not counted). */
  connectionsClosed: number;
  /** TCP payload bytes received / sent on those connections. */
  bytesRead: number;
  bytesWritten: number;
}

/** A connection as the counts see it (narrow port: a ServerPeer fits). */
export interface CountedPeer {
  readonly connection: { readonly transport: Pick<Transport, 'bytesRead' | 'bytesWritten'> };
}

export class ConnectionCounts {
  private connectionsClosed = 0;
  private closedBytesRead = 0;
  private closedBytesWritten = 0;

  /** An accepted connection left the server's set (closed, or retired by a resume). */
  closed(peer: CountedPeer): void {
    const transport = peer.connection.transport;
    this.connectionsClosed++;
    this.closedBytesRead += transport.bytesRead ?? 0;
    this.closedBytesWritten += transport.bytesWritten ?? 0;
  }

  /** The closed connections' counts plus the open ones' counters. */
  stats(open: ReadonlySet<CountedPeer>): ServerStats {
    let bytesRead = this.closedBytesRead;
    let bytesWritten = this.closedBytesWritten;
    for (const peer of open) {
      const transport = peer.connection.transport;
      bytesRead += transport.bytesRead ?? 0;
      bytesWritten += transport.bytesWritten ?? 0;
    }
    return { connections: open.size, connectionsClosed: this.connectionsClosed, bytesRead, bytesWritten };
  }
}
