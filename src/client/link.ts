/**
 * Link: one connection of a Client (TCP, TLS or WebSocket: dial.ts), from dial to close — connect, HELLO / WELCOME checks,
 * heartbeat (through Connection), availability verdicts (docs/spec/0004-availability.md). The
 * Client outlives its links: after a loss it starts a new Link (docs/spec/0005-reconnect.md);
 * resume will later hand the session over from one link to the next.
 *
 * A link reports to its owner through LinkOwner (STYLE.md §1.2), always passing itself so the
 * owner can ignore a link it has already let go. It never retries anything itself.
 */
import { Connection, defaultStallThresholdMs, type ConnectionOwner, type PongInfo } from '../connection/connection.js';
import type { CloseReason } from '../connection/close-reason.js';
import { PROTOCOL_VERSION, type Frame, type GoawayFrame, type HelloFrame, type PresenceFrame, type WelcomeFrame } from '../protocol/frames.js';
import type { ResumeState } from '../connection/resume.js';
import { pingSchedule } from '../liveness/negotiate.js';
import { AvailabilityMonitor, type AvailabilityChange } from '../liveness/availability.js';
import type { Cancel, Clock } from '../time/clock.js';
import type { Scheduler } from '../time/scheduler.js';
import type { Transport } from '../transport/types.js';
import type { Dial, DialOwner, DialSettings } from './dial.js';
import { toHex } from '../util/hex.js';
import {
  applySocketTuning,
  tuningForHeartbeat,
  type AppliedSocketOptions,
  type NetKeepaliveApi,
} from '../transport/socket-tuning.js';
import { helloToken, type ResolvedClientOptions } from './options.js';
import { formatServer, type ServerAddress } from './servers.js';
import { networkKey } from '../liveness/nat-store.js';
import type { NegotiatedHeartbeat } from '../liveness/negotiate.js';
import type { AdaptiveHeartbeat } from './adaptive.js';

/** What the handshake settled. */
export interface LinkOpenInfo {
  sessionId: string;
  heartbeatInterval: number;
  heartbeatTimeout: number;
}

/** What a Link needs from its Client (narrow port). */
export interface LinkOwner {
  /** TCP is up; the handshake starts. */
  linkConnected(link: Link, socketOptions: AppliedSocketOptions): void;
  /** After WELCOME: the keepalive idle was raised to follow the negotiated heartbeat (docs/spec/0008). */
  linkSocketOptions(link: Link, socketOptions: AppliedSocketOptions): void;
  linkOpened(link: Link, info: LinkOpenInfo): void;
  linkMessage(link: Link, payload: Uint8Array): void;
  linkPing(link: Link, id: number): void;
  linkPong(link: Link, info: PongInfo): void;
  linkGoaway(link: Link, frame: GoawayFrame): void;
  linkAvailability(link: Link, change: AvailabilityChange): void;
  linkDrain(link: Link): void;
  linkStall(link: Link, lateByMs: number): void;
  /** A PRESENCE frame from the server (docs/spec/0014 §Subscriptions). */
  linkPresence(link: Link, frame: PresenceFrame): void;
  /** Exactly once per link (also for a dial that never connected). */
  linkClosed(link: Link, reason: CloseReason): void;
  /**
   * Resume (docs/spec/0006-resume.md): what to put in HELLO, and — once WELCOME says whether the
   * session was kept — which sequence state the connection uses and from where to replay.
   */
  linkResumeHello(link: Link): { resumable: boolean; sessionId?: Uint8Array; lastSeq?: number };
  linkResumeWelcome(link: Link, welcome: WelcomeFrame): { state?: ResumeState; replayAfter?: number };
  /**
   * Adaptive heartbeat: may this link be dropped now and resumed at once on a new connection
   * (to propose a longer interval)? Only with reconnect, a resumable session and nothing in flight.
   */
  linkCanRenegotiate(link: Link): boolean;
}

/** Opens a transport to a server (Node: dial.ts; browser: browser/dial.ts). Type-only here: the browser bundle never loads dial.ts. */
export type DialFn = (server: ServerAddress, settings: DialSettings, owner: DialOwner) => Dial;

export type LinkState = 'connecting' | 'handshake' | 'open' | 'closing' | 'closed';

export interface LinkDeps {
  /** Opens the transport (Node: dial.ts; browser: browser/dial.ts). */
  dial: DialFn;
  server: ServerAddress;
  options: ResolvedClientOptions;
  clock: Clock;
  scheduler: Scheduler;
  netKeepalive: NetKeepaliveApi | undefined;
  owner: LinkOwner;
  /** Present with `heartbeat: 'adaptive'` (docs/spec/0007). */
  adaptive?: AdaptiveHeartbeat | undefined;
}

