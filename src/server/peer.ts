/**
 * ServerPeer: the server-side owner of one Connection. Before the handshake it applies the
 * HELLO policy (version, negotiation); afterwards it forwards connection events to the public
 * Session. One per accepted transport.
 */
import { randomBytes } from 'node:crypto';
import { Connection, type ConnectionOwner, type PongInfo } from '../connection/connection.js';
import type { CloseReason } from '../connection/close-reason.js';
import { asBuffer } from '../connection/payload.js';
import { PROTOCOL_VERSION, type Frame, type GoawayFrame } from '../protocol/frames.js';
import { negotiateHeartbeat, pingSchedule, type HeartbeatBounds } from '../liveness/negotiate.js';
import type { Clock } from '../time/clock.js';
import type { Scheduler } from '../time/scheduler.js';
import type { Transport } from '../transport/types.js';
import type { AppliedSocketOptions } from '../transport/socket-tuning.js';
import type { ResolvedServerOptions } from './options.js';
import { Session } from './session.js';

/** What a peer needs from its server (narrow port). */
export interface PeerHost {
  readonly options: ResolvedServerOptions;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly bounds: HeartbeatBounds;
  sessionOpened(peer: ServerPeer, session: Session): void;
  peerClosed(peer: ServerPeer, reason: CloseReason): void;
}

const SESSION_ID_BYTES = 16;

export class ServerPeer implements ConnectionOwner {
  readonly connection: Connection;
  session: Session | undefined;
  private readonly host: PeerHost;
  private readonly socketOptions: AppliedSocketOptions | undefined;

  constructor(transport: Transport, host: PeerHost, socketOptions?: AppliedSocketOptions) {
    this.host = host;
    this.socketOptions = socketOptions;
    this.connection = new Connection({
      transport,
      owner: this,
      clock: host.clock,
      scheduler: host.scheduler,
      maxFrameSize: host.options.maxFrameSize,
      health: host.options.health,
    });
    this.connection.startHandshakeTimer(host.options.handshakeTimeout);
  }

  handshakeFrame(frame: Frame): void {
    const conn = this.connection;
    if (frame.type !== 'hello') {
      const message = `expected HELLO, got ${frame.type.toUpperCase()}`;
      conn.refuse('protocol-error', message);
      return;
    }
    if (frame.version < 1) {
      const message = `unsupported protocol version ${frame.version}; this server speaks ${PROTOCOL_VERSION}`;
      conn.refuse('unsupported-version', message);
      return;
    }
    const negotiated = negotiateHeartbeat(
      { intervalMs: frame.heartbeatIntervalMs, timeoutMs: frame.heartbeatTimeoutMs },
      this.host.bounds,
    );
    const sessionId = randomBytes(SESSION_ID_BYTES);
    conn.sendHandshake({
      type: 'welcome',
      // A newer client negotiates down to what we speak (PROTOCOL.md §Version negotiation).
      version: Math.min(frame.version, PROTOCOL_VERSION),
      heartbeatIntervalMs: negotiated.intervalMs,
      heartbeatTimeoutMs: negotiated.timeoutMs,
      sessionId,
      maxFrameSize: this.host.options.maxFrameSize,
    });
    conn.open({
      ...pingSchedule('server', negotiated),
      timeoutMs: negotiated.timeoutMs,
      // A client that does not announce its limit gets frames up to ours (PROTOCOL.md §HELLO).
      peerMaxFrameSize: frame.maxFrameSize ?? this.host.options.maxFrameSize,
    });
    this.session = new Session(conn, {
      id: sessionId.toString('hex'),
      heartbeatIntervalMs: negotiated.intervalMs,
      heartbeatTimeoutMs: negotiated.timeoutMs,
      socketOptions: this.socketOptions,
    });
    this.host.sessionOpened(this, this.session);
  }

  message(payload: Uint8Array): void {
    this.session?.emit('message', asBuffer(payload));
  }

  ping(id: number): void {
    this.session?.emit('ping', id);
  }

  pong(info: PongInfo): void {
    this.session?.emit('pong', info);
  }

  goaway(_frame: GoawayFrame): void {
    // Clients do not send GOAWAY in v1; ignoring it is harmless (the frame is well-formed).
  }

  drain(): void {
    this.session?.emit('drain');
  }

  closed(reason: CloseReason): void {
    this.host.peerClosed(this, reason);
    const session = this.session;
    if (session) {
      session.closeReason = reason;
      session.emit('close', reason);
    }
  }
}
