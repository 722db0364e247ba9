/**
 * DashboardFeed: what the live dashboard shows about one LifelineServer (docs/spec/0017-dashboard.md
 * §Live feed), gathered without new hooks in the core:
 * - a sample every `sampleMs` (default 1 s) of `sessionCount`, `detachedCount`,
 *   `connectionCount` and `health()`, kept for `historyMs` (default 10 min) in a bounded array;
 * - the heartbeat RTT histogram, copied from the server's plain counters (server-counters.ts)
 *   on each sample — filled only where the server leads the heartbeat (spec 0010);
 * - detections: a session ending (server 'sessionClose') or a resumable session losing its
 *   transport (the session's 'disconnect') for a reason a mechanism noticed, told to listeners
 *   at once and kept, newest last, up to `maxDetections`;
 * - failed handshakes: the server's 'clientError' (TLS handshake, WebSocket upgrade) and
 *   'authFailure' events, kept the same way (they never became sessions, so they are no
 *   detection);
 * - whether presence is degraded (its store not answering), in each sample.
 * Listeners get ('sample' | 'detection' | 'failure', data) synchronously; the HTTP side serialises them.
 */
import type { LifelineServer } from '../server/server.js';
import type { Session } from '../server/session.js';
import type { CloseReason, CloseReasonCode } from '../connection/close-reason.js';
import type { ClientErrorInfo } from '../server/listeners.js';
import type { AuthFailureInfo } from '../server/auth.js';
import { RTT_BUCKETS_MS } from '../server/server-counters.js';

/**
 * Close reasons that mean a mechanism noticed a dead or misbehaving peer (the set
 * lifeline/metrics counts as detections). The peer's CLOSE, our close(), shutdown: not detections.
 */
export const DETECTION_REASONS: ReadonlySet<CloseReasonCode> = new Set<CloseReasonCode>([
  'heartbeat-timeout',
  'transport-closed',
  'transport-error',
  'protocol-error',
  'too-many-pings',
  'handshake-timeout',
  'slow-consumer',
]);

export interface DashboardSample {
  /** Wall-clock time, epoch ms (the page shows it as a time of day). */
  t: number;
  /** Sessions open (server.sessionCount − detached). */
  open: number;
  /** Resumable sessions waiting for their client. */
  detached: number;
  /** Accepted connections, handshaking ones included. */
  connections: number;
  status: 'ok' | 'busy' | 'draining';
  /** 0..255, as PONGs report it. */
  load: number;
  /** The presence store is not answering (spec 0014 §Redis outage): presence covers this node only. */
  presenceDegraded: boolean;
}

/** A connection that failed before it became a session (spec 0017 §Failed handshakes). */
export interface DashboardFailure {
  /** Wall-clock time, epoch ms. */
  t: number;
  /** 'client-error': TLS handshake or WebSocket upgrade; 'auth-failure': the authenticate hook said no. */
  kind: 'client-error' | 'auth-failure';
  /** ClientErrorInfo.code (tls-handshake-failed, ws-upgrade-refused…) or AuthFailureCode (rejected, timeout…). */
  code: string;
  /** What went wrong; none for auth failures (it may quote the hook's error: spec 0016 keeps it out of logs too). */
  message: string | undefined;
  remote: string | undefined;
  transport: string;
}

export interface DashboardDetection {
  /** Wall-clock time of the close, epoch ms. */
  t: number;
  session: string;
  remote: string | undefined;
  transport: string;
  reason: CloseReasonCode;
  detectedBy: CloseReason['detectedBy'];
  /** ms between the last frame received and the close. */
  sinceLastSeenMs: number;
  message: string;
  /** The session survives in the resume window (its transport was lost, not the session). */
  detached: boolean;
}

export interface DashboardRtt {
  /** Bucket upper bounds, ms; counts has one more entry (above the last bound). */
  boundsMs: readonly number[];
  counts: number[];
  count: number;
  sumMs: number;
}

export interface DashboardSnapshot {
  startedAt: number;
  sampleMs: number;
  heartbeat: { intervalMs: number; timeoutMs: number; leader: string };
  samples: DashboardSample[];
  detections: DashboardDetection[];
  rtt: DashboardRtt;
  /** Detections since the feed started, by reason. */
  detectionsByReason: Record<string, number>;
  failures: DashboardFailure[];
  /** Failed handshakes since the feed started, by code. */
  failuresByCode: Record<string, number>;
  presence: { nodeId: string };
}

export interface DashboardFeedOptions {
  /** How often a sample is taken and sent, ms. Default 1000. */
  sampleMs?: number;
  /** How much history the sessions chart keeps, ms. Default 600000 (10 min). */
  historyMs?: number;
  /** Detections (and, apart, failed handshakes) kept for pages that connect later. Default 200. */
  maxDetections?: number;
}

export type FeedListener = (event: 'sample' | 'detection' | 'failure', data: DashboardSample | DashboardDetection | DashboardFailure, rtt?: DashboardRtt) => void;

