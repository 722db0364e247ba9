/**
 * Lean TCP adapter for accepted server connections: maps libuv's TCP handle (what a net.Socket
 * wraps) to Transport directly, without the net.Socket around it.
 *
 * Why: a net.Socket is a Duplex stream — a Readable and a Writable state of ~30 fields each, a
 * buffer list, an EventEmitter table — about 0.85 KB of heap and 3.6 KB of RSS per connection
 * on Node 20 (measured: 1,025 B heap / 5.4 KB RSS per idle echo connection through net.Server,
 * 174 B / 1.8 KB on the bare handle). A lifeline server holding 100k–1M mostly idle connections
 * uses none of the stream machinery: it reads small chunks into one shared buffer and writes
 * 1–2 byte PONGs. So the server takes the handle from net.Server's `onconnection` before Node
 * builds the socket (server.ts), and this adapter does the few things lifeline needs itself.
 *
 * What it relies on (Node's own internals, as net.js uses them; `process.binding` is deprecated
 * in documentation only and still works on Node 20–22): the handle's `readStart`,
 * `useUserBuffer` + `onread` with the result in `streamBaseState[kReadBytesOrError]`,
 * `writeBuffer(req, buf)` with a `WriteWrap` (synchronous when `kLastWriteWasAsync` is 0, the
 * common case for small writes), `writev(req, buffers, true)` for a corked batch (what
 * net.Socket's _writev calls: one writev(2) for all parts, what the kernel does not take stays
 * queued pointing into the caller's buffers — no copy; when a handle lacks it, one
 * Buffer.concat instead), `shutdown(ShutdownWrap)`, `close(cb)`, `getpeername`,
 * `setNoDelay`, `setKeepAlive(enable, seconds)`, `writeQueueSize`, `bytesRead`, `bytesWritten`.
 * handleBindings() checks all of them once; when anything is missing the server keeps using
 * net.Socket (TcpTransport), which is also what `leanSockets: false` selects.
 *
 * Semantics match TcpTransport: Nagle off; no half-open connections (the peer's FIN closes the
 * transport with cause 'end'); end() flushes, sends FIN and waits (≤ 2 s) for the peer's FIN,
 * still delivering what the peer sends meanwhile; write() returns false above 16 KiB queued in
 * the kernel-side write queue (net's default high-water mark) and onDrain() follows once it is
 * empty; errors close the transport once with cause 'error' (the error has `code`, e.g.
 * ECONNRESET, and `syscall`).
 *
 * Memory: the handle's callbacks are module-level functions (`this` = the handle, which points
 * back at its transport through one property), no closure per connection.
 */
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Transport, TransportCloseCause, TransportHandlers } from './types.js';
import type { TunableSocket } from './socket-tuning.js';
import { copyOfRead, GRACEFUL_END_TIMEOUT_MS, sharedReadBuffer } from './shared-read.js';

/** The libuv TCP handle methods we call (tcp_wrap's TCP, as net.Socket's `_handle`). */
export interface TcpHandle {
  readStart(): number;
  useUserBuffer(buffer: Uint8Array): void;
  writeBuffer(req: object, data: Uint8Array): number;
  /** `allBuffers` true: `chunks` are the buffers themselves (no encodings between them). */
  writev?(req: object, chunks: Uint8Array[], allBuffers: boolean): number;
  shutdown(req: object): number;
  close(callback?: () => void): void;
  getpeername(out: Record<string, unknown>): number;
  setNoDelay(enable: boolean): number;
  setKeepAlive(enable: boolean, delaySeconds: number): number;
  readonly writeQueueSize: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly fd: number;
  onread: ((this: TcpHandle, arrayBuffer?: ArrayBuffer) => void) | null;
}

interface StreamReq {
  oncomplete: ((this: StreamReq, status: number) => void) | null;
  handle?: TcpHandle;
  transport?: HandleTransport | undefined;
  /** What libuv may still point into until the write completes: a buffer, or a batch's parts. */
  buffer?: Uint8Array | Uint8Array[] | undefined;
}

