/**
 * Frames in and out by type (docs/spec/0015-metrics.md §Frames by type): one Float64Array slot
 * per frame type, owned by whoever passes it in the ConnectionEnv (a server: its ServerCounters,
 * shared by all its connections) and read only on scrape. A connection bumps one slot per frame
 * it decodes or hands to its transport — no allocation, closure or map lookup per frame — and
 * nothing when the env carries no counts (the client).
 *
 * Float64Array, not number[]: its elements stay unboxed doubles however large they grow (a Smi
 * array would turn into heap numbers past 2^30 on a long-lived server), and its length is fixed.
 */
import type { FrameType } from '../protocol/frames.js';

// Slots: the hot ones are named constants so each count point indexes with a literal.
export const SLOT_HELLO = 0;
export const SLOT_WELCOME = 1;
export const SLOT_DATA = 2;
export const SLOT_ACK = 3;
export const SLOT_PING = 4;
export const SLOT_PONG = 5;
export const SLOT_GOAWAY = 6;
export const SLOT_CLOSE = 7;
export const SLOT_PRESENCE = 8;

/** The frame type of each slot, in slot order (the `type` label values). */
export const FRAME_COUNT_TYPES: readonly FrameType[] = ['hello', 'welcome', 'data', 'ack', 'ping', 'pong', 'goaway', 'close', 'presence'];

/** A fresh, zeroed count array (one slot per FRAME_COUNT_TYPES entry). */
export function newFrameCounts(): Float64Array {
  return new Float64Array(FRAME_COUNT_TYPES.length);
}

/**
 * The slot of a decoded frame. A switch on the type (interned strings: pointer compares), the
 * frequent ones first: DATA is one compare, PONG two.
 */
export function frameSlot(type: FrameType): number {
  switch (type) {
    case 'data':
      return SLOT_DATA;
    case 'pong':
      return SLOT_PONG;
    case 'ack':
      return SLOT_ACK;
    case 'ping':
      return SLOT_PING;
    case 'presence':
      return SLOT_PRESENCE;
    case 'close':
      return SLOT_CLOSE;
    case 'goaway':
      return SLOT_GOAWAY;
    case 'hello':
      return SLOT_HELLO;
    case 'welcome':
      return SLOT_WELCOME;
    default: {
      const never: never = type;
      return never;
    }
  }
}
