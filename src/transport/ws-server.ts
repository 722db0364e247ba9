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
 * WS_MESSAGE_BYTES it goes out as several messages (in one write to the inner transport).
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
  writeWsHeader,
  wsHeaderBytes,
  WsFrameParser,
  WS_CLOSE_INVALID_PAYLOAD,
  WS_CLOSE_PROTOCOL_ERROR,
  WS_OP_BINARY,
  WS_OP_CLOSE,
  WS_OP_PING,
  WS_OP_PONG,
  type WsFrameSink,
} from './ws-codec.js';
import { WS_MESSAGE_BYTES } from './ws-framing.js';

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

  get bufferedBytes(): number {
    let corked = 0;
    if (this.corked !== undefined) for (const c of this.corked) corked += c.byteLength;
    return corked + this.inner.bufferedBytes;
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
      return true;
    }
    return this.inner.write(frameMessages(bytes));
  }

  cork(): void {
    if (this.corkDepth++ === 0) this.corked = [];
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
    this.corked = undefined;
    this.parser.stop();
    this.inner.destroy();
  }

  // --- TransportHandlers: the inner transport reports here -----------------------------------

  onData(chunk: Uint8Array): void {
    this.parser.push(chunk);
  }

  onDrain(): void {
    this.handlers?.onDrain();
  }

  onTransportClose(cause: TransportCloseCause): void {
    if ((this.flags & F_CLOSED) !== 0) return;
    this.flags |= F_CLOSED;
    this.parser.stop();
    this.corked = undefined;
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
    this.corked = undefined;
    this.corkDepth = 0;
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
    this.corked = undefined;
    this.corkDepth = 0;
    if (parts === undefined || (this.flags & (F_CLOSE_SENT | F_CLOSED)) !== 0) return;
    let total = 0;
    for (const p of parts) total += p.byteLength;
    if (total === 0) return;
    this.inner.write(parts.length === 1 ? frameMessages(parts[0]!) : frameParts(parts, total));
  }
}

const EMPTY = new Uint8Array(0);

/** One frame with `payload`: header and payload in one buffer (one write). */
function frame(opcode: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(wsHeaderBytes(payload.byteLength) + payload.byteLength);
  const at = writeWsHeader(out, 0, opcode, payload.byteLength);
  copyInto(out, at, payload);
  return out;
}

/** `bytes` as binary messages of at most WS_MESSAGE_BYTES each, all in one buffer. */
function frameMessages(bytes: Uint8Array): Buffer {
  return bytes.byteLength <= WS_MESSAGE_BYTES ? frame(WS_OP_BINARY, bytes) : frameParts([bytes], bytes.byteLength);
}

/**
 * The parts of a corked batch as binary messages of at most WS_MESSAGE_BYTES, all in one buffer:
 * one copy of the payload (a DATA frame's header and its large payload come as two parts).
 */
function frameParts(parts: readonly Uint8Array[], total: number): Buffer {
  const whole = Math.floor(total / WS_MESSAGE_BYTES);
  const rest = total - whole * WS_MESSAGE_BYTES;
  const out = Buffer.allocUnsafe(total + whole * wsHeaderBytes(WS_MESSAGE_BYTES) + (rest > 0 ? wsHeaderBytes(rest) : 0));
  let at = 0;
  let part = 0;
  let offset = 0;
  for (let left = total; left > 0; ) {
    const size = Math.min(left, WS_MESSAGE_BYTES);
    at = writeWsHeader(out, at, WS_OP_BINARY, size);
    left -= size;
    // Copy `size` bytes from the parts, where the last message stopped.
    for (let need = size; need > 0; ) {
      const p = parts[part]!;
      const take = Math.min(need, p.byteLength - offset);
      copyInto(out, at, take === p.byteLength ? p : p.subarray(offset, offset + take));
      at += take;
      need -= take;
      offset += take;
      if (offset === p.byteLength) {
        part++;
        offset = 0;
      }
    }
  }
  return out;
}

/** A heartbeat frame is a byte or two: a loop beats set(), which first makes a view of the source. */
function copyInto(out: Uint8Array, at: number, payload: Uint8Array): void {
  const n = payload.byteLength;
  if (n <= 32) for (let i = 0; i < n; i++) out[at + i] = payload[i]!;
  else out.set(payload, at);
}

/** `reason` as UTF-8, cut to MAX_REASON_BYTES without splitting a character. */
function reasonBytes(reason: string): Uint8Array {
  const bytes = Buffer.from(reason, 'utf8');
  if (bytes.byteLength <= MAX_REASON_BYTES) return bytes;
  let end = MAX_REASON_BYTES;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
