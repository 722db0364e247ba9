/**
 * ReliableChannel: one UDP connection's reliable, ordered byte stream plus an unreliable side
 * path, as a pure state machine (docs/spec/0012-udp.md §Stream and side path, §Loss, §Close).
 * The adapter above feeds it decoded datagrams and gives it a narrow port: a Clock, a way to
 * send a datagram, and sinks for stream bytes, side bytes and a few events.
 *
 * - Stream: write() bytes are packed at the end of the turn into datagrams of at most
 *   maxDatagramBytes, kept until acknowledged, resent on loss or PTO (RFC 9002 §6), within a
 *   NewReno window (§7) and the peer's reassembly window. The receiving side delivers them once,
 *   in order.
 * - Side path: writeSide() bytes (heartbeat PING / PONG) ride in the next datagram, never wait for
 *   the window, and are never kept or resent: a lost beat is a lost beat.
 * - The channel never judges liveness and never gives up: idle, it sends nothing; under total loss,
 *   it probes with a backoff capped at maxPtoMs forever. The heartbeat above decides (§Loss 4).
 *
 * Runtime-neutral: Uint8Array only, time only through the injected Clock.
 */
import { BufferOverflowError } from '../../errors.js';
import { varintLength } from '../../protocol/varint.js';
import type { Cancel, Clock } from '../../time/clock.js';
import { CHANNEL_DEFAULTS, type ChannelOptions, type ChannelPort } from './channel-port.js';
import { ackLength, encodePacket, headerLength, sideLength, streamHeaderLength, type NumberedPacket, type Sections } from './packet.js';
import { StreamReceiver } from './receiver.js';
import { StreamSender, type Segment } from './sender.js';
import { concatBytes } from '../../util/bytes.js';

export { CHANNEL_DEFAULTS, type ChannelOptions, type ChannelPort } from './channel-port.js';

export class ReliableChannel {
  readonly options: Readonly<ChannelOptions>;
  readonly stats = {
    datagramsSent: 0,
    datagramsReceived: 0,
    /** Datagrams whose ACK or stream contradicted what we know (dropped whole, counted). */
    invalidDatagrams: 0,
    ackOnlySent: 0,
    probesSent: 0,
    ptoExpirations: 0,
    sideBytesSent: 0,
    sideBytesDropped: 0,
    sideBytesReceived: 0,
    writesAfterEnd: 0,
  };
  private readonly sender: StreamSender;
  private readonly receiver: StreamReceiver;
  private readonly clock: Clock;
  private nextPn = 0;
  private side: Uint8Array[] = [];
  private sideBytes = 0;
  private corked = 0;
  private flushScheduled = false;
  private timerCancel: Cancel | undefined;
  private timerDeadlineMs = Infinity;
  private probesDue = 0;
  private ended = false;
  private destroyed = false;
  private needsDrain = false;
  private endReported = false;
  private peerEndReported = false;

  constructor(
    private readonly port: ChannelPort,
    options: Partial<ChannelOptions> = {},
  ) {
    const o = (this.options = Object.freeze({ ...CHANNEL_DEFAULTS, ...options }));
    this.clock = port.clock;
    this.sender = new StreamSender({
      datagramBytes: o.maxDatagramBytes,
      initialDatagrams: o.initialWindowDatagrams,
      minimumDatagrams: o.minimumWindowDatagrams,
      maxWindowBytes: o.maxInFlightBytes,
      maxInFlightBytes: o.maxInFlightBytes,
      peerWindowBytes: o.reorderWindowBytes,
      maxAckDelayMs: o.maxAckDelayMs,
      maxPtoMs: o.maxPtoMs,
    });
    this.receiver = new StreamReceiver({
      windowBytes: o.reorderWindowBytes,
      maxSegments: o.maxOutOfOrderPieces,
      maxAckDelayMs: o.maxAckDelayMs,
    });
  }

  /** Written bytes the peer has not acknowledged yet (queued or in flight): Transport.bufferedBytes. */
  get bufferedBytes(): number {
    return this.sender.unacknowledgedBytes;
  }
  get bytesInFlight(): number {
    return this.sender.bytesInFlight;
  }
  get congestionWindow(): number {
    return this.sender.cc.window;
  }
  /** Window cuts (at most one per round trip) and collapses to the minimum (persistent congestion). */
  get windowEvents(): { reductions: number; collapses: number } {
    return { reductions: this.sender.cc.reductions, collapses: this.sender.cc.collapses };
  }
  /** Current probe timeout with backoff, ms. */
  get ptoMs(): number {
    return this.sender.ptoMs;
  }
  get smoothedRttMs(): number {
    return this.sender.rtt.smoothed;
  }
  /** Bytes held for reordering on the receiving side. */
  get heldBytes(): number {
    return this.receiver.heldBytes;
  }
  get isDestroyed(): boolean {
    return this.destroyed;
  }
  get senderStats(): Readonly<StreamSender['stats']> {
    return this.sender.stats;
  }
  get receiverStats(): Readonly<StreamReceiver['stats']> {
    return this.receiver.stats;
  }
  /** For tests: has the peer acknowledged any stream offset of [start, end)? */
  overlapsAcknowledged(start: number, end: number): boolean {
    return this.sender.overlapsAcknowledged(start, end);
  }

