/**
 * LifelineServer: accepts connections on its listeners (TCP, TLS, WebSocket: listeners.ts,
 * listen-ws.ts; docs/spec/0011-transports.md), runs the handshake, keeps the session registry, and
 * reclaims sessions whose peer is dead. All heartbeat checks of all connections share one
 * coarse TimerWheel (no timer per connection; see time/wheel.ts for its precision). Its parts,
 * one per server: admission.ts (accept rate, limits, refusals), resume-registry.ts (resumable
 * and detached sessions), server-tuning.ts (socket tuning), shared-rules.ts (stall guards and
 * ping-rate rules), drain.ts, server-stats.ts, listener-factory.ts (listen() → a listener),
 * session-registry.ts (connections and the open / detach / resume / close of their sessions),
 * server-log.ts (the `logger` option's lines, docs/spec/0016-logging.md).
 *
 * Graceful drain (drain(); docs/spec/0003-enforcement-and-drain.md §Graceful drain): GOAWAY to
 * every session, PONGs say `draining`, new connections are refused, stragglers are closed at a
 * deadline.
 *
 * Events: 'session' (Session) after a handshake; 'sessionClose' (Session, CloseReason);
 * 'listening' (ListenerAddress[]) once the listen() calls in progress are done; 'draining'
 * once, when drain() starts; 'error' (Error) for listener errors after listen() resolved;
 * 'warning' (string) once per distinct socket-tuning setting that could not be applied exactly;
 * 'clientError' (ClientErrorInfo) for a connection that failed before it became a lifeline
 * connection (TLS handshake, WebSocket upgrade, or refused at its TCP accept); 'authFailure'
 * (AuthFailureInfo) for credentials the `authenticate` hook did not accept (docs/spec/0013).
 */
import type http from 'node:http';
import type https from 'node:https';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { ConnectionEnv, HealthReport, StallGuardOptions } from '../connection/connection.js';
import { wholeMsClock, type Clock } from '../time/clock.js';
import { TimerWheel } from '../time/wheel.js';
import { createEventLoopHealth, guardedHealth, type HealthSampler } from './health.js';
import type { HeartbeatBounds, NegotiatedHeartbeat } from '../liveness/negotiate.js';
import type { Transport } from '../transport/types.js';
import type { ClientErrorInfo, Listener, ListenerAddress, ListenOptions } from './listeners.js';
import { Endpoints, type EndpointsOwner } from './endpoints.js';
import type { AppliedSocketOptions } from '../transport/socket-tuning.js';
import type { CloseReason } from '../connection/close-reason.js';
import { channels, publish } from '../diagnostics.js';
import { InvalidOptionError } from '../errors.js';
import { NO_LOG } from '../util/log.js';
import { resolveDrainOptions, resolveServerOptions, type DrainOptions, type ResolvedServerOptions, type ServerOptions } from './options.js';
import { ServerPeer, type PeerHost, type PingRule } from './peer.js';
import type { Session } from './session.js';
import { Admission, type AcceptRefusal, type PendingAdmission } from './admission.js';
import { ResumeRegistry } from './resume-registry.js';
import { ServerTuning } from './server-tuning.js';
import { SharedRules } from './shared-rules.js';
import { Drain } from './drain.js';
import type { ServerStats } from './server-stats.js';
import { SessionRegistry } from './session-registry.js';
import { ServerLog } from './server-log.js';
import { ServerCounters } from './server-counters.js';
import type { UdpListenerStats } from './listen-udp.js';
import type { AuthFailureInfo } from './auth.js';
import { Presence } from '../presence/presence.js';
import type { SendResult } from '../presence/types.js';
import { PresenceSubscriptions } from './presence-subscriptions.js';

export type { ServerStats } from './server-stats.js';

export interface LifelineServer {
  on(event: 'session', listener: (session: Session) => void): this;
  on(event: 'sessionClose', listener: (session: Session, reason: CloseReason) => void): this;
  /** A resumable session's client came back (on a new transport). */
  on(event: 'sessionResume', listener: (session: Session) => void): this;
  /** Once the listen() calls in progress are all done, with every listener's address (as addresses()). */
  on(event: 'listening', listener: (addresses: ListenerAddress[]) => void): this;
  on(event: 'draining', listener: () => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'warning', listener: (message: string) => void): this;
  /** A connection failed before it became a lifeline connection (TLS handshake, WebSocket upgrade). */
  on(event: 'clientError', listener: (info: ClientErrorInfo) => void): this;
  /** Our own event loop stalled this long; peers were not blamed for it (at most once a second). */
  on(event: 'stall', listener: (lateByMs: number) => void): this;
  /** Credentials not accepted, or a resume of another identity's session refused: why, never on the wire (spec 0013). */
  on(event: 'authFailure', listener: (info: AuthFailureInfo) => void): this;
  once(event: 'session', listener: (session: Session) => void): this;
  once(event: 'sessionClose', listener: (session: Session, reason: CloseReason) => void): this;
}