export class DashboardFeed {
  readonly sampleMs: number;
  private readonly maxSamples: number;
  private readonly maxDetections: number;
  private readonly startedAt = Date.now();
  private readonly samples: DashboardSample[] = [];
  private readonly detections: DashboardDetection[] = [];
  private readonly byReason = new Map<string, number>();
  private readonly failures: DashboardFailure[] = [];
  private readonly byCode = new Map<string, number>();
  private readonly onClientError = (info: ClientErrorInfo): void => {
    this.failed({ t: Date.now(), kind: 'client-error', code: info.code, message: info.message, remote: info.remoteAddress, transport: info.transport });
  };
  private readonly onAuthFailure = (info: AuthFailureInfo): void => {
    const remote = info.remoteAddress === undefined ? undefined : `${info.remoteAddress}:${info.remotePort}`;
    this.failed({ t: Date.now(), kind: 'auth-failure', code: info.code, message: undefined, remote, transport: info.transport });
  };
  private readonly listeners = new Set<FeedListener>();
  private readonly timer: NodeJS.Timeout;
  private readonly onSession = (session: Session): void => {
    // Only resumable sessions can detach; one shared listener (`this` is the session), no closure per session.
    if (session.resumable) session.on('disconnect', this.onDisconnect);
  };
  private readonly onSessionClose = (session: Session, reason: CloseReason): void => {
    session.off('disconnect', this.onDisconnect);
    // A detached session not resumed in time ends with its transport's reason again: told once, at the loss.
    if (this.reported.delete(session)) return;
    this.detected(session, reason, false);
  };
  private readonly onSessionResume = (session: Session): void => {
    this.reported.delete(session);
  };
  /** Detached sessions already in the feed (so their expiry is not a second detection). */
  private readonly reported = new WeakSet<Session>();
  private readonly onDisconnect: (reason: CloseReason) => void;

  constructor(
    private readonly server: LifelineServer,
    options: DashboardFeedOptions = {},
  ) {
    this.sampleMs = options.sampleMs ?? 1000;
    this.maxSamples = Math.max(2, Math.ceil((options.historyMs ?? 600_000) / this.sampleMs));
    this.maxDetections = options.maxDetections ?? 200;
    const feed = this;
    this.onDisconnect = function (this: Session, reason: CloseReason) {
      if (DETECTION_REASONS.has(reason.code)) feed.reported.add(this);
      feed.detected(this, reason, true);
    };
    server.on('session', this.onSession);
    server.on('sessionClose', this.onSessionClose);
    server.on('sessionResume', this.onSessionResume);
    server.on('clientError', this.onClientError);
    server.on('authFailure', this.onAuthFailure);
    for (const session of server.sessions()) if (session.state === 'open') this.onSession(session);
    this.sample();
    this.timer = setInterval(() => this.sample(), this.sampleMs);
    this.timer.unref();
  }

  /** Called with every sample and detection until the returned function is called. */
  subscribe(listener: FeedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): DashboardSnapshot {
    const o = this.server.options;
    return {
      startedAt: this.startedAt,
      sampleMs: this.sampleMs,
      heartbeat: { intervalMs: o.heartbeatInterval, timeoutMs: o.heartbeatTimeout, leader: o.heartbeatLeader },
      samples: [...this.samples],
      detections: [...this.detections],
      rtt: this.rtt(),
      detectionsByReason: Object.fromEntries(this.byReason),
      failures: [...this.failures],
      failuresByCode: Object.fromEntries(this.byCode),
      presence: { nodeId: this.server.presence.nodeId },
    };
  }

  close(): void {
    clearInterval(this.timer);
    this.server.off('session', this.onSession);
    this.server.off('sessionClose', this.onSessionClose);
    this.server.off('sessionResume', this.onSessionResume);
    this.server.off('clientError', this.onClientError);
    this.server.off('authFailure', this.onAuthFailure);
    for (const session of this.server.sessions()) session.off('disconnect', this.onDisconnect);
    this.listeners.clear();
  }

  private rtt(): DashboardRtt {
    const c = this.server.counters;
    return { boundsMs: RTT_BUCKETS_MS, counts: [...c.rttBuckets], count: c.rttCount, sumMs: Math.round(c.rttSumMs * 1000) / 1000 };
  }

  private sample(): void {
    const s = this.server;
    const { status, load } = s.health();
    const detached = s.detachedCount;
    const sample: DashboardSample = { t: Date.now(), open: s.sessionCount - detached, detached, connections: s.connectionCount, status, load, presenceDegraded: s.presence.degraded };
    this.samples.push(sample);
    if (this.samples.length > this.maxSamples) this.samples.splice(0, this.samples.length - this.maxSamples);
    if (this.listeners.size === 0) return;
    const rtt = this.rtt();
    for (const listener of this.listeners) listener('sample', sample, rtt);
  }

  private detected(session: Session, reason: CloseReason, detached: boolean): void {
    if (!DETECTION_REASONS.has(reason.code)) return;
    const detection: DashboardDetection = {
      t: Date.now(),
      session: session.id,
      remote: session.remoteAddress === undefined ? undefined : `${session.remoteAddress}:${session.remotePort}`,
      transport: session.transport,
      reason: reason.code,
      detectedBy: reason.detectedBy,
      sinceLastSeenMs: Math.round(reason.sinceLastSeenMs),
      message: reason.message,
      detached,
    };
    this.byReason.set(reason.code, (this.byReason.get(reason.code) ?? 0) + 1);
    this.detections.push(detection);
    if (this.detections.length > this.maxDetections) this.detections.shift();
    for (const listener of this.listeners) listener('detection', detection);
  }

  private failed(failure: DashboardFailure): void {
    this.byCode.set(failure.code, (this.byCode.get(failure.code) ?? 0) + 1);
    this.failures.push(failure);
    if (this.failures.length > this.maxDetections) this.failures.shift();
    for (const listener of this.listeners) listener('failure', failure);
  }
}
