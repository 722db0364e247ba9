/**
 * Replay in slices (docs/spec/0006-resume.md §Replay in slices): after a resumed handshake, the
 * retained DATA the peer has not received is written again, a bounded slice at a time, so that
 * a burst of resumes (a server restart, a network blip cutting thousands of clients) cannot
 * hold the event loop for the whole of everyone's replay buffers at once.
 *
 * Two bounds, because one connection's bound is not enough: each replay writes at most
 * SLICE_BYTES / SLICE_MESSAGES before the next replay's turn, and all replays sharing a Clock
 * (every connection of a server, or a process's clients) write at most TURN_BYTES /
 * TURN_MESSAGES together before they yield to the event loop with `clock.setTimer(fn, 0)` — a
 * macrotask, so pending I/O and timers (heartbeats) run in between; queueMicrotask would not
 * yield. The turn budget refills only when that timer runs: within one poll phase (1,000 resume
 * HELLOs read together) the first replays use it, the rest wait for the next turn.
 *
 * Backpressure: a write that returns false stops the slice, and the replay waits for the
 * transport's onDrain before its next one (the Transport contract: drain follows a false write).
 *
 * Ordering: the replay is a cursor over ResumeState's retained messages, up to its sentSeq as
 * it is *now*: a send() during a replay only records its message, which the cursor reaches in
 * turn, so new messages go out after the replayed ones and never between them.
 */
import type { Cancel, Clock } from '../time/clock.js';
import type { ResumeState } from './resume.js';

/** One replay's slice: bytes (of payload) and messages before the next replay's turn. */
export const SLICE_BYTES = 64 * 1024;
export const SLICE_MESSAGES = 256;
/** All replays of one Clock together, per event-loop turn. */
export const TURN_BYTES = 256 * 1024;
export const TURN_MESSAGES = 1024;

/** What a replay needs from its connection (narrow port, STYLE.md §1.2). */
export interface ReplaySink {
  /** Write retained DATA `seq` again; false when the transport is above its high-water mark. */
  replayData(seq: number, payload: Uint8Array): boolean;
  /** Its transport: a slice's writes are batched into one send (cork / uncork). */
  readonly transport: { cork(): void; uncork(): void };
  /** Everything retained is written: send() may write directly again. */
  replayFinished(): void;
}

const S_READY = 0;
const S_QUEUED = 1;
const S_WAITING_FOR_DRAIN = 2;
const S_DONE = 3;

export class Replay {
  /** Next seq to write. */
  private nextSeq: number;
  private state = S_READY;
  /** Messages written by the last slice (the pump's turn budget counts them). */
  lastSliceMessages = 0;

  constructor(
    private readonly resume: ResumeState,
    private readonly sink: ReplaySink,
    private readonly pump: ReplayPump,
    afterSeq: number,
  ) {
    this.nextSeq = afterSeq + 1;
  }

  /** Start: the first slice is written now if this turn has budget left, else on a later turn. */
  start(): void {
    this.pump.enqueue(this);
  }

  /** True while waiting for the transport to drain (send() reports backpressure then). */
  get blocked(): boolean {
    return this.state === S_WAITING_FOR_DRAIN;
  }

  get done(): boolean {
    return this.state === S_DONE;
  }

  /** @internal (ReplayPump) */
  get queued(): boolean {
    return this.state === S_QUEUED;
  }

  /** @internal (ReplayPump) In its queue, or taken out of it for a slice. */
  setQueued(on: boolean): void {
    if (this.state === S_DONE) return;
    this.state = on ? S_QUEUED : S_READY;
  }

  /** The transport drained: continue, if this replay was waiting for it. */
  drained(): void {
    if (this.state !== S_WAITING_FOR_DRAIN) return;
    this.state = S_READY;
    this.pump.enqueue(this);
  }

  /**
   * Stop for good (close, transport lost): nothing more is written; what is still retained stays
   * for the next connection's replay. A queued entry is skipped by the pump, not searched for.
   */
  stop(): void {
    this.state = S_DONE;
  }

