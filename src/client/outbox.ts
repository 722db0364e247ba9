/**
 * Outbox: what a client has to send that is not on the wire yet, and the resume bookkeeping
 * around it (docs/spec/0006-resume.md) — the queue of messages sent while no connection was
 * open (up to maxQueuedBytes), or, for a resumable client, the ResumeState whose seqs and
 * retained payloads outlive connections; the session id the server keeps for us; and what is
 * reported 'undelivered' when a session is not resumed or the client ends. Used by ClientCore
 * (core.ts), one per client.
 */
import { ResumeState } from '../connection/resume.js';
import type { WelcomeFrame } from '../protocol/frames.js';
import { LifelineError } from '../errors.js';

/** Where the outbox reports messages that will never be sent (the client's 'undelivered'). */
export type UndeliveredSink = (payloads: Uint8Array[], error: Error) => void;

/** What a link that is open can do with a queued message (narrow port: a Link fits). */
export interface OutboxLink {
  readonly state: string;
  send(payload: Uint8Array): boolean;
}

export class Outbox {
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  /** Resumable clients: our sequence state — sent-but-unacknowledged messages live here across reconnects. */
  private resumeState: ResumeState | undefined;
  /** The session the server keeps for us (from its WELCOME). */
  private resumeSessionId: Uint8Array | undefined;
  /** The last WELCOME resumed our session. */
  resumed = false;

  constructor(
    private readonly maxQueuedBytes: number,
    resume: boolean,
    private readonly undelivered: UndeliveredSink,
  ) {
    if (resume) this.resumeState = this.newResumeState();
  }

  /** Queued bytes plus (resumable) bytes the server has not acknowledged. */
  get bufferedBytes(): number {
    return this.queuedBytes + (this.resumeState?.unackedBytes ?? 0);
  }

  /**
   * Keep a message for the next connection. Resumable: it takes its seq now and is sent (or
   * replayed) exactly once; a copy (the caller may reuse its buffer), bounded by the resume
   * state (BufferOverflowError). Otherwise queued, up to maxQueuedBytes (LL_ERR_BUFFER_OVERFLOW).
   */
  hold(payload: Uint8Array): void {
    if (this.resumeState) {
      this.resumeState.record(payload.slice());
      return;
    }
    if (this.queuedBytes + payload.byteLength > this.maxQueuedBytes) {
      throw new LifelineError('LL_ERR_BUFFER_OVERFLOW', `cannot queue ${payload.byteLength} more bytes while not connected: maxQueuedBytes is ${this.maxQueuedBytes}`);
    }
    // Keep a copy: the caller may reuse its buffer before we are open.
    this.queue.push(payload.slice());
    this.queuedBytes += payload.byteLength;
  }

  /** Adaptive heartbeat: nothing in flight and a session to resume — a link may be dropped now. */
  get settled(): boolean {
    const state = this.resumeState;
    return this.resumeSessionId !== undefined && state !== undefined && state.unackedBytes === 0 && this.queue.length === 0;
  }

  /** What HELLO says about resume. */
  hello(): { resumable: boolean; sessionId?: Uint8Array; lastSeq?: number } {
    const state = this.resumeState;
    if (!state) return { resumable: false };
    return { resumable: true, ...(this.resumeSessionId ? { sessionId: this.resumeSessionId, lastSeq: state.receivedSeq } : {}) };
  }

  /** WELCOME said whether our session was kept: the sequence state the connection uses, and from where to replay. */
  welcome(welcome: WelcomeFrame): { state?: ResumeState; replayAfter?: number } {
    let state = this.resumeState;
    if (!state) return {};
    if (this.resumeSessionId && welcome.resumed === true) {
      this.resumed = true;
      return { state, replayAfter: welcome.resumeLastSeq ?? 0 };
    }
    this.resumed = false;
    if (this.resumeSessionId) {
      // The server no longer holds our session. What we sent on it and it never confirmed is the
      // application's to decide about ('undelivered'); what never left us (queued while
      // disconnected) goes to the new session, which starts from seq 1.
      const lost = state.unackedPayloads(state.writtenSeq);
      const neverSent = state.unwrittenPayloads();
      state = this.resumeState = this.newResumeState();
      for (const payload of neverSent) state.record(payload);
      if (lost.length > 0) {
        this.undelivered(lost, new LifelineError('LL_ERR_NOT_OPEN', 'the server did not resume the session: these messages were never acknowledged'));
      }
    }
    if (welcome.resumeWindowMs === undefined) {
      // This server does not resume sessions: send what waited (in order) without retaining it.
      const waiting = state.unackedPayloads();
      this.resumeSessionId = undefined;
      this.resumeState = this.newResumeState();
      this.queue.push(...waiting);
      for (const p of waiting) this.queuedBytes += p.byteLength;
      return {};
    }
    this.resumeSessionId = welcome.sessionId;
    // A fresh session: everything recorded while connecting goes out now, from seq 1.
    return { state, replayAfter: 0 };
  }

  /** The link opened: send the queue in order; what cannot go is reported undelivered. */
  flush(link: OutboxLink): void {
    const queue = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    const undelivered: Uint8Array[] = [];
    let firstError: Error | undefined;
    for (const payload of queue) {
      if (link.state !== 'open') {
        undelivered.push(payload);
        continue;
      }
      try {
        link.send(payload);
      } catch (err) {
        // Only a frame-size refusal can happen here (the server's limit is known only now).
        undelivered.push(payload);
        firstError ??= err as Error;
      }
    }
    if (undelivered.length > 0) {
      this.undelivered(undelivered, firstError ?? new LifelineError('LL_ERR_NOT_OPEN', 'connection closed before queued messages were sent'));
    }
  }

  /**
   * The client is done. After a graceful close of an open connection, TCP delivered what we
   * wrote before our CLOSE; otherwise messages the server never acknowledged are reported,
   * not silently dropped.
   */
  end(graceful: boolean, code: string): void {
    const unsent = [...(graceful ? [] : (this.resumeState?.unackedPayloads() ?? [])), ...this.queue];
    this.resumeState = undefined;
    this.queue = [];
    this.queuedBytes = 0;
    if (unsent.length > 0) this.undelivered(unsent, new LifelineError('LL_ERR_NOT_OPEN', `client closed (${code}) before queued messages were sent`));
  }

  private newResumeState(): ResumeState {
    const maxBytes = this.maxQueuedBytes;
    return new ResumeState({ retain: true, maxBytes, highWaterBytes: maxBytes / 4 });
  }
}
