/**
 * StreamSender: the sending half of the UDP channel's reliable stream. Holds written bytes until
 * the peer's cumulative ACK passes them, tracks which packets are in flight, detects loss by
 * packet and time thresholds (RFC 9002 §6.1), computes the probe timeout with backoff (§6.2),
 * and asks NewReno (§7) how much may be in flight. Pure: times are passed in.
 *
 * Offsets: stream bytes are offsets 0…; end() adds one virtual offset at the stream's end for the
 * F mark, so "F acknowledged" is just "cumulative > final offset" (TCP's FIN takes a sequence
 * number the same way, RFC 9293 §3.4).
 */
import type { AckSection, ByteRange } from './packet.js';
import { RangeSet } from './ranges.js';
import { NewReno, PACKET_THRESHOLD, PERSISTENT_CONGESTION_PTOS, RttStats, type CongestionLimits } from './recovery.js';
import { SendBuffer } from './send-buffer.js';

export interface SenderLimits extends CongestionLimits {
  /** Hard bound on bytes in flight, probes included (spec 0012: 256 KiB). */
  maxInFlightBytes: number;
  /** The peer's reassembly window above its cumulative ACK: never send past it (spec: 256 KiB). */
  peerWindowBytes: number;
  maxAckDelayMs: number;
  /** PTO backoff ceiling (spec 0012: 60 s; KCP's RTO cap is 60 s too). */
  maxPtoMs: number;
}

/** One datagram with stream bytes (or the F mark): ack-eliciting and counted in flight. */
interface SentPacket {
  pn: number;
  sentMs: number;
  size: number;
  start: number;
  end: number;
}

/** What the next datagram should carry: stream offsets [start, end), `fin` if end passes the F mark. */
export interface Segment {
  start: number;
  end: number;
  /** Wire bytes: end minus the virtual F offset when included. */
  length: number;
  fin: boolean;
}

export interface AckResult {
  /** False: the ACK claims packets or bytes we never sent; nothing was applied. */
  valid: boolean;
  newlyAcked: number;
  lost: number;
}

/** Below this, a window-limited segment waits for an ACK instead of going out tiny (RFC 1122 §4.2.3.4). */
const MIN_WINDOW_SEGMENT = 256;

export class StreamSender {
  readonly buffer = new SendBuffer();
  readonly rtt: RttStats;
  readonly cc: NewReno;
  /** Offset of the F mark once end() was called. */
  finOffset: number | undefined;
  /** Peer's cumulative ACK (as widened by SACK ranges): everything below arrived. */
  acknowledged = 0;
  /** One past the highest offset ever sent (F mark included). */
  sentEnd = 0;
  bytesInFlight = 0;
  ptoCount = 0;
  largestAcked = -1;
  /** Earliest time a packet becomes lost by the time threshold, or undefined (RFC 9002 §6.1.2). */
  lossTimeMs: number | undefined;
  readonly stats = { lostPackets: 0, retransmittedBytes: 0, evicted: 0, invalidAcks: 0 };
  private readonly acked = new RangeSet(); // above `acknowledged`
  private readonly retransmit = new RangeSet(); // lost, not yet resent, never acknowledged
  private flight: SentPacket[] = [];
  private lastElicitingSentMs = 0;
  private lastPtoMs = 0;

  constructor(readonly limits: SenderLimits) {
    this.rtt = new RttStats(limits.maxAckDelayMs);
    this.cc = new NewReno(limits);
  }

  /** Offsets the stream will have once everything is sent: bytes written, plus the F mark. */
  get streamEnd(): number {
    return this.finOffset === undefined ? this.buffer.end : this.finOffset + 1;
  }

  get finAcknowledged(): boolean {
    return this.finOffset !== undefined && this.acknowledged > this.finOffset;
  }

  get packetsInFlight(): number {
    return this.flight.length;
  }

  /** For tests and stats: has the peer acknowledged any offset of [start, end)? */
  overlapsAcknowledged(start: number, end: number): boolean {
    return start < this.acknowledged || this.acked.overlaps(start, end);
  }

  /** Buffered bytes the peer has not acknowledged cumulatively (SendBuffer holds exactly those). */
  get unacknowledgedBytes(): number {
    return this.buffer.length;
  }

  /** Bytes that may be in flight now: min(cwnd, the hard bound) (spec 0012 §Loss 3). */
  get window(): number {
    return Math.min(this.cc.window, this.limits.maxInFlightBytes);
  }

  /** Does this ACK claim only packets and bytes we sent? (Checked before anything is applied.) */
  isValidAck(ack: AckSection, largestSentPn: number): boolean {
    const top = ack.ranges.length > 0 ? ack.ranges[ack.ranges.length - 1]!.end : ack.cumulative;
    return ack.largestPn <= largestSentPn && ack.cumulative <= this.sentEnd && top <= this.sentEnd;
  }