/** Wheel callbacks per synchronous turn when the server leads the heartbeat (see the constructor). */
const LEADING_MAX_PER_TURN = 250;

export class LifelineServer extends EventEmitter implements PeerHost, EndpointsOwner {
  readonly options: ResolvedServerOptions;
  readonly clock: Clock;
  readonly scheduler: TimerWheel;
  readonly bounds: HeartbeatBounds;
  /** Where connections come from: the listeners, in listen() / attach() order (endpoints.ts). */
  private readonly listenerSet = new Endpoints(this);

  /** @internal The listeners themselves (tests and the leak probe read their state). */
  get endpoints(): readonly Listener[] {
    return this.listenerSet.list;
  }
  /** @internal Plain counts for src/metrics/, read on scrape (server-counters.ts, docs/spec/0015-metrics.md). */
  readonly counters = new ServerCounters();
  /** Connections and their sessions' lifecycle (session-registry.ts). */
  private readonly registry: SessionRegistry;
  /** @internal (PeerHost) The `logger` option's lines (server-log.ts); NO_LOG by default. */
  readonly log: ServerLog;
  private closing = false;
  /** Set by the first drain() call; never cleared (a drained server stays draining). */
  private drainState: Drain | undefined;
  private sampler: HealthSampler | undefined;
  private healthSource: () => HealthReport;
  /** presence.degradedStatus 'busy': PONGs say busy while the presence store does not answer. */
  private readonly busyWhenDegraded: boolean;
  private lastStallReportAtMs = -Infinity;
  private readonly admission: Admission;
  private readonly resume: ResumeRegistry;
  private readonly tuning: ServerTuning;
  private readonly rules: SharedRules;
  /** Who is online, by identity, on this node and the store's others (docs/spec/0014-presence.md). */
  readonly presence: Presence;
  /** Clients' PRESENCE subscriptions, fed by `presence` (presence-subscriptions.ts). */
  readonly presenceSubscriptions: PresenceSubscriptions;

  constructor(options: ServerOptions = {}) {
    super();
    this.options = resolveServerOptions(options);
    // Whole milliseconds by default: see wholeMsClock (memory per connection).
    this.clock = this.options.clock ?? wholeMsClock;
    // A leading server's wheel checks each write a PING (≈ 10 µs with the syscall), so a tick's
    // pass is cut into turns of at most LEADING_MAX_PER_TURN (≈ 2.5 ms) with I/O in between: the
    // loop-delay p99 stays under 5 ms at 19,000 connections / 1 s. 'auto' may lead (WebSocket
    // clients) and gets the same turns. Clients always leading: the checks mostly just re-arm,
    // the default turn size is fine.
    this.scheduler = new TimerWheel(this.clock, {
      tickMs: this.options.timerResolution,
      ...(this.options.heartbeatLeader !== 'client' ? { maxPerTurn: LEADING_MAX_PER_TURN } : {}),
    });
    // The parts' ports, one object each per server (private state read through getters).
    const server = this;
    this.admission = new Admission(this.options, {
      clock: this.clock,
      get connectionCount() {
        return server.registry.peers.size;
      },
      get closing() {
        return server.closing;
      },
      get draining() {
        return server.drainState !== undefined;
      },
      refused: (transport, code) => server.log.refused(transport, code),
    });
    this.resume = new ResumeRegistry(this.options, this.clock, this.scheduler, { finishSession: (session, reason) => this.registry.finish(session, reason) });
    this.tuning = new ServerTuning(this.options, { warn: (message) => this.emit('warning', message) });
    this.rules = new SharedRules(this.options, this);
    this.presence = new Presence(this.options.presence);
    const degradedStatus = this.options.presence.degradedStatus ?? 'ok';
    if (degradedStatus !== 'ok' && degradedStatus !== 'busy') throw new InvalidOptionError('server.presence.degradedStatus', `must be 'ok' or 'busy', got ${JSON.stringify(degradedStatus)}`);
    this.busyWhenDegraded = degradedStatus === 'busy';
    this.presenceSubscriptions = new PresenceSubscriptions(this.presence, this.options.presence);
    this.log = new ServerLog(this.options.logger ?? NO_LOG);
    this.registry = new SessionRegistry(
      {
        get closing() {
          return server.closing;
        },
        get drainState() {
          return server.drainState;
        },
        resumeWindowMs: this.options.resumeWindow,
        emit: (event, ...args) => this.emit(event, ...args),
      },
      { clock: this.clock, admission: this.admission, resume: this.resume, presence: this.presence, counters: this.counters, log: this.log },
    );
    // Until listen() starts the event-loop sampler (or forever, when the user gave a hook).
    this.healthSource = this.options.health ? guardedHealth(this.options.health, (message) => this.emit('warning', message)) : () => ({ status: 'ok', load: 0 });
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
      handshakeMaxFrameSize: this.options.handshakeMaxFrameSize,
      maxBufferedBytes: this.options.maxBufferedBytes,
      health: this.health,
      // Frames by type: one slot per frame, read on scrape (spec 0015 §Frames by type).
      framesReceived: this.counters.framesReceived,
      framesSent: this.counters.framesSent,
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
    if (this.drainState) return { status: 'draining', load: report.load };
    if (this.busyWhenDegraded && report.status === 'ok' && this.presence.degraded) return { status: 'busy', load: report.load };
    return report;
  };