  /** Queue stream bytes (kept, not copied, until acknowledged). False: above the high-water mark. */
  write(bytes: Uint8Array): boolean {
    if (this.ended || this.destroyed) {
      this.stats.writesAfterEnd++;
      return false;
    }
    if (this.bufferedBytes + bytes.length > this.options.maxBufferedBytes) {
      throw new BufferOverflowError(
        `cannot queue ${bytes.length} more bytes: ${this.bufferedBytes} are unacknowledged (limit ${this.options.maxBufferedBytes})`,
      );
    }
    this.sender.buffer.append(bytes);
    this.schedule();
    const ok = this.bufferedBytes <= this.options.highWaterBytes;
    if (!ok) this.needsDrain = true;
    return ok;
  }

  /** Queue side-path bytes for this turn's datagram. False: dropped (queue full or closed). */
  writeSide(bytes: Uint8Array): boolean {
    if (this.destroyed || bytes.length === 0) return false;
    if (this.sideBytes + bytes.length > this.options.maxSideBytes) {
      this.stats.sideBytesDropped += bytes.length;
      return false;
    }
    this.side.push(bytes);
    this.sideBytes += bytes.length;
    this.schedule();
    return true;
  }

  cork(): void {
    this.corked++;
  }

  uncork(): void {
    if (this.corked > 0 && --this.corked === 0) this.schedule();
  }

  /** F after the last byte written; it and everything before are resent until acknowledged. */
  end(): void {
    if (this.ended || this.destroyed) return;
    this.ended = true;
    this.sender.finOffset = this.sender.buffer.end;
    this.schedule();
  }

  /** This turn's datagrams go out once (the best-effort CLOSE); then nothing is sent or resent. */
  destroy(): void {
    if (this.destroyed) return;
    this.flush(true);
    this.release();
  }

  /** Drop everything without sending anything (the client's first channel, after a RETRY). */
  abandon(): void {
    this.release();
  }

  private release(): void {
    this.destroyed = true;
    this.timerCancel?.();
    this.timerCancel = undefined;
    this.sender.clear();
    this.receiver.clear();
    this.side = [];
    this.sideBytes = 0;
  }

  /** A round trip measured above (heartbeat PING → PONG, handshake): spec 0012 §Stream 7. */
  sampleRtt(ms: number): void {
    this.sender.sampleRtt(ms);
  }

  /** One decoded datagram of this connection. False: dropped (duplicate or contradictory). */
  receive(packet: NumberedPacket): boolean {
    if (this.destroyed) return false;
    const now = this.clock.now();
    this.stats.datagramsReceived++;
    const { ack, side, stream } = packet;
    // Check before applying anything: a contradictory datagram is dropped whole (spec: counted).
    if ((ack && !this.sender.isValidAck(ack, this.nextPn - 1)) || (stream && this.receiver.violates(stream))) {
      this.stats.invalidDatagrams++;
      return false;
    }
    const pnState = this.receiver.notePn(packet.pn, now);
    if (pnState === 'duplicate') return false;
    if (ack) this.sender.onAck(ack, now, this.nextPn - 1);
    if (side && pnState === 'new') {
      this.stats.sideBytesReceived += side.length;
      this.port.deliverSide(side);
    }
    if (stream && !this.destroyed) {
      for (const chunk of this.receiver.onStream(stream, now)) {
        if (this.destroyed) break;
        this.port.deliver(chunk);
      }
    }
    this.report();
    if (!this.destroyed) {
      this.schedule(); // answer with an ACK, or send what the ACK let into the window
      this.armTimer();
    }
    return true;
  }