interface HandleBindings {
  WriteWrap: new () => StreamReq;
  ShutdownWrap: new () => StreamReq;
  state: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

let bindings: HandleBindings | null | undefined;

/**
 * Node's stream bindings, or null when this Node does not have what the adapter needs (then the
 * server uses net.Socket). Checked once.
 */
export function handleBindings(): HandleBindings | null {
  if (bindings !== undefined) return bindings;
  bindings = null;
  try {
    const binding = (process as unknown as { binding?: (name: string) => unknown }).binding;
    if (typeof binding !== 'function') return null;
    const sw = binding('stream_wrap') as Partial<{
      WriteWrap: HandleBindings['WriteWrap'];
      ShutdownWrap: HandleBindings['ShutdownWrap'];
      streamBaseState: Int32Array;
      kReadBytesOrError: number;
      kLastWriteWasAsync: number;
    }>;
    if (
      typeof sw.WriteWrap === 'function' &&
      typeof sw.ShutdownWrap === 'function' &&
      sw.streamBaseState instanceof Int32Array &&
      typeof sw.kReadBytesOrError === 'number' &&
      typeof sw.kLastWriteWasAsync === 'number'
    ) {
      bindings = {
        WriteWrap: sw.WriteWrap,
        ShutdownWrap: sw.ShutdownWrap,
        state: sw.streamBaseState,
        kReadBytesOrError: sw.kReadBytesOrError,
        kLastWriteWasAsync: sw.kLastWriteWasAsync,
      };
    }
  } catch {
    bindings = null;
  }
  return bindings;
}

const HANDLE_METHODS = ['readStart', 'useUserBuffer', 'writeBuffer', 'shutdown', 'close', 'getpeername', 'setNoDelay', 'setKeepAlive'] as const;

/** The prototype of the last handle found usable: every accepted handle shares it, so one full check does. */
let usablePrototype: object | undefined;

/** Whether `handle` (from net.Server's onconnection) has every method this adapter calls. */
export function isUsableTcpHandle(handle: unknown): handle is TcpHandle {
  if (typeof handle !== 'object' || handle === null) return false;
  const prototype = Object.getPrototypeOf(handle) as object | null;
  if (prototype !== null && prototype === usablePrototype) return true;
  const h = handle as Record<string, unknown>;
  const usable = HANDLE_METHODS.every((m) => typeof h[m] === 'function') && 'writeQueueSize' in h && 'bytesRead' in h;
  // Only a class's prototype says "same kind of handle"; a plain object's says nothing.
  if (usable && prototype !== null && prototype !== Object.prototype) usablePrototype = prototype;
  return usable;
}

/**
 * Take accepted connections from a listening net.Server's handle before net.Server wraps them in
 * a net.Socket: `onHandle` gets each one. net.Server still binds, listens, reports its address
 * and closes; anything unexpected (an accept error, a handle without the methods we call) goes
 * to its own onconnection as before. Call once listening. False when not possible here.
 */
export function takeOverConnections(server: net.Server, onHandle: (handle: TcpHandle) => void): boolean {
  if (handleBindings() === null) return false;
  const listening = (server as unknown as { _handle?: { onconnection?: unknown } | null })._handle;
  const original = listening?.onconnection;
  if (!listening || typeof original !== 'function') return false;
  listening.onconnection = function (this: unknown, status: number, handle: unknown): void {
    if (status === 0 && isUsableTcpHandle(handle)) onHandle(handle);
    else (original as (status: number, handle: unknown) => void).call(this, status, handle);
  };
  return true;
}

const kTransport = Symbol('lifeline.handleTransport');
type OwnedHandle = TcpHandle & { [kTransport]?: HandleTransport };

/** libuv's end-of-file (UV_EOF): the peer sent FIN. */
const UV_EOF = -4095;
/** net.Socket's default writableHighWaterMark. */
const HIGH_WATER_BYTES = 16 * 1024;
/** A WriteWrap for synchronous writes: libuv never keeps it, so one serves every write. */
let idleWriteReq: StreamReq | undefined;

const F_CLOSED = 1;
const F_CLOSING = 2;
const F_LOCALLY_CLOSED = 4;
const F_ENDING = 8;
const F_PEER_ENDED = 16;
const F_NEEDS_DRAIN = 32;
const F_READING = 64;
const F_REPORTED = 128;
/** Our FIN is out (shutdown completed). */
const F_SHUT = 256;

function uvError(code: number, syscall: string): Error {
  let name: string;
  try {
    name = getSystemErrorName(code);
  } catch {
    name = `E${-code}`;
  }
  const err = new Error(`${syscall} ${name}`) as Error & { code: string; errno: number; syscall: string };
  err.code = name;
  err.errno = code;
  err.syscall = syscall;
  return err;
}

function onHandleRead(this: OwnedHandle): void {
  const transport = this[kTransport];
  if (transport === undefined) return;
  const b = bindings!;
  const nread = b.state[b.kReadBytesOrError]!;
  if (nread > 0) {
    const handlers = transport.handlers;
    if (handlers === undefined) return;
    handlers.onData(copyOfRead(sharedReadBuffer(), nread));
    return;
  }
  if (nread === 0) return;
  if (nread === UV_EOF) transport.peerEnded();
  else transport.fail(uvError(nread, 'read'));
}

function onWriteComplete(this: StreamReq, status: number): void {
  const transport = this.transport;
  this.transport = undefined;
  this.buffer = undefined;
  if (transport === undefined) return;
  if (status < 0) transport.fail(uvError(status, 'write'));
  else transport.writeSettled();
}

function onShutdownComplete(this: StreamReq, status: number): void {
  const transport = this.transport;
  this.transport = undefined;
  if (transport === undefined) return;
  if (status < 0) transport.closeHandle();
  else transport.shutdownSettled();
}

function onHandleClosed(this: OwnedHandle): void {
  this[kTransport]?.finish();
}

export class HandleTransport implements Transport {
  /** @internal read by the shared callbacks */
  handlers: TransportHandlers | undefined;
  private readonly handle: OwnedHandle;
  private flags = 0;
  /** Writes made between cork() and uncork(), sent as one. */
  private corked: Uint8Array[] | undefined;
  private lastError: Error | undefined;
  /** Timer bounding a graceful end; peer address, fetched on first use. */
  private rare:
    | {
        endTimer?: ReturnType<typeof setTimeout>;
        peer?: { address?: string; port?: number };
        /** The handle's counters, read just before it closed (a closed handle has none). */
        bytesRead?: number;
        bytesWritten?: number;
      }
    | undefined;

