/**
 * RFC 6455 frames for the lean WebSocket server (ws-server.ts; docs/spec/0011-transports.md
 * §Lean WebSocket server): an incremental parser of client frames and the header writer for
 * server frames. Pure (Uint8Array only), so it is tested on its own and with any chunking.
 *
 * Scope: what lifeline needs from a server, nothing else. No extensions are ever negotiated
 * (no permessage-deflate), so every RSV bit must be clear. Binary messages only: their payload
 * is one byte stream for the lifeline decoder (PROTOCOL.md §3), so the parser hands payload
 * bytes on as they arrive — a fragmented message, or a frame split over reads, needs no
 * reassembly buffer, and memory per connection does not grow with the message size. The
 * message-size bound (`maxMessageBytes`, what `ws`'s maxPayload did) is still enforced, over all
 * fragments of a message, as soon as a frame header announces a length past it.
 *
 * Checks, in the order `ws`'s Receiver makes them (each a close code + reason, STYLE.md §3.12):
 * reserved bits set → 1002; unknown opcode → 1002; a data frame inside a fragmented message, or
 * a continuation without one → 1002; a text message → 1003 (LL_ERR_WS_TEXT_MESSAGE: lifeline
 * frames are binary); a control frame fragmented or over 125 bytes → 1002; an unmasked frame
 * (clients MUST mask, RFC 6455 §5.1) → 1002; a 64-bit length with its top bit set → 1002; a
 * message over the limit → 1009. After a failure or a close frame the parser reads nothing more.
 *
 * Control frames (close, ping, pong) may come between the fragments of a message (§5.4); they
 * are handed on whole (≤ 125 bytes, gathered in a small buffer made only when one is split).
 */
import { LifelineError } from '../errors.js';

export const WS_OP_CONTINUATION = 0x0;
export const WS_OP_TEXT = 0x1;
export const WS_OP_BINARY = 0x2;
export const WS_OP_CLOSE = 0x8;
export const WS_OP_PING = 0x9;
export const WS_OP_PONG = 0xa;

/** WebSocket close codes (RFC 6455 §7.4.1). */
export const WS_CLOSE_PROTOCOL_ERROR = 1002;
export const WS_CLOSE_UNSUPPORTED_DATA = 1003;
export const WS_CLOSE_INVALID_PAYLOAD = 1007;
export const WS_CLOSE_MESSAGE_TOO_BIG = 1009;

/** Largest control-frame payload (RFC 6455 §5.5). */
export const WS_MAX_CONTROL_BYTES = 125;
/** Longest frame header: 2 + 8 (64-bit length) + 4 (mask key). */
const MAX_HEADER_BYTES = 14;

/** Who the parser reports to (the transport itself: prototype methods, no closures). */
export interface WsFrameSink {
  /** Payload bytes of a binary message (any fragment), unmasked, in order. The bytes may be a view of the pushed chunk. */
  wsData(bytes: Uint8Array): void;
  /** A whole control frame (WS_OP_CLOSE / PING / PONG), payload unmasked. */
  wsControl(opcode: number, payload: Uint8Array): void;
  /** The peer broke RFC 6455 or the size limit: close the WebSocket with `closeCode`. Called once; parsing has stopped. */
  wsFail(closeCode: number, error: LifelineError): void;
}

const S_HEADER = 0;
const S_PAYLOAD = 1;
const S_STOPPED = 2;

export class WsFrameParser {
  private readonly sink: WsFrameSink;
  private readonly maxMessageBytes: number;
  private state = S_HEADER;
  /** Current frame: opcode, FIN, payload bytes still to come, mask key (big-endian), bytes unmasked so far. */
  private opcode = 0;
  private fin = false;
  private remaining = 0;
  private mask = 0;
  private maskAt = 0;
  /** A binary message was started by a frame without FIN; its continuations are due. */
  private fragmented = false;
  /** Payload bytes of the current message so far (all fragments), checked against maxMessageBytes. */
  private messageBytes = 0;
  /** A header split across chunks (made on first need). */
  private head: Uint8Array | undefined;
  private headLength = 0;
  /** A control frame's payload split across chunks (made on first need). */
  private control: Uint8Array | undefined;
  private controlLength = 0;

