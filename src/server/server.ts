/**
 * LifelineServer: accepts connections on its listeners (TCP, TLS, WebSocket: listeners.ts,
 * listen-ws.ts; docs/spec/0011-transports.md), runs the handshake, keeps the session registry, and
 * reclaims sessions whose peer is dead. All heartbeat checks of all connections share one
 * coarse TimerWheel (no timer per connection; see time/wheel.ts for its precision).
 *
 * Graceful drain (drain(); docs/spec/0003-enforcement-and-drain.md §Graceful drain): GOAWAY to
 * every session, PONGs say `draining`, new connections are refused, stragglers are closed at a
 * deadline.
 *
 * Events: 'session' (Session) after a handshake; 'sessionClose' (Session, CloseReason);
 * 'listening'; 'draining' once, when drain() starts; 'error' (Error) for listener errors after
 * listen() resolved; 'warning' (string) once per distinct socket-tuning setting that could not
 * be applied exactly; 'clientError' (ClientErrorInfo) for a connection that failed before it
 * became a lifeline connection (TLS handshake, WebSocket upgrade).
 */
import type http from 'node:http';
import type https from 'node:https';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { encodeFrame } from '../protocol/encode.js';
import type { GoawayFrame } from '../protocol/frames.js';
import type { Cancel } from '../time/clock.js';
import type { ConnectionEnv, HealthReport, StallGuardOptions } from '../connection/connection.js';
import { wholeMsClock, type Clock } from '../time/clock.js';
import { TimerWheel } from '../time/wheel.js';
import { createEventLoopHealth, type HealthSampler } from './health.js';
import { TokenBucket } from '../liveness/token-bucket.js';
import type { HeartbeatBounds, NegotiatedHeartbeat } from '../liveness/negotiate.js';
import { HandleTransport, type TcpHandle } from '../transport/tcp-handle.js';
import type { Transport, TransportHandlers } from '../transport/types.js';
import { TcpListener, TlsListener, type ClientErrorInfo, type Listener, type ListenerHost, type ListenOptions, type ListenTransport } from './listeners.js';
import { WsListener } from './listen-ws.js';
import {
  applySocketTuning,
  loadNetKeepalive,
  tuningForHeartbeat,
  type AppliedSocketOptions,
  type NetKeepaliveApi,
  type SocketTuningOptions,
  type TunableSocket,
} from '../transport/socket-tuning.js';
import type { CloseReason } from '../connection/close-reason.js';
import { InvalidOptionError, LifelineError } from '../errors.js';
import { channels, publish } from '../diagnostics.js';
import {
  resolveDrainOptions,
  resolveServerOptions,
  type DrainOptions,
  type ResolvedServerOptions,
  type ServerOptions,
} from './options.js';
import { ServerPeer, type PeerHost, type PingRule } from './peer.js';
import { PingRatePolicy } from '../liveness/enforcement.js';
import type { Session } from './session.js';

export interface LifelineServer {
  on(event: 'session', listener: (session: Session) => void): this;
  on(event: 'sessionClose', listener: (session: Session, reason: CloseReason) => void): this;
  /** A resumable session's client came back (on a new transport). */
  on(event: 'sessionResume', listener: (session: Session) => void): this;
  on(event: 'listening', listener: () => void): this;
  on(event: 'draining', listener: () => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'warning', listener: (message: string) => void): this;
  /** A connection failed before it became a lifeline connection (TLS handshake, WebSocket upgrade). */
  on(event: 'clientError', listener: (info: ClientErrorInfo) => void): this;
  /** Our own event loop stalled this long; peers were not blamed for it (at most once a second). */
  on(event: 'stall', listener: (lateByMs: number) => void): this;
  once(event: 'session', listener: (session: Session) => void): this;
  once(event: 'sessionClose', listener: (session: Session, reason: CloseReason) => void): this;
}

/** Wheel callbacks per synchronous turn when the server leads the heartbeat (see the constructor). */
const LEADING_MAX_PER_TURN = 250;

