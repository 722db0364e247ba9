/**
 * TCP adapter: maps a `net.Socket` (or a `tls.TLSSocket`, option `kind`) to Transport. Nagle is disabled (a heartbeat is a 1–2 byte
 * write that must not wait 40 ms for a delayed ACK). Socket options beyond that (keepalive,
 * TCP_USER_TIMEOUT) are applied by socket-tuning.ts, not here.
 *
 * Memory (a server holds ~100k of these): the socket listeners are module-level functions shared
 * by every transport (Node calls them with `this` = the socket, which points back at its
 * transport through one symbol-keyed property), not closures per socket; 'drain' is listened to
 * only once a write reports a full buffer, and the peer's FIN is read from `readableEnded` at
 * close time instead of from an 'end' listener.
 *
 * Reads (server sockets, `sharedReadBuffer`): by default Node reads every chunk into a fresh
 * 64 KiB allocation, wraps it in an ArrayBuffer and a Buffer and pushes it through the Readable
 * stream to 'data' listeners. net.connect() has an `onread` option that reads into one static
 * buffer instead and calls a function; accepted sockets have no such option in Node 20, so we
 * switch them to it the way net.Socket's constructor does for `onread` (the socket's kBuffer /
 * kBufferCb slots and handle.useUserBuffer). The chunk handed on is a copy of the bytes read
 * (Buffer.allocUnsafe: a slice of Node's pool for small reads), so the Transport contract (a
 * chunk is never reused) holds. When those internals are not found (another Node version) the
 * transport falls back to the 'data' event; `readsIntoSharedBuffer` says which one is in use.
 * Only 'data' listeners are bypassed: 'end', 'close' and byte counters work as before.
 */
import type net from 'node:net';
import type { Transport, TransportCloseCause, TransportHandlers } from './types.js';
import { copyOfRead, GRACEFUL_END_TIMEOUT_MS, sharedReadBuffer } from './shared-read.js';

const kTransport = Symbol('lifeline.tcpTransport');

type OwnedSocket = net.Socket & { [kTransport]?: TcpTransport };

export interface TcpTransportOptions {
  /** Read into one buffer shared by all sockets instead of a new allocation per read (see above). Default false. */
  sharedReadBuffer?: boolean;
  /**
   * 'tls' for a tls.TLSSocket: the same adapter serves it (a TLSSocket is a net.Socket whose
   * reads are already decrypted; its handle still has the TCP fd, so socket tuning applies).
   * Shared reads are not used on TLS (decryption owns the read buffers). Default 'tcp'.
   */
  kind?: 'tcp' | 'tls';
}


/** net.Socket's private onread slots, found once by their symbols' descriptions. */
let onreadSlots: { buffer: symbol; callback: symbol } | null | undefined;

function findOnreadSlots(socket: net.Socket): { buffer: symbol; callback: symbol } | null {
  if (onreadSlots !== undefined) return onreadSlots;
  const symbols = Object.getOwnPropertySymbols(socket);
  const buffer = symbols.find((s) => s.description === 'kBuffer');
  const callback = symbols.find((s) => s.description === 'kBufferCb');
  onreadSlots = buffer && callback ? { buffer, callback } : null;
  return onreadSlots;
}

/** Switch an accepted socket to onread-style reads into the shared buffer; false when not possible. */
function readIntoSharedBuffer(socket: net.Socket): boolean {
  const slots = findOnreadSlots(socket);
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (buf: Uint8Array) => void } | null })._handle;
  if (slots === null || !handle || typeof handle.useUserBuffer !== 'function') return false;
  const raw = socket as unknown as Record<symbol, unknown>;
  // Already reading into a user buffer (created with onread): leave it alone.
  if (raw[slots.buffer] !== null || raw[slots.callback] !== null) return false;
  // Bytes already pushed through the stream would be stranded without a 'data' listener.
  if (socket.readableLength > 0) return false;
  const buffer = sharedReadBuffer();
  raw[slots.buffer] = buffer;
  raw[slots.callback] = onSharedRead;
  handle.useUserBuffer(buffer);
  return true;
}

// Shared listeners: `this` is the socket (EventEmitter calls listeners with the emitter as this).
function onSocketError(this: OwnedSocket, err: Error): void {
  // Errors are reported once, through close(); without a listener Node would throw.
  const transport = this[kTransport];
  if (transport !== undefined) transport.lastError ??= err;
}