  /** `handle` comes from handleBindings()-checked Node (see isUsableTcpHandle). */
  constructor(handle: TcpHandle) {
    if (handleBindings() === null) throw new Error('HandleTransport: Node stream bindings unavailable');
    this.handle = handle;
    this.handle[kTransport] = this;
    handle.onread = onHandleRead;
    handle.setNoDelay(true);
  }

  get kind(): 'tcp' {
    return 'tcp';
  }

  /** Like net.Socket: fetched on first use and kept; unknown once closed if never asked before. */
  private get peer(): { address?: string; port?: number } {
    const known = this.rare?.peer;
    if (known !== undefined) return known;
    const out: Record<string, unknown> = {};
    if ((this.flags & (F_CLOSED | F_CLOSING)) !== 0 || this.handle.getpeername(out) !== 0) return {};
    const peer: { address?: string; port?: number } = {};
    if (typeof out.address === 'string') peer.address = out.address;
    if (typeof out.port === 'number') peer.port = out.port;
    (this.rare ??= {}).peer = peer;
    return peer;
  }

  get remoteAddress(): string | undefined {
    return this.peer.address;
  }

  get remotePort(): number | undefined {
    return this.peer.port;
  }

  get bufferedBytes(): number {
    if ((this.flags & F_CLOSED) !== 0) return 0;
    let corked = 0;
    if (this.corked !== undefined) for (const c of this.corked) corked += c.byteLength;
    return corked + this.handle.writeQueueSize;
  }

  /** Bytes received / sent on this connection (the handle's own counters). */
  get bytesRead(): number {
    return (this.flags & (F_CLOSED | F_CLOSING)) !== 0 ? (this.rare?.bytesRead ?? 0) : this.handle.bytesRead;
  }

