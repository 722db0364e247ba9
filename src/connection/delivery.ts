/**
 * Delivery: the DATA path both ways (PROTOCOL.md §6.6–§6.7, docs/spec/0006-resume.md) — send()
 * with its bounds, DATA frames written coalesced or under cork, a resume's replay in slices
 * (replay.ts), inbound DATA accepted in order, and the cumulative ACKs a resumable session
 * trades. Also the other frames an owner sends on an open connection (PRESENCE, GOAWAY).
 */
import { encodeAck, encodeDataHeader, encodeFrame } from '../protocol/encode.js';
import type { GoawayFrame, PresenceFrame } from '../protocol/frames.js';
import { BufferOverflowError, LifelineError } from '../errors.js';
import { pumpFor, Replay } from './replay.js';
import { HeartbeatDriver } from './heartbeat-driver.js';
import { SLOT_ACK, SLOT_DATA, SLOT_GOAWAY, SLOT_PRESENCE } from './frame-counts.js';

// Below this size a DATA frame is copied into one buffer; above it header and payload are
// written separately under cork (one writev) to avoid copying big payloads.
const COALESCE_LIMIT = 1024;
/** Resumable sessions: acknowledge received DATA at most this late… */
const ACK_DELAY_MS = 50;
/** …or at once after this many unacknowledged messages. */
const ACK_EVERY = 64;

export abstract class Delivery extends HeartbeatDriver {
  /**
   * Send one message. Returns false when the transport buffer is above its high-water mark
   * (the message is still queued: wait for the owner's drain()).
   */
  send(payload: Uint8Array): boolean {
    if (this.state !== 'open') {
      throw new LifelineError('LL_ERR_NOT_OPEN', `cannot send: connection is ${this.state}`);
    }
    this.checkFrameSize(payload);
    // Never unbounded memory: a peer that stops reading fills our buffer only this far. (A
    // resumable session is bounded by its replay buffer instead, which covers this one.)
    if (!this.resume.limits.retain && this.transport.bufferedBytes + payload.byteLength > this.maxBufferedBytes) {
      throw new BufferOverflowError(
        `cannot send ${payload.byteLength} more bytes: ${this.transport.bufferedBytes} bytes are already waiting for the peer to read (limit ${this.maxBufferedBytes})`,
      );
    }
    const seq = this.resume.record(payload);
    const replay = this.rareState?.replay;
    // Replaying: the replay's cursor writes this one after the messages before it (replay.ts).
    if (replay !== undefined) return !replay.blocked && !this.resume.aboveHighWater;
    const ok = this.writeData(seq, payload);
    return ok && !this.resume.aboveHighWater;
  }

  /** Refuse a message the peer could not accept (nothing is recorded or written). */
  checkFrameSize(payload: Uint8Array): void {
    // seq varint ≤ 8 bytes, length varint ≤ 4, type 1: the largest possible DATA header.
    if (payload.byteLength + 13 > this.peerMaxFrameSize) {
      const size = encodeDataHeader(this.resume.sentSeq + 1, payload.byteLength).byteLength + payload.byteLength;
      if (size > this.peerMaxFrameSize) {
        throw new LifelineError(
          'LL_ERR_FRAME_TOO_LARGE',
          `message of ${payload.byteLength} bytes exceeds the peer's maximum frame size (${this.peerMaxFrameSize} bytes)`,
        );
      }
    }
  }

  /**
   * After a resumed handshake: the peer has everything up to `peerLastSeq`; write every retained
   * message after it, with its original seq (the peer drops any it already has), in bounded
   * slices shared fairly with the other replays on this clock (replay.ts, spec 0006 §Replay in
   * slices). The first slice is written now unless this event-loop turn's budget is spent.
   */
  replayAfter(peerLastSeq: number): void {
    const resume = this.resume;
    resume.ack(Math.min(peerLastSeq, resume.sentSeq));
    if (this.state !== 'open' || resume.retainedPayload(Math.max(peerLastSeq, resume.ackedSeq) + 1) === undefined) return;
    this.rareState?.replay?.stop();
    const replay = new Replay(resume, this, pumpFor(this.clock), peerLastSeq);
    this.rare.replay = replay;
    replay.start();
  }

