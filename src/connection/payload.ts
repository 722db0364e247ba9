/** Converting between what users pass / expect (Buffer, string) and the core's Uint8Array. */

export function toPayload(data: Uint8Array | string): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return data;
  throw new TypeError(`send() takes a Buffer, Uint8Array or string, got ${typeof data}`);
}

/** A Buffer view of the same bytes (no copy), so 'message' listeners get Node's usual type. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