  /**
   * The next segment of at most `room` wire bytes for a datagram whose other bytes number
   * `overhead`: lost ranges first, oldest first, then new bytes (spec 0012 §Loss 1). Bounded by
   * the window and the peer's reassembly window; undefined when nothing may go.
   */
  nextSegment(room: number, overhead: number, windowBytes = this.window): Segment | undefined {
    if (room < 1) return undefined;
    // Whole bytes: congestion avoidance grows the window by fractions (RFC 9002 §B.5).
    const windowLeft = Math.floor(windowBytes - this.bytesInFlight - overhead);
    let range: ByteRange | undefined = this.retransmit.first();
    if (range === undefined) {
      const end = Math.min(this.streamEnd, this.acknowledged + this.limits.peerWindowBytes);
      if (this.sentEnd >= end) return undefined;
      range = { start: this.sentEnd, end };
    }
    const want = this.cut(range, room);
    const wire = Math.min(want.length, room, windowLeft);
    if (windowLeft < 0 || (wire < want.length && wire < Math.min(MIN_WINDOW_SEGMENT, room))) return undefined;
    return this.cut(range, wire);
  }

  /**
   * Probe content after a PTO (RFC 9002 §6.2.4): the oldest unacknowledged bytes already sent,
   * else new bytes. Probes may exceed the congestion window (§7.5) but not maxInFlightBytes:
   * if needed, the oldest packets in flight leave the count and their bytes are queued again.
   */
  probeSegment(room: number, overhead: number, after: number): Segment | undefined {
    if (room < 1) return undefined;
    const pieces = this.acked.uncovered(Math.max(this.acknowledged, after), this.sentEnd);
    let range: ByteRange | undefined = pieces[0];
    if (range === undefined) {
      const end = Math.min(this.streamEnd, this.acknowledged + this.limits.peerWindowBytes);
      if (this.sentEnd >= end) return undefined;
      range = { start: this.sentEnd, end };
    }
    const segment = this.cut(range, room);
    while (this.flight.length > 0 && this.bytesInFlight + overhead + segment.length > this.limits.maxInFlightBytes) {
      const oldest = this.flight.shift()!;
      this.bytesInFlight -= oldest.size;
      this.requeue(oldest);
      this.stats.evicted++;
    }
    return segment;
  }

  /** Record a datagram that carries `segment` (size: whole datagram) as sent now. */
  onSent(pn: number, nowMs: number, size: number, segment: Segment, isRetransmission: boolean): void {
    this.flight.push({ pn, sentMs: nowMs, size, start: segment.start, end: segment.end });
    this.bytesInFlight += size;
    this.lastElicitingSentMs = nowMs;
    this.retransmit.remove(segment.start, segment.end);
    if (isRetransmission || segment.start < this.sentEnd) this.stats.retransmittedBytes += segment.length;
    this.sentEnd = Math.max(this.sentEnd, segment.end);
  }

  /** RFC 9002 §A.7 OnAckReceived, on byte ranges. `largestSentPn` bounds what may be acknowledged. */
  onAck(ack: AckSection, nowMs: number, largestSentPn: number): AckResult {
    if (!this.isValidAck(ack, largestSentPn)) {
      this.stats.invalidAcks++;
      return { valid: false, newlyAcked: 0, lost: 0 };
    }
    const before = this.acknowledged;
    let cumulative = Math.max(before, ack.cumulative);
    for (const r of ack.ranges) if (r.end > cumulative) this.acked.add(Math.max(r.start, cumulative), r.end);
    // The receiver never drops what it acknowledged, so a SACK range touching the cumulative
    // point extends it (an older ACK may be overtaken by a newer one).
    cumulative = this.acked.firstGap(cumulative);
    this.acked.removeBelow(cumulative);
    if (cumulative > before) {
      this.acknowledged = cumulative;
      this.buffer.releaseBelow(Math.min(cumulative, this.buffer.end));
      this.retransmit.removeBelow(cumulative);
    }
    for (const r of ack.ranges) this.retransmit.remove(r.start, r.end);

    const largestBefore = this.largestAcked;
    this.largestAcked = Math.max(this.largestAcked, ack.largestPn);
    const newly: SentPacket[] = [];
    const kept: SentPacket[] = [];
    for (const p of this.flight) {
      if (p.end > this.acknowledged && !this.acked.covers(Math.max(p.start, this.acknowledged), p.end)) {
        kept.push(p);
        continue;
      }
      newly.push(p);
      this.bytesInFlight -= p.size;
      // §5.1: a sample only when the largest acknowledged packet is newly acknowledged.
      if (p.pn === ack.largestPn && ack.largestPn > largestBefore) {
        this.rtt.sample(nowMs - p.sentMs, ack.ackDelayMs);
      }
    }
    this.flight = kept;
    if (newly.length === 0) return { valid: true, newlyAcked: 0, lost: 0 };
    // §A.7 order: losses first, so a window cut this ACK triggers also stops growth from it.
    const lost = this.detectLoss(nowMs);
    for (const p of newly) this.cc.onAcked(p.size, p.sentMs);
    this.ptoCount = 0; // §6.2.1: an acknowledgement resets the backoff
    return { valid: true, newlyAcked: newly.length, lost };
  }

