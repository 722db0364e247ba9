/**
 * Server options: defaults in one object, merged, validated at construction (STYLE.md §4.17).
 * All durations in milliseconds.
 */
import { DEFAULT_MAX_FRAME_SIZE, HANDSHAKE_MAX_FRAME_SIZE } from '../protocol/frames.js';
import type { HealthReport } from '../connection/connection.js';
import type { Clock } from '../time/clock.js';
import { isLogger, type Logger } from '../util/log.js';
import { InvalidOptionError } from '../errors.js';
import { validateDetectorSpec } from '../liveness/detectors/index.js';
import type { DetectorSpec } from '../liveness/detectors/types.js';
import { positiveNumber, stripUndefined } from '../options.js';
import type { HeartbeatLeader } from '../liveness/negotiate.js';
import type tls from 'node:tls';
import type { WebSocketServerOptions } from './listen-ws.js';
import type { Authenticate } from './auth.js';
import type { PresenceOptions } from '../presence/presence.js';
import { RECOMMENDED_SOCKET_TUNING, validateSocketTuning, type SocketTuningOptions, type TuningFollows } from '../transport/socket-tuning.js';

export interface ServerOptions extends SocketTuningOptions {
  /** Heartbeat interval used when the client proposes none, ms. Default 5000. */
  heartbeatInterval?: number;
  /** Heartbeat timeout used when the client proposes none, ms. Default 15000. */
  heartbeatTimeout?: number;
  /** Smallest heartbeat interval a client may negotiate, ms. Default 250. */
  minHeartbeatInterval?: number;
  /** Largest heartbeat interval a client may negotiate, ms. Default 600000 (10 min). */
  maxHeartbeatInterval?: number;
  /** Smallest heartbeat timeout a client may negotiate, ms. Default 500. */
  minHeartbeatTimeout?: number;
  /** Largest heartbeat timeout a client may negotiate, ms. Default 1800000 (30 min). */
  maxHeartbeatTimeout?: number;
  /** A connection that sends no valid HELLO within this time is closed, ms. Default 5000. */
  handshakeTimeout?: number;
  /** Connections (handshaking + open) beyond this are refused with CLOSE server-full. Default 100000. */
  maxConnections?: number;
  /** Largest frame accepted, bytes. Default 1 MiB. */
  maxFrameSize?: number;
  /**
   * Largest frame accepted before the server has accepted a HELLO (the HELLO itself, with its
   * token), bytes: what an unauthenticated peer can make the server buffer. Raise it for a custom
   * `authenticate` whose tokens are longer than ≈ 16,000 bytes. At least 64, at most maxFrameSize.
   * Past it: CLOSE protocol-error (LL_ERR_FRAME_TOO_LARGE). Default 16 KiB (HANDSHAKE_MAX_FRAME_SIZE),
   * or maxFrameSize when that is smaller.
   */
  handshakeMaxFrameSize?: number;
  /**
   * Status and load for every PONG this server sends. Default: the server's own event loop
   * (src/server/health.ts: busy when the loop-delay p99 > 100 ms or utilization > 0.95; load =
   * 255 × utilization). `server.drain()` forces the status to `draining`.
   */
  health?: () => HealthReport;
  /**
   * Stall guard (docs/spec/0004-availability.md): when our own event loop stalls, do not blame
   * the peers for the time we could not read. Default true.
   */
  stallGuard?: boolean;
  /**
   * Run accepted connections on libuv's TCP handle directly instead of a net.Socket (a Duplex
   * stream lifeline does not use): ≈ 0.85 KB less heap and ≈ 3.6 KB less RSS per connection
   * (transport/tcp-handle.ts), and plain WebSocket connections on the handle after their upgrade
   * (spec 0011 §Lean WebSocket server). Falls back to net.Socket by itself when this Node lacks
   * the internals it needs; `server.leanSockets` says which is in force. Default true.
   */
  leanSockets?: boolean;
  /**
   * Who sends the heartbeat PINGs (docs/spec/0010-server-leads.md). 'auto' (default): the server
   * leads on WebSocket connections (browsers throttle a background tab's timers, not its message
   * events; docs/spec/0011-transports.md §Browser client) and the client on TCP and TLS.
   * 'client': each client pings after an idle interval and every PONG brings it the server's
   * status, load and a round-trip time. 'server': with clients that offer it (HELLO followServerPings; lifeline's
   * own client does unless its heartbeat is 'adaptive'), the server pings and the PINGs of one
   * timer-wheel tick go out in one pass: 0.80–0.87× a raw echo's server CPU per heartbeat
   * on loopback, against 0.88–0.95× client-led (BENCHMARKS.md). Clients then learn the server's status from a PONG pushed with a PING when
   * it changes, and time a PING of their own only once the server has gone quiet.
   */
  heartbeatLeader?: HeartbeatLeader | 'auto';
  /** Dead-peer detector: fixed timeout (default) or phi-accrual (docs/spec/0002-phi-accrual.md). */
  detector?: DetectorSpec;
  /**
   * How long a resumable session (the client asked in HELLO) is kept after its transport is
   * lost, ms (docs/spec/0006-resume.md). 0 disables resume. Default 120000 (2 min).
   */
  resumeWindow?: number;
  /** Unacknowledged bytes kept per session for replay; send() beyond it throws BufferOverflowError. Default 1 MiB. */
  maxResumeBytesPerSession?: number;
  /**
   * Unacknowledged bytes kept by all detached sessions together; the oldest are closed beyond it,
   * when a session detaches and when send() to a detached session grows the sum. Default 256 MiB.
   */
  maxResumeBytes?: number;
  /**
   * Detached sessions (transport lost, waiting for their client to resume) kept at most; past it
   * the oldest detached session is closed (docs/spec/0006-resume.md §Bounds). Integer >= 1.
   * Default 100000.
   */
  maxDetachedSessions?: number;
  /**
   * Shed connection storms (docs/spec/0005-reconnect.md §Storms): accept at most this many new
   * connections per second (bursts up to `acceptBurst`); beyond it a connection is answered with
   * GOAWAY `overloaded` carrying a retry-after that spreads the excess over the following
   * seconds, then CLOSE. Default: no limit.
   */
  maxAcceptRate?: number;
  /** Connections accepted at once before maxAcceptRate applies. Default: maxAcceptRate (one second's worth). */
  acceptBurst?: number;
  /**
   * Connections (handshaking + open) from one IP address at most; beyond it a new one is refused
   * with CLOSE server-full, so one host cannot take all of maxConnections. Default: no limit (a
   * carrier-grade or corporate NAT puts thousands of users behind one address: choose the number
   * for your clients). UDP listeners have their own `udp.maxSessionsPerAddress` (256).
   */
  maxConnectionsPerAddress?: number;
  /**
   * Bytes a session may have waiting to be written (its client stopped reading); send() beyond
   * throws BufferOverflowError, and returns false well before (the socket's high-water mark). Default 4 MiB.
   */
  maxBufferedBytes?: number;
  /** Timer-wheel slot width, ms: heartbeat checks fire up to this late. Default 50. */
  timerResolution?: number;
  /**
   * Ping-rate enforcement (docs/spec/0003-enforcement-and-drain.md; gRPC A8 "Server
   * Enforcement"): a client PING arriving less than negotiated heartbeat interval × this ratio
   * after the client's previous PING is a strike. A lifeline client pings at most once per
   * interval, so 0.5 leaves room for network jitter. 0..1; 0 disables enforcement. Default 0.5.
   */
  minPingIntervalRatio?: number;
  /**
   * Consecutive early PINGs tolerated (a well-spaced PING resets the count). One more and the
   * server sends GOAWAY too-many-pings, then CLOSE too-many-pings. Integer >= 0. Default 2
   * (A8's MAX_PING_STRIKES).
   */
  maxPingStrikes?: number;
  /**
   * TLS for every listener that does not say otherwise (docs/spec/0011-transports.md): key,
   * certificate and the rest of node:tls's server options. With it, `listen(port)` is TLS and a
   * `ws` listener is wss. The TLS handshake must complete within `handshakeTimeout`. Default: none.
   */
  tls?: tls.TlsOptions;
  /** WebSocket listeners (`listen({ transport: 'ws' })`, `attach()`): allowed origins. */
  websocket?: WebSocketServerOptions;
  /**
   * Who a client is (docs/spec/0013-identity.md): called with HELLO's token once HELLO is
   * decoded, before WELCOME, within `handshakeTimeout`. Answer an identity (`'alice'` or
   * `{ id: 'alice', … }`, kept as `session.identity`), or throw / reject / answer undefined to
   * refuse: the client gets CLOSE auth-failed "unauthorized" and no session; why goes to the
   * server's 'authFailure' event only. A resume must authenticate as the session's identity.
   * `tokenAuthenticator(secret)` (server/token.ts) checks lifeline's own signed tokens.
   * Default: none (every client is accepted, `session.identity` is undefined).
   */
  authenticate?: Authenticate;
  /**
   * Presence and routing by identity (docs/spec/0014-presence.md): `store` (default a
   * MemoryPresenceStore of this server alone; a RedisPresenceStore shares presence between
   * nodes) and `nodeId` (default random). Sessions with an identity count as devices.
   */
  presence?: PresenceOptions;
  /** Clock (tests inject a FakeClock). Default: the monotonic system clock in whole milliseconds (time/clock.ts wholeMsClock). */
  clock?: Clock;
  /**
   * Where the server logs (docs/spec/0016-logging.md): a pino logger as it is, or anything with
   * child() and trace / debug / info / warn / error(obj, msg). Lines carry the session's tag
   * (never its id), remote address and transport; never tokens or payloads. Default: none
   * (nothing is built for any line).
   */
  logger?: Logger;
  // tcpKeepalive / tcpUserTimeout (SocketTuningOptions): kernel-level backstop on every accepted
  // socket. Default RECOMMENDED_SOCKET_TUNING: keepalive idle 15 s, interval 5 s, count 3 and
  // TCP_USER_TIMEOUT 30 s (docs/keepalive.md). With the default keepalive the socket is tuned at
  // the handshake: idle raised to interval + timeout (and a default user timeout to idle +
  // interval × count) so a heartbeating connection never probes (docs/spec/0008); an explicit
  // tcpKeepalive is applied at accept, as given. `tcpKeepalive: false, tcpUserTimeout: 0` = off.
}

