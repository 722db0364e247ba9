/**
 * Connection: one transport + the frame codec + the heartbeat + exactly one close reason.
 * Role-neutral: the server's Session and the client both drive one. The handshake policy
 * (what to answer to HELLO, what to do with WELCOME) belongs to the owner; this class only
 * routes pre-open frames to it and enforces the handshake deadline.
 *
 * Reaction to liveness verdicts lives here (STYLE.md §1.3): liveness/heartbeat.ts says "ping"
 * or "dead"; this class writes the PING or tears the transport down.
 */
import { FrameDecoder, type FrameSink } from '../protocol/decoder.js';
import { encodeAck, encodeDataHeader, encodeFrame } from '../protocol/encode.js';
import { NOT_RETAINED, ResumeState } from './resume.js';
import type { CloseCode, Frame, GoawayFrame, HelloFrame, PeerStatus, PresenceFrame, WelcomeFrame } from '../protocol/frames.js';
import { Heartbeat, sharedHeartbeatOptions } from '../liveness/heartbeat.js';
import { createDetector } from '../liveness/detectors/index.js';
import type { Clock, Cancel } from '../time/clock.js';
import { createTimer, type Scheduler, type SchedulerTimer } from '../time/scheduler.js';
import type { Transport, TransportCloseCause, TransportHandlers } from '../transport/types.js';
import { pingBytes, pongBytes } from './pong-bytes.js';
import { RareState } from './rare-state.js';
import { pumpFor, Replay, type ReplaySink } from './replay.js';
import { BufferOverflowError, LifelineError, ProtocolError } from '../errors.js';
import type { CloseReason, CloseReasonCode, DetectedBy } from './close-reason.js';
import type {
  ConnectionEnv,
  ConnectionOptions,
  ConnectionOwner,
  ConnectionState,
  HealthReport,
  OpenParams,
  SharedEnvConnectionOptions,
  StallGuardOptions,
} from './types.js';

export type {
  ConnectionEnv,
  ConnectionOptions,
  ConnectionOwner,
  ConnectionState,
  HealthReport,
  OpenParams,
  PongInfo,
  SharedEnvConnectionOptions,
  StallGuardOptions,
} from './types.js';
export { defaultStallThresholdMs } from './types.js';


// Below this size a DATA frame is copied into one buffer; above it header and payload are
// written separately under cork (one writev) to avoid copying big payloads.
const COALESCE_LIMIT = 1024;
const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Resumable sessions: acknowledge received DATA at most this late… */
const ACK_DELAY_MS = 50;
/** …or at once after this many unacknowledged messages. */
const ACK_EVERY = 64;
/** pushStatus: a PONG rides with our PING when the load moved this much since we last told it. */
const LOAD_PUSH_STEP = 32;
/** statusTold when we do not push status (the peer leads). */
const NOT_PUSHING = -1;
/** statusTold's status bits before the first push (no status is 3). */
const NEVER_TOLD = 3 << 8;
const F_AWAITING_PEER_CLOSE = 1;
const F_DEFERRED_FOR_STALL = 2;

/**
 * The connection is its transport's handler (TransportHandlers: onData, onDrain,
 * onTransportClose), its decoder's sink (FrameSink: onFrame, onPing) and its replay's sink
 * (ReplaySink) itself: prototype methods, no adapter object or closure per connection (a server
 * holds ~100k of them).
 */
export class Connection implements TransportHandlers, FrameSink, ReplaySink {
  state: ConnectionState = 'handshake';
  readonly transport: Transport;
  private readonly owner: ConnectionOwner;
  /** Clock, scheduler, health, limits: often shared by every connection of a server. */
  private readonly env: ConnectionEnv;
  private readonly decoder: FrameDecoder;
  private heartbeat: Heartbeat | undefined;
  /** The heartbeat check: one re-armable timer for the connection's life (created by open()). */
  private checkTimer: SchedulerTimer | undefined;
  /** When the pending heartbeat check was planned to run (stall detection). */
  private plannedCheckAtMs = 0;
  private stallGuard: StallGuardOptions | undefined;
  /** F_* booleans in one field (there is one Connection per client on a server). */
  private flags = 0;
  private cancelHandshake: Cancel | undefined;
  private lastSeenAtMs: number;
  /**
   * Set by open(). Before it, a bound no frame reaches: a small integer, not Infinity, so V8 keeps
   * the field in place instead of as a separate heap number per connection.
   */
  private peerMaxFrameSize = 1_073_741_824; // 2^30
  /** Id of the last PING in the chunk being decoded (-1: none). */
  private pingToAnswer = -1;
  /**
   * pushStatus only (else NOT_PUSHING), packed in one small integer: the load (bits 0–7) and
   * status (8–9; 3 = none yet) this peer last heard from us, and the id of the peer's last PING
   * (10–14), which our status PONGs echo so they never answer a PING of its own by mistake.
   */
  private statusTold = NOT_PUSHING;
  /** Sequence numbers and (for resumable sessions) the replay buffer: outlives this connection. */
  private resumeState: ResumeState | undefined = undefined;
  /** Close reason, GOAWAY, ACK timer, write time, peer status: made on first use (rare-state.ts). */
  private rareState: RareState | undefined = undefined;