export class LifelineServer extends EventEmitter implements PeerHost, ListenerHost {
  readonly options: ResolvedServerOptions;
  readonly clock: Clock;
  readonly scheduler: TimerWheel;
  readonly bounds: HeartbeatBounds;
  /** Where connections come from, in listen() / attach() order. */
  private readonly endpoints: Listener[] = [];
  private readonly peers = new Set<ServerPeer>();
  private connectionsClosed = 0;
  private closedBytesRead = 0;
  private closedBytesWritten = 0;
  /**
   * Sessions open or detached. No registry of its own: an open session is its peer's, a detached
   * one is in detachedSessions (one Set entry per connection fewer, at ~100k connections).
   */
  private liveSessionCount = 0;
  private closing = false;
  /** Set by the first drain() call; never cleared (a drained server stays draining). */
  private drainState: DrainState | undefined;
  private netKeepalive: NetKeepaliveApi | undefined;
  private readonly warned = new Set<string>();
  private sampler: HealthSampler | undefined;
  private healthSource: () => HealthReport;
  private lastStallReportAtMs = -Infinity;
  private readonly acceptLimiter: TokenBucket | undefined;
  /** Connections shed in the current second: each gets a later retry-after than the previous. */
  private shedInWindow = 0;
  private shedWindowStartMs = 0;
  /** Detached sessions by id, oldest first, with the replay bytes each held (sum in detachedBytes). */
  private readonly detachedSessions = new Map<string, DetachedSession>();
  private detachedBytes = 0;
  /**
   * Resumable sessions not yet closed (attached or detached), by id: a resume HELLO finds its
   * session in O(1) instead of scanning every connection — a mass reconnect of N clients would
   * otherwise cost N² steps. Only sessions that asked for resume pay the entry.
   */
  private readonly resumableSessions = new Map<string, Session>();
  /** Shared stall guards, by threshold (one per negotiated timeout, not one per connection). */
  private readonly stallGuards = new Map<number, StallGuardOptions>();
  /** Shared ping-rate rules, by negotiated interval (undefined: enforcement off). */
  private readonly pingRules = new Map<number, PingRule | undefined>();
  /** Distinct socket-tuning results, shared (frozen) by every session they describe. */
  private readonly socketOptionsSeen = new Map<string, AppliedSocketOptions>();

  constructor(options: ServerOptions = {}) {
    super();
    this.options = resolveServerOptions(options);
    // Whole milliseconds by default: see wholeMsClock (memory per connection).
    this.clock = this.options.clock ?? wholeMsClock;
    // A leading server's wheel checks each write a PING (≈ 10 µs with the syscall), so a tick's
    // pass is cut into turns of at most LEADING_MAX_PER_TURN (≈ 2.5 ms) with I/O in between: the
    // loop-delay p99 stays under 5 ms at 19,000 connections / 1 s. Clients leading: the checks
    // mostly just re-arm, the default turn size is fine.
    this.scheduler = new TimerWheel(this.clock, {
      tickMs: this.options.timerResolution,
      ...(this.options.heartbeatLeader === 'server' ? { maxPerTurn: LEADING_MAX_PER_TURN } : {}),
    });
    const rate = this.options.maxAcceptRate;
    this.acceptLimiter = rate === undefined ? undefined : new TokenBucket(rate, this.options.acceptBurst ?? rate);
    // Until listen() starts the event-loop sampler (or forever, when the user gave a hook).
    this.healthSource = this.options.health ?? (() => ({ status: 'ok', load: 0 }));
    this.bounds = {
      defaultIntervalMs: this.options.heartbeatInterval,
      defaultTimeoutMs: this.options.heartbeatTimeout,
      minIntervalMs: this.options.minHeartbeatInterval,
      maxIntervalMs: this.options.maxHeartbeatInterval,
      minTimeoutMs: this.options.minHeartbeatTimeout,
      maxTimeoutMs: this.options.maxHeartbeatTimeout,
    };
    this.connectionEnv = Object.freeze({
      clock: this.clock,
      scheduler: this.scheduler,
      maxFrameSize: this.options.maxFrameSize,
      maxBufferedBytes: this.options.maxBufferedBytes,
      health: this.health,
    });
  }

  /** Shared by every connection (PeerHost). */
  readonly connectionEnv: ConnectionEnv;

  /**
   * What every PONG reports: the `health` option's answer, with the status forced to `draining`
   * once drain() was called (the load is kept: it still says how busy the remaining work is).
   */
  readonly health = (): HealthReport => {
    const report = this.healthSource();
    return this.drainState ? { status: 'draining', load: report.load } : report;
  };

  /** True from the first drain() call on. */
  get draining(): boolean {
    return this.drainState !== undefined;
  }

