/**
 * The slow-consumer policy's numbers (docs/spec/0003-enforcement-and-drain.md §Slow consumers):
 * how far the bytes waiting for a peer may grow, and how we tell that a peer took some of them.
 * The reaction (CLOSE slow-consumer, drop the transport) is connection-core.ts's.
 */
import type { Transport } from '../transport/types.js';

/** send() refuses beyond this many bytes waiting for the peer, unless the env says otherwise. */
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** The ceiling is this many times maxBufferedBytes (8 MiB with the default 4 MiB). */
export const SLOW_CONSUMER_CEILING_FACTOR = 2;

/**
 * Bytes waiting for the peer above which the connection is closed at once. Above send()'s own
 * limit, so an application that handles backpressure itself (false, then BufferOverflowError) is
 * never cut for it; only what send() does not bound reaches it — our own frames (PONG, ACK,
 * PRESENCE, GOAWAY) and a resumable session's sends, which its replay buffer bounds instead.
 */
export function slowConsumerCeiling(maxBufferedBytes: number): number {
  return SLOW_CONSUMER_CEILING_FACTOR * maxBufferedBytes;
}

/**
 * A counter that grows when the peer takes bytes from us: what the transport accepted minus
 * what still waits. Without a bytesWritten count it is minus the bytes waiting, which grows when
 * they shrink. Read only when the watch fires (net.Socket's bytesWritten walks its buffer).
 */
export function bytesTaken(transport: Transport): number {
  return (transport.bytesWritten ?? 0) - transport.bufferedBytes;
}