  /** @internal (ReplaySink) */
  replayData(seq: number, payload: Uint8Array): boolean {
    return this.writeData(seq, payload);
  }

  /** @internal (ReplaySink) */
  replayFinished(): void {
    if (this.rareState !== undefined) this.rareState.replay = undefined;
  }

  private writeData(seq: number, payload: Uint8Array): boolean {
    if (seq > this.resume.writtenSeq) this.resume.writtenSeq = seq;
    this.countSent(SLOT_DATA);
    const header = encodeDataHeader(seq, payload.byteLength);
    const size = header.byteLength + payload.byteLength;
    if (payload.byteLength <= COALESCE_LIMIT) {
      const frame = new Uint8Array(size);
      frame.set(header, 0);
      frame.set(payload, header.byteLength);
      return this.write(frame);
    }
    this.transport.cork();
    this.write(header);
    const ok = this.write(payload);
    this.transport.uncork();
    return ok;
  }

  /** Send a PRESENCE frame (PROTOCOL.md §6.11) on an open connection; false when not open (nothing written). */
  sendPresence(frame: PresenceFrame): boolean {
    if (this.state !== 'open') return false;
    this.countSent(SLOT_PRESENCE);
    this.write(encodeFrame(frame));
    return true;
  }

  /** Send GOAWAY; the connection stays open (the caller decides when to close). */
  goaway(frame: Omit<GoawayFrame, 'type'>): void {
    if (this.state !== 'open') return;
    this.countSent(SLOT_GOAWAY);
    this.write(encodeFrame({ type: 'goaway', ...frame }));
  }

  // --- inbound DATA and ACK ------------------------------------------------------------------

  protected deliver(seq: number, payload: Uint8Array): void {
    const verdict = this.resume.accept(seq);
    if (verdict === 'duplicate') {
      // A replay overlapping what we already had (resume): drop it, but tell the peer again.
      this.scheduleAck();
      return;
    }
    if (verdict === 'gap') {
      const message = `DATA out of sequence: expected ${this.resume.receivedSeq + 1}, got ${seq}`;
      if (this.state === 'closing') {
        this.awaitingPeerClose = false;
        this.transport.destroy();
        return;
      }
      this.fail('protocol-error', message, 'protocol', 'protocol-error');
      return;
    }
    this.scheduleAck();
    this.owner.message(payload, seq);
  }

  /** The peer acknowledged our DATA up to `seq` (resumable sessions). */
  protected acked(seq: number): void {
    const wasAbove = this.resume.aboveHighWater;
    if (!this.resume.ack(seq)) {
      const message = `ACK for seq ${seq}, but only ${this.resume.sentSeq} were sent`;
      this.fail('protocol-error', message, 'protocol', 'protocol-error');
      return;
    }
    // Backpressure lifts once acknowledged bytes fall below the high-water mark.
    if (wasAbove && !this.resume.aboveHighWater) this.owner.drain();
  }

  /**
   * Cumulative ACKs, only for resumable sessions (the peer frees its replay buffer on them):
   * at most one per ACK_DELAY_MS while data flows, at once after ACK_EVERY messages.
   */
  private scheduleAck(): void {
    const resume = this.resume;
    if (!resume.limits.retain || this.state !== 'open') return;
    if (resume.receivedSeq - resume.ackSentSeq >= ACK_EVERY) return this.sendAck();
    const rare = this.rare;
    if (rare.cancelAck) return;
    rare.cancelAck = this.scheduler.schedule(this.clock.now() + ACK_DELAY_MS, () => {
      rare.cancelAck = undefined;
      this.sendAck();
    });
  }

  private sendAck(): void {
    this.cancelPendingAck();
    const resume = this.resume;
    if (this.state !== 'open' || resume.receivedSeq <= resume.ackSentSeq) return;
    resume.ackSentSeq = resume.receivedSeq;
    this.countSent(SLOT_ACK);
    this.write(encodeAck(resume.receivedSeq));
  }
}