  /** Sessions that completed the handshake and have not closed. */
  get sessionCount(): number {
    return this.liveSessionCount;
  }

  /**
   * Whether accepted connections run on libuv's TCP handle without a net.Socket (option
   * `leanSockets`, and this Node has what it needs); known once listening.
   */
  get leanSockets(): boolean {
    return this.endpoints.some((listener) => listener.leanSockets);
  }

  /**
   * Connection and byte counts since listen(): connections open now (handshaking ones included)
   * and closed so far, and bytes received / sent on them (TCP payload, frames included). Sums
   * every open connection's counters: O(connections), for metrics, not per message.
   */
  stats(): ServerStats {
    let bytesRead = this.closedBytesRead;
    let bytesWritten = this.closedBytesWritten;
    for (const peer of this.peers) {
      const transport = peer.connection.transport;
      bytesRead += transport.bytesRead ?? 0;
      bytesWritten += transport.bytesWritten ?? 0;
    }
    return { connections: this.peers.size, connectionsClosed: this.connectionsClosed, bytesRead, bytesWritten };
  }

  /** Every accepted connection not yet closed, handshaking ones included. */
  get connectionCount(): number {
    return this.peers.size;
  }

  /** Open sessions (by accept order), then detached ones. */
  *sessions(): IterableIterator<Session> {
    for (const peer of this.peers) {
      const session = peer.session;
      if (session !== undefined && session.state !== 'closed') yield session;
    }
    for (const { session } of this.detachedSessions.values()) yield session;
  }

  /**
   * Start accepting on a port: `listen(port, host)` (TCP, or TLS when the server has `tls`
   * options) or `listen({ transport, port, host, path, tls })`. May be called again for more
   * listeners — e.g. TCP for native clients and a WebSocket port for browsers: every
   * connection joins the same sessions, limits and heartbeat. Resolves the bound address.
   */
  async listen(portOrOptions: number | ListenOptions = 0, host?: string): Promise<AddressInfo> {
    const o: ListenOptions = typeof portOrOptions === 'number' ? { port: portOrOptions, ...(host === undefined ? {} : { host }) } : portOrOptions;
    const listener = this.makeListener(o);
    await this.prepare();
    const address = await listener.listen(o);
    this.endpoints.push(listener);
    this.emit('listening');
    return address;
  }

  /**
   * Serve lifeline over WebSocket on the user's own http / https server (its routes keep
   * working): upgrade requests for `path` (default '/') become lifeline connections. The
   * server's close() detaches; closing the http server stays the user's job.
   */
  async attach(server: http.Server | https.Server, options: { path?: string } = {}): Promise<void> {
    const listener = new WsListener(this, { path: wsPath(options.path), origins: this.options.websocket.origins, attachTo: server });
    await this.prepare();
    this.endpoints.push(listener);
  }

  /** The first listener's address. */
  address(): AddressInfo {
    const listener = this.endpoints[0];
    if (listener === undefined) throw new LifelineError('LL_ERR_SERVER_NOT_LISTENING', 'server is not listening (call listen() first)');
    return listener.address();
  }

  /** Every listener's transport and bound address, in listen() order. */
  addresses(): Array<AddressInfo & { transport: ListenTransport }> {
    return this.endpoints.map((listener) => ({ ...listener.address(), transport: listener.transport }));
  }

  private makeListener(o: ListenOptions): Listener {
    if (typeof o !== 'object' || o === null) throw new InvalidOptionError('listen', 'expects a port number or { transport, port, host, path, tls }');
    const tlsOptions = o.tls ?? this.options.tls;
    const transport = o.transport ?? (tlsOptions ? 'tls' : 'tcp');
    if (o.path !== undefined && transport !== 'ws') throw new InvalidOptionError('listen.path', `only applies to transport 'ws', not '${transport}'`);
    switch (transport) {
      case 'tcp':
        return new TcpListener(this);
      case 'tls':
        if (!tlsOptions) throw new InvalidOptionError('listen.tls', "transport 'tls' needs TLS options ({ key, cert }) here or in createServer({ tls })");
        return new TlsListener(this, tlsOptions);
      case 'ws':
        return new WsListener(this, { path: wsPath(o.path), origins: this.options.websocket.origins, tls: tlsOptions });
      default:
        throw new InvalidOptionError('listen.transport', `must be 'tcp', 'tls' or 'ws', got ${String(transport)}`);
    }
  }

