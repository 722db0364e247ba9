/**
 * StreamReceiver: the receiving half of the UDP channel's reliable stream. Reassembles stream
 * bytes by offset, delivers the contiguous prefix exactly once, buffers what arrived early (at
 * most `windowBytes` above the delivered point and `maxSegments` pieces: past either, bytes are
 * dropped unacknowledged and the sender resends them), and decides when to acknowledge
 * (RFC 9000 §13.2.1: within max_ack_delay, at once after 2 ack-eliciting packets, on a gap or a
 * duplicate). Also filters duplicated datagrams by packet number (a window of 64, as IPsec's
 * anti-replay window, RFC 4303 §3.4.3), so a duplicated heartbeat byte is never delivered twice.
 * Pure: times are passed in.
 */
import type { AckSection, ByteRange, StreamSection } from './packet.js';
import { MAX_ACK_RANGES } from './packet.js';

export interface ReceiverLimits {
  /** Reassembly window above the delivered point (spec 0012: 256 KiB). */
  windowBytes: number;
  /** Out-of-order pieces held at most (a peer sending 1-byte holes cannot cost 40 bytes each). */
  maxSegments: number;
  maxAckDelayMs: number;
}

interface Piece {
  offset: number;
  bytes: Uint8Array;
  /** False while still a view into the datagram being processed. */
  owned: boolean;
}

const PN_WINDOW = 64;

export class StreamReceiver {
  /** Every offset below this was delivered. */
  delivered = 0;
  /** Final offset, once the peer's F arrived. */
  finOffset: number | undefined;
  /** The F was delivered (everything before it too). */
  ended = false;
  /** Bytes held out of order. */
  heldBytes = 0;
  largestPn = -1;
  readonly stats = { duplicatePackets: 0, duplicateBytes: 0, beyondWindowBytes: 0, overSegmentLimit: 0 };
  private pieces: Piece[] = [];
  private largestPnMs = 0;
  private readonly seen = new Float64Array(PN_WINDOW); // pn + 1 at pn % 64
  private ackPending = false;
  private ackImmediate = false;
  private elicitingSinceAck = 0;
  private ackDeadlineMs = 0;
  private latestOffset = 0;

  constructor(readonly limits: ReceiverLimits) {}

  get outOfOrderPieces(): number {
    return this.pieces.length;
  }

  /**
   * Note a packet number: 'new', 'duplicate' (seen: drop the whole datagram), or 'old' (below
   * the window: its stream bytes are deduplicated by offset, but side bytes must be dropped).
   */
  notePn(pn: number, nowMs: number): 'new' | 'duplicate' | 'old' {
    if (pn <= this.largestPn - PN_WINDOW) return 'old';
    const slot = pn % PN_WINDOW;
    if (this.seen[slot] === pn + 1) {
      this.stats.duplicatePackets++;
      return 'duplicate';
    }
    this.seen[slot] = pn + 1;
    if (pn > this.largestPn) {
      this.largestPn = pn;
      this.largestPnMs = nowMs;
    }
    return 'new';
  }

  /** Would this S section contradict the stream so far (bytes past the end, a moved end)? */
  violates(s: StreamSection): string | undefined {
    const end = s.offset + s.bytes.length;
    if (this.finOffset !== undefined) {
      if (s.fin && end !== this.finOffset) return `stream end moved from ${this.finOffset} to ${end}`;
      if (end > this.finOffset) return `stream bytes past its end ${this.finOffset}`;
    } else if (s.fin) {
      const highest = this.pieces.length > 0 ? this.pieces[this.pieces.length - 1]! : undefined;
      const top = highest ? highest.offset + highest.bytes.length : this.delivered;
      if (end < Math.max(top, this.delivered)) return `stream end ${end} below bytes already received`;
    }
    return undefined;
  }

