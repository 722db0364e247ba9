/**
 * The lean WebSocket server's outbound frames (ws-server.ts; docs/spec/0011-transports.md
 * §Lean WebSocket server, §Backpressure): server frames are never masked nor fragmented, and a
 * message is at most WS_MESSAGE_BYTES. Up to GATHER_BYTES a message is framed into one buffer
 * — a heartbeat is a few bytes, one small copy and one write beat anything else —; a longer one
 * is written as its headers and views of the caller's payload under the inner transport's cork:
 * one writev, no copy (a peer that does not read would otherwise hold a copy of every message
 * queued for it).
 */
import type { Transport } from './types.js';
import { writeWsHeader, wsHeaderBytes, WS_OP_BINARY } from './ws-codec.js';
import { WS_MESSAGE_BYTES } from './ws-framing.js';

/** Messages longer than this are written uncopied (writeGathered); shorter ones — every coalesced DATA frame (delivery.ts: ≤ 1 KiB of payload) among them — are framed into one buffer. */
export const GATHER_BYTES = 2 * 1024;

/** Bytes `total` payload bytes take as binary messages of at most WS_MESSAGE_BYTES, headers included. */
export function framedBytes(total: number): number {
  const whole = Math.floor(total / WS_MESSAGE_BYTES);
  const rest = total - whole * WS_MESSAGE_BYTES;
  return total + whole * wsHeaderBytes(WS_MESSAGE_BYTES) + (rest > 0 ? wsHeaderBytes(rest) : 0);
}

/** One frame with `payload` (≤ GATHER_BYTES, or a control frame): header and payload in one buffer. */
export function frame(opcode: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(wsHeaderBytes(payload.byteLength) + payload.byteLength);
  copyInto(out, writeWsHeader(out, 0, opcode, payload.byteLength), payload);
  return out;
}

/** A small batch's parts (≤ GATHER_BYTES in all: a PONG and the DATA behind it) as one binary message. */
export function frameSmallBatch(parts: readonly Uint8Array[], total: number): Buffer {
  const out = Buffer.allocUnsafe(wsHeaderBytes(total) + total);
  let at = writeWsHeader(out, 0, WS_OP_BINARY, total);
  for (const p of parts) {
    copyInto(out, at, p);
    at += p.byteLength;
  }
  return out;
}

/**
 * `parts` (`total` bytes) as binary messages of at most WS_MESSAGE_BYTES to `inner`: each header
 * its own small buffer, the payload as views of the parts, under the inner transport's cork (one
 * writev). Returns the last write's answer: the inner transport counts its open batch in it.
 */
export function writeGathered(inner: Transport, parts: readonly Uint8Array[], total: number): boolean {
  let ok = true;
  let part = 0;
  let offset = 0;
  inner.cork();
  for (let left = total; left > 0; ) {
    const size = Math.min(left, WS_MESSAGE_BYTES);
    left -= size;
    const header = Buffer.allocUnsafe(wsHeaderBytes(size));
    writeWsHeader(header, 0, WS_OP_BINARY, size);
    ok = inner.write(header);
    // `size` bytes of the parts, from where the last message stopped.
    for (let need = size; need > 0; ) {
      const p = parts[part]!;
      const take = Math.min(need, p.byteLength - offset);
      ok = inner.write(take === p.byteLength ? p : p.subarray(offset, offset + take));
      need -= take;
      offset += take;
      if (offset === p.byteLength) {
        part++;
        offset = 0;
      }
    }
  }
  inner.uncork();
  return ok;
}

/** A heartbeat frame is a byte or two: a loop beats set(), which first makes a view of the source. */
function copyInto(out: Uint8Array, at: number, payload: Uint8Array): void {
  const n = payload.byteLength;
  if (n <= 32) for (let i = 0; i < n; i++) out[at + i] = payload[i]!;
  else out.set(payload, at);
}