  constructor(options: ConnectionOptions | SharedEnvConnectionOptions) {
    this.transport = options.transport;
    this.owner = options.owner;
    this.env = 'env' in options ? options.env : options;
    this.decoder = new FrameDecoder({ maxFrameSize: this.env.maxFrameSize });
    this.lastSeenAtMs = this.clock.now();
    this.transport.setHandlers(this);
  }

  /**
   * We sent CLOSE on an open connection and wait for the transport to end: DATA the peer wrote
   * before it saw our CLOSE is still delivered (like WebSocket's closing handshake), so a
   * graceful close loses no message that was already on the wire.
   */
  private get awaitingPeerClose(): boolean {
    return (this.flags & F_AWAITING_PEER_CLOSE) !== 0;
  }

  private set awaitingPeerClose(on: boolean) {
    this.flags = on ? this.flags | F_AWAITING_PEER_CLOSE : this.flags & ~F_AWAITING_PEER_CLOSE;
  }

  /** The check that follows a detected stall judges normally (at most one deferral in a row). */
  private get deferredForStall(): boolean {
    return (this.flags & F_DEFERRED_FOR_STALL) !== 0;
  }

  private set deferredForStall(on: boolean) {
    this.flags = on ? this.flags | F_DEFERRED_FOR_STALL : this.flags & ~F_DEFERRED_FOR_STALL;
  }

  private get rare(): RareState {
    return (this.rareState ??= new RareState());
  }

  /** We lead the heartbeat and push our status with our PINGs (OpenParams.pushStatus). */
  get pushesStatus(): boolean {
    return this.statusTold !== NOT_PUSHING;
  }

  /** Last status the peer reported in a PONG ('ok' before any). */
  get peerStatus(): PeerStatus {
    return this.rareState?.peerStatus ?? 'ok';
  }

  /** Last load (0..255) the peer reported in a PONG (0 before any). */
  get peerLoad(): number {
    return this.rareState?.peerLoad ?? 0;
  }

  private get clock(): Clock {
    return this.env.clock;
  }

  private get scheduler(): Scheduler {
    return this.env.scheduler;
  }

  private get health(): () => HealthReport {
    return this.env.health;
  }

  private get maxBufferedBytes(): number {
    return this.env.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  }

  /** ms since the last frame was received (or since the connection started). */
  get sinceLastSeenMs(): number {
    return this.clock.now() - this.lastSeenAtMs;
  }

  /** Monotonic time (clock ms) the last bytes arrived. */
  get lastSeenAt(): number {
    return this.lastSeenAtMs;
  }

  get rttMs(): number | undefined {
    return this.heartbeat?.rtt.lastMs;
  }

  get smoothedRttMs(): number | undefined {
    return this.heartbeat?.rtt.smoothedMs;
  }

  /**
   * Made on first use: a connection that never carries DATA (an idle, heartbeating one) needs
   * no sequence state, and a server holds ~100k of them.
   */
  private get resume(): ResumeState {
    return (this.resumeState ??= new ResumeState(NOT_RETAINED));
  }

  get lastReceivedSeq(): number {
    return this.resume.receivedSeq;
  }

  get lastSentSeq(): number {
    return this.resume.sentSeq;
  }

  /** Close with `handshake-timeout` unless open() is called within `timeoutMs`. */
  startHandshakeTimer(timeoutMs: number): void {
    this.cancelHandshake?.();
    this.cancelHandshake = this.scheduler.schedule(this.clock.now() + timeoutMs, () => {
      this.cancelHandshake = undefined;
      if (this.state !== 'handshake') return;
      this.fail('handshake-timeout', `no handshake within ${timeoutMs} ms`, 'handshake-timer', 'handshake-timeout');
    });
  }

