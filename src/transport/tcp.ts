/**
 * TCP adapter: maps a `net.Socket` to Transport. Nagle is disabled (a heartbeat is a 1–2 byte
 * write that must not wait 40 ms for a delayed ACK). Socket options beyond that (keepalive,
 * TCP_USER_TIMEOUT) are applied by socket-tuning.ts, not here.
 */
import net from 'node:net';
import type { Transport, TransportCloseCause, TransportHandlers } from './types.js';

export class TcpTransport implements Transport {
  readonly kind = 'tcp' as const;
  readonly socket: net.Socket;
  private handlers: TransportHandlers | undefined;
  private closed = false;
  private lastError: Error | undefined;
  private peerEnded = false;
  private locallyClosed = false;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    // Errors are reported once, through close(); without a listener Node would throw.
    socket.on('error', (err) => {
      this.lastError ??= err;
    });
    socket.on('end', () => {
      this.peerEnded = true;
    });
    socket.on('close', () => this.finish());
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
    this.socket.on('data', (chunk: Buffer) => this.handlers?.data(chunk));
    this.socket.on('drain', () => this.handlers?.drain());
    if (this.socket.destroyed) queueMicrotask(() => this.finish());
  }

  write(bytes: Uint8Array): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    return this.socket.write(bytes);
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  end(): void {
    this.locallyClosed = true;
    if (this.socket.destroyed) return;
    this.socket.end();
    // A peer that never reads could keep a graceful end pending forever; bound it.
    const timer = setTimeout(() => this.socket.destroy(), 2000);
    timer.unref();
    this.socket.once('close', () => clearTimeout(timer));
  }

  destroy(): void {
    this.locallyClosed = true;
    this.socket.destroy();
  }

  private finish(): void {
    // Before setHandlers() there is nobody to tell; setHandlers() calls us again.
    if (this.closed || !this.handlers) return;
    this.closed = true;
    const cause: TransportCloseCause = this.lastError
      ? { kind: 'error', error: this.lastError }
      : this.locallyClosed
        ? { kind: 'local' }
        : { kind: this.peerEnded ? 'end' : 'error' };
    const handlers = this.handlers;
    this.handlers = undefined;
    handlers?.close(cause);
  }
}
