/**
 * The UDP channel's narrow port (what it needs from the adapter, STYLE.md §1.2) and its options,
 * with the numbers of docs/spec/0012-udp.md §Settings / §Limits as defaults.
 */
import type { Clock } from '../../time/clock.js';
import { MAX_DATAGRAM_BYTES, type PacketHeader } from './packet.js';

/** What the channel needs from its owner (STYLE.md §1.2). */
export interface ChannelPort {
  readonly clock: Clock;
  /** Header for the next datagram: the adapter's handshake state (INITIAL, ACCEPT, SHORT). */
  header(): PacketHeader;
  sendDatagram(bytes: Uint8Array): void;
  /** In-order stream bytes, each exactly once. */
  deliver(bytes: Uint8Array): void;
  /** Side-path bytes, at once, at most once, possibly never. */
  deliverSide(bytes: Uint8Array): void;
  /** bufferedBytes fell to the high-water mark after write() returned false. */
  drain(): void;
  /** The peer's stream ended: every byte before its F was delivered. */
  peerEnded(): void;
  /** The peer acknowledged our F: it has the whole stream. */
  endAcknowledged(): void;
  /** Run fn at the end of this turn (default queueMicrotask): a turn's writes share datagrams. */
  defer?(fn: () => void): void;
}

export interface ChannelOptions {
  maxDatagramBytes: number;
  /** In flight at most min(cwnd, this); the peer's reassembly window is the same number. */
  maxInFlightBytes: number;
  reorderWindowBytes: number;
  maxOutOfOrderPieces: number;
  /** write() returns false above this many unacknowledged bytes (spec 0012: 64 KiB). */
  highWaterBytes: number;
  /** write() throws BufferOverflowError past this (Connection's own bound is lower). */
  maxBufferedBytes: number;
  maxAckDelayMs: number;
  maxPtoMs: number;
  initialWindowDatagrams: number;
  minimumWindowDatagrams: number;
  /** Stream datagrams per turn at most, then ACK-clocked (spec 0012 §Loss 3). */
  maxBurstDatagrams: number;
  /** Side bytes queued within a turn at most; more are dropped as lost beats. */
  maxSideBytes: number;
}

export const CHANNEL_DEFAULTS: Readonly<ChannelOptions> = Object.freeze({
  maxDatagramBytes: MAX_DATAGRAM_BYTES,
  maxInFlightBytes: 256 * 1024,
  reorderWindowBytes: 256 * 1024,
  maxOutOfOrderPieces: 1024,
  highWaterBytes: 64 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxAckDelayMs: 50,
  maxPtoMs: 60_000,
  initialWindowDatagrams: 10,
  minimumWindowDatagrams: 2,
  maxBurstDatagrams: 10,
  maxSideBytes: 256,
});
