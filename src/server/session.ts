/**
 * Session: the server's view of one client, from a successful handshake until its close.
 * Public events: 'message' (Buffer), 'ping' (id: the client pinged, we answered), 'pong'
 * (PongInfo: the answer to our PING, with RTT), 'drain', 'close' (CloseReason, once).
 * The session wraps a Connection rather than being one, so that resume (a later issue) can move
 * a session onto a new transport.
 */
import { EventEmitter } from 'node:events';
import type { Connection, PongInfo } from '../connection/connection.js';
import type { CloseReason } from '../connection/close-reason.js';
import { toPayload } from '../connection/payload.js';
import { loadNetKeepalive, readSocketOptions, type AppliedSocketOptions, type KernelSocketOptions } from '../transport/socket-tuning.js';
import { TcpTransport } from '../transport/tcp.js';

export interface SessionInfo {
  id: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  socketOptions: AppliedSocketOptions | undefined;
}

export interface Session {
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
  /** Kernel socket options really in force (keepalive, TCP_USER_TIMEOUT) and what could not be applied. */
  readonly socketOptions: AppliedSocketOptions | undefined;
  /** Set once the session has closed. */
  closeReason: CloseReason | undefined;
  private readonly connection: Connection;

  /** @internal created by the server after the handshake */
  constructor(connection: Connection, info: SessionInfo) {
    super();
    this.connection = connection;
    this.id = info.id;
    this.heartbeatInterval = info.heartbeatIntervalMs;
    this.heartbeatTimeout = info.heartbeatTimeoutMs;
    this.socketOptions = info.socketOptions;
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
    return this.connection.state === 'open';
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
    return this.connection.send(toPayload(data));
  }

  /**
   * Read the kernel's keepalive interval / count and TCP_USER_TIMEOUT for this session's socket
   * back (getsockopt via net-keepalive): proof that `socketOptions` is what is in force. Empty
   * when net-keepalive is unavailable or the transport is not TCP.
   */
  async readKernelSocketOptions(): Promise<KernelSocketOptions> {
    const transport = this.connection.transport;
    if (!(transport instanceof TcpTransport)) return {};
    return readSocketOptions(transport.socket, await loadNetKeepalive());
  }

  /** Close gracefully (CLOSE frame, then the transport). 'close' follows with code local-close. */
  close(message = ''): void {
    this.connection.close('normal', message);
  }
}
