/**
 * ClientLog: every line a client writes to its `logger` option (docs/spec/0016-logging.md), in
 * one place. Runtime-neutral (the browser client shares it). Lines about a connection carry
 * `{ session, remote, transport }`: `session` is the session's tag (util/session-tag.ts, the
 * same tag the server logs), never its id — the id is what a resume presents (spec 0006).
 * Never written: the token (only whether HELLO carried one), payloads. Nothing here runs per
 * frame or per heartbeat; every method asks `logEnabled` before it builds anything.
 */
import type { CloseReason } from '../connection/close-reason.js';
import type { GoawayFrame, WelcomeFrame } from '../protocol/frames.js';
import type { AvailabilityChange, UnavailableReason } from '../liveness/availability.js';
import { formatDuration, logEnabled, NO_LOG, type Logger } from '../util/log.js';
import { sessionTag } from '../util/session-tag.js';
import { toHex } from '../util/hex.js';
import type { Link } from './link.js';
import type { OpenInfo } from './types.js';

/** Close codes that mean a mechanism found the server dead or broken (warn). */
const DETECTIONS = new Set<CloseReason['code']>(['heartbeat-timeout', 'transport-error', 'protocol-error']);

export class ClientLog {
  private readonly log: Logger;

  constructor(logger: Logger | undefined) {
    this.log = logger ?? NO_LOG;
  }

  private of(link: Link, sessionId?: string): Logger {
    return this.log.child({
      ...(sessionId ? { session: sessionTag(sessionId) } : {}),
      remote: link.address,
      transport: link.server.transport ?? 'tcp',
    });
  }

  dialing(address: string, attempt: number): void {
    if (!logEnabled(this.log, 'debug')) return;
    this.log.debug({ event: 'dial', remote: address, attempt }, `dialing ${address}`);
  }

  /** The transport is up and HELLO goes out: whether it carries a token, never the token. */
  connected(link: Link, token: boolean): void {
    if (!logEnabled(this.log, 'debug')) return;
    this.of(link).debug({ event: 'hello', token }, 'connected: HELLO sent');
  }

  /** WELCOME's resume answer (spec 0006): a detail. */
  resume(link: Link, welcome: WelcomeFrame): void {
    if (!logEnabled(this.log, 'debug')) return;
    const id = welcome.sessionId ? toHex(welcome.sessionId) : undefined;
    this.of(link, id).debug(
      { event: 'welcome', resumed: welcome.resumed === true, ...(welcome.resumeLastSeq !== undefined ? { resumeLastSeq: welcome.resumeLastSeq } : {}), resumable: welcome.resumeWindowMs !== undefined },
      welcome.resumed === true ? 'WELCOME: session resumed' : 'WELCOME: new session',
    );
  }

  opened(link: Link, info: OpenInfo): void {
    if (!logEnabled(this.log, 'info')) return;
    this.of(link, info.sessionId).info(
      { event: 'open', resumed: info.resumed, heartbeatIntervalMs: info.heartbeatInterval, heartbeatTimeoutMs: info.heartbeatTimeout, leader: link.serverLeads ? 'server' : 'client' },
      info.resumed ? 'connected: session resumed' : 'connected',
    );
  }

  /** A link ended: a detection is a warn with how long the server had been silent; anything else debug (reconnecting / closed say the rest). */
  linkClosed(link: Link, reason: CloseReason, sessionId: string | undefined): void {
    if (DETECTIONS.has(reason.code)) {
      if (!logEnabled(this.log, 'warn')) return;
      const silentMs = Math.round(reason.sinceLastSeenMs);
      this.of(link, sessionId).warn(
        { event: 'detection', code: reason.code, detectedBy: reason.detectedBy, sinceLastSeenMs: silentMs },
        `${reason.code} (${reason.detectedBy}): nothing heard from the server for ${formatDuration(silentMs)}`,
      );
      return;
    }
    if (!logEnabled(this.log, 'debug')) return;
    this.of(link, sessionId).debug({ event: 'link-close', code: reason.code, initiator: reason.initiator, detectedBy: reason.detectedBy }, `connection ended: ${reason.code}`);
  }

  reconnecting(server: string, attempt: number, delayMs: number): void {
    if (!logEnabled(this.log, 'info')) return;
    this.log.info({ event: 'reconnecting', remote: server, attempt, delayMs: Math.round(delayMs) }, `reconnecting to ${server} in ${formatDuration(delayMs)} (attempt ${attempt})`);
  }

  availability(link: Link, sessionId: string | undefined, change: AvailabilityChange): void {
    if (change.kind === 'available') {
      if (logEnabled(this.log, 'info')) this.of(link, sessionId).info({ event: 'available', status: change.status }, 'server available again');
      return;
    }
    if (!logEnabled(this.log, 'warn')) return;
    this.of(link, sessionId).warn({ event: 'unavailable', reason: change.reason, status: change.status }, `server unavailable: ${change.reason}`);
  }

  failover(link: Link, sessionId: string | undefined, why: UnavailableReason): void {
    if (!logEnabled(this.log, 'warn')) return;
    this.of(link, sessionId).warn({ event: 'failover', reason: why }, `failover: leaving ${link.address} (${why})`);
  }

  goaway(link: Link, sessionId: string | undefined, frame: GoawayFrame): void {
    if (!logEnabled(this.log, 'warn')) return;
    this.of(link, sessionId).warn(
      { event: 'goaway', code: frame.code, retryAfterMs: frame.retryAfterMs, ...(frame.redirect ? { redirect: frame.redirect } : {}) },
      `GOAWAY ${frame.code}${frame.message ? `: ${frame.message}` : ''}`,
    );
  }

  stalled(lateByMs: number): void {
    if (!logEnabled(this.log, 'warn')) return;
    const late = Math.round(lateByMs);
    this.log.warn({ event: 'stall', lateByMs: late }, `event loop stalled for ${formatDuration(late)}: the server was not blamed`);
  }

  closing(message: string): void {
    if (logEnabled(this.log, 'debug')) this.log.debug({ event: 'close-called' }, message ? `close(): ${message}` : 'close()');
  }

  /** Once, when the client is done. */
  closed(reason: CloseReason, sessionId: string | undefined): void {
    if (!logEnabled(this.log, 'info')) return;
    this.log.info(
      { event: 'close', ...(sessionId ? { session: sessionTag(sessionId) } : {}), code: reason.code, ...(reason.remoteCode !== undefined ? { remoteCode: reason.remoteCode } : {}), initiator: reason.initiator, detectedBy: reason.detectedBy },
      `client closed: ${reason.code}: ${reason.message}`,
    );
  }
}