  get bytesWritten(): number {
    return (this.flags & (F_CLOSED | F_CLOSING)) !== 0 ? (this.rare?.bytesWritten ?? 0) : this.handle.bytesWritten;
  }

  /**
   * What socket-tuning.ts needs to set keepalive options on this connection. Its prototype is
   * net.Socket's because net-keepalive insists on `instanceof net.Socket` before it reads
   * `_handle.fd`; every member tuning touches is its own.
   */
  get tunable(): TunableSocket {
    const handle = this.handle;
    const transport = this;
    return Object.create(net.Socket.prototype, {
      destroyed: { get: () => (transport.flags & (F_CLOSED | F_CLOSING)) !== 0 },
      setKeepAlive: {
        value(enable?: boolean, initialDelayMs?: number): void {
          // As net.Socket.setKeepAlive: the handle takes whole seconds.
          if ((transport.flags & (F_CLOSED | F_CLOSING)) === 0) handle.setKeepAlive(enable === true, Math.floor((initialDelayMs ?? 0) / 1000));
        },
      },
      _handle: { value: handle },
    }) as TunableSocket;
  }

  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
    if ((this.flags & F_CLOSED) !== 0) {
      queueMicrotask(() => this.finish());
      return;
    }
    if ((this.flags & (F_READING | F_CLOSING)) !== 0) return;
    this.flags |= F_READING;
    this.handle.useUserBuffer(sharedReadBuffer());
    const err = this.handle.readStart();
    if (err < 0) this.fail(uvError(err, 'read'));
  }

  write(bytes: Uint8Array): boolean {
    if ((this.flags & (F_CLOSED | F_CLOSING | F_ENDING)) !== 0) return false;
    if (this.corked !== undefined) this.corked.push(bytes);
    else this.send(bytes);
    return this.afterWrite();
  }

  cork(): void {
    this.corked ??= [];
  }

  uncork(): void {
    const corked = this.corked;
    this.corked = undefined;
    if (corked === undefined || corked.length === 0 || (this.flags & (F_CLOSED | F_CLOSING)) !== 0) return;
    if (corked.length === 1) this.send(corked[0]!);
    // A DATA frame over 1 KiB comes as header + payload: the payload is not copied (a peer
    // that does not read would otherwise hold a copy of every queued message).
    else if (typeof this.handle.writev === 'function') this.sendParts(corked);
    else this.send(Buffer.concat(corked));
    // write() may have said "full" while corked; if everything went out at once, no async
    // completion will come to report the drain.
    if ((this.flags & F_NEEDS_DRAIN) !== 0 && this.handle.writeQueueSize === 0) queueMicrotask(() => this.writeSettled());
  }

  end(): void {
    this.flags |= F_LOCALLY_CLOSED;
    if ((this.flags & (F_CLOSED | F_CLOSING | F_ENDING)) !== 0) return;
    this.uncork();
    this.shutdown();
  }

  /**
   * Send FIN once everything queued is written (libuv orders the shutdown after pending
   * writes), keep reading until the peer's FIN; bounded, since a peer that never reads or
   * never closes could keep it pending forever.
   */
  private shutdown(): void {
    if ((this.flags & (F_CLOSED | F_CLOSING | F_ENDING)) !== 0) return;
    this.flags |= F_ENDING;
    const req = new bindings!.ShutdownWrap();
    req.oncomplete = onShutdownComplete;
    req.handle = this.handle;
    req.transport = this;
    const err = this.handle.shutdown(req);
    if (err < 0) {
      req.transport = undefined;
      this.closeHandle();
      return;
    }
    const timer = setTimeout(() => this.closeHandle(), GRACEFUL_END_TIMEOUT_MS);
    timer.unref();
    (this.rare ??= {}).endTimer = timer;
  }

  destroy(): void {
    this.flags |= F_LOCALLY_CLOSED;
    this.closeHandle();
  }

  /**
   * @internal the peer sent FIN. No half-open connections (like net.Socket with allowHalfOpen
   * false): close — after writing what is still queued, as net.Socket's end() would, so a reply
   * the kernel could not take at once is not lost.
   */
  peerEnded(): void {
    this.flags |= F_PEER_ENDED;
    if ((this.flags & F_SHUT) !== 0) this.closeHandle();
    else if ((this.flags & F_ENDING) !== 0) return; // shutdownSettled() closes
    else if (this.handle.writeQueueSize > 0) this.shutdown();
    else this.closeHandle();
  }

