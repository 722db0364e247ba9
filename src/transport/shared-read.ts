/**
 * What both TCP adapters share for server connections (tcp.ts with `sharedReadBuffer`,
 * tcp-handle.ts): one buffer every socket reads into, and the copy that hands a read on. One
 * buffer serves all: the event loop runs one read callback at a time, and each copies its bytes
 * out before it returns (the Transport contract: a chunk is never reused).
 */

const SHARED_READ_BUFFER_BYTES = 64 * 1024;
/** Up to this many bytes a plain loop copies faster than buffer.copy(), which first makes a view of the source. */
const SMALL_COPY_BYTES = 32;
/** A graceful end() waits this long for the peer's FIN before closing anyway. */
export const GRACEFUL_END_TIMEOUT_MS = 2000;

let shared: Buffer | undefined;

/** The buffer accepted sockets read into (made on first use). */
export function sharedReadBuffer(): Buffer {
  return (shared ??= Buffer.allocUnsafe(SHARED_READ_BUFFER_BYTES));
}

/** A copy of the first `nread` bytes of `buffer` (Buffer.allocUnsafe: a slice of Node's pool for small reads). */
export function copyOfRead(buffer: Buffer, nread: number): Buffer {
  const chunk = Buffer.allocUnsafe(nread);
  // A heartbeat read is a byte or two.
  if (nread <= SMALL_COPY_BYTES) for (let i = 0; i < nread; i++) chunk[i] = buffer[i]!;
  else buffer.copy(chunk, 0, 0, nread);
  return chunk;
}