  /** Send a handshake frame (HELLO, WELCOME, or a refusing CLOSE is sent via closeWith). */
  sendHandshake(frame: HelloFrame | WelcomeFrame): void {
    this.write(encodeFrame(frame));
  }

  /** The handshake succeeded: start the heartbeat. */
  open(params: OpenParams): void {
    if (this.state !== 'handshake') return;
    this.cancelHandshake?.();
    this.cancelHandshake = undefined;
    this.state = 'open';
    this.peerMaxFrameSize = params.peerMaxFrameSize;
    this.stallGuard = params.stallGuard;
    if (params.resume) this.resumeState = params.resume;
    if (params.pushStatus === true) this.statusTold = NEVER_TOLD;
    const now = this.clock.now();
    const spec = params.detector;
    // The fixed timeout (the default) is judged by the Heartbeat itself, from settings shared by
    // every connection that negotiated the same: nothing per connection but its own state.
    const options =
      spec === undefined || spec.kind === 'fixed'
        ? sharedHeartbeatOptions(params.pingAfterMs, params.timeoutMs, params.jitterMs)
        : {
            intervalMs: params.pingAfterMs,
            timeoutMs: params.timeoutMs,
            jitterMs: params.jitterMs,
            detector: createDetector(spec, { timeoutMs: params.timeoutMs, pingAfterMs: params.pingAfterMs, nowMs: now }),
          };
    this.heartbeat = new Heartbeat(options, now);
    this.armCheck();
  }

  /**
   * Change how long we wait in silence before pinging (client, adaptive heartbeat): takes effect
   * from the next ping cycle; the death timeout stays the negotiated one.
   */
  setPingInterval(pingAfterMs: number, jitterMs: number): void {
    const hb = this.heartbeat;
    if (!hb || this.state !== 'open') return;
    hb.setPingInterval(pingAfterMs, jitterMs);
    // The pending check may be planned for the old, later ping time: re-arming replaces it.
    this.armCheck();
  }

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

  /**
   * A graceful close (ours or the peer's) during a replay writes the rest first: the CLOSE must
   * follow every message the application sent. Any other end just stops it (stopTimers).
   */
  private finishReplay(): void {
    this.rareState?.replay?.finishNow();
  }

  private writeData(seq: number, payload: Uint8Array): boolean {
    if (seq > this.resume.writtenSeq) this.resume.writtenSeq = seq;
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

  /** Largest frame the peer accepts, bytes (set by open()). */
  get peerFrameSizeLimit(): number {
    return this.peerMaxFrameSize;
  }

  /** Send a PRESENCE frame (PROTOCOL.md §6.11) on an open connection; false when not open (nothing written). */
  sendPresence(frame: PresenceFrame): boolean {
    if (this.state !== 'open') return false;
    this.write(encodeFrame(frame));
    return true;
  }

  /** Send GOAWAY; the connection stays open (the caller decides when to close). */
  goaway(frame: Omit<GoawayFrame, 'type'>): void {
    if (this.state !== 'open') return;
    this.write(encodeFrame({ type: 'goaway', ...frame }));
  }

  /** Graceful local close: send CLOSE, flush, close the transport. */
  close(code: CloseCode = 'normal', message = ''): void {
    const reasonCode: CloseReasonCode = code === 'going-away' ? 'server-shutdown' : 'local-close';
    this.closeWith(code, message, {
      code: reasonCode,
      message: message || 'closed locally',
      initiator: 'local',
      detectedBy: 'application',
    });
  }

  /** Refuse or end with a specific reason (used by the handshake policy and by close()). */
  closeWith(
    wireCode: CloseCode,
    wireMessage: string,
    reason: Omit<CloseReason, 'sinceLastSeenMs'>,
  ): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const graceful = this.state === 'open' && reason.code !== 'protocol-error';
    if (graceful) this.finishReplay();
    this.rare.pendingReason = { ...reason, sinceLastSeenMs: this.sinceLastSeenMs };
    this.stopTimers();
    this.awaitingPeerClose = graceful;
    this.state = 'closing';
    // encodeFrame truncates the message to PROTOCOL.md's limit (UTF-8 safe).
    this.write(encodeFrame({ type: 'close', code: wireCode, message: wireMessage }));
    this.transport.end();
  }

  /**
   * The peer broke the protocol or the handshake policy: send CLOSE with `code` and close.
   * The close reason carries the same code (protocol-error, unsupported-version…).
   */
  refuse(code: 'protocol-error' | 'unsupported-version', message: string): void {
    this.fail(code, message, 'protocol', code);
  }