  /** Once, before the first listener: the optional socket-tuning module and the health sampler. */
  private async prepare(): Promise<void> {
    this.netKeepalive ??= await loadNetKeepalive();
    if (!this.options.health && !this.sampler) {
      this.sampler = createEventLoopHealth();
      this.healthSource = this.sampler.health;
    }
  }

  // --- ListenerHost -----------------------------------------------------------------------------

  get wantsLeanSockets(): boolean {
    return this.options.leanSockets;
  }

  get handshakeTimeoutMs(): number {
    return this.options.handshakeTimeout;
  }

  get maxFrameSize(): number {
    return this.options.maxFrameSize;
  }

  listenerError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  clientError(info: ClientErrorInfo): void {
    if (this.listenerCount('clientError') > 0) this.emit('clientError', info);
    publish(channels.serverClientError, () => ({ server: this, ...info }));
  }

  /**
   * Drain gracefully (docs/spec/0003-enforcement-and-drain.md §Graceful drain):
   * 1. every open session gets GOAWAY(draining, message, redirect, retryAfterMs) and may keep
   *    exchanging messages; every PONG from now on says `draining`;
   * 2. new connections are accepted only to be refused with CLOSE going-away "server draining";
   *    connections already mid-handshake complete it and get the same GOAWAY at once;
   * 3. connections still open `deadlineMs` after the call are closed with CLOSE going-away
   *    (graceful: queued messages are flushed, the peer's in-flight DATA is still delivered).
   * Resolves once no connection (handshaking ones included) is left. The listener stays open
   * (refusing) until close(). A second call returns the first call's promise and ignores its
   * options; close() during a drain closes everything at once and the promise resolves with it.
   * Throws InvalidOptionError (synchronously) for unusable options.
   */
  drain(options: DrainOptions = {}): Promise<void> {
    if (this.drainState) return this.drainState.done;
    const o = resolveDrainOptions(options);
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const goaway: Omit<GoawayFrame, 'type'> = {
      code: 'draining',
      message: o.message,
      retryAfterMs: o.retryAfterMs,
      ...(o.redirect === undefined ? {} : { redirect: o.redirect }),
    };
    const state: DrainState = { done, resolve, goaway, cancelDeadline: undefined };
    this.drainState = state;
    this.emit('draining');
    // Connection.goaway() is a no-op before the handshake completes; sessionOpened() covers those.
    for (const peer of this.peers) peer.connection.goaway(goaway);
    if (this.peers.size === 0) {
      resolve();
      return done;
    }
    state.cancelDeadline = this.scheduler.schedule(this.clock.now() + o.deadlineMs, () => {
      state.cancelDeadline = undefined;
      for (const peer of this.peers) peer.connection.close('going-away', `drain deadline (${o.deadlineMs} ms) reached`);
    });
    return done;
  }

  /**
   * Stop accepting, send CLOSE going-away to every connection, and resolve once every
   * transport has closed (a peer that does not read is cut after a short grace period).
   */
  async close(): Promise<void> {
    this.closing = true;
    const listenersClosed = Promise.all(this.endpoints.map((listener) => listener.close()));
    for (const peer of this.peers) peer.connection.close('going-away', 'server shutting down');
    const shutdown: CloseReason = { code: 'server-shutdown', message: 'server shutting down', initiator: 'local', detectedBy: 'application', sinceLastSeenMs: 0 };
    for (const { session } of [...this.detachedSessions.values()]) this.finishSession(session, shutdown);
    await listenersClosed;
    this.scheduler.clear();
    this.sampler?.stop();
    this.sampler = undefined;
  }

  // --- PeerHost ---------------------------------------------------------------------------------

  stallGuard(thresholdMs: number): StallGuardOptions {
    let guard = this.stallGuards.get(thresholdMs);
    if (guard === undefined) {
      guard = Object.freeze({ thresholdMs, onStall: (lateByMs: number) => this.stalled(lateByMs) });
      // Thresholds follow the negotiated timeouts: a handful in practice; bounded all the same.
      if (this.stallGuards.size < MAX_SHARED_STALL_GUARDS) this.stallGuards.set(thresholdMs, guard);
    }
    return guard;
  }

