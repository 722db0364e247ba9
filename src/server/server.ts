/**
 * LifelineServer: accepts TCP connections, runs the handshake, keeps the session registry, and
 * reclaims sessions whose peer is dead. All heartbeat checks of all connections share one
 * coarse TimerWheel (no timer per connection; see time/wheel.ts for its precision).
 *
 * Events: 'session' (Session) after a handshake; 'sessionClose' (Session, CloseReason);
 * 'listening'; 'error' (Error) for listener errors after listen() resolved; 'warning' (string)
 * once per distinct socket-tuning setting that could not be applied exactly.
 */
import net from 'node:net';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { encodeFrame } from '../protocol/encode.js';
import { systemClock, type Clock } from '../time/clock.js';
import { TimerWheel } from '../time/wheel.js';
import type { HeartbeatBounds } from '../liveness/negotiate.js';
import { TcpTransport } from '../transport/tcp.js';
import { applySocketTuning, loadNetKeepalive, type NetKeepaliveApi } from '../transport/socket-tuning.js';
import type { CloseReason } from '../connection/close-reason.js';
import { LifelineError } from '../errors.js';
import { resolveServerOptions, type ResolvedServerOptions, type ServerOptions } from './options.js';
import { ServerPeer, type PeerHost } from './peer.js';
import type { Session } from './session.js';

export interface LifelineServer {
  on(event: 'session', listener: (session: Session) => void): this;
  on(event: 'sessionClose', listener: (session: Session, reason: CloseReason) => void): this;
  on(event: 'listening', listener: () => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'warning', listener: (message: string) => void): this;
  once(event: 'session', listener: (session: Session) => void): this;
  once(event: 'sessionClose', listener: (session: Session, reason: CloseReason) => void): this;
}

export class LifelineServer extends EventEmitter implements PeerHost {
  readonly options: ResolvedServerOptions;
  readonly clock: Clock;
  readonly scheduler: TimerWheel;
  readonly bounds: HeartbeatBounds;
  private readonly netServer: net.Server;
  private readonly peers = new Set<ServerPeer>();
  private readonly liveSessions = new Set<Session>();
  private closing = false;
  private netKeepalive: NetKeepaliveApi | undefined;
  private readonly warned = new Set<string>();

  constructor(options: ServerOptions = {}) {
    super();
    this.options = resolveServerOptions(options);
    this.clock = this.options.clock ?? systemClock;
    this.scheduler = new TimerWheel(this.clock, { tickMs: this.options.timerResolution });
    this.bounds = {
      defaultIntervalMs: this.options.heartbeatInterval,
      defaultTimeoutMs: this.options.heartbeatTimeout,
      minIntervalMs: this.options.minHeartbeatInterval,
      maxIntervalMs: this.options.maxHeartbeatInterval,
      minTimeoutMs: this.options.minHeartbeatTimeout,
      maxTimeoutMs: this.options.maxHeartbeatTimeout,
    };
    this.netServer = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.netServer.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }

  /** Sessions that completed the handshake and have not closed. */
  get sessionCount(): number {
    return this.liveSessions.size;
  }

  /** Every accepted connection not yet closed, handshaking ones included. */
  get connectionCount(): number {
    return this.peers.size;
  }

  sessions(): IterableIterator<Session> {
    return this.liveSessions.values();
  }

  async listen(port = 0, host?: string): Promise<AddressInfo> {
    this.netKeepalive = await loadNetKeepalive();
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.netServer.once('error', onError);
      this.netServer.listen(port, host, () => {
        this.netServer.off('error', onError);
        this.emit('listening');
        resolve(this.address());
      });
    });
  }

  address(): AddressInfo {
    const address = this.netServer.address();
    if (address === null || typeof address === 'string') {
      throw new LifelineError('LL_ERR_SERVER_NOT_LISTENING', 'server is not listening on a TCP port');
    }
    return address;
  }

  /**
   * Stop accepting, send CLOSE going-away to every connection, and resolve once every
   * transport has closed (a peer that does not read is cut after a short grace period).
   */
  async close(): Promise<void> {
    this.closing = true;
    const listenerClosed = new Promise<void>((resolve) => {
      if (!this.netServer.listening) return resolve();
      this.netServer.close(() => resolve());
    });
    for (const peer of this.peers) peer.connection.close('going-away', 'server shutting down');
    await listenerClosed;
    this.scheduler.clear();
  }

  // --- PeerHost ---------------------------------------------------------------------------------

  sessionOpened(_peer: ServerPeer, session: Session): void {
    this.liveSessions.add(session);
    this.emit('session', session);
  }

  peerClosed(peer: ServerPeer, reason: CloseReason): void {
    this.peers.delete(peer);
    const session = peer.session;
    if (session && this.liveSessions.delete(session)) this.emit('sessionClose', session, reason);
  }

  // --- accept -----------------------------------------------------------------------------------

  private accept(socket: net.Socket): void {
    if (this.closing || this.peers.size >= this.options.maxConnections) {
      const message = this.closing ? 'server shutting down' : `server is at maxConnections (${this.options.maxConnections})`;
      socket.on('error', () => {});
      socket.end(encodeFrame({ type: 'close', code: this.closing ? 'going-away' : 'server-full', message }));
      // Read (and discard) so the peer's FIN is seen and the socket closes at once; the timer
      // only bounds a peer that never closes.
      socket.resume();
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const applied = applySocketTuning(socket, this.options.socketTuning, this.netKeepalive);
    for (const warning of applied.warnings) {
      if (this.warned.has(warning)) continue;
      this.warned.add(warning);
      this.emit('warning', warning);
    }
    this.peers.add(new ServerPeer(new TcpTransport(socket), this, applied));
  }
}

/** Create a lifeline server. Call `listen()` to start accepting. */
export function createServer(options?: ServerOptions): LifelineServer {
  return new LifelineServer(options);
}
