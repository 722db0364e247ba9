/**
 * Client: dials a lifeline server over TCP, runs the handshake and the heartbeat, and reports
 * the server's liveness and status. Reconnect, failover and resume arrive in a later issue and
 * will live beside this file (the Client outlives its Connection for that reason).
 *
 * Availability (docs/spec/0004-availability.md): 'unavailable' (UnavailableInfo) when a PONG
 * says draining, `busyPongs` PONGs in a row say busy, or a PING waits longer than
 * `availabilityBudget`; 'available' when an ok PONG comes back in time. A GOAWAY makes the
 * client finish what it is writing and close gracefully (reason 'goaway'): the reconnect logic
 * (a later issue) moves on to another server from there.
 *
 * Events: 'open' (OpenInfo), 'message' (Buffer), 'ping' (id: the server pinged, we answered),
 * 'pong' (PongInfo: the answer to our own PING), 'status' (PeerStatus, load)
 * when the server's reported status changes, 'goaway' (GoawayFrame), 'drain', 'close'
 * (CloseReason, exactly once), 'undelivered' (Buffer[], Error) for messages send() accepted
 * that were never written (queued before open, then the connection failed or the server's frame
 * limit was smaller): nothing is dropped silently.
 */
import net from 'node:net';
import { EventEmitter } from 'node:events';
import { Connection, defaultStallThresholdMs, type ConnectionOwner, type PongInfo } from '../connection/connection.js';
import type { CloseReason } from '../connection/close-reason.js';
import { asBuffer, toPayload } from '../connection/payload.js';
import { PROTOCOL_VERSION, type Frame, type GoawayFrame, type PeerStatus } from '../protocol/frames.js';
import { pingSchedule } from '../liveness/negotiate.js';
import { AvailabilityMonitor, type AvailabilityChange, type UnavailableReason } from '../liveness/availability.js';
import { systemClock, type Clock, type Cancel } from '../time/clock.js';
import { TimerScheduler } from '../time/scheduler.js';
import { TcpTransport } from '../transport/tcp.js';
import { applySocketTuning, loadNetKeepalive, type AppliedSocketOptions } from '../transport/socket-tuning.js';
import { LifelineError } from '../errors.js';
import { resolveClientOptions, type ClientOptions, type ResolvedClientOptions } from './options.js';

export interface OpenInfo {
  sessionId: string;
  /** Heartbeat interval in force (the server may have clamped the proposal), ms. */
  heartbeatInterval: number;
  /** Heartbeat timeout in force, ms. */
  heartbeatTimeout: number;
  /** Whether a previous session was resumed (always false until resume lands). */
  resumed: boolean;
}

export type ClientState = 'connecting' | 'handshake' | 'open' | 'closing' | 'closed';

/** Why the server is not serving us, as the heartbeat showed it. */
export interface UnavailableInfo {
  reason: UnavailableReason;
  /** The server's last reported status and load. */
  status: PeerStatus;
  load: number;
  /** How long the PING waited (no-answer / slow), ms. */
  waitedMs?: number;
}

export interface Client {
  on(event: 'open', listener: (info: OpenInfo) => void): this;
  on(event: 'message', listener: (data: Buffer) => void): this;
  on(event: 'ping', listener: (id: number) => void): this;
  on(event: 'pong', listener: (info: PongInfo) => void): this;
  on(event: 'status', listener: (status: PeerStatus, load: number) => void): this;
  on(event: 'goaway', listener: (frame: GoawayFrame) => void): this;
  on(event: 'unavailable', listener: (info: UnavailableInfo) => void): this;
  on(event: 'available', listener: (info: { status: PeerStatus; load: number; rttMs?: number }) => void): this;
  on(event: 'drain', listener: () => void): this;
  on(event: 'warning', listener: (message: string) => void): this;
  /** Our own process stalled this long (blocked loop, GC, suspend): the server was not blamed for it. */
  on(event: 'stall', listener: (lateByMs: number) => void): this;
  on(event: 'undelivered', listener: (messages: Buffer[], error: Error) => void): this;
  on(event: 'close', listener: (reason: CloseReason) => void): this;
  once(event: 'open', listener: (info: OpenInfo) => void): this;
  once(event: 'close', listener: (reason: CloseReason) => void): this;
  once(event: 'message', listener: (data: Buffer) => void): this;
}

