/**
 * The lean WebSocket server transport (docs/spec/0011-transports.md §Lean WebSocket server):
 * RFC 6455 framing over an already upgraded connection, itself a Transport — on the bare libuv
 * handle (tcp-handle.ts) for plain ws, on a TcpTransport for wss or with `leanSockets: false`.
 *
 * Why not `ws`'s WebSocket: per connection it keeps a WebSocket, a Receiver (a Writable stream)
 * and a Sender over a net.Socket (≈ 3–4.5 KB of heap at 10,000 connections, BENCHMARKS.md
 * §Transports), and each lifeline PING went through ws.send() (options object, frame list,
 * socket cork / uncork). Here a connection is this object, its WsFrameParser (ws-codec.ts) and
 * the inner transport; a PING is one small buffer (2-byte header + the shared frame) and one
 * write to the handle; an inbound PONG frame is unmasked in the chunk the read handed over.
 *
 * Contract, as WsTransport (ws.ts) gives it on the client side: every write() is one binary
 * message, or between cork() and uncork() the writes of that batch in one; longer than
 * WS_MESSAGE_BYTES it goes out as several messages. A message over 2 KiB goes out uncopied
 * (its headers and views of the payload in one writev; ws-server-frames.ts).
 * Backpressure is the TCP transports' contract on every path (docs/spec/0011-transports.md
 * §Backpressure): write() returns false once the bytes waiting — the inner transport's queue
 * plus an open batch as it will be framed — reach WS_HIGH_WATER_BYTES, also while corked (a
 * DATA frame over 1 KiB is written corked: header, payload); after a false, one onDrain()
 * once below the mark: the inner transport's drain, or, when the batch's own write went
 * straight out, a microtask after uncork() (never inside it: send() returns its false first).
 * Inbound binary payloads are one byte stream. A text message → close 1003
 * (LL_ERR_WS_TEXT_MESSAGE); a framing fault → 1002 (LL_ERR_WS_PROTOCOL, the reason names it);
 * a message over the limit → 1009 (LL_ERR_WS_MESSAGE_TOO_LARGE). Pings are answered with a pong
 * carrying the same payload, pongs ignored; no ping is ever sent (the lifeline heartbeat is the
 * liveness: browsers cannot answer with their own).
 *
 * Closing: end() sends close 1000 and then FIN (the inner transport's graceful end, which waits
 * ≤ 2 s for the peer's FIN: RFC 6455 §7.1.1 has the server close the TCP connection first).
 * A peer's close frame is echoed (same code, §5.5.1) and the connection ended the same way; its
 * cause is `end` for 1000 / 1001 / no code, else an LL_ERR_WS_CLOSED error with the code and
 * reason. A TCP FIN without a close frame is `end`, a reset `error`, exactly as on TCP.
 */
import { LifelineError } from '../errors.js';
import type { TunableSocket } from './socket-tuning.js';
import type { Transport, TransportCloseCause, TransportHandlers } from './types.js';
import {
  isValidWsCloseCode,
  WsFrameParser,
  WS_CLOSE_INVALID_PAYLOAD,
  WS_CLOSE_PROTOCOL_ERROR,
  WS_OP_BINARY,
  WS_OP_CLOSE,
  WS_OP_PING,
  WS_OP_PONG,
  type WsFrameSink,
} from './ws-codec.js';
import { frame, framedBytes, frameSmallBatch, GATHER_BYTES, writeGathered } from './ws-server-frames.js';

const WS_CLOSE_NORMAL = 1000;
const WS_CLOSE_GOING_AWAY = 1001;
/** A close frame without a code (RFC 6455 §7.1.5). */
const WS_CLOSE_NO_CODE = 1005;
/** A close frame's reason is at most 123 bytes (125 minus the code). */
const MAX_REASON_BYTES = 123;

const F_CLOSE_SENT = 1;
const F_CLOSE_RECEIVED = 2;
/** end(), destroy() or a refusal of bad input: the close is ours. */
const F_LOCAL = 4;
const F_CLOSED = 8;
/** inner.setHandlers() was called. */
const F_ATTACHED = 16;
/** inner.end() was called. */
const F_INNER_ENDED = 32;
/** A write returned false: one onDrain() is owed. */
const F_NEEDS_DRAIN = 64;
/** A drain check is queued (a batch went out below the mark after a false). */
const F_DRAIN_QUEUED = 128;

/**
 * write() says false from this many bytes waiting: net.Socket's default writableHighWaterMark,
 * the mark both inner transports use (tcp.ts, tcp-handle.ts), so a WebSocket session reports
 * backpressure where a TCP one does.
 */
export const WS_HIGH_WATER_BYTES = 16 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** Pongs are written only while fewer bytes than this wait to be sent (RFC 6455 §5.5.3). */
const PONG_BACKLOG_BYTES = 16 * 1024;

export interface WsServerTransportOptions {
  /** Largest inbound message (all fragments), bytes: maxWsMessageBytes(maxFrameSize). */
  maxMessageBytes: number;
  /** Bytes the client sent after its upgrade request, read with it (http's `head`). */
  head?: Uint8Array | undefined;
}