export type ResolvedServerOptions = Required<Omit<ServerOptions, 'clock' | 'logger' | 'health' | 'detector' | 'maxAcceptRate' | 'acceptBurst' | 'maxConnectionsPerAddress' | 'tls' | 'authenticate' | keyof SocketTuningOptions>> & {
  tls: tls.TlsOptions | undefined;
  /** undefined: no authentication (every client is accepted). */
  authenticate: Authenticate | undefined;
  maxAcceptRate: number | undefined;
  acceptBurst: number | undefined;
  maxConnectionsPerAddress: number | undefined;
  clock: Clock | undefined;
  logger: Logger | undefined;
  /** undefined: the server samples its own event loop (createEventLoopHealth). */
  health: (() => HealthReport) | undefined;
  detector: DetectorSpec | undefined;
  socketTuning: SocketTuningOptions;
  /**
   * Which socket-tuning settings came from the defaults: once a session's heartbeat is
   * negotiated they follow it (docs/spec/0008). Given explicitly: applied as is, at accept.
   */
  tuningFollows: TuningFollows;
};

export const SERVER_DEFAULTS = {
  heartbeatInterval: 5000,
  heartbeatTimeout: 15000,
  minHeartbeatInterval: 250,
  maxHeartbeatInterval: 600_000,
  minHeartbeatTimeout: 500,
  maxHeartbeatTimeout: 1_800_000,
  handshakeTimeout: 5000,
  maxConnections: 100_000,
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  timerResolution: 50,
  minPingIntervalRatio: 0.5,
  maxPingStrikes: 2,
  resumeWindow: 120_000,
  maxResumeBytesPerSession: 1024 * 1024,
  maxResumeBytes: 256 * 1024 * 1024,
  maxDetachedSessions: 100_000,
  maxBufferedBytes: 4 * 1024 * 1024,
} as const;