export class Client extends EventEmitter implements ConnectionOwner {
  readonly options: ResolvedClientOptions;
  state: ClientState = 'connecting';
  /** Set after 'open'. */
  info: OpenInfo | undefined;
  /** Set once closed. */
  closeReason: CloseReason | undefined;
  /** Kernel socket options really in force (keepalive, TCP_USER_TIMEOUT), set once connected. */
  socketOptions: AppliedSocketOptions | undefined;
  private readonly clock: Clock;
  private readonly scheduler: TimerScheduler;
  private socket: net.Socket | undefined;
  private connection: Connection | undefined;
  private cancelConnectTimer: Cancel | undefined;
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private peerStatus: PeerStatus = 'ok';
  private availability: AvailabilityMonitor | undefined;
  private cancelAvailabilityCheck: Cancel | undefined;

  constructor(options: ClientOptions) {
    super();
    this.options = resolveClientOptions(options);
    this.clock = this.options.clock ?? systemClock;
    this.scheduler = new TimerScheduler(this.clock);
    // Dial asynchronously so listeners attached right after connect() see every event.
    void loadNetKeepalive().then(
      (nk) => this.dial(nk),
      () => this.dial(undefined),
    );
  }

  /** Last heartbeat round trip, ms. */
  get rtt(): number | undefined {
    return this.connection?.rttMs;
  }

  get smoothedRtt(): number | undefined {
    return this.connection?.smoothedRttMs;
  }

  /** ms since anything was received from the server. */
  get sinceLastSeen(): number | undefined {
    return this.connection?.sinceLastSeenMs;
  }

  /** The server's status from its latest PONG. */
  get serverStatus(): PeerStatus {
    return this.peerStatus;
  }

  /** False while the server is reported unavailable (see 'unavailable'). */
  get available(): boolean {
    return this.availability?.isAvailable ?? true;
  }

  get bufferedAmount(): number {
    return (this.connection?.transport.bufferedBytes ?? 0) + this.queuedBytes;
  }

  /**
   * Send a message. Before 'open' it is queued (up to maxQueuedBytes, then LL_ERR_BUFFER_OVERFLOW);
   * after close it throws LL_ERR_NOT_OPEN. Returns false when the send buffer is above its
   * high-water mark (the message is still queued: wait for 'drain').
   */
  send(data: Uint8Array | string): boolean {
    const payload = toPayload(data);
    if (this.state === 'open' && this.connection) return this.connection.send(payload);
    if (this.state === 'connecting' || this.state === 'handshake') {
      if (this.queuedBytes + payload.byteLength > this.options.maxQueuedBytes) {
        throw new LifelineError(
          'LL_ERR_BUFFER_OVERFLOW',
          `cannot queue ${payload.byteLength} more bytes before open: maxQueuedBytes is ${this.options.maxQueuedBytes}`,
        );
      }
      // Keep a copy: the caller may reuse its buffer before we are open.
      this.queue.push(payload.slice());
      this.queuedBytes += payload.byteLength;
      return false;
    }
    throw new LifelineError('LL_ERR_NOT_OPEN', `cannot send: client is ${this.state}`);
  }