  /** Pack and send now what may go (the deferred end-of-turn flush calls this). */
  flush(final = false, now = this.clock.now()): void {
    this.flushScheduled = false;
    if (this.destroyed || (this.corked > 0 && !final)) return;
    const max = this.options.maxDatagramBytes;
    let burst = 0;
    let probeAfter = 0;
    for (;;) {
      const pn = this.nextPn;
      const header = this.port.header();
      let size = headerLength(header, pn);
      const sections: Sections = {};
      const side = this.takeSide(max - size);
      if (side) {
        sections.side = side;
        size += sideLength(side);
      }
      if (this.receiver.hasAck) {
        sections.ack = this.receiver.buildAck(now);
        size += ackLength(sections.ack);
      }
      const streamHeader = streamHeaderLength(this.sender.streamEnd, max);
      const room = max - size - streamHeader;
      let segment: Segment | undefined;
      let probe = false;
      if (this.probesDue > 0 && !final) {
        segment = this.sender.probeSegment(room, size + streamHeader, probeAfter);
        if (segment) probe = true;
        else this.probesDue = 0;
      } else if (burst < this.options.maxBurstDatagrams) {
        segment = this.sender.nextSegment(room, size + streamHeader, final ? Infinity : undefined);
      }
      if (segment) {
        sections.stream = { offset: segment.start, bytes: this.sender.buffer.view(segment.start, segment.length), fin: segment.fin };
      }
      const ackDue = (this.receiver.ackDueMs ?? Infinity) <= now;
      if (!side && !segment && !(sections.ack && (ackDue || final))) break;
      const bytes = encodePacket({ ...header, pn, ...sections });
      this.nextPn++;
      if (sections.ack) this.receiver.onAckSent();
      if (segment) {
        this.sender.onSent(pn, now, bytes.length, segment, probe);
        if (probe) {
          this.probesDue--;
          this.stats.probesSent++;
          probeAfter = segment.end;
        } else burst++;
      } else if (!side) this.stats.ackOnlySent++;
      if (side) this.stats.sideBytesSent += side.length;
      this.stats.datagramsSent++;
      this.port.sendDatagram(bytes);
      if (this.destroyed) return;
    }
    if (!final) this.armTimer();
  }

  private takeSide(room: number): Uint8Array | undefined {
    if (this.side.length === 0) return undefined;
    // Whole writes only (a PING never splits across datagrams); they are a few bytes each.
    let n = 0;
    let bytes = 0;
    while (n < this.side.length) {
      const total = bytes + this.side[n]!.length;
      if (varintLength(total) + total > room) break;
      bytes = total;
      n++;
    }
    if (n === 0) return undefined;
    const taken = this.side.splice(0, n);
    this.sideBytes -= bytes;
    return taken.length === 1 ? taken[0] : concatBytes(taken);
  }

  private schedule(): void {
    if (this.flushScheduled || this.destroyed) return;
    this.flushScheduled = true;
    const run = (): void => this.flush();
    if (this.port.defer) this.port.defer(run);
    else queueMicrotask(run);
  }

  /** Events the last ACK or delivery made true, each reported once. */
  private report(): void {
    if (this.needsDrain && this.bufferedBytes <= this.options.highWaterBytes && !this.destroyed) {
      this.needsDrain = false;
      this.port.drain();
    }
    if (this.receiver.ended && !this.peerEndReported && !this.destroyed) {
      this.peerEndReported = true;
      this.port.peerEnded();
    }
    if (this.sender.finAcknowledged && !this.endReported && !this.destroyed) {
      this.endReported = true;
      this.port.endAcknowledged();
    }
  }

  /**
   * One timer for ACK delay, loss time and PTO. Moving a deadline later keeps the armed timer:
   * it fires early, finds nothing due and re-arms (STYLE.md §1.4: no timer churn per packet).
   */
  private armTimer(): void {
    if (this.destroyed) return;
    const ackDue = this.receiver.ackDueMs;
    const deadline = Math.min(
      this.sender.timerDeadlineMs ?? Infinity,
      ackDue !== undefined && Number.isFinite(ackDue) ? ackDue : Infinity,
    );
    if (deadline === Infinity) {
      this.timerCancel?.();
      this.timerCancel = undefined;
      return;
    }
    if (this.timerCancel && this.timerDeadlineMs <= deadline) return;
    this.timerCancel?.();
    this.timerDeadlineMs = deadline;
    this.timerCancel = this.clock.setTimer(() => this.onTimer(), deadline - this.clock.now());
  }

  private onTimer(): void {
    // A timer may run a hair before its deadline (float rounding of now + delay, libuv's
    // millisecond loop time): act as of the deadline, or the same deadline is re-armed forever.
    const now = Math.max(this.clock.now(), this.timerDeadlineMs);
    this.timerCancel = undefined;
    this.timerDeadlineMs = Infinity;
    if (this.destroyed) return;
    const verdict = this.sender.onTimer(now);
    if (verdict === 'probe') {
      this.stats.ptoExpirations++;
      this.probesDue = 2; // RFC 9002 §6.2.4: one or two probe datagrams
    }
    this.flush(false, now);
  }
}