export class WsServerTransport implements Transport, TransportHandlers, WsFrameSink {
  /** @internal the connection */
  handlers: TransportHandlers | undefined;
  private readonly inner: Transport;
  private readonly parser: WsFrameParser;
  private flags = 0;
  private lastError: Error | undefined;
  /** Writes between cork() and uncork() (the outermost one ends the batch). */
  private corked: Uint8Array[] | undefined;
  /** Payload bytes in `corked`. */
  private corkedBytes = 0;
  private corkDepth = 0;
  private head: Uint8Array | undefined;

  /** `inner`: the upgraded connection; the 101 response must already be written to it. */
  constructor(inner: Transport, options: WsServerTransportOptions) {
    this.inner = inner;
    this.parser = new WsFrameParser(this, options.maxMessageBytes);
    if (options.head !== undefined && options.head.byteLength > 0) this.head = options.head;
  }

  get kind(): 'ws' {
    return 'ws';
  }

  get remoteAddress(): string | undefined {
    return this.inner.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.inner.remotePort;
  }

  /** The inner transport's queue, plus an open batch as framed (what uncork() will write). */
  get bufferedBytes(): number {
    return this.inner.bufferedBytes + (this.corkedBytes === 0 ? 0 : framedBytes(this.corkedBytes));
  }

  get tunable(): TunableSocket | undefined {
    return this.inner.tunable;
  }

  /** WebSocket payload and framing (and TLS records for wss): what the connection counted. */
  get bytesRead(): number | undefined {
    return this.inner.bytesRead;
  }

