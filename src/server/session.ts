/**
 * Session: the server's view of one client, from a successful handshake until its close.
 * Public events: 'message' (Buffer), 'ping' (id: the client pinged, we answered), 'pong'
 * (PongInfo: the answer to our PING, with RTT), 'drain', 'close' (CloseReason, once).
 * Resumable sessions (the client asked for it in HELLO; docs/spec/0006-resume.md) also emit
 * 'disconnect' (CloseReason) when their transport is lost — the session then waits up to the
 * resume window, still accepting send() into its replay buffer — and 'resume' when the client
 * comes back; 'close' follows only when the window passes or the session is closed for good.
 */
import type { TransportKind } from '../transport/types.js';
import { EventEmitter } from 'node:events';
import type { Connection, PongInfo } from '../connection/connection.js';
import type { ResumeState } from '../connection/resume.js';
import { BufferOverflowError, LifelineError } from '../errors.js';
import type { ServerCounters } from './server-counters.js';
import type { CloseReason } from '../connection/close-reason.js';
import { toPayload } from '../connection/payload.js';
import { loadNetKeepalive, readSocketOptions, type AppliedSocketOptions, type KernelSocketOptions } from '../transport/socket-tuning.js';
import type { Identity } from './auth.js';

export interface SessionInfo {
  id: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  /** Present for resumable sessions: sequence numbers and the replay buffer. */
  resume: ResumeState | undefined;
  /** What the server's `authenticate` answered; undefined without one. */
  identity: Identity | undefined;
  /** Server clock at the handshake (the close log line says how long the session lived). */
  openedAtMs: number;
}

/**
 * The server-side owner of the session's current connection (ServerPeer), as a narrow port. The
 * session reaches its connection, socket report and server through it instead of keeping its
 * own copies (one reference instead of three, per client).
 */
export interface SessionPeer {
  readonly connection: Connection;
  /** Kernel socket options applied to this connection's socket. */
  readonly socketOptions: AppliedSocketOptions | undefined;
  /** The server, which owns detached sessions. */
  readonly host: SessionOwner;
}

/** What a Session needs from its server. */
export interface SessionOwner {
  /** Ends a detached session for good. */
  closeDetached(session: Session, message: string): void;
  /** send() while detached grew the replay buffer (the server bounds the sum: maxResumeBytes). */
  detachedSessionGrew(session: Session): void;
  /** Plain counts for metrics (server-counters.ts): send() counts its buffer overflows there. */
  readonly counters: ServerCounters;
}

export type SessionState = 'open' | 'detached' | 'closed';

export interface Session {
  on(event: 'disconnect', listener: (reason: CloseReason) => void): this;
  on(event: 'resume', listener: () => void): this;
  on(event: 'message', listener: (data: Buffer) => void): this;
  on(event: 'pong', listener: (info: PongInfo) => void): this;
  on(event: 'ping', listener: (id: number) => void): this;
  on(event: 'drain', listener: () => void): this;
  on(event: 'close', listener: (reason: CloseReason) => void): this;
  once(event: 'close', listener: (reason: CloseReason) => void): this;
  once(event: 'message', listener: (data: Buffer) => void): this;
}

export class Session extends EventEmitter {
  /** Hex session id (128 random bits). */
  readonly id: string;
  readonly heartbeatInterval: number;
  readonly heartbeatTimeout: number;
  /** @internal Server clock (ms) when the session opened: its first handshake, not a resume. */
  readonly openedAtMs: number;
  /** Set once the session has closed. */
  closeReason: CloseReason | undefined;
  /** 'detached': the transport was lost and the client may resume within the window. */
  state: SessionState = 'open';
  /** @internal */
  readonly resume: ResumeState | undefined;
  /**
   * Who the client authenticated as (the server's `authenticate` option; docs/spec/0013): the
   * hook's answer at the latest handshake — a resume may bring a fresher object (a new token's
   * expiry), never another `id`. Undefined on a server without `authenticate`.
   */
  identity: Identity | undefined;
  /** The owner of the current connection (changes when a resumable session resumes). */
  private peer: SessionPeer;

  /** @internal created by the server after the handshake */
  constructor(peer: SessionPeer, info: SessionInfo) {
    super();
    // EventEmitter's constructor gives every emitter a dictionary-mode listener table (~200 bytes);
    // most sessions never get a listener. Node's EventEmitter creates the table on the first
    // on() when `_events` is undefined, and emit() / off() / listenerCount() accept that state.
    (this as unknown as { _events: unknown })._events = undefined;
    this.peer = peer;
    this.id = info.id;
    this.heartbeatInterval = info.heartbeatIntervalMs;
    this.heartbeatTimeout = info.heartbeatTimeoutMs;
    this.resume = info.resume;
    this.identity = info.identity;
    this.openedAtMs = info.openedAtMs;
  }