function onSocketClose(this: OwnedSocket): void {
  this[kTransport]?.finish();
}

function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[kTransport]?.handlers?.onData(chunk);
}

/** onread callback (`this` = the socket): hand on a copy of the nread bytes read into buffer. */
function onSharedRead(this: OwnedSocket, nread: number, buffer: Buffer): void {
  const handlers = this[kTransport]?.handlers;
  if (handlers === undefined) return;
  handlers.onData(copyOfRead(buffer, nread));
}

function onSocketDrain(this: OwnedSocket): void {
  this[kTransport]?.handlers?.onDrain();
}

const F_CLOSED = 1;
const F_LOCALLY_CLOSED = 2;
const F_DRAIN_LISTENER = 4;
const F_WANTS_SHARED_READS = 8;
const F_SHARED_READS = 16;
const F_TLS = 32;

export class TcpTransport implements Transport {
  readonly socket: net.Socket;
  /** @internal read by the shared socket listeners */
  handlers: TransportHandlers | undefined;
  /** @internal first socket error, reported in the close cause */
  lastError: Error | undefined;
  /** Booleans packed in one field (F_* bits): there is one transport per connection. */
  private flags = 0;

  constructor(socket: net.Socket, options: TcpTransportOptions = {}) {
    this.socket = socket;
    if (options.kind === 'tls') this.flags |= F_TLS;
    else if (options.sharedReadBuffer === true) this.flags |= F_WANTS_SHARED_READS;
    socket.setNoDelay(true);
    (socket as OwnedSocket)[kTransport] = this;
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
  }

  get kind(): 'tcp' | 'tls' {
    return (this.flags & F_TLS) !== 0 ? 'tls' : 'tcp';
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }

  /** True once reads go to the shared buffer instead of 'data' events (see the file comment). */
  get readsIntoSharedBuffer(): boolean {
    return (this.flags & F_SHARED_READS) !== 0;
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  get tunable(): net.Socket {
    return this.socket;
  }

  get bytesRead(): number {
    return this.socket.bytesRead;
  }

  get bytesWritten(): number {
    return this.socket.bytesWritten;
  }

  setHandlers(handlers: TransportHandlers): void {
    const first = this.handlers === undefined;
    this.handlers = handlers;
    if (first) {
      if ((this.flags & F_WANTS_SHARED_READS) !== 0 && readIntoSharedBuffer(this.socket)) this.flags |= F_SHARED_READS;
      else this.socket.on('data', onSocketData);
    }
    if (this.socket.destroyed) queueMicrotask(() => this.finish());
  }

  write(bytes: Uint8Array): boolean {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return false;
    const ok = socket.write(bytes);
    // 'drain' only ever follows a write that returned false: listen from the first one on.
    if (!ok && (this.flags & F_DRAIN_LISTENER) === 0) {
      this.flags |= F_DRAIN_LISTENER;
      socket.on('drain', onSocketDrain);
    }
    return ok;
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  end(): void {
    this.flags |= F_LOCALLY_CLOSED;
    if (this.socket.destroyed) return;
    this.socket.end();
    // A peer that never reads could keep a graceful end pending forever; bound it.
    const timer = setTimeout(() => this.socket.destroy(), GRACEFUL_END_TIMEOUT_MS);
    timer.unref();
    this.socket.once('close', () => clearTimeout(timer));
  }

  destroy(): void {
    this.flags |= F_LOCALLY_CLOSED;
    this.socket.destroy();
  }

  /** @internal the socket closed (or was already destroyed when the handlers came). */
  finish(): void {
    // Before setHandlers() there is nobody to tell; setHandlers() calls us again.
    if ((this.flags & F_CLOSED) !== 0 || !this.handlers) return;
    this.flags |= F_CLOSED;
    const cause: TransportCloseCause = this.lastError
      ? { kind: 'error', error: this.lastError }
      : (this.flags & F_LOCALLY_CLOSED) !== 0
        ? { kind: 'local' }
        : // The peer's FIN: its 'end' was emitted (Node sets readableEnded just before).
          { kind: this.socket.readableEnded ? 'end' : 'error' };
    const handlers = this.handlers;
    this.handlers = undefined;
    handlers?.onTransportClose(cause);
  }
}
