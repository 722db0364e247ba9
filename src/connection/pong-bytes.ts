/**
 * PONG frames as shared, immutable Buffers: a server answers every client PING with one, and
 * building a fresh 2-byte array per PONG (plus the Buffer view Node makes of it to write) is
 * garbage on the hottest path. The wire bytes are exactly encodePong's (PROTOCOL.md §PONG): all
 * 2¹⁵ possible frames live in one 64 KiB table, and the Buffer view of one is made the first
 * time it is sent and kept.
 *
 * The returned bytes are shared by every connection: never mutate them. (socket.write and the
 * memory transport only read them.) Memory: the 64 KiB table, plus one small Buffer view per
 * frame actually sent — at most 96 × 256 of them (valid status bits × loads), in practice the
 * few loads a server reports times the 32 ids.
 */
import { encodePing, encodePong } from '../protocol/encode.js';
import { PING_ID_MODULO } from '../protocol/frames.js';
import type { PeerStatus } from '../protocol/frames.js';

/** One slot per (type byte & 0x7f, load): the type byte always has its top bit set. */
const SLOTS = 128 * 256;
const NodeBuffer = (globalThis as { Buffer?: { alloc(n: number): Uint8Array; from(b: Uint8Array): Uint8Array } }).Buffer;
const table: Uint8Array = NodeBuffer ? NodeBuffer.alloc(SLOTS * 2) : new Uint8Array(SLOTS * 2);
const views: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(SLOTS).fill(undefined);

/** A status's bits in the type byte (0ss00000), taken from encodePong itself. */
const OK_BITS = encodePong(0, 'ok', 0)[0]! & 0x7f;
const BUSY_BITS = encodePong(0, 'busy', 0)[0]! & 0x7f;
const DRAINING_BITS = encodePong(0, 'draining', 0)[0]! & 0x7f;

/** encodePong(id, status, load), shared. Validates like encodePong (throws on a bad id / load / status). */
export function pongBytes(id: number, status: PeerStatus, load: number): Uint8Array {
  const bits = status === 'ok' ? OK_BITS : status === 'busy' ? BUSY_BITS : status === 'draining' ? DRAINING_BITS : -1;
  if (bits >= 0 && (id >>> 0) === id && id < 32 && (load >>> 0) === load && load < 256) {
    const cached = views[((bits | id) << 8) | load];
    if (cached !== undefined) return cached;
  }
  // First use of this frame, or a value encodePong must reject: let it validate and encode.
  const bytes = encodePong(id, status, load);
  const index = ((bytes[0]! & 0x7f) << 8) | bytes[1]!;
  table[index * 2] = bytes[0]!;
  table[index * 2 + 1] = bytes[1]!;
  const view = table.subarray(index * 2, index * 2 + 2);
  views[index] = view;
  return view;
}

/** The 32 PING frames, shared the same way: a server that leads the heartbeat writes one per beat. */
const PINGS: readonly Uint8Array[] = Array.from({ length: PING_ID_MODULO }, (_, id) => NodeBuffer ? NodeBuffer.from(encodePing(id)) : encodePing(id));

/** encodePing(id), shared (never mutate it). Throws on a bad id like encodePing. */
export function pingBytes(id: number): Uint8Array {
  return PINGS[id] ?? encodePing(id);
}
