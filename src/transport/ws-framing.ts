/**
 * WebSocket message sizes shared by every WebSocket adapter, listener and dialer (Node and
 * browser; pure: no node:*). PROTOCOL.md §3, docs/spec/0011-transports.md §WebSocket framing.
 */

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
