/**
 * The shapes around a Connection (connection.ts): the owner port it reports to, the environment
 * a server shares between its connections, and what open() takes. Re-exported by connection.ts.
 */
import type { Frame, GoawayFrame, PeerStatus, PresenceFrame } from '../protocol/frames.js';
import type { DetectorSpec } from '../liveness/detectors/types.js';
import type { Clock } from '../time/clock.js';
import type { Scheduler } from '../time/scheduler.js';
import type { Transport } from '../transport/types.js';
import type { ResumeState } from './resume.js';
import type { CloseReason } from './close-reason.js';

export interface HealthReport {
  status: PeerStatus;
  /** 0..255 */
  load: number;
}

export interface PongInfo {
  id: number;
  status: PeerStatus;
  load: number;
  /** Round-trip time of the matching PING, when it was ours and still outstanding. */
  rttMs: number | undefined;
}

/** What a Connection needs from whoever owns it (a narrow port, STYLE.md §1.2). */
export interface ConnectionOwner {
  /** HELLO / WELCOME (or any other frame) received before open(). */
  handshakeFrame(frame: Frame): void;
  message(payload: Uint8Array, seq: number): void;
  /** The peer pinged us (already answered with a PONG); nowMs: when its bytes arrived. */
  ping(id: number, nowMs: number): void;
  /**
   * Our heartbeat sent a PING (the owner may time its answer: availability). silentForMs: how
   * long nothing had crossed the connection in either direction before it (received frames
   * always; written ones only with `trackWriteTimes`) — the idle a NAT on the path saw.
   */
  pingSent(id: number, nowMs: number, silentForMs: number): void;
  pong(info: PongInfo): void;
  /** A PRESENCE frame after the handshake (PROTOCOL.md §6.11); an owner without it closes with protocol-error. */
  presence?(frame: PresenceFrame): void;
  goaway(frame: GoawayFrame): void;
  /** The write buffer drained. */
  drain(): void;
  /** Exactly once. */
  closed(reason: CloseReason): void;
}

/**
 * What a connection needs from its surroundings apart from its transport and owner. A server
 * passes one object for all its connections (SharedEnvConnectionOptions): a connection then
 * keeps one reference instead of a copy of each setting (a server holds ~100k of them).
 */
export interface ConnectionEnv {
  clock: Clock;
  /** Where heartbeat checks are scheduled: the server's shared TimerWheel or a TimerScheduler. */
  scheduler: Scheduler;
  /** Largest frame we accept, bytes. */
  maxFrameSize: number;
  /**
   * Largest frame we accept before open(), bytes: an unauthenticated peer cannot make us buffer a
   * maxFrameSize HELLO (SECURITY.md §2.1). min(this, maxFrameSize) applies until open(), which
   * raises the limit to maxFrameSize from the next frame on. Default HANDSHAKE_MAX_FRAME_SIZE (16 KiB).
   */
  handshakeMaxFrameSize?: number;
  /** Status and load put in every PONG we send. */
  health: () => HealthReport;
  /**
   * Bytes send() may leave waiting in the transport's buffer (a peer that stops reading);
   * beyond it send() throws BufferOverflowError instead of growing memory. Default 4 MiB. Twice
   * this, whatever wrote it, closes the connection as a slow consumer (slow-consumer.ts).
   */
  maxBufferedBytes?: number;
  /**
   * Record when we last wrote (one clock read per write), so pingSent can report the silence
   * in both directions. Only the adaptive-heartbeat client needs it; servers leave it off.
   */
  trackWriteTimes?: boolean;
  /**
   * Frames decoded from the peer, one slot per type (frame-counts.ts): every connection sharing
   * this env bumps the same array, one slot per frame. Absent: not counted (the client).
   */
  framesReceived?: Float64Array;
  /** Frames handed to the transport, one slot per type, as framesReceived. */
  framesSent?: Float64Array;
}

export interface ConnectionOptions extends ConnectionEnv {
  transport: Transport;
  owner: ConnectionOwner;
}

/** The same, with the settings in one object shared by many connections (the server's). */
export interface SharedEnvConnectionOptions {
  transport: Transport;
  owner: ConnectionOwner;
  env: ConnectionEnv;
}

/** Stall guard (docs/spec/0004-availability.md §Stall guard). */
export interface StallGuardOptions {
  /** A heartbeat check that runs later than planned by more than this means *we* stalled, ms. */
  thresholdMs: number;
  /** Told once per stalled check, with how late it ran (the owner logs / emits it). */
  onStall?: (lateByMs: number) => void;
}

/** Default stall threshold: well above timer granularity, well below the timeout. */
export function defaultStallThresholdMs(timeoutMs: number, timerResolutionMs = 0): number {
  return Math.max(4 * timerResolutionMs, 200, Math.min(1000, timeoutMs / 4));
}

export interface OpenParams {
  /** Idle time before we ping, ms (may exceed the negotiated interval: see client). */
  pingAfterMs: number;
  /** Nothing received for this long → the peer is dead, ms. */
  timeoutMs: number;
  /** Random extra wait per ping cycle, ms (spreads pings of connections that started together). */
  jitterMs: number;
  /** Largest frame the peer accepts, bytes. */
  peerMaxFrameSize: number;
  /** Stall guard; absent = off. */
  stallGuard?: StallGuardOptions;
  /**
   * We lead the heartbeat and the peer does not ping (server leads, spec 0010): it cannot learn
   * our status from PONGs, so a PING of ours carries a PONG with our status and load before it
   * whenever they changed since we last told this peer (never on most beats: 1 byte per PING).
   */
  pushStatus?: boolean;
  /** Dead-peer detector; absent = fixed timeout. */
  detector?: DetectorSpec;
  /** The session's sequence state (resumable sessions keep it across connections). */
  resume?: ResumeState;
}

export type ConnectionState = 'handshake' | 'open' | 'closing' | 'closed';