/** Options that may be 0 (validated on their own below); every other default must stay > 0. */
const ZERO_ALLOWED = new Set<keyof typeof SERVER_DEFAULTS>(['minPingIntervalRatio', 'maxPingStrikes', 'resumeWindow']);

export function resolveServerOptions(options: ServerOptions = {}): ResolvedServerOptions {
  const { tcpKeepalive, tcpUserTimeout, ...rest } = options;
  const socketTuning: SocketTuningOptions = {
    tcpKeepalive: tcpKeepalive ?? RECOMMENDED_SOCKET_TUNING.tcpKeepalive,
    tcpUserTimeout: tcpUserTimeout ?? RECOMMENDED_SOCKET_TUNING.tcpUserTimeout,
  };
  validateSocketTuning(socketTuning, 'server');
  const o = { ...SERVER_DEFAULTS, handshakeMaxFrameSize: undefined as number | undefined, health: undefined, detector: undefined, maxAcceptRate: undefined, acceptBurst: undefined, maxConnectionsPerAddress: undefined, stallGuard: true, leanSockets: true, tls: undefined, authenticate: undefined, presence: {}, websocket: {}, heartbeatLeader: 'auto' as HeartbeatLeader | 'auto', clock: undefined, logger: undefined, ...stripUndefined(rest), socketTuning, tuningFollows: { keepalive: tcpKeepalive === undefined, userTimeout: tcpUserTimeout === undefined } };
  if (o.detector !== undefined) validateDetectorSpec(o.detector, 'server.detector');
  const rate = (o as { maxAcceptRate?: unknown }).maxAcceptRate;
  if (rate !== undefined) positiveNumber('server.maxAcceptRate', rate);
  const perAddress = (o as { maxConnectionsPerAddress?: unknown }).maxConnectionsPerAddress;
  if (perAddress !== undefined && !(typeof perAddress === 'number' && Number.isInteger(perAddress) && perAddress >= 1)) {
    throw new InvalidOptionError('server.maxConnectionsPerAddress', `must be an integer >= 1, got ${String(perAddress)}`);
  }
  const burst = (o as { acceptBurst?: unknown }).acceptBurst;
  if (burst !== undefined && (typeof burst !== 'number' || !(burst >= 1))) {
    throw new InvalidOptionError('server.acceptBurst', `must be a number >= 1, got ${String(burst)}`);
  }
  if (typeof o.stallGuard !== 'boolean') throw new InvalidOptionError('server.stallGuard', `must be a boolean, got ${String(o.stallGuard)}`);
  if (typeof o.leanSockets !== 'boolean') throw new InvalidOptionError('server.leanSockets', `must be a boolean, got ${String(o.leanSockets)}`);
  if (o.heartbeatLeader !== 'client' && o.heartbeatLeader !== 'server' && o.heartbeatLeader !== 'auto') {
    throw new InvalidOptionError('server.heartbeatLeader', `must be 'auto', 'client' or 'server', got ${String(o.heartbeatLeader)}`);
  }
  for (const key of Object.keys(SERVER_DEFAULTS) as (keyof typeof SERVER_DEFAULTS)[]) {
    if (!ZERO_ALLOWED.has(key)) positiveNumber(`server.${key}`, o[key]);
  }
  const ratio: unknown = o.minPingIntervalRatio;
  if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw new InvalidOptionError('server.minPingIntervalRatio', `must be a number in [0, 1], got ${String(ratio)}`);
  }
  if (typeof o.resumeWindow !== 'number' || !Number.isFinite(o.resumeWindow) || o.resumeWindow < 0) {
    throw new InvalidOptionError('server.resumeWindow', `must be a number of ms >= 0, got ${String(o.resumeWindow)}`);
  }
  if (!Number.isInteger(o.maxPingStrikes) || o.maxPingStrikes < 0) {
    throw new InvalidOptionError('server.maxPingStrikes', `must be an integer >= 0, got ${String(o.maxPingStrikes)}`);
  }
  if (o.heartbeatTimeout <= o.heartbeatInterval) {
    throw new InvalidOptionError('server.heartbeatTimeout', `must be greater than heartbeatInterval (${o.heartbeatInterval} ms), got ${o.heartbeatTimeout}`);
  }
  if (o.minHeartbeatInterval > o.maxHeartbeatInterval) {
    throw new InvalidOptionError('server.minHeartbeatInterval', 'must not exceed maxHeartbeatInterval');
  }
  if (o.minHeartbeatTimeout > o.maxHeartbeatTimeout) {
    throw new InvalidOptionError('server.minHeartbeatTimeout', 'must not exceed maxHeartbeatTimeout');
  }
  if (o.maxFrameSize < 64) throw new InvalidOptionError('server.maxFrameSize', 'must be at least 64 bytes');
  if (!Number.isInteger(o.maxDetachedSessions)) throw new InvalidOptionError('server.maxDetachedSessions', `must be an integer >= 1, got ${String(o.maxDetachedSessions)}`);
  const handshakeMaxFrameSize = resolveHandshakeMaxFrameSize(o.handshakeMaxFrameSize, o.maxFrameSize);
  if (o.health !== undefined && typeof o.health !== 'function') throw new InvalidOptionError('server.health', 'must be a function');
  if (o.logger !== undefined && !isLogger(o.logger)) throw new InvalidOptionError('server.logger', 'must be a logger (pino, or child() and trace / debug / info / warn / error functions)');
  if (o.authenticate !== undefined && typeof o.authenticate !== 'function') {
    throw new InvalidOptionError('server.authenticate', 'must be a function (token, info) => identity (or a promise of one)');
  }
  if (typeof o.presence !== 'object' || o.presence === null) throw new InvalidOptionError('server.presence', 'must be an object ({ store, nodeId })');
  if (o.tls !== undefined && (typeof o.tls !== 'object' || o.tls === null)) throw new InvalidOptionError('server.tls', 'must be node:tls server options ({ key, cert, … })');
  validateWebSocketOptions(o.websocket);
  return { ...o, handshakeMaxFrameSize };
}