  /** Drop the transport now, without a CLOSE frame. */
  destroy(reason: Omit<CloseReason, 'sinceLastSeenMs'>): void {
    if (this.state === 'closed') return;
    this.rare.pendingReason ??= { ...reason, sinceLastSeenMs: this.sinceLastSeenMs };
    this.stopTimers();
    this.state = 'closing';
    this.transport.destroy();
  }

  // --- inbound -------------------------------------------------------------------------------

  /** @internal (TransportHandlers) */
  onData(chunk: Uint8Array): void {
    if (this.state === 'closed' || (this.state === 'closing' && !this.awaitingPeerClose)) return;
    // One clock read per chunk, not per frame: frames in one chunk arrived together.
    const now = this.clock.now();
    this.lastSeenAtMs = now;
    this.heartbeat?.received(now);
    this.pingToAnswer = -1;
    try {
      // While decoding, lastSeenAtMs is when this chunk arrived (frames in one chunk arrived together).
      this.decoder.push(chunk, this);
      if (this.pingToAnswer >= 0 && this.state === 'open') this.answerPing(this.pingToAnswer);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      if (this.state === 'closing') {
        // Already closing on our side: nothing more to say, stop reading.
        this.awaitingPeerClose = false;
        this.transport.destroy();
        return;
      }
      this.fail('protocol-error', err.message, 'protocol', 'protocol-error', err);
    }
  }

  /** @internal (FrameSink) A frame decoded from the chunk being read. */
  onFrame(frame: Frame): void {
    this.handleFrame(frame, this.lastSeenAtMs);
  }

  private handleFrame(frame: Frame, now: number): void {
    if (this.state === 'closed') return;
    if (this.state === 'closing') {
      if (!this.awaitingPeerClose) return;
      if (frame.type === 'close') this.awaitingPeerClose = false;
      else if (frame.type === 'data') this.deliver(frame.seq, frame.payload);
      return;
    }
    if (this.state === 'handshake') {
      if (frame.type === 'close') return this.onRemoteClose(frame.code, frame.message);
      if (frame.type === 'goaway') {
        // A server shedding load answers with GOAWAY (retry-after, redirect) then CLOSE instead
        // of WELCOME (PROTOCOL.md §8.4): the close reason will carry it.
        this.rare.goawayReceived = frame;
        this.owner.goaway(frame);
        return;
      }
      this.owner.handshakeFrame(frame);
      return;
    }
    switch (frame.type) {
      case 'data':
        this.deliver(frame.seq, frame.payload);
        return;
      case 'ping':
        // Answered once the whole chunk is decoded (see onData).
        this.pingToAnswer = frame.id;
        return;
      case 'pong': {
        const rttMs = this.heartbeat?.pong(frame.id, now);
        // 'ok' / 0 is what a peer reports before any PONG: no RareState for a server whose
        // clients answer its PINGs (server leads) with the client's constant ok / 0.
        if (this.rareState !== undefined || frame.status !== 'ok' || frame.load !== 0) {
          const rare = this.rare;
          rare.peerStatus = frame.status;
          rare.peerLoad = frame.load;
        }
        this.owner.pong({ id: frame.id, status: frame.status, load: frame.load, rttMs });
        return;
      }
      case 'goaway':
        this.rare.goawayReceived = frame;
        this.owner.goaway(frame);
        return;
      case 'ack': {
        const wasAbove = this.resume.aboveHighWater;
        if (!this.resume.ack(frame.seq)) {
          const message = `ACK for seq ${frame.seq}, but only ${this.resume.sentSeq} were sent`;
          this.fail('protocol-error', message, 'protocol', 'protocol-error');
          return;
        }
        // Backpressure lifts once acknowledged bytes fall below the high-water mark.
        if (wasAbove && !this.resume.aboveHighWater) this.owner.drain();
        return;
      }
      case 'close':
        return this.onRemoteClose(frame.code, frame.message);
      case 'presence':
        // Only owners that speak it (spec 0014 §Subscriptions) get it; to any other it is a violation.
        if (this.owner.presence) this.owner.presence(frame);
        else this.fail('protocol-error', 'unexpected PRESENCE', 'protocol', 'protocol-error');
        return;
      case 'hello':
      case 'welcome':
        this.fail('protocol-error', `unexpected ${frame.type.toUpperCase()} after the handshake`, 'protocol', 'protocol-error');
        return;
      default: {
        const never: never = frame;
        return never;
      }
    }
  }