  /**
   * Graceful close during a replay: write the rest now, in one go and ignoring backpressure (as
   * the whole replay was written before slicing), so the CLOSE that follows comes after every
   * message the application sent — a graceful close promises they were written. Bounded by
   * the session's replay buffer (maxResumeBytesPerSession / maxQueuedBytes).
   */
  finishNow(): void {
    if (this.state === S_DONE) return;
    this.slice(Infinity, Infinity, true);
    this.state = S_DONE;
  }

  /** @internal (ReplayPump) Write one slice; returns the payload bytes written. */
  slice(maxBytes: number, maxMessages: number, ignoreBackpressure = false): number {
    const resume = this.resume;
    const sink = this.sink;
    // An ACK may have freed messages the cursor had not reached (the peer had them already).
    let seq = Math.max(this.nextSeq, resume.ackedSeq + 1);
    let bytes = 0;
    let messages = 0;
    let ok = true;
    const transport = sink.transport;
    transport.cork();
    while (seq <= resume.sentSeq && bytes < maxBytes && messages < maxMessages) {
      const payload = resume.retainedPayload(seq);
      if (payload === undefined) break;
      ok = sink.replayData(seq, payload) || ignoreBackpressure;
      bytes += payload.byteLength;
      messages++;
      seq++;
      if (!ok) break;
    }
    transport.uncork();
    this.nextSeq = seq;
    this.lastSliceMessages = messages;
    if (seq > resume.sentSeq || resume.retainedPayload(seq) === undefined) {
      this.state = S_DONE;
      sink.replayFinished();
    } else if (!ok) {
      this.state = S_WAITING_FOR_DRAIN;
    }
    return bytes;
  }
}

/**
 * The replays of one Clock: a round-robin queue served within a budget per event-loop turn.
 * One per Clock (pumpFor), because the event loop is what the budget protects, and the
 * connections of a server share its clock.
 */
export class ReplayPump {
  private queue: Replay[] = [];
  private head = 0;
  private bytesLeft = TURN_BYTES;
  private messagesLeft = TURN_MESSAGES;
  private cancelTurn: Cancel | undefined = undefined;
  private running = false;

  constructor(private readonly clock: Clock) {}

  /** Replays waiting for a turn (stopped ones included until the pump reaches them). */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  enqueue(replay: Replay): void {
    if (replay.queued || replay.done) return;
    replay.setQueued(true);
    this.queue.push(replay);
    this.run();
  }

  private run(): void {
    if (this.running) return; // a write that re-entered: the loop below picks the replay up
    this.running = true;
    try {
      while (this.head < this.queue.length && this.bytesLeft > 0 && this.messagesLeft > 0) {
        const replay = this.queue[this.head]!;
        this.queue[this.head++] = undefined as unknown as Replay;
        if (!replay.queued) continue; // stopped while queued
        replay.setQueued(false);
        const bytes = replay.slice(Math.min(SLICE_BYTES, this.bytesLeft), Math.min(SLICE_MESSAGES, this.messagesLeft));
        this.bytesLeft -= bytes;
        this.messagesLeft -= Math.max(1, replay.lastSliceMessages);
        if (!replay.done && !replay.blocked) {
          replay.setQueued(true);
          this.queue.push(replay);
        }
      }
    } finally {
      this.running = false;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    // Budget spent (now or by earlier slices of this turn) or replays waiting: a new turn later.
    const spent = this.bytesLeft < TURN_BYTES || this.messagesLeft < TURN_MESSAGES;
    if ((spent || this.waiting > 0) && this.cancelTurn === undefined) this.cancelTurn = this.clock.setTimer(this.nextTurn, 0);
  }

  private readonly nextTurn = (): void => {
    this.cancelTurn = undefined;
    this.bytesLeft = TURN_BYTES;
    this.messagesLeft = TURN_MESSAGES;
    if (this.waiting > 0) this.run();
  };
}

const pumps = new WeakMap<Clock, ReplayPump>();

/** The pump of every connection on this clock. */
export function pumpFor(clock: Clock): ReplayPump {
  let pump = pumps.get(clock);
  if (pump === undefined) pumps.set(clock, (pump = new ReplayPump(clock)));
  return pump;
}