/** The pre-HELLO frame limit: given (64..maxFrameSize), else HANDSHAKE_MAX_FRAME_SIZE capped at maxFrameSize. */
function resolveHandshakeMaxFrameSize(given: unknown, maxFrameSize: number): number {
  if (given === undefined) return Math.min(HANDSHAKE_MAX_FRAME_SIZE, maxFrameSize);
  if (typeof given !== 'number' || !Number.isInteger(given) || given < 64 || given > maxFrameSize) {
    throw new InvalidOptionError('server.handshakeMaxFrameSize', `must be an integer from 64 to maxFrameSize (${maxFrameSize}), got ${String(given)}`);
  }
  return given;
}

function validateWebSocketOptions(ws: unknown): void {
  if (typeof ws !== 'object' || ws === null) throw new InvalidOptionError('server.websocket', 'must be an object ({ origins })');
  const origins: unknown = (ws as WebSocketServerOptions).origins;
  if (origins === undefined || typeof origins === 'function') return;
  if (!Array.isArray(origins) || !origins.every((o) => typeof o === 'string')) {
    throw new InvalidOptionError('server.websocket.origins', 'must be an array of origins ("https://app.example") or a function');
  }
}

/** server.drain() options (docs/spec/0003-enforcement-and-drain.md §Graceful drain). */
export interface DrainOptions {
  /**
   * Sessions still open this long after drain() began are closed with CLOSE going-away, ms.
   * 0 closes them right after the GOAWAY. Default 30000.
   */
  deadlineMs?: number;
  /** `host:port` clients should reconnect to instead (GOAWAY redirect, at most 1024 bytes UTF-8). Default: none. */
  redirect?: string;
  /** Ask clients to wait at least this long before reconnecting, ms (GOAWAY retryAfterMs; whole ms). Default 0 = no request. */
  retryAfterMs?: number;
  /** Human-readable reason in the GOAWAY (cut to 1024 bytes UTF-8 on the wire). Default 'server draining'. */
  message?: string;
}