  /** Close gracefully. 'close' follows with code local-close. */
  close(message = ''): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    if (this.connection) {
      this.state = 'closing';
      this.connection.close('normal', message);
      return;
    }
    this.socket?.destroy();
    this.finish({
      code: 'local-close',
      message: message || 'closed locally before connecting',
      initiator: 'local',
      detectedBy: 'application',
      sinceLastSeenMs: 0,
    });
  }

  // --- dialling -------------------------------------------------------------------------------

  private dial(netKeepalive: Awaited<ReturnType<typeof loadNetKeepalive>>): void {
    if (this.state !== 'connecting') return;
    const { host, port, handshakeTimeout } = this.options;
    const startedAt = this.clock.now();
    const socket = net.connect({ host, port, noDelay: true });
    this.socket = socket;
    const onError = (err: Error) => {
      this.cancelConnectTimer?.();
      this.finish({
        code: 'connect-failed',
        message: `cannot connect to ${host}:${port}: ${err.message}`,
        initiator: 'transport',
        detectedBy: 'transport',
        sinceLastSeenMs: 0,
        error: err,
      });
    };
    socket.once('error', onError);
    this.cancelConnectTimer = this.scheduler.schedule(startedAt + handshakeTimeout, () => {
      socket.destroy();
      this.finish({
        code: 'connect-failed',
        message: `cannot connect to ${host}:${port}: no TCP connection within ${handshakeTimeout} ms`,
        initiator: 'local',
        detectedBy: 'handshake-timer',
        sinceLastSeenMs: 0,
      });
    });
    socket.once('connect', () => {
      this.cancelConnectTimer?.();
      socket.off('error', onError);
      if (this.state !== 'connecting') return void socket.destroy();
      this.state = 'handshake';
      this.socketOptions = applySocketTuning(socket, this.options.socketTuning, netKeepalive);
      for (const warning of this.socketOptions.warnings) this.emit('warning', warning);
      const connection = new Connection({
        transport: new TcpTransport(socket),
        owner: this,
        clock: this.clock,
        scheduler: this.scheduler,
        maxFrameSize: this.options.maxFrameSize,
        health: () => ({ status: 'ok', load: 0 }),
      });
      this.connection = connection;
      const token = this.options.token;
      connection.sendHandshake({
        type: 'hello',
        version: PROTOCOL_VERSION,
        heartbeatIntervalMs: Math.round(this.options.heartbeatInterval ?? 0),
        heartbeatTimeoutMs: Math.round(this.options.heartbeatTimeout ?? 0),
        maxFrameSize: this.options.maxFrameSize,
        ...(token === undefined ? {} : { token: typeof token === 'string' ? new TextEncoder().encode(token) : token }),
      });
      connection.startHandshakeTimer(Math.max(1, startedAt + handshakeTimeout - this.clock.now()));
    });
  }

  // --- ConnectionOwner ------------------------------------------------------------------------

  handshakeFrame(frame: Frame): void {
    const connection = this.connection;
    if (!connection) return;
    if (frame.type !== 'welcome') {
      const message = `expected WELCOME, got ${frame.type.toUpperCase()}`;
      connection.refuse('protocol-error', message);
      return;
    }
    if (frame.version !== PROTOCOL_VERSION) {
      const message = `server answered protocol version ${frame.version}; this client speaks ${PROTOCOL_VERSION}`;
      connection.refuse('unsupported-version', message);
      return;
    }
    if (frame.heartbeatIntervalMs <= 0 || frame.heartbeatTimeoutMs <= frame.heartbeatIntervalMs) {
      const message = `WELCOME has an unusable heartbeat (${frame.heartbeatIntervalMs} / ${frame.heartbeatTimeoutMs} ms)`;
      connection.refuse('protocol-error', message);
      return;
    }
    const negotiated = { intervalMs: frame.heartbeatIntervalMs, timeoutMs: frame.heartbeatTimeoutMs };
    connection.open({
      ...pingSchedule('client', negotiated),
      timeoutMs: negotiated.timeoutMs,
      peerMaxFrameSize: frame.maxFrameSize ?? this.options.maxFrameSize,
      ...(this.options.detector ? { detector: this.options.detector } : {}),
      ...(this.options.stallGuard
        ? {
            stallGuard: {
              thresholdMs: defaultStallThresholdMs(negotiated.timeoutMs),
              onStall: (lateByMs: number) => this.emit('stall', lateByMs),
            },
          }
        : {}),
    });
    this.state = 'open';
    // The budget must leave room to report before the heartbeat declares the server dead.
    const budgetMs = Math.min(this.options.availabilityBudget, negotiated.timeoutMs / 2);
    this.availability = new AvailabilityMonitor({ budgetMs, busyPongs: this.options.busyPongs });
    this.info = {
      sessionId: frame.sessionId ? Buffer.from(frame.sessionId).toString('hex') : '',
      heartbeatInterval: negotiated.intervalMs,
      heartbeatTimeout: negotiated.timeoutMs,
      resumed: false,
    };
    this.emit('open', this.info);
    this.flushQueue(connection);
  }

  message(payload: Uint8Array): void {
    this.emit('message', asBuffer(payload));
  }

  ping(id: number): void {
    this.emit('ping', id);
  }

  pingSent(_id: number, nowMs: number): void {
    const monitor = this.availability;
    if (!monitor || this.cancelAvailabilityCheck) return;
    this.cancelAvailabilityCheck = this.scheduler.schedule(monitor.pingSent(nowMs), () => {
      this.cancelAvailabilityCheck = undefined;
      this.reportAvailability(monitor.check(this.clock.now()));
    });
  }

  pong(info: PongInfo): void {
    this.cancelAvailabilityCheck?.();
    this.cancelAvailabilityCheck = undefined;
    this.emit('pong', info);
    if (info.status !== this.peerStatus) {
      this.peerStatus = info.status;
      this.emit('status', info.status, info.load);
    }
    this.reportAvailability(this.availability?.pong(info.status, info.load, info.rttMs, this.clock.now()));
  }

  goaway(frame: GoawayFrame): void {
    this.emit('goaway', frame);
    if (frame.code === 'draining') this.reportAvailability(this.availability?.draining());
    // The server asked us to leave: finish what is written and close gracefully. Messages the
    // server sent before our CLOSE reached it are still delivered (closing handshake).
    if (this.state === 'open') {
      this.state = 'closing';
      this.connection?.closeWith('normal', `goaway: ${frame.code}`, {
        code: 'goaway',
        message: frame.message || `server sent GOAWAY (${frame.code})`,
        initiator: 'peer',
        detectedBy: 'peer',
        goaway: goawayInfo(frame),
      });
    }
  }

  private reportAvailability(change: AvailabilityChange | undefined): void {
    if (!change) return;
    if (change.kind === 'unavailable') {
      const { kind: _kind, ...info } = change;
      this.emit('unavailable', info);
    } else {
      const { kind: _kind, ...info } = change;
      this.emit('available', info);
    }
  }

  drain(): void {
    this.emit('drain');
  }

  closed(reason: CloseReason): void {
    this.finish(reason);
  }

  private flushQueue(connection: Connection): void {
    const queue = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    const undelivered: Uint8Array[] = [];
    let firstError: Error | undefined;
    for (const payload of queue) {
      if (connection.state !== 'open') {
        undelivered.push(payload);
        continue;
      }
      try {
        connection.send(payload);
      } catch (err) {
        // Only a frame-size refusal can happen here (the server's limit is known only now).
        undelivered.push(payload);
        firstError ??= err as Error;
      }
    }
    if (undelivered.length > 0) {
      this.reportUndelivered(undelivered, firstError ?? new LifelineError('LL_ERR_NOT_OPEN', 'connection closed before queued messages were sent'));
    }
  }

  private reportUndelivered(payloads: Uint8Array[], error: Error): void {
    this.emit('undelivered', payloads.map(asBuffer), error);
  }

  private finish(reason: CloseReason): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.cancelConnectTimer?.();
    this.cancelAvailabilityCheck?.();
    this.closeReason = reason;
    const unsent = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    if (unsent.length > 0) {
      this.reportUndelivered(unsent, new LifelineError('LL_ERR_NOT_OPEN', `connection closed before open (${reason.code}): queued messages were not sent`));
    }
    this.emit('close', reason);
  }
}

function goawayInfo(frame: GoawayFrame): NonNullable<CloseReason['goaway']> {
  return { code: frame.code, retryAfterMs: frame.retryAfterMs, ...(frame.redirect ? { redirect: frame.redirect } : {}) };
}

/** Connect to a lifeline server. The returned client emits 'open' once the handshake is done. */
export function connect(options: ClientOptions): Client {
  return new Client(options);
}