/** An idle cycle of the adaptive heartbeat: a PING went out after `idleMs` of silence. */
interface IdleCycle {
  pingAtMs: number;
  idleMs: number;
}

/** What linkConnected reports for a transport without a tunable socket. */
const UNTUNED: AppliedSocketOptions = {
  keepalive: { enabled: false, idleMs: 'kernel-default', intervalMs: 'kernel-default', count: 'kernel-default' },
  userTimeoutMs: 'kernel-default',
  via: 'node',
  warnings: [],
};

function resumeHello(r: { resumable: boolean; sessionId?: Uint8Array; lastSeq?: number }): Partial<HelloFrame> {
  if (!r.resumable) return {};
  return { resumable: true, ...(r.sessionId ? { resumeSessionId: r.sessionId, resumeLastSeq: r.lastSeq ?? 0 } : {}) };
}

export class Link implements ConnectionOwner, DialOwner {
  readonly server: ServerAddress;
  state: LinkState = 'connecting';
  connection: Connection | undefined;
  private readonly deps: LinkDeps;
  /** The dial in progress, until it reports. */
  private dialing: Dial | undefined;
  private dialStartedAt = 0;
  private cancelConnectTimer: Cancel | undefined;
  private availability: AvailabilityMonitor | undefined;
  private cancelAvailabilityCheck: Cancel | undefined;
  /** Adaptive heartbeat: this connection's network key (server + local address), set on connect. */
  networkKey: string | undefined;
  /** Adaptive heartbeat: the interval HELLO proposed, what WELCOME settled, the open idle cycle. */
  /** The adaptive heartbeat for this link: the client's, except over UDP (spec 0012: it stays off there). */
  private adaptive: AdaptiveHeartbeat | undefined;
  private proposedIntervalMs = 0;
  private negotiated: NegotiatedHeartbeat | undefined;
  private cycle: IdleCycle | undefined;
  private renegotiating = false;
  /** The server leads this connection's heartbeat (spec 0010): set by WELCOME. */
  serverLeads = false;
  /** WELCOME `presence` (PROTOCOL.md §6.11): the server's subscription limit; undefined: no PRESENCE. */
  presenceLimit: number | undefined;
  /** WELCOME maxFrameSize (or ours, when it does not say). */
  serverMaxFrameSize = 0;
  /** When the chunk holding the last PONG arrived (connection clock). */
  private pongSeenAtMs = Number.NaN;

  constructor(deps: LinkDeps) {
    this.deps = deps;
    this.server = deps.server;
  }

  /** `host:port` of the server this link dials. */
  get address(): string {
    return formatServer(this.server);
  }

  /** How long a PING may wait for its PONG before the server counts as unavailable, ms (set at open). */
  get availabilityBudgetMs(): number | undefined {
    return this.availability?.budgetMs;
  }

  /** False while the server is reported unavailable. */
  get available(): boolean {
    return this.availability?.isAvailable ?? true;
  }

  /** Start the connect (TCP, TLS or WebSocket: dial.ts); everything else follows from events. */
  dial(): void {
    const { clock, scheduler, options } = this.deps;
    const handshakeTimeout = options.handshakeTimeout;
    this.dialStartedAt = clock.now();
    this.cancelConnectTimer = scheduler.schedule(this.dialStartedAt + handshakeTimeout, () => {
      this.dialing?.abort();
      this.dialing = undefined;
      this.deps.adaptive?.connectFailed();
      this.report({
        code: 'connect-failed',
        message: `cannot connect to ${this.address}: no ${this.transportName} connection within ${handshakeTimeout} ms`,
        initiator: 'local',
        detectedBy: 'handshake-timer',
        sinceLastSeenMs: 0,
      });
    });
    this.dialing = this.deps.dial(this.server, { tls: options.tls, maxFrameSize: options.maxFrameSize }, this);
  }

  /** How the transport is named in messages ('TCP', 'TLS', 'WebSocket'). */
  private get transportName(): string {
    const t = this.server.transport ?? 'tcp';
    return t === 'ws' || t === 'wss' ? 'WebSocket' : t.toUpperCase();
  }

  // --- DialOwner ------------------------------------------------------------------------------

  dialFailed(err: Error): void {
    this.dialing = undefined;
    this.cancelConnectTimer?.();
    this.deps.adaptive?.connectFailed();
    this.report({
      code: 'connect-failed',
      message: `cannot connect to ${this.address}: ${err.message}`,
      initiator: 'transport',
      detectedBy: 'transport',
      sinceLastSeenMs: 0,
      error: err,
    });
  }

