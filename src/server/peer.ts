/**
 * ServerPeer: the server-side owner of one Connection. Before the handshake it applies the
 * HELLO policy (version, authentication — docs/spec/0013-identity.md —, negotiation, resume);
 * afterwards it forwards connection events to the public
 * Session. One per accepted transport. It also enforces the client's ping rate (spec 0003): the
 * detection is liveness/enforcement.ts, the reaction (GOAWAY + CLOSE too-many-pings) is here.
 */
import { randomBytes } from 'node:crypto';
import {
  Connection,
  defaultStallThresholdMs,
  type ConnectionEnv,
  type ConnectionOwner,
  type HealthReport,
  type PongInfo,
  type StallGuardOptions,
} from '../connection/connection.js';
import type { CloseReason } from '../connection/close-reason.js';
import { asBuffer } from '../connection/payload.js';
import { PROTOCOL_VERSION, type Frame, type GoawayFrame, type HelloFrame, type PresenceFrame } from '../protocol/frames.js';
import { negotiateHeartbeat, pingSchedule, type HeartbeatBounds, type NegotiatedHeartbeat } from '../liveness/negotiate.js';
import { NO_PING_YET, type PingRatePolicy, type PingRateState } from '../liveness/enforcement.js';
import type { Clock } from '../time/clock.js';
import type { Scheduler } from '../time/scheduler.js';
import type { Transport } from '../transport/types.js';
import type { AppliedSocketOptions } from '../transport/socket-tuning.js';
import type { ResolvedServerOptions } from './options.js';
import { Session, type SessionOwner, type SessionPeer } from './session.js';
import { channels, publish } from '../diagnostics.js';
import { ResumeState } from '../connection/resume.js';
import type { PresenceSubscriptions } from './presence-subscriptions.js';
import type { ServerLog } from './server-log.js';
import { sessionTag } from '../util/session-tag.js';
import { runAuthenticate, sameIdentity, type AuthFailureInfo, type AuthInfo, type AuthOutcome, type Identity } from './auth.js';

/** What a peer needs from its server (narrow port). */
export interface PeerHost extends SessionOwner {
  readonly options: ResolvedServerOptions;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly bounds: HeartbeatBounds;
  /** Status and load for our PONGs (the server forces `draining` while it drains). */
  readonly health: () => HealthReport;
  /** Clock, wheel, health and limits for every connection: one object shared by all of them. */
  readonly connectionEnv: ConnectionEnv;
  /**
   * The stall guard for connections with this threshold: its onStall tells the server our own
   * process stalled. One shared object per threshold, not one per connection.
   */
  stallGuard(thresholdMs: number): StallGuardOptions;
  /**
   * The ping-rate rule for connections with this negotiated interval (spec 0003), shared like
   * the stall guard; undefined while enforcement is off (minPingIntervalRatio 0).
   */
  pingRule(intervalMs: number): PingRule | undefined;
  /**
   * Spec 0008: the socket options in force once the heartbeat is negotiated (`applied`: what
   * accept set; a default keepalive is set now, its idle following the heartbeat).
   */
  socketOptionsFor(transport: Transport, applied: AppliedSocketOptions | undefined, heartbeat: NegotiatedHeartbeat): AppliedSocketOptions | undefined;
  /** A session the client may resume (attached or detached), by hex id. */
  resumableSession(id: string): Session | undefined;
  /** Move a session onto `peer` (the old peer, if any, is retired without touching the session). */
  sessionResumed(peer: ServerPeer, session: Session, replayedMessages: number): void;
  sessionOpened(peer: ServerPeer, session: Session): void;
  peerClosed(peer: ServerPeer, reason: CloseReason): void;
  /** Credentials were not accepted (docs/spec/0013): the server's 'authFailure' event and log line. */
  authFailed(peer: ServerPeer, info: AuthFailureInfo): void;
  /** The `logger` option's lines (server-log.ts). */
  readonly log: ServerLog;
  /** Clients' PRESENCE subscriptions (docs/spec/0014 §Subscriptions); limit 0: not announced. */
  readonly presenceSubscriptions: PresenceSubscriptions;
}

/** A ping-rate policy and the heartbeat interval it was made for (shared by many peers). */
export interface PingRule {
  readonly intervalMs: number;
  readonly policy: PingRatePolicy;
}

const SESSION_ID_BYTES = 16;
/**
 * The whole CLOSE message a refused client gets (docs/spec/0013 §Refusal): nothing about why —
 * expired, unknown, malformed — that would help someone guessing tokens.
 */
