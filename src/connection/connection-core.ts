/**
 * ConnectionCore: what every part of a Connection shares — its state and fields, the one write
 * path, and the ways a connection ends with exactly one close reason (close, refuse, destroy, the
 * handshake timer, a slow consumer). The layers above it, one role each, are
 * heartbeat-driver.ts (open, PINGs, the dead verdict), delivery.ts (DATA out and in, ACKs,
 * replay) and connection.ts (inbound frames, transport events).
 *
 * Every field of a Connection is declared here, none in the layers above, so every Connection
 * has one shape (V8 keeps one hidden class) and the split adds no object or closure per
 * connection or per frame: the layers are one prototype chain.
 */
import { encodeFrame } from '../protocol/encode.js';
import type { FrameDecoder } from '../protocol/decoder.js';
import type { CloseCode, HelloFrame, PeerStatus, WelcomeFrame } from '../protocol/frames.js';
import type { Heartbeat } from '../liveness/heartbeat.js';
import type { Clock, Cancel } from '../time/clock.js';
import { createTimer, type Scheduler, type SchedulerTimer } from '../time/scheduler.js';
import type { Transport } from '../transport/types.js';
import { NOT_RETAINED, ResumeState } from './resume.js';
import { RareState } from './rare-state.js';
import { bytesTaken, slowConsumerCeiling, DEFAULT_MAX_BUFFERED_BYTES } from './slow-consumer.js';
import { SLOT_CLOSE, SLOT_HELLO, SLOT_WELCOME } from './frame-counts.js';
import type { CloseReason, CloseReasonCode, DetectedBy } from './close-reason.js';
import type { ConnectionEnv, ConnectionOwner, ConnectionState, HealthReport, StallGuardOptions } from './types.js';

/** statusTold when we do not push status (the peer leads). */
export const NOT_PUSHING = -1;
const F_AWAITING_PEER_CLOSE = 1;
const F_DEFERRED_FOR_STALL = 2;

export abstract class ConnectionCore {
  state: ConnectionState = 'handshake';
  readonly transport: Transport;
  protected readonly owner: ConnectionOwner;
  /** Clock, scheduler, health, limits: often shared by every connection of a server. */
  protected readonly env: ConnectionEnv;
  protected readonly decoder: FrameDecoder;
  protected heartbeat: Heartbeat | undefined = undefined;
  /** The heartbeat check: one re-armable timer for the connection's life (created by open()). */
  protected checkTimer: SchedulerTimer | undefined = undefined;
  /** When the pending heartbeat check was planned to run (stall detection). */
  protected plannedCheckAtMs = 0;
  protected stallGuard: StallGuardOptions | undefined = undefined;
  /** F_* booleans in one field (there is one Connection per client on a server). */
  private flags = 0;
  protected cancelHandshake: Cancel | undefined = undefined;
  protected lastSeenAtMs: number;
  /**
   * Set by open(). Before it, a bound no frame reaches: a small integer, not Infinity, so V8 keeps
   * the field in place instead of as a separate heap number per connection.
   */
  protected peerMaxFrameSize = 1_073_741_824; // 2^30
  /** Id of the last PING in the chunk being decoded (-1: none). */
  protected pingToAnswer = -1;
  /**
   * pushStatus only (else NOT_PUSHING), packed in one small integer: the load (bits 0–7) and
   * status (8–9; 3 = none yet) this peer last heard from us, and the id of the peer's last PING
   * (10–14), which our status PONGs echo so they never answer a PING of its own by mistake.
   */
  protected statusTold = NOT_PUSHING;
  /** Sequence numbers and (for resumable sessions) the replay buffer: outlives this connection. */
  protected resumeState: ResumeState | undefined = undefined;
  /** Close reason, GOAWAY, ACK timer, write time, peer status, slow-consumer watch: made on first use (rare-state.ts). */
  protected rareState: RareState | undefined = undefined;

  constructor(transport: Transport, owner: ConnectionOwner, env: ConnectionEnv, decoder: FrameDecoder) {
    this.transport = transport;
    this.owner = owner;
    this.env = env;
    this.decoder = decoder;
    this.lastSeenAtMs = env.clock.now();
  }