  /** @internal a read or write failed. */
  fail(error: Error): void {
    // Writes cancelled by our own close (UV_ECANCELED) are not why the transport closed.
    if ((this.flags & (F_CLOSED | F_CLOSING)) !== 0) return;
    this.lastError = error;
    this.closeHandle();
  }

  /** @internal an asynchronous write finished: report drain once the queue is empty. */
  writeSettled(): void {
    if ((this.flags & F_NEEDS_DRAIN) === 0 || (this.flags & (F_CLOSED | F_CLOSING)) !== 0) return;
    if (this.handle.writeQueueSize > 0) return;
    this.flags &= ~F_NEEDS_DRAIN;
    this.handlers?.onDrain();
  }

  /** @internal our FIN is out: now wait for the peer's (reads continue until then). */
  shutdownSettled(): void {
    this.flags |= F_SHUT;
    if ((this.flags & F_PEER_ENDED) !== 0) this.closeHandle();
  }

  /** @internal close the handle once; finish() follows from its callback. */
  closeHandle(): void {
    if ((this.flags & (F_CLOSED | F_CLOSING)) !== 0) return;
    const rare = (this.rare ??= {});
    rare.bytesRead = this.handle.bytesRead;
    rare.bytesWritten = this.handle.bytesWritten;
    this.flags |= F_CLOSING;
    this.corked = undefined;
    if (rare.endTimer !== undefined) clearTimeout(rare.endTimer);
    this.handle.close(onHandleClosed);
  }

  /** @internal the handle closed: tell the handlers once. */
  finish(): void {
    this.flags |= F_CLOSED;
    const handlers = this.handlers;
    // Without handlers yet, setHandlers() reports it.
    if (handlers === undefined || (this.flags & F_REPORTED) !== 0) return;
    this.flags |= F_REPORTED;
    this.handlers = undefined;
    const cause: TransportCloseCause = this.lastError
      ? { kind: 'error', error: this.lastError }
      : (this.flags & F_LOCALLY_CLOSED) !== 0
        ? { kind: 'local' }
        : { kind: (this.flags & F_PEER_ENDED) !== 0 ? 'end' : 'error' };
    handlers.onTransportClose(cause);
  }

  /** One write to the handle; a write libuv could not finish at once keeps its own request. */
  private send(bytes: Uint8Array): void {
    const req = this.writeRequest(bytes);
    this.dispatched(req, this.handle.writeBuffer(req, bytes));
  }

  /** A corked batch's parts in one writev (uncork() checked the handle has it). */
  private sendParts(parts: Uint8Array[]): void {
    const req = this.writeRequest(parts);
    this.dispatched(req, this.handle.writev!(req, parts, true));
  }

  private writeRequest(bytes: Uint8Array | Uint8Array[]): StreamReq {
    const req = (idleWriteReq ??= newWriteReq());
    // Referenced until written: libuv may keep pointing into it if the write goes async.
    req.buffer = bytes;
    req.transport = this;
    return req;
  }

  private dispatched(req: StreamReq, err: number): void {
    if (err < 0) {
      req.buffer = undefined;
      req.transport = undefined;
      this.fail(uvError(err, 'write'));
      return;
    }
    const b = bindings!;
    if (b.state[b.kLastWriteWasAsync] !== 0) {
      idleWriteReq = undefined; // in flight: onWriteComplete releases it
      return;
    }
    req.buffer = undefined;
    req.transport = undefined;
  }

  private afterWrite(): boolean {
    if ((this.flags & (F_CLOSED | F_CLOSING)) !== 0) return false;
    if (this.bufferedBytes < HIGH_WATER_BYTES) return true;
    this.flags |= F_NEEDS_DRAIN;
    return false;
  }
}

function newWriteReq(): StreamReq {
  const req = new bindings!.WriteWrap();
  req.oncomplete = onWriteComplete;
  return req;
}
