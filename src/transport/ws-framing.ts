/**
 * WebSocket message sizes shared by every WebSocket adapter, listener and dialer (Node and
 * browser; pure: no node:*). PROTOCOL.md §3, docs/spec/0011-transports.md §WebSocket framing.
 */
import { concatBytes } from '../util/bytes.js';

/**
 * Largest WebSocket message we send: a longer write (or corked batch) goes out as several
 * messages. Receivers read messages as one byte stream, so a frame may span messages; the cap
 * keeps every message under any peer's per-message limit.
 */
export const WS_MESSAGE_BYTES = 64 * 1024;

/** Bytes a frame header may add to a frame of maxFrameSize (type + length varint, PROTOCOL.md §4). */
const FRAME_HEADER_BYTES = 16;

/** The per-message limit a receiver with this maxFrameSize accepts: max(64 KiB, maxFrameSize + 16). */
export function maxWsMessageBytes(maxFrameSize: number): number {
  return Math.max(WS_MESSAGE_BYTES, maxFrameSize + FRAME_HEADER_BYTES);
}

/** Send `bytes` as messages of at most WS_MESSAGE_BYTES. */
export function sendInMessages(bytes: Uint8Array, send: (message: Uint8Array) => void): void {
  if (bytes.byteLength <= WS_MESSAGE_BYTES) return send(bytes);
  for (let at = 0; at < bytes.byteLength; at += WS_MESSAGE_BYTES) send(bytes.subarray(at, at + WS_MESSAGE_BYTES));
}

/**
 * The writes between cork() and uncork(), joined into one message when the outermost uncork()
 * ends the batch (both WebSocket adapters: a PONG and the DATA behind it, a resume replay).
 */
export class WriteBatch {
  private parts: Uint8Array[] | undefined;
  private depth = 0;

  /** Bytes held in the open batch. */
  get bytes(): number {
    let n = 0;
    for (const p of this.parts ?? []) n += p.byteLength;
    return n;
  }

  cork(): void {
    if (this.depth++ === 0) this.parts = [];
  }

  /** Keep `bytes` for the batch; false when no batch is open (write them now). */
  add(bytes: Uint8Array): boolean {
    if (this.parts === undefined) return false;
    this.parts.push(bytes);
    return true;
  }

  /** The batch's bytes when this uncork() ends it; undefined while still corked or when empty. */
  uncork(): Uint8Array | undefined {
    if (this.depth === 0 || --this.depth > 0) return undefined;
    return this.take();
  }

  /** End the batch whatever the depth (end() flushes it). */
  flush(): Uint8Array | undefined {
    if (this.parts === undefined) return undefined;
    this.depth = 0;
    return this.take();
  }

  private take(): Uint8Array | undefined {
    const parts = this.parts!;
    this.parts = undefined;
    return parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : concatBytes(parts);
  }
}
