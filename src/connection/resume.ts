/**
 * ResumeState: the sequence-number bookkeeping of one session, kept across the transports it
 * lives on (docs/spec/0006-resume.md). Outbound DATA gets the next seq and, when the session is
 * resumable, stays here until the peer's cumulative ACK covers it, so it can be replayed on a
 * new connection. Inbound DATA is accepted only in order; duplicates of a replay are dropped.
 * Bounded: `maxBytes` of unacknowledged payload, then BufferOverflowError — never silent loss,
 * never unbounded memory. No I/O, no timers.
 */
import { BufferOverflowError } from '../errors.js';

export interface ResumeLimits {
  /** Keep payloads for replay until acknowledged. Off for sessions that cannot resume. */
  retain: boolean;
  /** Unacknowledged bytes above which send() reports backpressure (returns false). */
  highWaterBytes: number;
  /** Unacknowledged bytes that may never be exceeded: send() throws BufferOverflowError. */
  maxBytes: number;
}

interface Retained {
  seq: number;
  payload: Uint8Array;
}

export class ResumeState {
  readonly limits: ResumeLimits;
  /** Highest seq we assigned to outbound DATA. */
  sentSeq = 0;
  /** Highest outbound seq the peer acknowledged. */
  ackedSeq = 0;
  /** Highest inbound seq delivered (in order). */
  receivedSeq = 0;
  /** Highest inbound seq we told the peer about in an ACK (or a WELCOME / HELLO). */
  ackSentSeq = 0;
  /** Highest outbound seq written to a transport at least once (the rest never left us). */
  writtenSeq = 0;
  /** Shared empty array while nothing is retained (every connection has a ResumeState). */
  private retained: Retained[] = NOTHING_RETAINED;
  private head = 0;
  private bytes = 0;

  constructor(limits: ResumeLimits) {
    this.limits = limits;
  }

  /** Bytes of payload sent but not yet acknowledged (0 when not retaining). */
  get unackedBytes(): number {
    return this.bytes;
  }

  get unackedCount(): number {
    return this.retained.length - this.head;
  }

  get aboveHighWater(): boolean {
    return this.bytes > this.limits.highWaterBytes;
  }

  /** Assign the next outbound seq (and retain the payload for replay). */
  record(payload: Uint8Array): number {
    if (this.limits.retain) {
      if (this.bytes + payload.byteLength > this.limits.maxBytes) {
        throw new BufferOverflowError(
          `cannot send ${payload.byteLength} more bytes: ${this.bytes} bytes are already waiting for the peer's acknowledgement (limit ${this.limits.maxBytes})`,
        );
      }
      if (this.retained === NOTHING_RETAINED) this.retained = [];
      this.retained.push({ seq: this.sentSeq + 1, payload });
      this.bytes += payload.byteLength;
    }
    return ++this.sentSeq;
  }

  /** The peer acknowledged everything up to `seq`. Returns false if it acknowledged more than we sent. */
  ack(seq: number): boolean {
    if (seq > this.sentSeq) return false;
    if (seq <= this.ackedSeq) return true;
    this.ackedSeq = seq;
    const retained = this.retained;
    while (this.head < retained.length && retained[this.head]!.seq <= seq) {
      this.bytes -= retained[this.head]!.payload.byteLength;
      retained[this.head++] = undefined as unknown as Retained; // release the payload
    }
    // Compact now and then so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > retained.length) {
      this.retained = retained.slice(this.head);
      this.head = 0;
    }
    return true;
  }

  /**
   * The retained payload of outbound `seq` (undefined once acknowledged, or never retained): O(1),
   * since retained seqs are consecutive. The replay's cursor (replay.ts) reads through it.
   */
  retainedPayload(seq: number): Uint8Array | undefined {
    const first = this.retained[this.head];
    if (first === undefined || seq < first.seq) return undefined;
    return this.retained[this.head + (seq - first.seq)]?.payload;
  }

  /** Payloads never acknowledged (all, or only those with seq <= upToSeq). */
  unackedPayloads(upToSeq = Infinity): Uint8Array[] {
    return this.retained.slice(this.head).filter((r) => r.seq <= upToSeq).map((r) => r.payload);
  }

  /** Payloads recorded but never written to any transport (queued while disconnected). */
  unwrittenPayloads(): Uint8Array[] {
    return this.retained.slice(this.head).filter((r) => r.seq > this.writtenSeq).map((r) => r.payload);
  }

  /** Judge an inbound DATA seq: the next one, a duplicate from a replay, or a gap (a bug or an attack). */
  accept(seq: number): 'next' | 'duplicate' | 'gap' {
    if (seq === this.receivedSeq + 1) {
      this.receivedSeq = seq;
      return 'next';
    }
    return seq <= this.receivedSeq ? 'duplicate' : 'gap';
  }
}

/** Never pushed to: record() swaps in a real array on the first retained payload. */
const NOTHING_RETAINED: Retained[] = [];

/** Limits for a session that cannot resume: nothing retained, so nothing to bound. */
export const NOT_RETAINED: ResumeLimits = Object.freeze({ retain: false, highWaterBytes: Infinity, maxBytes: Infinity });