export interface ResolvedDrainOptions {
  deadlineMs: number;
  redirect: string | undefined;
  retryAfterMs: number;
  message: string;
}

export const DRAIN_DEFAULTS = {
  deadlineMs: 30_000,
  retryAfterMs: 0,
  message: 'server draining',
} as const;

/** GOAWAY's redirect is never truncated (PROTOCOL.md §6.7); refuse one that could not be a host:port. */
const MAX_REDIRECT_BYTES = 1024;

export function resolveDrainOptions(options: DrainOptions = {}): ResolvedDrainOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('drain', `options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  const o = { ...DRAIN_DEFAULTS, redirect: undefined, ...stripUndefined(options) };
  for (const key of ['deadlineMs', 'retryAfterMs'] as const) {
    const v: unknown = o[key];
    if (typeof v !== 'number' || !(v >= 0 && v <= Number.MAX_SAFE_INTEGER)) {
      throw new InvalidOptionError(`drain.${key}`, `must be a number in [0, 2^53 - 1], got ${String(v)}`);
    }
  }
  if (typeof o.message !== 'string') throw new InvalidOptionError('drain.message', `must be a string, got ${typeof o.message}`);
  if (o.redirect !== undefined) {
    if (typeof o.redirect !== 'string') throw new InvalidOptionError('drain.redirect', `must be a string, got ${typeof o.redirect}`);
    if (new TextEncoder().encode(o.redirect).byteLength > MAX_REDIRECT_BYTES) {
      throw new InvalidOptionError('drain.redirect', `must be at most ${MAX_REDIRECT_BYTES} bytes of UTF-8`);
    }
  }
  return {
    deadlineMs: o.deadlineMs,
    // An empty redirect means "none" on the wire anyway.
    redirect: o.redirect === '' ? undefined : o.redirect,
    // GOAWAY carries whole milliseconds (a varint).
    retryAfterMs: Math.round(o.retryAfterMs),
    message: o.message,
  };
}