export const UNAUTHORIZED_MESSAGE = 'unauthorized';
/** GOAWAY too-many-pings asks the client to stay away this many heartbeat intervals (spec 0003). */
const TOO_MANY_PINGS_RETRY_INTERVALS = 2;

export class ServerPeer implements ConnectionOwner, PingRateState, SessionPeer {
  readonly connection: Connection;
  session: Session | undefined;
  /** @internal (SessionPeer) */
  readonly host: PeerHost;
  /** @internal (SessionPeer) Shared frozen report: set at accept (explicit tuning) or at the handshake (spec 0008). */
  socketOptions: AppliedSocketOptions | undefined;
  /** Set when the handshake completes; undefined while enforcement is off (ratio 0). */
  private pingRule: PingRule | undefined = undefined;
  /** @internal PingRateState: the client's ping rate, judged by pingRule.policy. */
  lastPingAtMs = 0;
  /** @internal PingRateState */
  pingStrikes = NO_PING_YET;
  /** Set while the `authenticate` hook runs for this connection's HELLO (WELCOME not sent yet). */
  private pendingAuth: AuthInfo | undefined = undefined;

  constructor(transport: Transport, host: PeerHost, socketOptions?: AppliedSocketOptions) {
    this.host = host;
    this.socketOptions = socketOptions;
    this.connection = new Connection({ transport, owner: this, env: host.connectionEnv });
    this.connection.startHandshakeTimer(host.options.handshakeTimeout);
  }

  handshakeFrame(frame: Frame): void {
    const conn = this.connection;
    if (this.pendingAuth !== undefined) {
      // PROTOCOL.md §8.1: the client sends nothing after HELLO until WELCOME.
      conn.refuse('protocol-error', `unexpected ${frame.type.toUpperCase()} before WELCOME`);
      return;
    }
    if (frame.type !== 'hello') {
      const message = `expected HELLO, got ${frame.type.toUpperCase()}`;
      conn.refuse('protocol-error', message);
      return;
    }
    this.host.log.hello(this, frame);
    if (frame.version < 1) {
      const message = `unsupported protocol version ${frame.version}; this server speaks ${PROTOCOL_VERSION}`;
      conn.refuse('unsupported-version', message);
      return;
    }
    const hook = this.host.options.authenticate;
    if (hook === undefined) {
      this.welcome(frame, undefined);
      return;
    }
    const info = this.authInfo();
    this.pendingAuth = info;
    runAuthenticate(hook, frame.token, info, (outcome) => this.authenticated(frame, info, outcome));
  }

  private authInfo(): AuthInfo {
    const transport = this.connection.transport;
    return { remoteAddress: transport.remoteAddress, remotePort: transport.remotePort, transport: transport.kind };
  }

  /** The hook answered (maybe after the handshake timeout closed the connection, or the server did). */
  private authenticated(hello: HelloFrame, info: AuthInfo, outcome: AuthOutcome): void {
    const conn = this.connection;
    // Too late: pendingAuth stays set, so closed() can tell a timeout from the rest.
    if (conn.state !== 'handshake') return;
    this.pendingAuth = undefined;
    if (outcome.ok) {
      this.welcome(hello, outcome.identity);
      return;
    }
    conn.closeWith('auth-failed', UNAUTHORIZED_MESSAGE, { code: 'local-close', message: `unauthorized: ${outcome.message}`, initiator: 'local', detectedBy: 'application' });
    this.host.authFailed(this, { ...info, code: outcome.code, message: outcome.message, ...(outcome.error !== undefined ? { error: outcome.error } : {}) });
  }

