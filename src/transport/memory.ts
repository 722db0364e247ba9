/**
 * In-process transport pair, for connection tests without the kernel (like ws's duplex-pair and
 * Netty's EmbeddedChannel). Delivery is asynchronous (a microtask per write) so re-entrancy
 * behaves like a real socket. `stopForwarding()` emulates a middlebox that silently drops.
 */
import type { Transport, TransportCloseCause, TransportHandlers } from './types.js';

export class MemoryTransport implements Transport {
  readonly kind = 'memory' as const;
  readonly remoteAddress = 'memory';
  readonly remotePort = 0;
  peer: MemoryTransport | undefined;
  /** When false, writes are accepted and silently dropped (a black-holed path). */
  forwarding = true;
  private handlers: TransportHandlers | undefined;
  private pending: Uint8Array[] = [];
  private closed = false;
  private ended = false;
  private peerHasEnded = false;
  private closeCause: TransportCloseCause | undefined;
  /** Every chunk written, for assertions on bytes on the wire. */
  readonly written: Uint8Array[] = [];

  get bufferedBytes(): number {
    return 0;
  }

  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
    const queued = this.pending;
    this.pending = [];
    for (const chunk of queued) handlers.onData(chunk);
    if (this.closeCause) this.finish(this.closeCause);
  }

  write(bytes: Uint8Array): boolean {
    if (this.closed || this.ended) return false;
    const copy = bytes.slice();
    this.written.push(copy);
    const peer = this.peer;
    if (this.forwarding && peer) queueMicrotask(() => peer.deliver(copy));
    return true;
  }

  cork(): void {}
  uncork(): void {}

  /**
   * Half-close like TCP: the peer learns of the end after every byte written before it, and we
   * keep receiving until the peer ends too (Node's allowHalfOpen = false then closes both).
   */
  end(): void {
    if (this.closed || this.ended) return;
    this.ended = true;
    const peer = this.peer;
    if (peer && this.forwarding) queueMicrotask(() => peer.peerEnded());
    if (this.peerHasEnded) this.finish({ kind: 'local' });
  }

  private peerEnded(): void {
    this.peerHasEnded = true;
    const endedFirst = this.ended;
    if (!endedFirst) {
      // allowHalfOpen = false: answer the peer's FIN with ours.
      this.ended = true;
      const peer = this.peer;
      if (peer && this.forwarding) queueMicrotask(() => peer.peerEnded());
    }
    this.finish({ kind: endedFirst ? 'local' : 'end' });
  }

  destroy(): void {
    if (this.closed) return;
    const peer = this.peer;
    queueMicrotask(() => peer?.finish({ kind: 'end' }));
    this.finish({ kind: 'local' });
  }

  private deliver(chunk: Uint8Array): void {
    if (this.closed) return;
    if (this.handlers) this.handlers.onData(chunk);
    else this.pending.push(chunk);
  }

  private finish(cause: TransportCloseCause): void {
    if (this.closed) return;
    if (!this.handlers) {
      this.closeCause = cause;
      return;
    }
    this.closed = true;
    const handlers = this.handlers;
    this.handlers = undefined;
    handlers.onTransportClose(cause);
  }
}

export function createMemoryPair(): [MemoryTransport, MemoryTransport] {
  const a = new MemoryTransport();
  const b = new MemoryTransport();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