  dialed(transport: Transport, localAddress: string | undefined): void {
    this.dialing = undefined;
    this.cancelConnectTimer?.();
    if (this.state !== 'connecting') return void transport.destroy();
    const { clock, scheduler, options } = this.deps;
    this.state = 'handshake';
    // Over UDP a NAT that forgot the mapping kills nothing (the next datagram opens a new one and
    // the connection id carries the session over, spec 0012): the learner's signal never comes,
    // and a longer interval would only leave pushes stuck at the NAT. It stays off there.
    this.adaptive = transport.kind === 'udp' ? undefined : this.deps.adaptive;
    const tunable = transport.tunable;
    const socketOptions = tunable ? applySocketTuning(tunable, options.socketTuning, this.deps.netKeepalive) : UNTUNED;
    const connection = new Connection({
      transport,
      owner: this,
      clock,
      scheduler,
      maxFrameSize: options.maxFrameSize,
      maxBufferedBytes: options.maxQueuedBytes,
      health: () => ({ status: 'ok', load: 0 }),
      // The adaptive heartbeat learns from silence in both directions (outbound refreshes a NAT).
      trackWriteTimes: this.adaptive !== undefined,
    });
    this.connection = connection;
    this.deps.owner.linkConnected(this, socketOptions);
    if (this.state !== 'handshake') return; // the owner closed us from its listener
    let token: Uint8Array | undefined;
    try {
      // Spec 0013: a token function answers the token to present now (refreshed ones on reconnect).
      token = helloToken(options.token);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      connection.destroy({ code: 'local-close', message: `cannot send HELLO: the token option failed: ${error.message}`, initiator: 'local', detectedBy: 'application', error });
      return;
    }
    const adaptive = this.adaptive;
    if (adaptive) {
      // Before HELLO: a pending death on this key is fed first, so HELLO already proposes the
      // fallen-back interval (spec 0007 §Wiring 7).
      this.networkKey = networkKey(this.address, localAddress ?? 'unknown');
      this.proposedIntervalMs = adaptive.connected(this.networkKey);
    }
    connection.sendHandshake({
      type: 'hello',
      version: PROTOCOL_VERSION,
      heartbeatIntervalMs: Math.round(adaptive ? this.proposedIntervalMs : (options.heartbeatInterval ?? 0)),
      heartbeatTimeoutMs: Math.round(options.heartbeatTimeout ?? 0),
      maxFrameSize: options.maxFrameSize,
      ...(token === undefined ? {} : { token }),
      ...resumeHello(this.deps.owner.linkResumeHello(this)),
      // Spec 0010: the adaptive learner must time the idle itself, so it never hands the lead over.
      ...(options.followServerPings && !adaptive ? { followServerPings: true } : {}),
    });
    connection.startHandshakeTimer(Math.max(1, this.dialStartedAt + options.handshakeTimeout - clock.now()));
  }

  send(payload: Uint8Array): boolean {
    return this.connection!.send(payload);
  }

  /** Graceful local close ('local-close'); before TCP is up, abort the dial at once. */
  close(message: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    if (this.connection) {
      this.state = 'closing';
      this.connection.close('normal', message);
      return;
    }
    this.cancelConnectTimer?.();
    this.dialing?.abort();
    this.dialing = undefined;
    this.report({
      code: 'local-close',
      message: message || 'closed locally before connecting',
      initiator: 'local',
      detectedBy: 'application',
      sinceLastSeenMs: 0,
    });
  }

  /**
   * Leave an open server with a given reason (failover): gracefully — queued writes flushed, the
   * server's in-flight DATA still delivered — or at once when the server is not answering at all
   * (waiting for its CLOSE would only add the transport's end timeout).
   */
  leave(reason: Omit<CloseReason, 'sinceLastSeenMs'>, graceful: boolean): void {
    const connection = this.connection;
    if (this.state !== 'open' || !connection) return;
    this.state = 'closing';
    if (graceful) connection.closeWith('normal', reason.message, reason);
    else connection.destroy(reason);
  }

  // --- ConnectionOwner ------------------------------------------------------------------------