  get bytesWritten(): number | undefined {
    return this.inner.bytesWritten;
  }

  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
    if ((this.flags & F_ATTACHED) !== 0) return;
    this.flags |= F_ATTACHED;
    this.inner.setHandlers(this);
    // Bytes that came with the upgrade request go first: a microtask runs before any read.
    const head = this.head;
    if (head !== undefined) {
      this.head = undefined;
      queueMicrotask(() => this.onData(head));
    }
  }

  write(bytes: Uint8Array): boolean {
    if ((this.flags & (F_CLOSE_SENT | F_CLOSED)) !== 0) return false;
    if (this.corked !== undefined) {
      this.corked.push(bytes);
      this.corkedBytes += bytes.byteLength;
      // Judged as if sent now: uncork() returns nothing, so this is the caller's only answer.
      if (this.bufferedBytes < WS_HIGH_WATER_BYTES) return true;
    } else if (this.writeMessage(bytes)) return true;
    this.flags |= F_NEEDS_DRAIN;
    return false;
  }

  cork(): void {
    if (this.corkDepth++ === 0) {
      this.corked = [];
      this.corkedBytes = 0;
    }
  }

  uncork(): void {
    if (this.corkDepth === 0 || --this.corkDepth > 0) return;
    this.flushBatch();
  }

  end(): void {
    if ((this.flags & F_LOCAL) !== 0) return;
    this.flushBatch();
    this.flags |= F_LOCAL;
    this.sendClose(WS_CLOSE_NORMAL, '');
    this.endInner();
  }

  destroy(): void {
    this.flags |= F_LOCAL;
    this.dropBatch();
    this.parser.stop();
    this.inner.destroy();
  }

  // --- TransportHandlers: the inner transport reports here -----------------------------------

  onData(chunk: Uint8Array): void {
    this.parser.push(chunk);
  }

  /** The inner transport drained: pass it on if a write of ours said false and we are below the mark. */
  onDrain(): void {
    if ((this.flags & F_NEEDS_DRAIN) === 0 || this.bufferedBytes >= WS_HIGH_WATER_BYTES) return;
    this.flags &= ~F_NEEDS_DRAIN;
    this.handlers?.onDrain();
  }

  onTransportClose(cause: TransportCloseCause): void {
    if ((this.flags & F_CLOSED) !== 0) return;
    this.flags |= F_CLOSED;
    this.parser.stop();
    this.dropBatch();
    const handlers = this.handlers;
    this.handlers = undefined;
    if (handlers === undefined) return;
    const ours: TransportCloseCause = this.lastError
      ? { kind: 'error', error: this.lastError }
      : (this.flags & F_LOCAL) !== 0
        ? { kind: 'local' }
        : (this.flags & F_CLOSE_RECEIVED) !== 0
          ? // The peer's close frame: it went away, as TCP's FIN (the FIN after it was ours).
            { kind: 'end' }
          : cause;
    handlers.onTransportClose(ours);
  }

  // --- WsFrameSink: the parser reports here ---------------------------------------------------

  wsData(bytes: Uint8Array): void {
    this.handlers?.onData(bytes);
  }

  wsControl(opcode: number, payload: Uint8Array): void {
    if (opcode === WS_OP_PING) {
      // RFC 6455 §5.5.3 lets us answer only the latest ping: while our writes back up (a peer
      // that pings and never reads), pongs are skipped, so pings cannot grow our buffer.
      if ((this.flags & F_CLOSE_SENT) === 0 && this.inner.bufferedBytes <= PONG_BACKLOG_BYTES) this.inner.write(frame(WS_OP_PONG, payload));
      return;
    }
    if (opcode !== WS_OP_CLOSE) return; // a pong: nothing asked for it, nothing to do
    this.flags |= F_CLOSE_RECEIVED;
    let code = WS_CLOSE_NO_CODE;
    let reason = '';
    if (payload.byteLength > 0) {
      code = payload.byteLength >= 2 ? (payload[0]! << 8) | payload[1]! : 0;
      if (!isValidWsCloseCode(code)) return this.refuse(WS_CLOSE_PROTOCOL_ERROR, new LifelineError('LL_ERR_WS_PROTOCOL', `invalid close code ${payload.byteLength < 2 ? '(1-byte payload)' : code}`));
      try {
        reason = utf8.decode(payload.subarray(2));
      } catch {
        return this.refuse(WS_CLOSE_INVALID_PAYLOAD, new LifelineError('LL_ERR_WS_PROTOCOL', 'close reason is not valid UTF-8'));
      }
    }
    if (code !== WS_CLOSE_NORMAL && code !== WS_CLOSE_GOING_AWAY && code !== WS_CLOSE_NO_CODE) {
      this.lastError ??= new LifelineError('LL_ERR_WS_CLOSED', `the peer closed the WebSocket with ${code}${reason.length > 0 ? `: ${reason}` : ''}`);
    }
    // Echo the code (none for none) once, then FIN: the closing handshake is complete.
    this.flushBatch();
    this.sendClose(code === WS_CLOSE_NO_CODE ? 0 : code, '');
    this.endInner();
  }

  wsFail(closeCode: number, error: LifelineError): void {
    this.refuse(closeCode, error);
  }

  /** Bad input: close with `closeCode` and the error's message, report the error as the cause. */
  private refuse(closeCode: number, error: LifelineError): void {
    this.lastError ??= error;
    this.flags |= F_LOCAL;
    this.parser.stop();
    this.dropBatch();
    this.sendClose(closeCode, error.message);
    this.endInner();
  }

  /** FIN once, after what is queued (the inner transport bounds the wait for the peer's FIN). */
  private endInner(): void {
    if ((this.flags & F_INNER_ENDED) !== 0) return;
    this.flags |= F_INNER_ENDED;
    this.inner.end();
  }

  /** One close frame at most (`code` 0: none, an empty close frame). */
  private sendClose(code: number, reason: string): void {
    if ((this.flags & (F_CLOSE_SENT | F_CLOSED)) !== 0) return;
    this.flags |= F_CLOSE_SENT;
    let payload = EMPTY;
    if (code !== 0) {
      const text = reasonBytes(reason);
      payload = new Uint8Array(2 + text.byteLength);
      payload[0] = code >>> 8;
      payload[1] = code & 0xff;
      payload.set(text, 2);
    }
    this.inner.write(frame(WS_OP_CLOSE, payload));
  }

  private flushBatch(): void {
    const parts = this.corked;
    const total = this.corkedBytes;
    this.dropBatch();
    if (parts === undefined || total === 0 || (this.flags & (F_CLOSE_SENT | F_CLOSED)) !== 0) return;
    const ok =
      parts.length === 1 ? this.writeMessage(parts[0]!) : total > GATHER_BYTES ? writeGathered(this.inner, parts, total) : this.inner.write(frameSmallBatch(parts, total));
    // A false from inside the batch is owed a drain. The inner transport sends one only after a
    // false of its own; when the batch went straight out, nothing would come: check on a
    // microtask (the writer's send() returns its false first).
    if (ok && (this.flags & (F_NEEDS_DRAIN | F_DRAIN_QUEUED)) === F_NEEDS_DRAIN) {
      this.flags |= F_DRAIN_QUEUED;
      queueMicrotask(() => this.drainAfterBatch());
    }
  }

  /** One write's bytes as binary messages: small in one buffer, large uncopied (ws-server-frames.ts). */
  private writeMessage(bytes: Uint8Array): boolean {
    return bytes.byteLength <= GATHER_BYTES ? this.inner.write(frame(WS_OP_BINARY, bytes)) : writeGathered(this.inner, [bytes], bytes.byteLength);
  }

  private drainAfterBatch(): void {
    this.flags &= ~F_DRAIN_QUEUED;
    if ((this.flags & F_CLOSED) === 0) this.onDrain();
  }

  private dropBatch(): void {
    this.corked = undefined;
    this.corkedBytes = 0;
    this.corkDepth = 0;
  }
}

const EMPTY = new Uint8Array(0);

/** `reason` as UTF-8, cut to MAX_REASON_BYTES without splitting a character. */
function reasonBytes(reason: string): Uint8Array {
  const bytes = Buffer.from(reason, 'utf8');
  if (bytes.byteLength <= MAX_REASON_BYTES) return bytes;
  let end = MAX_REASON_BYTES;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