  /**
   * We sent CLOSE on an open connection and wait for the transport to end: DATA the peer wrote
   * before it saw our CLOSE is still delivered (like WebSocket's closing handshake), so a
   * graceful close loses no message that was already on the wire.
   */
  protected get awaitingPeerClose(): boolean {
    return (this.flags & F_AWAITING_PEER_CLOSE) !== 0;
  }

  protected set awaitingPeerClose(on: boolean) {
    this.flags = on ? this.flags | F_AWAITING_PEER_CLOSE : this.flags & ~F_AWAITING_PEER_CLOSE;
  }

  /** The check that follows a detected stall judges normally (at most one deferral in a row). */
  protected get deferredForStall(): boolean {
    return (this.flags & F_DEFERRED_FOR_STALL) !== 0;
  }

  protected set deferredForStall(on: boolean) {
    this.flags = on ? this.flags | F_DEFERRED_FOR_STALL : this.flags & ~F_DEFERRED_FOR_STALL;
  }

  protected get rare(): RareState {
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

  protected get clock(): Clock {
    return this.env.clock;
  }

  protected get scheduler(): Scheduler {
    return this.env.scheduler;
  }

  protected get health(): () => HealthReport {
    return this.env.health;
  }

  protected get maxBufferedBytes(): number {
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
  protected get resume(): ResumeState {
    return (this.resumeState ??= new ResumeState(NOT_RETAINED));
  }

  get lastReceivedSeq(): number {
    return this.resume.receivedSeq;
  }

  get lastSentSeq(): number {
    return this.resume.sentSeq;
  }

  /** Largest frame the peer accepts, bytes (set by open()). */
  get peerFrameSizeLimit(): number {
    return this.peerMaxFrameSize;
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
    this.countSent(frame.type === 'hello' ? SLOT_HELLO : SLOT_WELCOME);
    this.write(encodeFrame(frame));
  }

  // --- ending --------------------------------------------------------------------------------

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
  closeWith(wireCode: CloseCode, wireMessage: string, reason: Omit<CloseReason, 'sinceLastSeenMs'>): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const graceful = this.state === 'open' && reason.code !== 'protocol-error';
    if (graceful) this.finishReplay();
    this.rare.pendingReason = { ...reason, sinceLastSeenMs: this.sinceLastSeenMs };
    this.stopTimers();
    this.awaitingPeerClose = graceful;
    this.state = 'closing';
    // encodeFrame truncates the message to PROTOCOL.md's limit (UTF-8 safe).
    this.countSent(SLOT_CLOSE);
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

  protected fail(code: CloseReasonCode, message: string, detectedBy: DetectedBy, wireCode: CloseCode, error?: Error): void {
    this.closeWith(wireCode, message, {
      code,
      message,
      initiator: 'local',
      detectedBy,
      ...(error ? { error } : {}),
    });
  }

  /**
   * End at once with `reason`, telling the peer `wireCode` best effort (the heartbeat's dead
   * verdict, a slow consumer): a graceful end would wait on a path, or a reader, that is not there.
   */
  protected abort(wireCode: CloseCode, reason: CloseReason): void {
    this.rare.pendingReason = reason;
    this.stopTimers();
    // 'closing' before the write: a write that finds the buffer full judges nothing any more.
    this.state = 'closing';
    this.countSent(SLOT_CLOSE);
    this.write(encodeFrame({ type: 'close', code: wireCode, message: '' }));
    this.transport.destroy();
  }

  /**
   * A graceful close (ours or the peer's) during a replay writes the rest first: the CLOSE must
   * follow every message the application sent. Any other end just stops it (stopTimers).
   */
  protected finishReplay(): void {
    this.rareState?.replay?.finishNow();
  }

  /** Leaving 'open': timers, and a replay in progress (what it did not write stays retained). */
  protected stopTimers(): void {
    const rare = this.rareState;
    if (rare !== undefined) {
      if (rare.replay !== undefined) {
        rare.replay.stop();
        rare.replay = undefined;
      }
      rare.slowWatch?.cancel();
      rare.slowWatchArmed = false;
    }
    this.checkTimer?.cancel();
    this.cancelPendingAck();
    this.cancelHandshake?.();
    this.cancelHandshake = undefined;
  }

  protected cancelPendingAck(): void {
    const rare = this.rareState;
    if (rare === undefined) return;
    rare.cancelAck?.();
    rare.cancelAck = undefined;
  }

  // --- frames by type (frame-counts.ts, spec 0015 §Frames by type): one slot per frame, no
  // allocation; the env's arrays are shared by every connection of a server, absent on a client.

  /** A frame decoded from the peer. */
  protected countReceived(slot: number): void {
    const counts = this.env.framesReceived;
    if (counts !== undefined) counts[slot]!++;
  }

  /** A frame handed to write() (a DATA frame once, even when written as header + payload). */
  protected countSent(slot: number): void {
    const counts = this.env.framesSent;
    if (counts !== undefined) counts[slot]!++;
  }

  // --- writing and the slow-consumer policy (docs/spec/0003-enforcement-and-drain.md §Slow consumers)

  /** Every frame we send goes through here. */
  protected write(bytes: Uint8Array): boolean {
    if (this.env.trackWriteTimes === true) this.rare.lastWriteAtMs = this.clock.now();
    const ok = this.transport.write(bytes);
    // The fast path is this one test: the policy runs only above the transport's high-water mark.
    if (!ok) this.backpressured();
    return ok;
  }

  /** A write left the transport above its high-water mark: judge the bytes waiting for the peer. */
  private backpressured(): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const buffered = this.transport.bufferedBytes;
    const ceiling = slowConsumerCeiling(this.maxBufferedBytes);
    if (buffered > ceiling) {
      this.slowConsumer(`${buffered} bytes waiting for the peer to read, above the ceiling of ${ceiling}`, buffered);
      return;
    }
    // The no-progress rule needs the negotiated timeout: only once open.
    const hb = this.heartbeat;
    if (hb === undefined || this.state !== 'open') return;
    const rare = this.rare;
    if (rare.slowWatchArmed) return;
    rare.slowWatchArmed = true;
    rare.slowWatchTaken = bytesTaken(this.transport);
    rare.slowWatchSinceMs = this.clock.now();
    (rare.slowWatch ??= createTimer(this.scheduler, this.onSlowWatch, this)).arm(rare.slowWatchSinceMs + hb.timeoutMs);
  }

  /** The transport drained: the peer took everything, so the watch ends. */
  protected drainedForSlowWatch(): void {
    const rare = this.rareState;
    if (rare === undefined || !rare.slowWatchArmed) return;
    rare.slowWatchArmed = false;
    rare.slowWatch?.cancel();
  }

  /** A heartbeat timeout after the watch began (or last saw progress): did the peer take anything? */
  private onSlowWatch(): void {
    const rare = this.rareState;
    const hb = this.heartbeat;
    if (rare === undefined || hb === undefined || this.state !== 'open') return;
    const buffered = this.transport.bufferedBytes;
    if (buffered === 0) {
      rare.slowWatchArmed = false;
      return;
    }
    const now = this.clock.now();
    const taken = bytesTaken(this.transport);
    // It read something (maybe slowly), or it sent us nothing all period: a silent peer is the
    // heartbeat's to judge (its deadline comes first), and a dead path is not a slow reader —
    // a resumable session must detach on heartbeat-timeout, not end. Watch the next period.
    if (taken !== rare.slowWatchTaken || this.lastSeenAtMs <= rare.slowWatchSinceMs) {
      rare.slowWatchTaken = taken;
      rare.slowWatchSinceMs = now;
      rare.slowWatch!.arm(now + hb.timeoutMs);
      return;
    }
    this.slowConsumer(`the peer took none of ${buffered} waiting bytes for ${Math.round(now - rare.slowWatchSinceMs)} ms (heartbeat timeout ${hb.timeoutMs} ms)`, buffered);
  }

  private slowConsumer(message: string, bufferedBytes: number): void {
    this.abort('slow-consumer', {
      code: 'slow-consumer',
      message,
      initiator: 'local',
      detectedBy: 'send-buffer',
      sinceLastSeenMs: this.sinceLastSeenMs,
      bufferedBytes,
    });
  }
}