  pingRule(intervalMs: number): PingRule | undefined {
    if (this.pingRules.has(intervalMs)) return this.pingRules.get(intervalMs);
    const minPingIntervalMs = intervalMs * this.options.minPingIntervalRatio;
    const rule =
      minPingIntervalMs > 0
        ? Object.freeze({ intervalMs, policy: new PingRatePolicy({ minPingIntervalMs, maxStrikes: this.options.maxPingStrikes }) })
        : undefined;
    // Intervals follow the clients' proposals (clamped to the bounds): bounded all the same.
    if (this.pingRules.size < MAX_SHARED_PING_RULES) this.pingRules.set(intervalMs, rule);
    return rule;
  }

  /** A connection's heartbeat check ran late: every stalled connection reports; we tell once a second. */
  stalled(lateByMs: number): void {
    const now = this.clock.now();
    if (now - this.lastStallReportAtMs < 1000) return;
    this.lastStallReportAtMs = now;
    this.emit('stall', lateByMs);
    publish(channels.serverStall, () => ({ server: this, lateByMs }));
  }

  sessionOpened(peer: ServerPeer, session: Session): void {
    this.liveSessionCount++;
    if (session.resumable) this.resumableSessions.set(session.id, session);
    // A handshake that was in flight when the drain began completes and is sent away at once:
    // unlike a refusing CLOSE, GOAWAY carries the redirect and retryAfterMs (spec 0003).
    const drain = this.drainState;
    if (drain) peer.connection.goaway(drain.goaway);
    this.emit('session', session);
    publish(channels.sessionOpen, () => ({ session }));
  }

  peerClosed(peer: ServerPeer, reason: CloseReason): void {
    if (this.peers.delete(peer)) this.countClosed(peer);
    const session = peer.session;
    if (session) {
      // A resumable session survives the loss of its transport (not a deliberate close) for the
      // resume window, unless the server itself is going away.
      if (session.resumable && DETACHABLE.has(reason.code) && !this.closing && !this.drainState) this.detach(session, reason);
      else this.finishSession(session, reason);
    }
    const drain = this.drainState;
    if (drain && this.peers.size === 0) {
      drain.cancelDeadline?.();
      drain.cancelDeadline = undefined;
      drain.resolve();
    }
  }

  resumableSession(id: string): Session | undefined {
    if (this.closing || this.drainState) return undefined;
    // Attached or detached: resumableSessions holds both.
    const session = this.resumableSessions.get(id);
    return session !== undefined && session.state !== 'closed' ? session : undefined;
  }

  sessionResumed(peer: ServerPeer, session: Session): void {
    this.forgetDetached(session);
    // The client came back before we noticed its old transport died (half-open): retire it.
    const old = session.state === 'open' ? session.currentPeer : undefined;
    if (old instanceof ServerPeer && old !== peer && this.peers.delete(old)) {
      this.countClosed(old);
      old.retired = true;
      old.connection.destroy({ code: 'remote-close', message: 'replaced by a resumed connection', initiator: 'peer', detectedBy: 'peer' });
    }
    this.emit('sessionResume', session);
  }

  closeDetached(session: Session, message: string): void {
    this.finishSession(session, { code: 'local-close', message, initiator: 'local', detectedBy: 'application', sinceLastSeenMs: 0 });
  }

  /** Detached (resumable, transport lost) sessions waiting for their client. */
  get detachedCount(): number {
    return this.detachedSessions.size;
  }

  private detach(session: Session, reason: CloseReason): void {
    const windowMs = this.options.resumeWindow;
    const cancelExpiry = this.scheduler.schedule(this.clock.now() + windowMs, () => {
      this.finishSession(session, { ...reason, message: `${reason.message}; not resumed within ${windowMs} ms` });
    });
    const bytes = session.resume?.unackedBytes ?? 0;
    this.detachedSessions.set(session.id, { session, cancelExpiry, bytes });
    this.detachedBytes += bytes;
    session.markDetached(reason);
    this.enforceMaxResumeBytes(reason);
  }

  /** A detached session's replay buffer grew (send() while detached). */
  detachedSessionGrew(session: Session): void {
    const entry = this.detachedSessions.get(session.id);
    if (entry === undefined || entry.session !== session) return;
    const bytes = session.resume?.unackedBytes ?? 0;
    this.detachedBytes += bytes - entry.bytes;
    entry.bytes = bytes;
  }

