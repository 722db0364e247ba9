/**
 * Unsigned LEB128 varints (PROTOCOL.md §4): 7 value bits per byte, least significant group first,
 * high bit set on every byte but the last. Minimal encoding only, at most 8 bytes, and never above
 * Number.MAX_SAFE_INTEGER so every value round-trips through a JS number exactly.
 *
 * Arithmetic uses `* 128` / `Math.floor(/ 128)` above 2^31 because JS bitwise operators truncate to
 * 32 bits; below that the bitwise form is used because it is the hot path (seq numbers, lengths).
 * Pure module: no `node:*`, no `Buffer`.
 */
import { ProtocolError } from '../errors.js';

/** Longest varint accepted anywhere: 8 bytes carry 56 bits, enough for any safe integer. */
export const MAX_VARINT_BYTES = 8;
/** Longest body-length varint: 4 bytes, so a body is at most 2^28 - 1 bytes. */
export const MAX_LENGTH_VARINT_BYTES = 4;

/** A read position that readVarint advances; lets it return the value without allocating. */
export interface ReadCursor {
  pos: number;
}

/** Bytes needed to encode `value` (assumed a safe integer ≥ 0). */
export function varintLength(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  if (value < 2 ** 35) return 5;
  if (value < 2 ** 42) return 6;
  if (value < 2 ** 49) return 7;
  return 8;
}

/**
 * Write `value` (assumed validated: safe integer ≥ 0) at `offset`; returns the offset after it.
 * The caller sized `target` with varintLength().
 */
export function writeVarint(target: Uint8Array, offset: number, value: number): number {
  while (value > 0x7fffffff) {
    target[offset++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  while (value > 0x7f) {
    target[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  target[offset++] = value;
  return offset;
}

/** Throws a RangeError naming `field` unless `value` is a safe integer ≥ 0 (encodable as a varint). */
export function assertVarintValue(value: unknown, field: string): asserts value is number {
  if (typeof value !== 'number') {
    throw new TypeError(`${field} must be a number, got ${typeof value}`);
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${field} must be a safe integer >= 0, got ${value}`);
  }
}

/** Encode one varint into a fresh array; validates `value`. */
export function encodeVarint(value: number): Uint8Array {
  assertVarintValue(value, 'value');
  const out = new Uint8Array(varintLength(value));
  writeVarint(out, 0, value);
  return out;
}

/**
 * Read one varint from `src[cursor.pos .. end)` and advance `cursor.pos` past it. `field` names
 * the field in error messages. Throws ProtocolError LL_ERR_MALFORMED_FRAME when the varint runs
 * past `end`, is longer than 8 bytes, is not minimally encoded, or exceeds MAX_SAFE_INTEGER.
 */
export function readVarint(src: Uint8Array, cursor: ReadCursor, end: number, field: string): number {
  let pos = cursor.pos;
  let value = 0;
  let multiplier = 1;
  for (let count = 1; ; count++) {
    if (pos >= end) {
      throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `${field} runs past the end of the frame body`);
    }
    const byte = src[pos++]!;
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) {
      // A trailing 0x00 group adds nothing: the same value has a shorter encoding. Rejecting it
      // keeps one canonical byte string per frame (no smuggling, byte-exact test vectors).
      if (byte === 0 && count > 1) {
        throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `${field} is a non-minimal varint`);
      }
      if (value > Number.MAX_SAFE_INTEGER) {
        throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `${field} exceeds Number.MAX_SAFE_INTEGER`);
      }
      cursor.pos = pos;
      return value;
    }
    if (count === MAX_VARINT_BYTES) {
      throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `${field} is a varint longer than ${MAX_VARINT_BYTES} bytes`);
    }
    multiplier *= 128;
  }
}