  /**
   * @param sink gets payloads, control frames and the one failure
   * @param maxMessageBytes largest message accepted (over all its fragments); more → 1009
   */
  constructor(sink: WsFrameSink, maxMessageBytes: number) {
    this.sink = sink;
    this.maxMessageBytes = maxMessageBytes;
  }

  /** True once a close frame or a failure ended parsing. */
  get stopped(): boolean {
    return this.state === S_STOPPED;
  }

  /** Read nothing more (the transport closed, or a close frame was handled). */
  stop(): void {
    this.state = S_STOPPED;
  }

  /**
   * Parse `chunk`. Payload bytes are unmasked in place (the chunk must be the caller's to
   * change: transports hand over chunks that are never reused). Sink calls happen synchronously;
   * one may stop() the parser, which ends this call.
   */
  push(chunk: Uint8Array): void {
    let at = 0;
    const end = chunk.byteLength;
    while (at < end) {
      if (this.state === S_HEADER) {
        at = this.headerFrom(chunk, at, end);
        if (at < 0) return;
      } else if (this.state === S_PAYLOAD) {
        at = this.payloadFrom(chunk, at, end);
      } else return;
    }
    // A frame with an empty payload ends right after its header.
    if (this.state === S_PAYLOAD && this.remaining === 0) this.frameDone(undefined);
  }

  /** Read a header at `at`; the index after it, or -1 when the chunk ran out (or it failed). */
  private headerFrom(chunk: Uint8Array, at: number, end: number): number {
    let src = chunk;
    let from = at;
    let next: number;
    if (this.headLength === 0) {
      const length = this.headerLength(chunk, at, end - at);
      if (length < 0) return -1; // failed
      if (length > end - at) {
        this.keepHead(chunk, at, end);
        return -1;
      }
      next = at + length;
    } else {
      // Gather the rest of a split header: as many bytes as the header so far says it needs.
      const head = this.head!;
      for (;;) {
        const known = this.headerLength(head, 0, this.headLength);
        if (known < 0) return -1;
        if (known <= this.headLength) break;
        if (at === end) return -1; // still short: wait for the next chunk
        const take = Math.min(known - this.headLength, end - at);
        head.set(chunk.subarray(at, at + take), this.headLength);
        this.headLength += take;
        at += take;
      }
      src = head;
      from = 0;
      next = at;
      this.headLength = 0;
    }
    this.readHeader(src, from);
    return next;
  }

  private keepHead(chunk: Uint8Array, at: number, end: number): void {
    const head = (this.head ??= new Uint8Array(MAX_HEADER_BYTES));
    head.set(chunk.subarray(at, end), 0);
    this.headLength = end - at;
  }