  handshakeFrame(frame: Frame): void {
    const connection = this.connection;
    if (!connection) return;
    if (frame.type !== 'welcome') {
      connection.refuse('protocol-error', `expected WELCOME, got ${frame.type.toUpperCase()}`);
      return;
    }
    if (frame.version !== PROTOCOL_VERSION) {
      connection.refuse('unsupported-version', `server answered protocol version ${frame.version}; this client speaks ${PROTOCOL_VERSION}`);
      return;
    }
    if (frame.heartbeatIntervalMs <= 0 || frame.heartbeatTimeoutMs <= frame.heartbeatIntervalMs) {
      const message = `WELCOME has an unusable heartbeat (${frame.heartbeatIntervalMs} / ${frame.heartbeatTimeoutMs} ms)`;
      connection.refuse('protocol-error', message);
      return;
    }
    const options = this.deps.options;
    const negotiated = { intervalMs: frame.heartbeatIntervalMs, timeoutMs: frame.heartbeatTimeoutMs };
    const resume = this.deps.owner.linkResumeWelcome(this, frame);
    this.negotiated = negotiated;
    this.presenceLimit = frame.presence;
    this.serverMaxFrameSize = frame.maxFrameSize ?? options.maxFrameSize;
    const adaptive = this.adaptive;
    if (adaptive) adaptive.opened(this.networkKey!);
    // The server leads only if we offered (a WELCOME saying so unasked is ignored: we keep pinging).
    this.serverLeads = frame.serverPings === true && options.followServerPings && !adaptive;
    const schedule = adaptive ? adaptive.pingSchedule(this.networkKey!, negotiated) : pingSchedule('client', negotiated, this.serverLeads ? 'server' : 'client');
    connection.open({
      ...(resume.state ? { resume: resume.state } : {}),
      ...schedule,
      timeoutMs: negotiated.timeoutMs,
      peerMaxFrameSize: frame.maxFrameSize ?? options.maxFrameSize,
      ...(options.detector ? { detector: options.detector } : {}),
      ...(options.stallGuard
        ? {
            stallGuard: {
              thresholdMs: defaultStallThresholdMs(negotiated.timeoutMs),
              onStall: (lateByMs: number) => this.deps.owner.linkStall(this, lateByMs),
            },
          }
        : {}),
    });
    this.state = 'open';
    this.keepaliveFollowsHeartbeat(connection, negotiated);
    // Resend what the server has not received (original seqs; it drops any duplicate).
    if (resume.replayAfter !== undefined) connection.replayAfter(resume.replayAfter);
    // The budget must leave room to report before the heartbeat declares the server dead.
    // When the server leads, our own PING (the one the budget times) goes out only after
    // interval + margin of silence: leave it room to report before the timeout declares death.
    const followerRoomMs = this.serverLeads ? (negotiated.timeoutMs - schedule.pingAfterMs) * 0.8 : Infinity;
    const budgetMs = Math.min(options.availabilityBudget, negotiated.timeoutMs / 2, followerRoomMs);
    this.availability = new AvailabilityMonitor({ budgetMs, busyPongs: options.busyPongs });
    this.deps.owner.linkOpened(this, {
      sessionId: frame.sessionId ? toHex(frame.sessionId) : '',
      heartbeatInterval: negotiated.intervalMs,
      heartbeatTimeout: negotiated.timeoutMs,
    });
  }

  /**
   * Spec 0008: with keepalive from the defaults, move its idle past interval + timeout (and a
   * default user timeout with it) so a heartbeating connection never sends a probe (probes
   * would also refresh a NAT the heartbeat is meant to keep alive, and cost more packets than
   * the heartbeat at long intervals).
   */
  private keepaliveFollowsHeartbeat(connection: Connection, heartbeat: NegotiatedHeartbeat): void {
    const { options, netKeepalive } = this.deps;
    const socket = connection.transport.tunable;
    const tuning = tuningForHeartbeat(options.socketTuning, heartbeat, options.tuningFollows);
    if (tuning === options.socketTuning || socket === undefined) return;
    this.deps.owner.linkSocketOptions(this, applySocketTuning(socket, tuning, netKeepalive));
  }

  message(payload: Uint8Array): void {
    if (this.cycle) this.cycleAnswered();
    this.deps.owner.linkMessage(this, payload);
  }

  ping(id: number, nowMs: number): void {
    this.deps.owner.linkPing(this, id);
    // Server leads: its PING says "running, status unchanged" — unless a PONG with the status
    // came in the same read (a pushed change, already counted as that beat's observation).
    if (this.serverLeads && nowMs !== this.pongSeenAtMs) this.reportAvailability(this.availability?.serverPinged(nowMs));
  }

  pingSent(_id: number, nowMs: number, silentForMs: number): void {
    if (this.adaptive) this.adaptivePingSent(nowMs, silentForMs);
    const monitor = this.availability;
    if (!monitor || this.cancelAvailabilityCheck) return;
    this.cancelAvailabilityCheck = this.deps.scheduler.schedule(monitor.pingSent(nowMs), () => {
      this.cancelAvailabilityCheck = undefined;
      this.reportAvailability(monitor.check(this.deps.clock.now()));
    });
  }