  /** True from the first drain() call on. */
  get draining(): boolean {
    return this.drainState !== undefined;
  }

  /** Sessions that completed the handshake and have not closed. */
  get sessionCount(): number {
    return this.registry.sessionCount;
  }

  /**
   * Whether accepted connections run on libuv's TCP handle without a net.Socket (option
   * `leanSockets`, and this Node has what it needs); known once listening.
   */
  get leanSockets(): boolean {
    return this.listenerSet.leanSockets;
  }

  /**
   * Connection and byte counts since listen(): connections open now (handshaking ones included)
   * and closed so far, and bytes received / sent on them (TCP payload, frames included). Sums
   * every open connection's counters: O(connections), for metrics, not per message.
   */
  stats(): ServerStats {
    return this.registry.stats();
  }

  /** Each UDP listener's counters (listen-udp.ts), for metrics. */
  udpStats(): UdpListenerStats[] {
    return this.listenerSet.udpStats();
  }

  /** Every accepted connection not yet closed, handshaking ones included. */
  get connectionCount(): number {
    return this.registry.peers.size;
  }

  /** Open sessions (by accept order), then detached ones. */
  sessions(): IterableIterator<Session> {
    return this.registry.sessions();
  }

  /**
   * Start accepting on a port: `listen(port, host)` (TCP, or TLS when the server has `tls`
   * options) or `listen({ transport, port, host, path, tls })`. May be called again for more
   * listeners — e.g. TCP for native clients and a WebSocket port for browsers: every
   * connection joins the same sessions, limits and heartbeat. Resolves the bound address.
   */
  listen(portOrOptions: number | ListenOptions = 0, host?: string): Promise<AddressInfo> {
    return this.listenerSet.listen(typeof portOrOptions === 'number' ? { port: portOrOptions, ...(host === undefined ? {} : { host }) } : portOrOptions);
  }

  /**
   * Serve lifeline over WebSocket on the user's own http / https server (its routes keep
   * working): upgrade requests for `path` (default '/') become lifeline connections. The
   * server's close() detaches; closing the http server stays the user's job.
   */
  attach(server: http.Server | https.Server, options: { path?: string } = {}): Promise<void> {
    return this.listenerSet.attach(server, options.path);
  }

  /** The first listener's address. */
  address(): AddressInfo {
    return this.listenerSet.address();
  }

  /** Every listener's transport (`wss` for a ws listener over TLS) and bound address, in listen() order. */
  addresses(): ListenerAddress[] {
    return this.listenerSet.addresses();
  }

  /** @internal The event-loop health sampler, once listen() started it (none with a `health` option): lifeline/metrics reads its delay windows. */
  get healthSampler(): HealthSampler | undefined {
    return this.sampler;
  }

  /** @internal (EndpointsOwner) Once, before the first listener: the optional socket-tuning module and the health sampler. */
  async prepare(): Promise<void> {
    await this.tuning.load();
    await this.presence.ready;
    if (!this.options.health && !this.sampler) {
      this.sampler = createEventLoopHealth();
      this.healthSource = this.sampler.health;
    }
  }

  /** A listener's new connection (endpoints.ts): admitted, or refused with a CLOSE saying why (`pending`: counted since its TCP accept). */
  incoming(transport: Transport, pending?: PendingAdmission): void {
    // Explicit socket tuning only; tuning that follows the heartbeat waits for the handshake.
    if (!this.admission.admit(transport, pending)) return;
    this.log.accepted(transport);
    this.registry.peers.add(new ServerPeer(transport, this, this.tuning.atAccept(transport)));
  }