  /** HELLO accepted (authenticated as `identity`, if the server authenticates): WELCOME, and the session opens or resumes. */
  private welcome(frame: HelloFrame, identity: Identity | undefined): void {
    const conn = this.connection;
    const negotiated = negotiateHeartbeat(
      { intervalMs: frame.heartbeatIntervalMs, timeoutMs: frame.heartbeatTimeoutMs },
      conn.transport.kind === 'udp' ? udpBounds(this.host.bounds) : this.host.bounds,
    );
    const options = this.host.options;
    // Resume (docs/spec/0006-resume.md): the client names its session and the last DATA it got.
    const resumeId = frame.resumeSessionId ? Buffer.from(frame.resumeSessionId).toString('hex') : undefined;
    const peerLastSeq = frame.resumeLastSeq ?? 0;
    let existing = resumeId === undefined ? undefined : this.host.resumableSession(resumeId);
    if (existing !== undefined && !sameIdentity(existing.identity, identity)) {
      // Spec 0013 §Resume: another identity's session is answered as one we do not hold (a
      // new session, resumed = 00); the session itself, and its transport if any, stay as they are.
      // The id is a resume credential: the message (which reaches logs) names the session by its tag.
      this.host.authFailed(this, { ...this.authInfo(), code: 'resume-refused', message: `resume of session ${sessionTag(existing.id)} refused: it belongs to another identity`, ...(identity ? { identity } : {}) });
      existing = undefined;
    }
    const resuming = existing?.resume !== undefined && peerLastSeq <= existing.resume.sentSeq;
    const resumable = options.resumeWindow > 0 && (resuming || frame.resumable === true);
    const resume = resuming
      ? existing!.resume!
      : resumable
        ? new ResumeState({ retain: true, maxBytes: options.maxResumeBytesPerSession, highWaterBytes: options.maxResumeBytesPerSession / 4 })
        : undefined;
    const sessionId = resuming ? Buffer.from(existing!.id, 'hex') : randomBytes(SESSION_ID_BYTES);
    // Spec 0010: we lead only for a client that said it can follow (an older one would keep
    // pinging too, and learn our status only from PONGs to its own PINGs).
    const leader = options.heartbeatLeader;
    const serverLeads = (leader === 'server' || (leader === 'auto' && conn.transport.kind === 'ws')) && frame.followServerPings === true;
    conn.sendHandshake({
      type: 'welcome',
      // A newer client negotiates down to what we speak (PROTOCOL.md §Version negotiation).
      version: Math.min(frame.version, PROTOCOL_VERSION),
      heartbeatIntervalMs: negotiated.intervalMs,
      heartbeatTimeoutMs: negotiated.timeoutMs,
      sessionId,
      maxFrameSize: options.maxFrameSize,
      ...(resumeId !== undefined ? { resumed: resuming } : {}),
      ...(resuming ? { resumeLastSeq: resume!.receivedSeq } : {}),
      ...(resume ? { resumeWindowMs: options.resumeWindow } : {}),
      ...(serverLeads ? { serverPings: true } : {}),
      ...(this.host.presenceSubscriptions.limit > 0 ? { presence: this.host.presenceSubscriptions.limit } : {}),
    });
    conn.open({
      ...pingSchedule('server', negotiated, serverLeads ? 'server' : 'client'),
      pushStatus: serverLeads,
      timeoutMs: negotiated.timeoutMs,
      // A client that does not announce its limit gets frames up to ours (PROTOCOL.md §HELLO).
      peerMaxFrameSize: frame.maxFrameSize ?? options.maxFrameSize,
      ...(options.detector ? { detector: options.detector } : {}),
      ...(resume ? { resume } : {}),
      ...(options.stallGuard
        ? { stallGuard: this.host.stallGuard(defaultStallThresholdMs(negotiated.timeoutMs, options.timerResolution)) }
        : {}),
    });
    this.pingRule = this.host.pingRule(negotiated.intervalMs);
    this.socketOptions = this.host.socketOptionsFor(conn.transport, this.socketOptions, negotiated);
    const welcomed = { intervalMs: negotiated.intervalMs, timeoutMs: negotiated.timeoutMs, serverLeads, resumed: resumeId !== undefined ? resuming : undefined };
    if (resuming) {
      this.session = existing!;
      this.host.counters.resumed(resume!.sentSeq - peerLastSeq);
      this.host.log.welcome(this, existing!, welcomed);
      this.host.sessionResumed(this, existing!, resume!.sentSeq - peerLastSeq);
      // The client has everything up to peerLastSeq: send the rest again, with their seqs —
      // before 'resume', so a send() from its listeners goes after the replay, not into a gap
      // (spec 0006 §Replay in slices).
      conn.replayAfter(peerLastSeq);
      existing!.attach(this, identity);
      return;
    }
    this.session = new Session(this, {
      id: sessionId.toString('hex'),
      heartbeatIntervalMs: negotiated.intervalMs,
      heartbeatTimeoutMs: negotiated.timeoutMs,
      resume,
      identity,
      openedAtMs: this.host.clock.now(),
    });
    this.host.log.welcome(this, this.session, welcomed);
    this.host.sessionOpened(this, this.session);
  }