  /** Kernel socket options really in force (keepalive, TCP_USER_TIMEOUT) and what could not be applied. */
  get socketOptions(): AppliedSocketOptions | undefined {
    return this.peer.socketOptions;
  }

  private get connection(): Connection {
    return this.peer.connection;
  }

  /** Who sends the heartbeat PINGs on the current connection (spec 0010: 'server' when we lead). */
  get heartbeatLeader(): 'client' | 'server' {
    return this.connection.pushesStatus ? 'server' : 'client';
  }

  /** Whether the client asked for a session that survives transport loss. */
  get resumable(): boolean {
    return this.resume !== undefined;
  }

  /** @internal the peer that owns the current (or last) connection. */
  get currentPeer(): SessionPeer {
    return this.peer;
  }

  /** @internal the transport was lost; the client may come back within the resume window. */
  markDetached(reason: CloseReason): void {
    this.state = 'detached';
    this.emit('disconnect', reason);
  }

  /** @internal the client resumed on a new transport, owned by `peer`, authenticated as `identity` (same id). */
  attach(peer: SessionPeer, identity: Identity | undefined): void {
    this.peer = peer;
    this.identity = identity;
    this.state = 'open';
    this.emit('resume');
  }

  /** @internal the session is over: one 'close'. */
  finish(reason: CloseReason): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeReason = reason;
    this.emit('close', reason);
  }

  /** What the client came over now: 'tcp', 'tls' or 'ws' (TLS or not). A resumed session may change it. */
  get transport(): TransportKind {
    return this.connection.transport.kind;
  }

  get remoteAddress(): string | undefined {
    return this.connection.transport.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.connection.transport.remotePort;
  }

  /** Last measured heartbeat round trip, ms (undefined until the first PONG to our PING). */
  get rtt(): number | undefined {
    return this.connection.rttMs;
  }

  get smoothedRtt(): number | undefined {
    return this.connection.smoothedRttMs;
  }

  /** ms since anything was received from this client. */
  get sinceLastSeen(): number {
    return this.connection.sinceLastSeenMs;
  }

  get isOpen(): boolean {
    return this.state === 'open' && this.connection.state === 'open';
  }

  /** Bytes waiting in the transport's send buffer. */
  get bufferedAmount(): number {
    return this.connection.transport.bufferedBytes;
  }

  /**
   * Send a message (Buffer, Uint8Array or string — strings are UTF-8). Returns false when the
   * send buffer is above its high-water mark: the message is queued, wait for 'drain'.
   * Throws LL_ERR_NOT_OPEN after close, LL_ERR_FRAME_TOO_LARGE above the peer's frame limit.
   */
  send(data: Uint8Array | string): boolean {
    try {
      return this.sendPayload(toPayload(data));
    } catch (err) {
      if (err instanceof BufferOverflowError) this.peer.host.counters.bufferOverflows++;
      throw err;
    }
  }

  private sendPayload(payload: Uint8Array): boolean {
    if (this.state === 'detached' && this.resume) {
      // Kept for the replay when the client resumes (bounded: BufferOverflowError past the limit).
      this.connection.checkFrameSize(payload);
      this.resume.record(payload);
      this.peer.host.detachedSessionGrew(this);
      return !this.resume.aboveHighWater;
    }
    if (this.state === 'closed') throw new LifelineError('LL_ERR_NOT_OPEN', 'cannot send: session is closed');
    return this.connection.send(payload);
  }

  /**
   * Read the kernel's keepalive interval / count and TCP_USER_TIMEOUT for this session's socket
   * back (getsockopt via net-keepalive): proof that `socketOptions` is what is in force. Empty
   * when net-keepalive is unavailable or the transport is not TCP.
   */
  async readKernelSocketOptions(): Promise<KernelSocketOptions> {
    const socket = this.connection.transport.tunable;
    if (socket === undefined) return {};
    return readSocketOptions(socket, await loadNetKeepalive());
  }

  /** Close gracefully (CLOSE frame, then the transport). 'close' follows with code local-close. */
  close(message = ''): void {
    if (this.state === 'detached') this.peer.host.closeDetached(this, message || 'closed locally while detached');
    else this.connection.close('normal', message);
  }
}