  /** @internal (EndpointsOwner) A TLS / WebSocket listener's TCP socket at accept, before its handshake (admission.ts). */
  accepted(remoteAddress: string | undefined): PendingAdmission | AcceptRefusal {
    return this.admission.accept(remoteAddress);
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
    const resolved = resolveDrainOptions(options);
    const drain = new Drain(resolved);
    this.drainState = drain;
    this.emit('draining');
    const told = drain.start(this.registry.peers, this.scheduler, this.clock);
    this.counters.goawaysDraining += told;
    this.log.draining(told, resolved.deadlineMs);
    return drain.done;
  }

  /**
   * Stop accepting, send CLOSE going-away to every connection, and resolve once every
   * transport has closed (a peer that does not read is cut after a short grace period).
   */
  async close(): Promise<void> {
    this.closing = true;
    const listenersClosed = this.listenerSet.close();
    for (const peer of this.registry.peers) peer.connection.close('going-away', 'server shutting down');
    const shutdown: CloseReason = { code: 'server-shutdown', message: 'server shutting down', initiator: 'local', detectedBy: 'application', sinceLastSeenMs: 0 };
    for (const session of [...this.resume.detached()]) this.registry.finish(session, shutdown);
    await listenersClosed;
    await this.presence.close();
    this.scheduler.clear();
    this.sampler?.stop();
    this.sampler = undefined;
  }

  // --- PeerHost ---------------------------------------------------------------------------------

  stallGuard(thresholdMs: number): StallGuardOptions {
    return this.rules.stallGuard(thresholdMs);
  }

  pingRule(intervalMs: number): PingRule | undefined {
    return this.rules.pingRule(intervalMs);
  }

  /** Spec 0008: a default keepalive is set at the handshake, following the heartbeat (server-tuning.ts). */
  socketOptionsFor(transport: Transport, applied: AppliedSocketOptions | undefined, heartbeat: NegotiatedHeartbeat): AppliedSocketOptions | undefined {
    return this.tuning.forHeartbeat(transport, applied, heartbeat);
  }

  /** A connection's heartbeat check ran late: every stalled connection reports; we tell once a second. */
  stalled(lateByMs: number): void {
    const now = this.clock.now();
    if (now - this.lastStallReportAtMs < 1000) return;
    this.lastStallReportAtMs = now;
    this.counters.stalls++;
    this.log.stalled(lateByMs);
    this.emit('stall', lateByMs);
    publish(channels.serverStall, () => ({ server: this, lateByMs }));
  }

  // Session lifecycle: session-registry.ts.
  sessionOpened(peer: ServerPeer, session: Session): void {
    this.registry.opened(peer, session);
  }

  peerClosed(peer: ServerPeer, reason: CloseReason): void {
    // Published here, not in the connection: connection/ is shared with the browser bundle.
    if (reason.code === 'slow-consumer') publish(channels.serverSlowConsumer, () => ({ server: this, session: peer.session, reason }));
    this.registry.peerClosed(peer, reason);
  }

  resumableSession(id: string): Session | undefined {
    return this.registry.resumable(id);
  }

  sessionResumed(peer: ServerPeer, session: Session, replayedMessages: number): void {
    this.registry.resumed(peer, session, replayedMessages);
  }

  authFailed(peer: ServerPeer, info: AuthFailureInfo): void {
    this.log.authFailed(peer, info);
    if (this.listenerCount('authFailure') > 0) this.emit('authFailure', info);
    publish(channels.serverAuthFailure, () => ({ server: this, ...info }));
  }

  closeDetached(session: Session, message: string): void {
    this.registry.finish(session, { code: 'local-close', message, initiator: 'local', detectedBy: 'application', sinceLastSeenMs: 0 });
  }

  /** Deliver to every device of an identity, on any node, at most once each (spec 0014 §Routing). Never rejects. */
  sendTo(identityId: string, message: Uint8Array | string): Promise<SendResult> {
    return this.presence.sendTo(identityId, message);
  }

  /** Detached (resumable, transport lost) sessions waiting for their client. */
  get detachedCount(): number {
    return this.resume.detachedCount;
  }

  /** A detached session's replay buffer grew (send() while detached). */
  detachedSessionGrew(session: Session): void {
    this.resume.grew(session);
  }
}

/** Create a lifeline server. Call `listen()` to start accepting. */
export function createServer(options?: ServerOptions): LifelineServer {
  return new LifelineServer(options);
}