  /**
   * Check the header bytes available (`available` ≥ 1 at `at`) and return the header's full
   * length once it is known (2 until the second byte is there), or -1 after a failure.
   */
  private headerLength(b: Uint8Array, at: number, available: number): number {
    const b0 = b[at]!;
    if ((b0 & 0x70) !== 0) return this.fail(WS_CLOSE_PROTOCOL_ERROR, 'LL_ERR_WS_PROTOCOL', 'reserved bits set (no extension was negotiated)');
    const opcode = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    if (opcode >= WS_OP_CLOSE) {
      if (opcode > WS_OP_PONG) return this.fail(WS_CLOSE_PROTOCOL_ERROR, 'LL_ERR_WS_PROTOCOL', `invalid opcode ${opcode}`);
      if (!fin) return this.fail(WS_CLOSE_PROTOCOL_ERROR, 'LL_ERR_WS_PROTOCOL', 'fragmented control frame');
    } else if (opcode === WS_OP_CONTINUATION) {
      if (!this.fragmented) return this.fail(WS_CLOSE_PROTOCOL_ERROR, 'LL_ERR_WS_PROTOCOL', 'continuation frame without a message to continue');
    } else if (opcode === WS_OP_BINARY || opcode === WS_OP_TEXT) {
      if (this.fragmented) return this.fail(WS_CLOSE_PROTOCOL_ERROR, 'LL_ERR_WS_PROTOCOL', 'new data frame inside a fragmented message');
      if (opcode === WS_OP_TEXT) {
        return this.fail(WS_CLOSE_UNSUPPORTED_DATA, 'LL_ERR_WS_TEXT_MESSAGE', 'received a text WebSocket message: lifeline frames travel in binary messages');
      }
    } else return this.fail(WS_CLOSE_PROTOCOL_ERROR, 'LL_ERR_WS_PROTOCOL', `invalid opcode ${opcode}`);
    if (available < 2) return 2;
    const b1 = b[at + 1]!;
    const length7 = b1 & 0x7f;
    if (opcode >= WS_OP_CLOSE && length7 > WS_MAX_CONTROL_BYTES) {
      return this.fail(WS_CLOSE_PROTOCOL_ERROR, 'LL_ERR_WS_PROTOCOL', `control frame payload over ${WS_MAX_CONTROL_BYTES} bytes`);
    }
    if ((b1 & 0x80) === 0) return this.fail(WS_CLOSE_PROTOCOL_ERROR, 'LL_ERR_WS_PROTOCOL', 'client frames must be masked');
    const extended = length7 === 126 ? 2 : length7 === 127 ? 8 : 0;
    const length = 2 + extended + 4;
    if (available < 2 + extended) return length;
    let payload = length7;
    if (extended === 2) payload = (b[at + 2]! << 8) | b[at + 3]!;
    else if (extended === 8) {
      const high = ((b[at + 2]! << 24) | (b[at + 3]! << 16) | (b[at + 4]! << 8) | b[at + 5]!) >>> 0;
      if (high >= 0x80000000) return this.fail(WS_CLOSE_PROTOCOL_ERROR, 'LL_ERR_WS_PROTOCOL', 'payload length with the most significant bit set');
      // Past 2^53 the sum is inexact, but then it is far over any limit anyway.
      payload = high * 0x100000000 + (((b[at + 6]! << 24) | (b[at + 7]! << 16) | (b[at + 8]! << 8) | b[at + 9]!) >>> 0);
    }
    if (opcode < WS_OP_CLOSE && this.messageBytes + payload > this.maxMessageBytes) {
      return this.fail(WS_CLOSE_MESSAGE_TOO_BIG, 'LL_ERR_WS_MESSAGE_TOO_LARGE', `WebSocket message over the ${this.maxMessageBytes}-byte limit (max payload)`);
    }
    return length;
  }

  /** Take a complete, already checked header at `at`. */
  private readHeader(b: Uint8Array, at: number): void {
    const b0 = b[at]!;
    const length7 = b[at + 1]! & 0x7f;
    let payload = length7;
    let maskAt = at + 2;
    if (length7 === 126) {
      payload = (b[at + 2]! << 8) | b[at + 3]!;
      maskAt += 2;
    } else if (length7 === 127) {
      payload = (((b[at + 2]! << 24) | (b[at + 3]! << 16) | (b[at + 4]! << 8) | b[at + 5]!) >>> 0) * 0x100000000 +
        (((b[at + 6]! << 24) | (b[at + 7]! << 16) | (b[at + 8]! << 8) | b[at + 9]!) >>> 0);
      maskAt += 8;
    }
    this.opcode = b0 & 0x0f;
    this.fin = (b0 & 0x80) !== 0;
    this.remaining = payload;
    this.mask = ((b[maskAt]! << 24) | (b[maskAt + 1]! << 16) | (b[maskAt + 2]! << 8) | b[maskAt + 3]!) >>> 0;
    this.maskAt = 0;
    this.state = S_PAYLOAD;
    if (this.opcode < WS_OP_CLOSE) {
      this.messageBytes += payload;
      if (!this.fin) this.fragmented = true;
    } else this.controlLength = 0;
  }