  /**
   * PINGs that arrive together (one read) get one PONG, echoing the last id (PROTOCOL.md §9):
   * bunched PINGs — a peer re-pinging while *we* were stalled, or a flood — cost one write, and
   * the owner's rate check sees one event per read, not a burst it would punish.
   */
  private answerPing(id: number): void {
    const h = this.health();
    // A shared, never-mutated 2-byte frame per (id, status, load): no allocation per PONG.
    this.write(pongBytes(id, h.status, h.load));
    if (this.statusTold !== NOT_PUSHING) this.statusTold = (id << 10) | statusBits(h);
    this.owner.ping(id, this.lastSeenAtMs);
  }

  /**
   * pushStatus: our PING, preceded by a PONG with our status and load when the peer has not
   * heard them yet (first beat) or they changed (status, or load by LOAD_PUSH_STEP). The PONG
   * echoes the peer's last PING id, already answered, so it gives the peer no false RTT sample.
   */
  private pingWithStatus(id: number): Uint8Array {
    const told = this.statusTold;
    const h = this.health();
    const now = statusBits(h);
    if ((now & 0x300) === (told & 0x300) && Math.abs((now & 0xff) - (told & 0xff)) < LOAD_PUSH_STEP) return pingBytes(id);
    const peerPingId = told >>> 10;
    this.statusTold = (peerPingId << 10) | now;
    const out = new Uint8Array(3);
    out.set(pongBytes(peerPingId, h.status, h.load), 0);
    out[2] = pingBytes(id)[0]!;
    return out;
  }

  /** @internal (FrameSink) A PING decoded without a frame object. */
  onPing(id: number): void {
    // Answered once the whole chunk is decoded (see onData); in any other state the frame takes
    // the general path (handshake: the owner refuses it; closing: ignored).
    if (this.state === 'open') this.pingToAnswer = id;
    else this.handleFrame({ type: 'ping', id }, this.lastSeenAtMs);
  }

  /** @internal (TransportHandlers) */
  onDrain(): void {
    this.rareState?.replay?.drained();
    this.owner.drain();
  }

  private deliver(seq: number, payload: Uint8Array): void {
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
    this.write(encodeAck(resume.receivedSeq));
  }

  private onRemoteClose(code: CloseCode, message: string): void {
    // The peer keeps delivering DATA until our transport ends (its closing handshake).
    if (this.state === 'open') this.finishReplay();
    const goaway = this.rareState?.goawayReceived;
    const reasonCode: CloseReasonCode = goaway
      ? 'goaway'
      : code === 'unsupported-version' || code === 'server-full' || code === 'protocol-error' || code === 'handshake-timeout'
        ? code
        : code === 'going-away'
          ? 'server-shutdown'
          : 'remote-close';
    this.rare.pendingReason = {
      code: reasonCode,
      message: message || (goaway ? `peer sent GOAWAY (${goaway.code})` : `peer closed (${code})`),
      initiator: 'peer',
      detectedBy: 'peer',
      remoteCode: code,
      sinceLastSeenMs: 0,
      ...(goaway
        ? { goaway: { code: goaway.code, retryAfterMs: goaway.retryAfterMs, ...(goaway.redirect ? { redirect: goaway.redirect } : {}) } }
        : {}),
    };
    this.stopTimers();
    this.state = 'closing';
    this.transport.end();
  }

  /** @internal (TransportHandlers) */
  onTransportClose(cause: TransportCloseCause): void {
    if (this.state === 'closed') return;
    this.stopTimers();
    this.state = 'closed';
    const reason = this.rareState?.pendingReason ?? this.reasonFromTransport(cause);
    this.owner.closed(reason);
  }

  private reasonFromTransport(cause: TransportCloseCause): CloseReason {
    const sinceLastSeenMs = this.sinceLastSeenMs;
    if (cause.kind === 'error') {
      const error = cause.error;
      return {
        code: 'transport-error',
        message: error ? `transport failed: ${error.message}` : 'transport failed',
        initiator: 'transport',
        detectedBy: 'transport',
        sinceLastSeenMs,
        ...(error ? { error } : {}),
      };
    }
    return {
      code: 'transport-closed',
      message: 'the peer closed the transport without a CLOSE frame (process exit or crash?)',
      initiator: 'transport',
      detectedBy: 'transport',
      sinceLastSeenMs,
    };
  }

  // --- heartbeat -----------------------------------------------------------------------------

