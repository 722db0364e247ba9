/**
 * ServerLog: every line a server writes to its `logger` option (docs/spec/0016-logging.md), in
 * one place so what may and may not reach a log is read in one file. One per server.
 *
 * - Each connection's lines carry `{ session, remote, transport }`: `session` is the session's
 *   tag (util/session-tag.ts), never its id — the id is a resume credential (spec 0006).
 * - The per-connection child logger is built for a line that will be written and not kept: a
 *   child held by every connection would cost ~0.3 KB each (≈ half again what a connection
 *   costs, ARCHITECTURE.md) for the two or three lines most connections ever write.
 * - Every method asks `logEnabled` first: with the default NO_LOG, or a level that is off,
 *   nothing is built — no object, no string, no hash, no child.
 * - Never written: HELLO's token, payloads, the `authenticate` hook's thrown message above debug.
 * - What an unauthenticated peer can make us write is bounded: a connection that never became a
 *   session writes debug lines only, except a detection (a protocol error before HELLO), whose
 *   warn is written at most once a second per server, counting the rest (spec 0016 §Bad peers).
 * Nothing here runs per frame or per heartbeat.
 */
import type { CloseReason } from '../connection/close-reason.js';
import type { Transport } from '../transport/types.js';
import { formatDuration, formatRemote, logEnabled, type Logger } from '../util/log.js';
import { sessionTag } from '../util/session-tag.js';
import type { AuthFailureInfo } from './auth.js';
import type { Session } from './session.js';

/** A connection as its log lines see it (narrow port: a ServerPeer fits). */
export interface LoggedPeer {
  readonly connection: { readonly transport: Pick<Transport, 'kind' | 'remoteAddress' | 'remotePort'> };
  /** Absent: the caller names the session (a Session's own SessionPeer port has no such field). */
  readonly session?: Session | undefined;
}

/** Close codes that mean a mechanism found the peer dead, broken or not reading (warn), not an ordinary end. */
const DETECTIONS = new Set<CloseReason['code']>(['heartbeat-timeout', 'transport-error', 'protocol-error', 'slow-consumer']);

/**
 * Detection warns for connections that never became a session: at most one per this many ms.
 * Anyone who can reach the port can open such connections by the thousand (bytes of garbage
 * each); the rest of them go to debug and are counted into the next warn (`suppressed`).
 */
export const PRE_SESSION_WARN_INTERVAL_MS = 1000;

export class ServerLog {
  /** When the last pre-session detection warn was written (`now()` ms), and how many were held back since. */
  private preSessionWarnAtMs = -Infinity;
  private preSessionSuppressed = 0;