  pong(info: PongInfo): void {
    this.pongSeenAtMs = this.connection?.lastSeenAt ?? Number.NaN;
    if (this.cycle) this.cycleAnswered();
    this.cancelAvailabilityCheck?.();
    this.cancelAvailabilityCheck = undefined;
    this.deps.owner.linkPong(this, info);
    this.reportAvailability(this.availability?.pong(info.status, info.load, info.rttMs, this.deps.clock.now()));
  }

  goaway(frame: GoawayFrame): void {
    this.deps.owner.linkGoaway(this, frame);
    // The server asked us to leave: finish what is written and close gracefully, with the
    // GOAWAY's redirect and retry-after in the reason (the Client's reconnect reads them).
    // Messages the server sent before our CLOSE reached it are still delivered (closing handshake).
    // Closing before reporting `draining` keeps the owner from starting a failover of its own.
    if (this.state === 'open') {
      this.state = 'closing';
      this.connection?.closeWith('normal', `goaway: ${frame.code}`, {
        code: 'goaway',
        message: frame.message || `server sent GOAWAY (${frame.code})`,
        initiator: 'peer',
        detectedBy: 'peer',
        goaway: { code: frame.code, retryAfterMs: frame.retryAfterMs, ...(frame.redirect ? { redirect: frame.redirect } : {}) },
      });
    }
    if (frame.code === 'draining') this.reportAvailability(this.availability?.draining());
  }

  drain(): void {
    this.deps.owner.linkDrain(this);
  }

  presence(frame: PresenceFrame): void {
    this.deps.owner.linkPresence(this, frame);
  }

  closed(reason: CloseReason): void {
    const adaptive = this.adaptive;
    if (adaptive && this.networkKey !== undefined) {
      this.cycleAnsweredByAnyFrame();
      adaptive.linkClosed(this.networkKey, this.cycle?.idleMs, reason.code);
      this.cycle = undefined;
    }
    this.report(reason);
  }

  // --- adaptive heartbeat (docs/spec/0007 §Wiring) ----------------------------------------------

  private adaptivePingSent(nowMs: number, silentForMs: number): void {
    this.cycleAnsweredByAnyFrame();
    // Repeated PINGs of one silent stretch belong to the cycle the first one opened.
    if (!this.cycle) this.cycle = { pingAtMs: nowMs, idleMs: silentForMs };
  }

  /** Something arrived since the cycle's PING (not through pong/message: e.g. an ACK): it survived. */
  private cycleAnsweredByAnyFrame(): void {
    const cycle = this.cycle;
    if (cycle && (this.connection?.lastSeenAt ?? 0) > cycle.pingAtMs) this.cycleAnswered();
  }

  /** The open idle cycle got an answer: the path kept the flow through that silence. */
  private cycleAnswered(): void {
    const cycle = this.cycle!;
    this.cycle = undefined;
    const adaptive = this.adaptive!;
    const key = this.networkKey!;
    const connection = this.connection;
    const negotiated = this.negotiated;
    adaptive.survived(key, cycle.idleMs);
    if (!connection || !negotiated || this.state !== 'open') return;
    const next = adaptive.pingSchedule(key, negotiated);
    connection.setPingInterval(next.pingAfterMs, next.jitterMs);
    const granted = negotiated.intervalMs === this.proposedIntervalMs;
    if (this.renegotiating || !adaptive.wantsRenegotiate(key, negotiated.intervalMs, granted, this.deps.clock.now())) return;
    // Not from inside the frame handler: on the next turn, if the owner still agrees.
    this.renegotiating = true;
    this.deps.scheduler.schedule(this.deps.clock.now(), () => {
      if (this.state !== 'open' || !this.deps.owner.linkCanRenegotiate(this)) {
        this.renegotiating = false;
        return;
      }
      // Dropped without CLOSE so that the server keeps the session for the resume that follows.
      this.leave(
        {
          code: 'renegotiate',
          message: `reconnecting to propose a ${adaptive.snapshot(key).intervalMs} ms heartbeat (negotiated ${negotiated.intervalMs} ms)`,
          initiator: 'local',
          detectedBy: 'application',
        },
        false,
      );
    });
  }

  // --- helpers --------------------------------------------------------------------------------

  private reportAvailability(change: AvailabilityChange | undefined): void {
    if (change) this.deps.owner.linkAvailability(this, change);
  }

  private report(reason: CloseReason): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.cancelConnectTimer?.();
    this.cancelAvailabilityCheck?.();
    this.cancelAvailabilityCheck = undefined;
    this.deps.owner.linkClosed(this, reason);
  }
}