  /**
   * Bound the memory all waiting sessions hold: the oldest give way first. A running total and
   * the Map's insertion order keep this O(sessions evicted) per detach, not O(all detached): a
   * mass disconnect of N resumable clients must not cost N² steps.
   */
  private enforceMaxResumeBytes(reason: CloseReason): void {
    for (const { session: oldest } of this.detachedSessions.values()) {
      if (this.detachedBytes <= this.options.maxResumeBytes) break;
      this.finishSession(oldest, { ...reason, message: `${reason.message}; resume buffers over maxResumeBytes` });
    }
  }

  private countClosed(peer: ServerPeer): void {
    const transport = peer.connection.transport;
    this.connectionsClosed++;
    this.closedBytesRead += transport.bytesRead ?? 0;
    this.closedBytesWritten += transport.bytesWritten ?? 0;
  }

  private forgetDetached(session: Session): void {
    const detached = this.detachedSessions.get(session.id);
    if (detached === undefined || detached.session !== session) return;
    detached.cancelExpiry();
    this.detachedSessions.delete(session.id);
    this.detachedBytes -= detached.bytes;
  }

  private finishSession(session: Session, reason: CloseReason): void {
    this.forgetDetached(session);
    if (this.resumableSessions.get(session.id) === session) this.resumableSessions.delete(session.id);
    if (session.state === 'closed') return;
    this.liveSessionCount--;
    session.finish(reason);
    this.emit('sessionClose', session, reason);
    publish(channels.sessionClose, () => ({ session, reason }));
  }

  // --- accept -----------------------------------------------------------------------------------

  /**
   * Over the accept rate: tell the client when to come back instead of taking the handshake on.
   * The n-th connection shed within a second is sent to the time the bucket will have n tokens,
   * so a storm is spread over the following seconds rather than bounced back all at once.
   */
  private shed(transport: Transport, now: number): void {
    if (now - this.shedWindowStartMs > 1000) {
      this.shedWindowStartMs = now;
      this.shedInWindow = 0;
    }
    this.shedInWindow++;
    const retryAfterMs = this.acceptLimiter!.waitMs(this.shedInWindow, now);
    const message = `server overloaded: over ${this.options.maxAcceptRate} new connections per second`;
    sendAndEnd(transport, [encodeFrame({ type: 'goaway', code: 'overloaded', message, retryAfterMs }), encodeFrame({ type: 'close', code: 'going-away', message })]);
  }

  /** A listener's new connection (ListenerHost): admitted, or refused with a CLOSE saying why. */
  incoming(transport: Transport): void {
    const refusal = this.admission();
    if (refusal === undefined) this.adopt(transport);
    else if ('shedAt' in refusal) this.shed(transport, refusal.shedAt);
    else sendAndEnd(transport, [encodeFrame({ type: 'close', code: refusal.code, message: refusal.message })]);
  }

  /** leanSockets: the listening handle's onconnection, taken over — no net.Socket is built. */
  incomingHandle(handle: TcpHandle): void {
    this.incoming(new HandleTransport(handle));
  }

  /** Why a new connection is refused now, or undefined to take it. Consumes an accept token. */
  private admission(): Refusal | undefined {
    // One clock reading for the refused take() and the retry-after: read twice, the bucket could
    // refill in between and tell the client to come back after 0 ms.
    const now = this.clock.now();
    if (this.acceptLimiter && !this.closing && !this.drainState && !this.acceptLimiter.take(now)) return { shedAt: now };
    const goingAway = this.closing || this.drainState !== undefined;
    if (!goingAway && this.peers.size < this.options.maxConnections) return undefined;
    const message = this.closing
      ? 'server shutting down'
      : this.drainState
        ? 'server draining'
        : `server is at maxConnections (${this.options.maxConnections})`;
    return { code: goingAway ? 'going-away' : 'server-full', message };
  }

  private adopt(transport: Transport): void {
    // Tuning that follows the heartbeat is set once, at the handshake (socketOptionsFor): every
    // setsockopt through net-keepalive costs ≈ 5 µs, which a reconnect storm pays per
    // connection. Until then the handshake timer bounds a dead peer.
    const socket = transport.tunable;
    const applied = this.options.tuningFollows.keepalive || socket === undefined ? undefined : this.tune(socket, this.options.socketTuning);
    this.peers.add(new ServerPeer(transport, this, applied));
  }