  /** External round trip (the heartbeat's PING → PONG, the handshake): spec 0012 §Stream 7. */
  sampleRtt(ms: number): void {
    this.rtt.sample(ms, 0);
  }

  /**
   * RFC 9002 §6.1 / §A.10 DetectAndRemoveLostPackets: packets sent before the largest
   * acknowledged are lost PACKET_THRESHOLD packets or 9/8 RTT later; their bytes are queued again.
   */
  detectLoss(nowMs: number): number {
    const lossDelay = this.rtt.lossDelayMs;
    let lossTime: number | undefined;
    const kept: SentPacket[] = [];
    const lost: SentPacket[] = [];
    for (const p of this.flight) {
      // One expression for "lost by time" and for the loss timer, so float rounding can never
      // arm a timer for a packet this test then refuses to declare lost.
      const lostAtMs = p.sentMs + lossDelay;
      const isLost = p.pn < this.largestAcked && (lostAtMs <= nowMs || this.largestAcked >= p.pn + PACKET_THRESHOLD);
      if (!isLost) {
        kept.push(p);
        if (p.pn < this.largestAcked) lossTime = Math.min(lossTime ?? Infinity, lostAtMs);
        continue;
      }
      lost.push(p);
      this.bytesInFlight -= p.size;
      this.requeue(p);
    }
    this.flight = kept;
    this.lossTimeMs = lossTime;
    if (lost.length > 0) {
      this.stats.lostPackets += lost.length;
      this.cc.onLost(Math.max(...lost.map((p) => p.sentMs)), nowMs);
    }
    return lost.length;
  }

  /** PTO with backoff: min(PTO · 2^n, cap) (RFC 9002 §6.2.1, spec 0012 §Loss 2). */
  get ptoMs(): number {
    return Math.min(this.rtt.ptoMs * 2 ** this.ptoCount, this.limits.maxPtoMs);
  }

  /** When the loss-detection timer should fire (§A.8 SetLossDetectionTimer), or undefined. */
  get timerDeadlineMs(): number | undefined {
    if (this.lossTimeMs !== undefined) return this.lossTimeMs;
    if (this.flight.length === 0) return undefined;
    // From the last probe too: if a PTO could send nothing, the capped backoff must still move
    // the deadline forward (RFC 9002 has no cap, so it never needs this).
    return Math.max(this.lastElicitingSentMs, this.lastPtoMs) + this.ptoMs;
  }

  /** §A.9 OnLossDetectionTimeout: 'loss' (packets declared lost), 'probe' (send 1–2 probes), or none. */
  onTimer(nowMs: number): 'loss' | 'probe' | undefined {
    if (this.lossTimeMs !== undefined && this.lossTimeMs <= nowMs) {
      this.detectLoss(nowMs);
      return 'loss';
    }
    const deadline = this.timerDeadlineMs;
    if (deadline === undefined || deadline > nowMs) return undefined;
    this.ptoCount++;
    this.lastPtoMs = nowMs;
    // Persistent congestion (RFC 9002 §7.6), adapted: ACKs here name byte ranges, and a probe
    // resending the oldest bytes makes the lost copies before it look acknowledged, so the
    // "every packet over 3 PTOs lost" test is read off the backoff instead: the PTO expired
    // twice in a row (base + 2·base = 3 PTOs without any acknowledgement), after an RTT sample.
    // TCP collapses its window on an RTO the same way (RFC 5681 §3.1).
    if (this.ptoCount === PERSISTENT_CONGESTION_PTOS && this.rtt.samples > 0) this.cc.onPersistentCongestion();
    return 'probe';
  }

  /** Give up all state (destroy): nothing will be sent or resent. */
  clear(): void {
    this.buffer.clear();
    this.flight = [];
    this.bytesInFlight = 0;
    this.retransmit.clear();
    this.acked.clear();
    this.lossTimeMs = undefined;
  }

  /** A segment of `range` with at most `wire` bytes on the wire; includes the F mark when reached. */
  private cut(range: ByteRange, wire: number): Segment {
    const dataEnd = this.buffer.end;
    let end = Math.min(range.end, range.start + wire);
    // The F mark costs no wire byte: take it with the last data byte.
    if (this.finOffset !== undefined && end >= this.finOffset && range.end > this.finOffset) end = this.finOffset + 1;
    const fin = this.finOffset !== undefined && end === this.finOffset + 1;
    return { start: range.start, end, length: Math.min(end, dataEnd) - range.start, fin };
  }

  /** Queue the unacknowledged part of a lost (or evicted) packet for resending. */
  private requeue(p: SentPacket): void {
    const start = Math.max(p.start, this.acknowledged);
    for (const piece of this.acked.uncovered(start, p.end)) this.retransmit.add(piece.start, piece.end);
  }
}