  /**
   * Take one S section (already checked with violates()). Returns the chunks now deliverable, in
   * order; views into `s.bytes` where possible, so nothing is copied on the in-order path.
   */
  onStream(s: StreamSection, nowMs: number): Uint8Array[] {
    const end = s.offset + s.bytes.length;
    const newFin = s.fin && this.finOffset === undefined;
    if (s.fin) this.finOffset = end;
    if (!this.ackPending) this.ackDeadlineMs = nowMs + this.limits.maxAckDelayMs;
    this.ackPending = true;
    if (++this.elicitingSinceAck >= 2) this.ackImmediate = true;
    // A gap, or a piece filling one, is acknowledged at once (fast loss recovery at the sender).
    if (s.offset > this.delivered || this.pieces.length > 0) this.ackImmediate = true;
    this.latestOffset = s.offset;

    const from = Math.max(s.offset, this.delivered);
    const to = Math.min(end, this.delivered + this.limits.windowBytes);
    if (to < end) this.stats.beyondWindowBytes += end - Math.max(to, s.offset);
    let fresh = 0;
    const out: Uint8Array[] = [];
    for (const gap of this.uncovered(from, to)) {
      if (this.pieces.length >= this.limits.maxSegments && gap.start !== this.delivered) {
        this.stats.overSegmentLimit++;
        continue;
      }
      const bytes = s.bytes.subarray(gap.start - s.offset, gap.end - s.offset);
      this.insert({ offset: gap.start, bytes, owned: false });
      fresh += gap.end - gap.start;
      // Deliver as we go: a gap filled frees room for the next one under the piece limit.
      while (this.pieces.length > 0 && this.pieces[0]!.offset === this.delivered) {
        const p = this.pieces.shift()!;
        out.push(p.bytes);
        this.delivered += p.bytes.length;
      }
    }
    // Nothing new: the peer resent what we have, so our ACK was probably lost (RFC 5681 §4.2).
    if (fresh === 0 && !newFin) {
      this.ackImmediate = true;
      this.stats.duplicateBytes += s.bytes.length;
    }
    // What stays is copied: a view would pin the whole datagram, past what heldBytes counts.
    let held = 0;
    for (const p of this.pieces) {
      if (!p.owned) {
        p.bytes = p.bytes.slice();
        p.owned = true;
      }
      held += p.bytes.length;
    }
    this.heldBytes = held;
    if (this.finOffset !== undefined && this.delivered === this.finOffset && !this.ended) this.ended = true;
    return out;
  }

  /** Offsets the peer may treat as received: delivered bytes, plus the F mark once delivered. */
  get cumulative(): number {
    return this.ended ? this.delivered + 1 : this.delivered;
  }

  /** Is an ACK owed, and when at the latest? (undefined: none owed) */
  get ackDueMs(): number | undefined {
    if (!this.ackPending) return undefined;
    return this.ackImmediate ? -Infinity : this.ackDeadlineMs;
  }

  /** Something to acknowledge (rides on any datagram going out, even before it is due). */
  get hasAck(): boolean {
    return this.ackPending;
  }

  /**
   * The ACK to send now. SACK ranges: the one holding the newest piece first (RFC 2018 §4), then
   * the lowest ones, so the sender learns both what just arrived and the oldest holes.
   */
  buildAck(nowMs: number): AckSection {
    const cumulative = this.cumulative;
    const all = this.ranges();
    const chosen: ByteRange[] = [];
    const newest = all.find((r) => r.start <= this.latestOffset && this.latestOffset < r.end);
    if (newest) chosen.push(newest);
    for (const r of all) {
      if (chosen.length >= MAX_ACK_RANGES) break;
      if (r !== newest) chosen.push(r);
    }
    chosen.sort((a, b) => a.start - b.start);
    return {
      largestPn: Math.max(this.largestPn, 0),
      ackDelayMs: Math.max(0, Math.round(nowMs - this.largestPnMs)),
      cumulative,
      ranges: chosen,
    };
  }

  onAckSent(): void {
    this.ackPending = false;
    this.ackImmediate = false;
    this.elicitingSinceAck = 0;
  }

  clear(): void {
    this.pieces = [];
    this.heldBytes = 0;
    this.ackPending = false;
  }

  /** Held pieces as merged ranges, with the F mark as one offset after the last byte. */
  private ranges(): ByteRange[] {
    const out: ByteRange[] = [];
    const push = (start: number, end: number): void => {
      const last = out[out.length - 1];
      if (last && last.end === start) last.end = end;
      else out.push({ start, end });
    };
    for (const p of this.pieces) push(p.offset, p.offset + p.bytes.length);
    if (this.finOffset !== undefined && !this.ended) push(this.finOffset, this.finOffset + 1);
    return out;
  }

  /** Parts of [from, to) not already held (delivered offsets are below `from`). */
  private uncovered(from: number, to: number): ByteRange[] {
    const out: ByteRange[] = [];
    let cursor = from;
    for (let i = this.indexAfter(from); i < this.pieces.length && cursor < to; i++) {
      const p = this.pieces[i]!;
      if (p.offset >= to) break;
      if (p.offset > cursor) out.push({ start: cursor, end: p.offset });
      cursor = Math.max(cursor, p.offset + p.bytes.length);
    }
    if (cursor < to) out.push({ start: cursor, end: to });
    return out;
  }

  /** Index of the first piece ending after `offset`. */
  private indexAfter(offset: number): number {
    let lo = 0;
    let hi = this.pieces.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = this.pieces[mid]!;
      if (p.offset + p.bytes.length <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private insert(piece: Piece): void {
    let lo = 0;
    let hi = this.pieces.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.pieces[mid]!.offset < piece.offset) lo = mid + 1;
      else hi = mid;
    }
    this.pieces.splice(lo, 0, piece);
  }
}