  private tune(socket: TunableSocket, tuning: SocketTuningOptions): AppliedSocketOptions {
    const applied = this.shareSocketOptions(applySocketTuning(socket, tuning, this.netKeepalive));
    this.warnOnce(applied.warnings);
    return applied;
  }

  /**
   * Spec 0008: with the default keepalive, the socket is tuned once the heartbeat is negotiated,
   * its keepalive idle moved past interval + timeout (a heartbeating connection then never
   * probes; at 1M connections with T = 60 s the 15 s default meant ~67k probes/s). Explicit
   * tuning was applied at accept and stays. Returns the report in force.
   */
  socketOptionsFor(transport: Transport, applied: AppliedSocketOptions | undefined, heartbeat: NegotiatedHeartbeat): AppliedSocketOptions | undefined {
    const socket = transport.tunable;
    const follows = this.options.tuningFollows;
    if (!follows.keepalive || socket === undefined) return applied;
    return this.tune(socket, tuningForHeartbeat(this.options.socketTuning, heartbeat, follows));
  }

  /** One 'warning' per distinct line, not one per socket. */
  private warnOnce(warnings: readonly string[]): void {
    for (const warning of warnings) {
      if (this.warned.has(warning)) continue;
      this.warned.add(warning);
      this.emit('warning', warning);
    }
  }

  /**
   * Every socket gets the same tuning, so the report is almost always one of a few values: share
   * one frozen copy instead of keeping ~200 bytes of identical objects per session.
   */
  private shareSocketOptions(applied: AppliedSocketOptions): AppliedSocketOptions {
    const key = JSON.stringify(applied);
    const seen = this.socketOptionsSeen.get(key);
    if (seen !== undefined) return seen;
    Object.freeze(applied.keepalive);
    Object.freeze(applied.warnings);
    Object.freeze(applied);
    if (this.socketOptionsSeen.size < MAX_SHARED_SOCKET_OPTIONS) this.socketOptionsSeen.set(key, applied);
    return applied;
  }
}

const MAX_SHARED_STALL_GUARDS = 64;
const MAX_SHARED_PING_RULES = 64;
const MAX_SHARED_SOCKET_OPTIONS = 64;

/** What `server.stats()` reports. */
export interface ServerStats {
  /** Accepted connections not yet closed, handshaking ones included. */
  connections: number;
  /** Accepted connections closed since listen() (refused ones are not counted). */
  connectionsClosed: number;
  /** TCP payload bytes received / sent on those connections. */
  bytesRead: number;
  bytesWritten: number;
}

/** Why admission() turned a connection away: over the accept rate, or a CLOSE to send. */
type Refusal = { readonly shedAt: number } | { readonly code: 'going-away' | 'server-full'; readonly message: string };

interface DetachedSession {
  readonly session: Session;
  readonly cancelExpiry: () => void;
  /** session.resume.unackedBytes as last counted in detachedBytes. */
  bytes: number;
}

interface DrainState {
  readonly done: Promise<void>;
  readonly resolve: () => void;
  readonly goaway: Omit<GoawayFrame, 'type'>;
  cancelDeadline: Cancel | undefined;
}

/** Transport losses a resumable session survives; deliberate closes end it at once. */
const DETACHABLE = new Set<CloseReason['code']>(['heartbeat-timeout', 'transport-closed', 'transport-error']);

/** Refusals: read and discard until the peer's FIN (the transport's end() bounds a peer that never sends it). */
const DISCARD: TransportHandlers = { onData() {}, onDrain() {}, onTransportClose() {} };

/** Write a refusal's frames, then close gracefully: the peer reads why before the FIN. */
function sendAndEnd(transport: Transport, frames: Uint8Array[]): void {
  transport.setHandlers(DISCARD);
  transport.cork();
  for (const frame of frames) transport.write(frame);
  transport.uncork();
  transport.end();
}

function wsPath(path: string | undefined): string {
  if (path === undefined) return '/';
  if (typeof path !== 'string' || !path.startsWith('/')) throw new InvalidOptionError('path', `must start with '/', got ${String(path)}`);
  return path;
}

/** Create a lifeline server. Call `listen()` to start accepting. */
export function createServer(options?: ServerOptions): LifelineServer {
  return new LifelineServer(options);
}