  private armCheck(): void {
    const hb = this.heartbeat;
    if (!hb || this.state !== 'open') return;
    this.plannedCheckAtMs = hb.nextCheckAtMs;
    (this.checkTimer ??= createTimer(this.scheduler, this.onCheck, this)).arm(this.plannedCheckAtMs);
  }

  /** Forget the pending heartbeat check (the timer object stays for the next arm). */
  private cancelCheck(): void {
    this.checkTimer?.cancel();
  }

  private onCheck(): void {
    const hb = this.heartbeat;
    if (!hb || this.state !== 'open') return;
    const now = this.clock.now();
    const lateByMs = now - this.plannedCheckAtMs;
    const guard = this.stallGuard;
    if (guard && lateByMs > guard.thresholdMs && !this.deferredForStall) {
      // We ran late: our own process stalled (blocked loop, GC, SIGSTOP). The peer's frames may
      // be sitting unread in the kernel; judging now would blame the peer for our pause. Forgive
      // the stalled time and re-check on the next turn, after pending I/O has been read.
      this.deferredForStall = true;
      hb.forgive(lateByMs);
      guard.onStall?.(lateByMs);
      this.plannedCheckAtMs = now;
      this.checkTimer!.arm(now);
      return;
    }
    this.deferredForStall = false;
    // The usual case on a busy server: traffic moved the deadline since this check was planned.
    // check() would answer 'alive' with this same time (detectors are dead exactly from their
    // deadlineMs()), so re-arm without building a verdict.
    const nextCheckAtMs = hb.nextCheckAtMs;
    if (now < nextCheckAtMs && nextCheckAtMs !== Infinity) {
      this.plannedCheckAtMs = nextCheckAtMs;
      this.checkTimer!.arm(nextCheckAtMs);
      return;
    }
    const verdict = hb.check(now);
    switch (verdict.kind) {
      case 'alive':
        break;
      case 'ping': {
        const silentForMs = now - Math.max(hb.lastSeenAtMs, this.rareState?.lastWriteAtMs ?? 0);
        this.write(this.statusTold === NOT_PUSHING ? pingBytes(verdict.id) : this.pingWithStatus(verdict.id));
        this.owner.pingSent(verdict.id, now, silentForMs);
        break;
      }
      case 'dead':
        this.rare.pendingReason = {
          code: 'heartbeat-timeout',
          message: `nothing received for ${Math.round(verdict.sinceLastSeenMs)} ms (timeout ${hb.timeoutMs} ms, ${verdict.unansweredPings} unanswered pings)`,
          initiator: 'local',
          detectedBy: 'heartbeat',
          sinceLastSeenMs: verdict.sinceLastSeenMs,
        };
        // Best effort: tell a half-alive peer why, then drop at once (do not wait on a dead path).
        this.write(encodeFrame({ type: 'close', code: 'heartbeat-timeout', message: '' }));
        this.stopTimers();
        this.state = 'closing';
        this.transport.destroy();
        return;
      default: {
        const never: never = verdict;
        return never;
      }
    }
    this.armCheck();
  }

  // --- helpers -------------------------------------------------------------------------------

  private fail(
    code: CloseReasonCode,
    message: string,
    detectedBy: DetectedBy,
    wireCode: CloseCode,
    error?: Error,
  ): void {
    this.closeWith(wireCode, message, {
      code,
      message,
      initiator: 'local',
      detectedBy,
      ...(error ? { error } : {}),
    });
  }

  private write(bytes: Uint8Array): boolean {
    if (this.env.trackWriteTimes === true) this.rare.lastWriteAtMs = this.clock.now();
    return this.transport.write(bytes);
  }

  private cancelPendingAck(): void {
    const rare = this.rareState;
    if (rare === undefined) return;
    rare.cancelAck?.();
    rare.cancelAck = undefined;
  }

  /** Leaving 'open': timers, and a replay in progress (what it did not write stays retained). */
  private stopTimers(): void {
    const rare = this.rareState;
    if (rare?.replay !== undefined) {
      rare.replay.stop();
      rare.replay = undefined;
    }
    this.cancelCheck();
    this.cancelPendingAck();
    this.cancelHandshake?.();
    this.cancelHandshake = undefined;
  }
}

/** A report's status and load as statusTold packs them (status in bits 8–9, load in 0–7). */
function statusBits(h: HealthReport): number {
  const status = h.status === 'ok' ? 0 : h.status === 'busy' ? 1 : 2;
  return (status << 8) | (h.load & 0xff);
}