  constructor(
    readonly log: Logger,
    /** Read only for a pre-session detection with warn enabled (the rate limit above). */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The connection's child: `{ session: tag, remote, transport }` (no session before WELCOME). */
  private of(peer: LoggedPeer, session = peer.session): Logger {
    const transport = peer.connection.transport;
    return this.log.child({
      ...(session ? { session: sessionTag(session.id) } : {}),
      remote: formatRemote(transport.remoteAddress, transport.remotePort),
      transport: transport.kind,
    });
  }

  sessionOpened(peer: LoggedPeer, session: Session, sessions: number): void {
    if (!logEnabled(this.log, 'info')) return;
    this.of(peer, session).info(
      {
        event: 'session-open',
        ...(session.identity ? { identity: session.identity.id } : {}),
        heartbeatIntervalMs: session.heartbeatInterval,
        heartbeatTimeoutMs: session.heartbeatTimeout,
        leader: session.heartbeatLeader,
        resumable: session.resumable,
        sessions,
      },
      'session opened',
    );
  }

  /** Spec 0006: the client came back; how much was sent again is a detail (debug). */
  sessionResumed(peer: LoggedPeer, session: Session, replayedMessages: number): void {
    if (!logEnabled(this.log, 'info')) return;
    const log = this.of(peer, session);
    log.info({ event: 'session-resume' }, 'session resumed');
    if (logEnabled(this.log, 'debug')) log.debug({ event: 'resume-replay', replayedMessages }, `resume: ${replayedMessages} messages sent again`);
  }

  sessionDetached(peer: LoggedPeer, session: Session, reason: CloseReason, windowMs: number): void {
    if (!logEnabled(this.log, 'info')) return;
    this.of(peer, session).info(
      { event: 'session-detach', code: reason.code, resumeWindowMs: windowMs },
      `session detached (${reason.code}): resumable for ${formatDuration(windowMs)}`,
    );
  }

  /** Once per session, at its end: why, who, and for how long it lived. */
  sessionClosed(peer: LoggedPeer, session: Session, reason: CloseReason, durationMs: number, sessions: number): void {
    if (!logEnabled(this.log, 'info')) return;
    this.of(peer, session).info(
      {
        event: 'session-close',
        code: reason.code,
        ...(reason.remoteCode !== undefined ? { remoteCode: reason.remoteCode } : {}),
        initiator: reason.initiator,
        detectedBy: reason.detectedBy,
        sinceLastSeenMs: Math.round(reason.sinceLastSeenMs),
        durationMs: Math.round(durationMs),
        sessions,
      },
      `session closed: ${reason.code} (${reason.initiator}) after ${formatDuration(durationMs)}: ${reason.message}`,
    );
  }

  /**
   * A connection ended. A detection (heartbeat timeout, transport error, protocol error, slow
   * consumer) is a warn — rate-limited before a session (preSessionDetection); any other end of
   * a connection that never became a session is a debug line (refusals, handshake timeouts: a
   * flood of bad peers must not flood an info log). A session's own end is sessionClosed /
   * sessionDetached.
   */
  connectionClosed(peer: LoggedPeer, reason: CloseReason): void {
    if (DETECTIONS.has(reason.code)) {
      if (peer.session === undefined) this.preSessionDetection(peer, reason);
      else if (logEnabled(this.log, 'warn')) this.detection(peer, reason, 'warn', undefined);
      return;
    }
    if (peer.session !== undefined || !logEnabled(this.log, 'debug')) return;
    // No message: an auth refusal's local reason quotes the hook's error (authFailed logs it at debug).
    this.of(peer).debug({ event: 'connection-close', code: reason.code, initiator: reason.initiator, detectedBy: reason.detectedBy }, `connection closed before a session: ${reason.code}`);
  }

  /**
   * A connection was taken on. Its peer's address is read now when a line could name it: a
   * transport learns it on first use, and once closed it can no longer (transport/tcp-handle.ts,
   * as net.Socket) — a connection that never became a session would be logged as 'unknown'
   * when it ends. One getpeername per connection, and only with warn enabled.
   */
  accepted(transport: LoggedPeer['connection']['transport']): void {
    if (logEnabled(this.log, 'warn')) void transport.remoteAddress;
  }

  /**
   * Admission turned a connection away before it cost a handshake (admission.ts: over the accept
   * rate — `overloaded` —, maxConnections / maxConnectionsPerAddress — `server-full` —, closing
   * or draining — `going-away`). Debug: a flood of them is the attack the limits answer.
   */
  refused(transport: LoggedPeer['connection']['transport'], code: string): void {
    if (!logEnabled(this.log, 'debug')) return;
    this.of({ connection: { transport } }).debug({ event: 'connection-close', code, initiator: 'local', detectedBy: 'admission' }, `connection refused: ${code}`);
  }

  /** A detection before a session: one warn per PRE_SESSION_WARN_INTERVAL_MS, the others debug. */
  private preSessionDetection(peer: LoggedPeer, reason: CloseReason): void {
    if (!logEnabled(this.log, 'warn')) return;
    const now = this.now();
    if (now - this.preSessionWarnAtMs >= PRE_SESSION_WARN_INTERVAL_MS) {
      this.preSessionWarnAtMs = now;
      const suppressed = this.preSessionSuppressed;
      this.preSessionSuppressed = 0;
      this.detection(peer, reason, 'warn', suppressed);
      return;
    }
    this.preSessionSuppressed++;
    if (logEnabled(this.log, 'debug')) this.detection(peer, reason, 'debug', undefined);
  }

  /**
   * The detection line. Never the reason's message for a protocol error: it may name bytes the
   * peer sent (`unknown frame type 0x7f`); a slow consumer's is ours, counts only.
   */
  private detection(peer: LoggedPeer, reason: CloseReason, level: 'warn' | 'debug', suppressed: number | undefined): void {
    const silentMs = Math.round(reason.sinceLastSeenMs);
    const what =
      reason.code === 'protocol-error'
        ? `the peer broke the protocol${peer.session === undefined ? ' before a session' : ''}`
        : reason.code === 'slow-consumer'
          ? reason.message
          : `nothing heard for ${formatDuration(silentMs)}`;
    const more = suppressed ? ` (${suppressed} more before a session since the last such line, at debug)` : '';
    this.of(peer)[level](
      {
        event: 'detection',
        code: reason.code,
        detectedBy: reason.detectedBy,
        sinceLastSeenMs: silentMs,
        ...(reason.error !== undefined ? { errorCode: (reason.error as { code?: unknown }).code } : {}),
        ...(suppressed !== undefined ? { suppressed } : {}),
      },
      `${reason.code} (${reason.detectedBy}): ${what}${more}`,
    );
  }

  /**
   * Credentials not accepted (spec 0013). warn carries the code only (and a TokenError's reason,
   * one of four fixed words). The message goes to debug: it may quote what the application's
   * hook threw, which may hold user data — even the token, for a careless hook. Opting into
   * debug is a deliberate step while investigating; warn is what production runs at.
   */
  authFailed(peer: LoggedPeer, info: AuthFailureInfo): void {
    if (!logEnabled(this.log, 'warn')) return;
    const log = this.of(peer);
    const tokenReason = (info.error as { reason?: unknown } | undefined)?.reason;
    log.warn(
      { event: 'auth-failure', code: info.code, ...(typeof tokenReason === 'string' ? { tokenReason } : {}), ...(info.identity ? { identity: info.identity.id } : {}) },
      info.code === 'resume-refused' ? 'resume refused: the session belongs to another identity' : `client refused: ${info.code}`,
    );
    if (logEnabled(this.log, 'debug')) log.debug({ event: 'auth-failure-detail', code: info.code, reason: info.message }, `authenticate: ${info.message}`);
  }

  /** GOAWAY too-many-pings (spec 0003): the client is sent away. */
  tooManyPings(peer: LoggedPeer, message: string, retryAfterMs: number): void {
    if (!logEnabled(this.log, 'warn')) return;
    this.of(peer).warn({ event: 'goaway', code: 'too-many-pings', retryAfterMs }, `GOAWAY too-many-pings: ${message}`);
  }

  /** drain() began (spec 0003 §Graceful drain). */
  draining(told: number, deadlineMs: number): void {
    if (!logEnabled(this.log, 'warn')) return;
    this.log.warn({ event: 'drain', goaways: told, deadlineMs }, `draining: GOAWAY to ${told} sessions, the rest closed in ${formatDuration(deadlineMs)}`);
  }

  /** The stall guard saw our own loop late (at most once a second, server.ts): peers were not blamed. */
  stalled(lateByMs: number): void {
    if (!logEnabled(this.log, 'warn')) return;
    const late = Math.round(lateByMs);
    this.log.warn({ event: 'stall', lateByMs: late }, `event loop stalled for ${formatDuration(late)}: heartbeat verdicts held back, no peer blamed`);
  }

  /** HELLO as received: what it asked for, whether it carried a token (never the token). */
  hello(peer: LoggedPeer, hello: { version: number; heartbeatIntervalMs: number; heartbeatTimeoutMs: number; token?: Uint8Array; resumeSessionId?: Uint8Array; resumable?: boolean }): void {
    if (!logEnabled(this.log, 'debug')) return;
    this.of(peer).debug(
      {
        event: 'hello',
        version: hello.version,
        heartbeatIntervalMs: hello.heartbeatIntervalMs,
        heartbeatTimeoutMs: hello.heartbeatTimeoutMs,
        token: hello.token !== undefined,
        resume: hello.resumeSessionId !== undefined,
        resumable: hello.resumable === true,
      },
      'HELLO received',
    );
  }

  /** WELCOME sent: what was settled (the session id goes as its tag, in the bindings). */
  welcome(peer: LoggedPeer, session: Session, welcome: { intervalMs: number; timeoutMs: number; serverLeads: boolean; resumed: boolean | undefined }): void {
    if (!logEnabled(this.log, 'debug')) return;
    this.of(peer, session).debug(
      { event: 'welcome', heartbeatIntervalMs: welcome.intervalMs, heartbeatTimeoutMs: welcome.timeoutMs, leader: welcome.serverLeads ? 'server' : 'client', ...(welcome.resumed !== undefined ? { resumed: welcome.resumed } : {}) },
      'WELCOME sent',
    );
  }
}