  message(payload: Uint8Array): void {
    this.session?.emit('message', asBuffer(payload));
  }

  ping(id: number, nowMs: number): void {
    this.host.counters.pingsReceived++;
    const session = this.session;
    if (session !== undefined && session.listenerCount('ping') > 0) session.emit('ping', id);
    const rule = this.pingRule;
    if (rule === undefined) return;
    // nowMs: when the PING's bytes arrived (the connection read the clock once for the chunk).
    const verdict = rule.policy.onPing(this, nowMs);
    if (verdict === 'ok') return;
    publish(channels.serverPingStrike, () => ({ session: this.session, verdict }));
    if (verdict === 'too-many') this.tooManyPings(rule);
  }

  pingSent(): void {
    // The server judges clients by liveness only; availability is the client's question.
    this.host.counters.pingsSent++;
  }

  pong(info: PongInfo): void {
    if (info.rttMs !== undefined) this.host.counters.rtt(info.rttMs);
    const session = this.session;
    // Per beat when the server leads: skip EventEmitter's work when nobody listens.
    if (session !== undefined && session.listenerCount('pong') > 0) session.emit('pong', info);
  }

  presence(frame: PresenceFrame): void {
    this.host.presenceSubscriptions.frame(this, frame);
  }

  /** @internal (PresenceSubscriber) */
  get peerMaxFrameSize(): number {
    return this.connection.peerFrameSizeLimit;
  }

  goaway(_frame: GoawayFrame): void {
    // Clients do not send GOAWAY in v1; ignoring it is harmless (the frame is well-formed).
  }

  drain(): void {
    this.session?.emit('drain');
  }

  /**
   * gRPC A8 "Server Enforcement": GOAWAY too-many-pings, then close at once. The GOAWAY tells
   * the client why and when to come back (two intervals: long enough that a reconnect loop of a
   * broken client cannot turn into a new flood); the CLOSE is graceful, so DATA already queued in
   * either direction is still delivered.
   */
  private tooManyPings(rule: PingRule): void {
    const conn = this.connection;
    const { policy, intervalMs } = rule;
    const message =
      `too many pings: ${policy.maxStrikes + 1} in a row came less than ${Math.round(policy.minPingIntervalMs)} ms ` +
      `after the previous one (heartbeat interval ${intervalMs} ms)`;
    this.host.log.tooManyPings(this, message, intervalMs * TOO_MANY_PINGS_RETRY_INTERVALS);
    conn.goaway({ code: 'too-many-pings', message, retryAfterMs: intervalMs * TOO_MANY_PINGS_RETRY_INTERVALS });
    conn.closeWith('too-many-pings', message, {
      code: 'too-many-pings',
      message,
      initiator: 'local',
      detectedBy: 'protocol',
    });
  }

  /** Set when a resumed connection took this peer's session over: its close no longer matters. */
  retired = false;

  closed(reason: CloseReason): void {
    const pendingAuth = this.pendingAuth;
    if (pendingAuth !== undefined && reason.code === 'handshake-timeout') {
      const message = `authenticate did not answer within the handshake timeout (${this.host.options.handshakeTimeout} ms)`;
      this.host.authFailed(this, { ...pendingAuth, code: 'timeout', message });
    }
    this.host.presenceSubscriptions.dropped(this); // a retired peer's too: the resumed one subscribes anew
    if (this.retired) return;
    this.host.peerClosed(this, reason);
  }
}

/**
 * UDP sessions (docs/spec/0012-udp.md §Keepalive and NAT): NATs keep UDP mappings ~30 s, so the
 * interval is clamped to 25 s (a push must not wait behind a forgotten mapping for longer); and a
 * lost beat is not retransmitted, so the default interval is 3 s against a 15 s timeout (4 beats
 * per timeout rather than 3: a false death needs 4 losses in a row, not 2).
 */
const UDP_MAX_INTERVAL_MS = 25_000;
const UDP_DEFAULT_INTERVAL_MS = 3000;

function udpBounds(bounds: HeartbeatBounds): HeartbeatBounds {
  const maxIntervalMs = Math.max(bounds.minIntervalMs, Math.min(bounds.maxIntervalMs, UDP_MAX_INTERVAL_MS));
  const defaultIntervalMs = Math.max(bounds.minIntervalMs, Math.min(bounds.defaultIntervalMs, UDP_DEFAULT_INTERVAL_MS, maxIntervalMs));
  return { ...bounds, maxIntervalMs, defaultIntervalMs };
}