  /** Unmask and hand on payload bytes from `at`; the index after what was taken. */
  private payloadFrom(chunk: Uint8Array, at: number, end: number): number {
    const take = Math.min(this.remaining, end - at);
    if (take > 0) unmask(chunk, at, at + take, this.mask, this.maskAt);
    this.maskAt += take;
    this.remaining -= take;
    const next = at + take;
    if (this.opcode < WS_OP_CLOSE) {
      if (take > 0) this.sink.wsData(chunk.subarray(at, next));
      if (this.remaining === 0 && this.state === S_PAYLOAD) this.frameDone(undefined);
      return next;
    }
    if (this.remaining === 0 && this.controlLength === 0) {
      this.frameDone(chunk.subarray(at, next)); // the whole control payload in this chunk
      return next;
    }
    const control = (this.control ??= new Uint8Array(WS_MAX_CONTROL_BYTES));
    control.set(chunk.subarray(at, next), this.controlLength);
    this.controlLength += take;
    if (this.remaining === 0) this.frameDone(control.subarray(0, this.controlLength));
    return next;
  }

  /** The current frame's payload is complete (`controlPayload`: a control frame's whole payload). */
  private frameDone(controlPayload: Uint8Array | undefined): void {
    this.state = S_HEADER;
    const opcode = this.opcode;
    if (opcode < WS_OP_CLOSE) {
      if (this.fin) {
        this.fragmented = false;
        this.messageBytes = 0;
      }
      return;
    }
    // Nothing may follow a close frame (RFC 6455 §5.5.1).
    if (opcode === WS_OP_CLOSE) this.state = S_STOPPED;
    this.sink.wsControl(opcode, controlPayload ?? EMPTY);
  }

  private fail(closeCode: number, code: 'LL_ERR_WS_PROTOCOL' | 'LL_ERR_WS_TEXT_MESSAGE' | 'LL_ERR_WS_MESSAGE_TOO_LARGE', message: string): -1 {
    this.state = S_STOPPED;
    this.headLength = 0;
    this.sink.wsFail(closeCode, new LifelineError(code, message));
    return -1;
  }
}

const EMPTY = new Uint8Array(0);

/** XOR bytes [from, to) with the 4-byte key (big-endian in `mask`), starting `offset` bytes into it. */
function unmask(b: Uint8Array, from: number, to: number, mask: number, offset: number): void {
  const k0 = mask >>> 24;
  const k1 = (mask >>> 16) & 0xff;
  const k2 = (mask >>> 8) & 0xff;
  const k3 = mask & 0xff;
  let i = from;
  // Realign to the key, then four bytes a step.
  for (let o = offset & 3; o !== 0 && i < to; o = (o + 1) & 3, i++) b[i] ^= o === 1 ? k1 : o === 2 ? k2 : k3;
  const whole = to - ((to - i) & 3);
  for (; i < whole; i += 4) {
    b[i] ^= k0;
    b[i + 1] ^= k1;
    b[i + 2] ^= k2;
    b[i + 3] ^= k3;
  }
  for (let o = 0; i < to; o++, i++) b[i] ^= o === 0 ? k0 : o === 1 ? k1 : k2;
}

/** Header bytes of a server frame (never masked) with `payloadBytes` of payload. */
export function wsHeaderBytes(payloadBytes: number): number {
  return payloadBytes < 126 ? 2 : payloadBytes <= 0xffff ? 4 : 10;
}

/** Write a server frame header at `at` (FIN set: lifeline sends no fragments); the index after it. */
export function writeWsHeader(out: Uint8Array, at: number, opcode: number, payloadBytes: number): number {
  out[at] = 0x80 | opcode;
  if (payloadBytes < 126) {
    out[at + 1] = payloadBytes;
    return at + 2;
  }
  if (payloadBytes <= 0xffff) {
    out[at + 1] = 126;
    out[at + 2] = payloadBytes >>> 8;
    out[at + 3] = payloadBytes & 0xff;
    return at + 4;
  }
  out[at + 1] = 127;
  const high = Math.floor(payloadBytes / 0x100000000);
  const low = payloadBytes >>> 0;
  out[at + 2] = high >>> 24;
  out[at + 3] = (high >>> 16) & 0xff;
  out[at + 4] = (high >>> 8) & 0xff;
  out[at + 5] = high & 0xff;
  out[at + 6] = low >>> 24;
  out[at + 7] = (low >>> 16) & 0xff;
  out[at + 8] = (low >>> 8) & 0xff;
  out[at + 9] = low & 0xff;
  return at + 10;
}

/** Whether `code` may appear in a close frame (RFC 6455 §7.4; as ws's isValidStatusCode). */
export function isValidWsCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}
