/** Client options: defaults, merge, validation (STYLE.md §4.17). Durations in milliseconds. */
import { DEFAULT_MAX_FRAME_SIZE } from '../protocol/frames.js';
import { BACKOFF_DEFAULTS, resolveBackoffOptions } from '../liveness/backoff.js';
import type { Clock } from '../time/clock.js';
import { isLogger, type Logger } from '../util/log.js';
import { InvalidOptionError } from '../errors.js';
import { validateDetectorSpec } from '../liveness/detectors/index.js';
import type { DetectorSpec } from '../liveness/detectors/types.js';
import { positiveNumber, stripUndefined } from '../options.js';
import { RECOMMENDED_SOCKET_TUNING, validateSocketTuning, type SocketTuningOptions, type TuningFollows } from '../transport/socket-tuning.js';
import { toServerAddress, transportOf, type DialTransport, type ServerAddress, type ServerSpec } from './servers.js';
import type tls from 'node:tls';
import { resolveNatLearnerOptions, type NatLearnerOptions, type ResolvedNatLearnerOptions } from '../liveness/nat-learner.js';
import type { NatStateStore } from '../liveness/nat-store.js';

/**
 * Reconnect settings (docs/spec/0005-reconnect.md). Delays follow gRPC's connection backoff,
 * except that the first reconnect after losing a stable connection waits a uniform random delay
 * in [0, initialDelay) (spreads the reconnect storm of a server restart).
 */
export interface ReconnectOptions {
  /** Base of the first exponential delay, ms. Default 1000. */
  initialDelay?: number;
  /** Growth factor per failed attempt (≥ 1). Default 1.6. */
  multiplier?: number;
  /** Relative spread of each delay, 0..1 (±jitter). Default 0.2. */
  jitter?: number;
  /** Cap on the delay before jitter, ms. Default 120000. */
  maxDelay?: number;
  /**
   * Attempts in a row without a stable connection before the client gives up with a final
   * 'close'. Default Infinity.
   */
  maxAttempts?: number;
  /**
   * A connection that stays open this long resets the backoff (and the attempt count), ms.
   * Default 10000: longer than a server that accepts and then fails takes to fail (a crash loop
   * at start-up, a refusal after the handshake), so such a server sees growing delays instead of
   * a reconnect every initialDelay; short enough that a client whose connection was healthy
   * starts again from the shortest delay after the next outage.
   */
  stableAfter?: number;
}

export type ResolvedReconnectOptions = Required<ReconnectOptions>;

export const RECONNECT_DEFAULTS: ResolvedReconnectOptions = {
  initialDelay: BACKOFF_DEFAULTS.initialDelay,
  multiplier: BACKOFF_DEFAULTS.multiplier,
  jitter: BACKOFF_DEFAULTS.jitter,
  maxDelay: BACKOFF_DEFAULTS.maxDelay,
  maxAttempts: Infinity,
  stableAfter: 10_000,
};

/**
 * tcpKeepalive / tcpUserTimeout (SocketTuningOptions): kernel-level backstop on the socket.
 * Default RECOMMENDED_SOCKET_TUNING (keepalive 15 s + 5 s × 3, TCP_USER_TIMEOUT 30 s); after
 * WELCOME a default keepalive idle is raised to the negotiated interval + timeout (a default
 * user timeout to idle + interval × count), so a heartbeating connection never sends a probe
 * (docs/spec/0008). With `heartbeat: 'adaptive'` keepalive defaults to off.
 */
export interface ClientOptions extends SocketTuningOptions {
  /** Server host. Default '127.0.0.1'. Not with `servers`. */
  host?: string;
  /** Server port. Required unless `servers` is given. */
  port?: number;
  /**
   * Transport to `host` / `port` (docs/spec/0011-transports.md): 'tcp' (default), 'tls',
   * 'ws' or 'wss' (WebSocket, over TLS). In `servers` each entry names its own
   * (`tls://host:port`, `ws://host:port/path`).
   */
  transport?: DialTransport;
  /** WebSocket request path with `transport` 'ws' / 'wss'. Default '/'. */
  path?: string;
  /**
   * TLS client options for tls / wss servers (node:tls: `ca`, `servername`, `cert`, `key`,
   * `rejectUnauthorized`…). The server's certificate is verified against Node's CA store unless
   * `ca` says otherwise; SNI is the host name. Default: none.
   */
  tls?: tls.ConnectionOptions;
  /**
   * Servers to use, in rotation: `"host:port"` (IPv6: `"[::1]:7400"`) or `{ host, port }`. The
   * client dials the first; after each loss it dials the next. Not with `host` / `port`.
   */
  servers?: ServerSpec[];
  /**
   * Reconnect after an unexpected loss (docs/spec/0005-reconnect.md): `true`, `false`, or
   * settings. Default on, as socket.io, mqtt.js and nats.js clients; `false`: the first loss is
   * the final 'close'.
   */
  reconnect?: boolean | ReconnectOptions;
  /**
   * Ask the server to keep the session through a transport loss and resume it on reconnect:
   * nothing sent is lost or doubled within the server's resume window (docs/spec/0006-resume.md).
   * Unacknowledged messages are kept (bounded by maxQueuedBytes). Default: on when reconnect is.
   */
  resume?: boolean;
  /**
   * Heartbeat interval to propose, ms: a PING goes out when nothing has been received for this
   * long. Default: none proposed — the server's default applies (lifeline's is 5000).
   */
  heartbeatInterval?: number;
  /**
   * `'fixed'` (default): propose `heartbeatInterval` (or take the server's default).
   * `'adaptive'`: learn, per network (server + local address), the longest idle the path's NAT or
   * firewall keeps a flow, and heartbeat a margin below it (docs/spec/0007-adaptive-interval.md).
   * Not together with `heartbeatInterval`.
   */
  heartbeat?: 'fixed' | 'adaptive';
  /** Tuning of the adaptive learner (spec 0007 §Settings); defaults suit real NATs (15 s … 10 min). */
  adaptiveHeartbeat?: NatLearnerOptions;
  /**
   * Where the adaptive learner keeps what it learned: a NatStateStore, or `false` for memory
   * only (lost at exit). Default: a JSON file at `natStatePath`.
   */
  natStore?: NatStateStore | false;
  /** The default store's file. Default `$XDG_STATE_HOME/lifeline/nat.json` (else `~/.local/state/lifeline/nat.json`). */
  natStatePath?: string;
  /** Heartbeat timeout to propose, ms: the server is declared dead after this long with nothing received. Default: the server's (15000). */
  heartbeatTimeout?: number;
  /** TCP connect + handshake must complete within this, ms. Default 5000. */
  handshakeTimeout?: number;
  /** Largest frame accepted, bytes. Default 1 MiB. */
  maxFrameSize?: number;
  /** Bytes of messages send() may queue before the connection opens. Default 4 MiB. */
  maxQueuedBytes?: number;
  /**
   * The server counts as unavailable when a PING stays unanswered this long, or its PONG comes
   * later, ms. Default 1000 (kept below the heartbeat timeout). A frozen or overloaded server is
   * reported within about interval + budget, long before it is declared dead.
   */
  availabilityBudget?: number;
  /** Consecutive PONGs saying `busy` before the server counts as unavailable. Default 2. */
  busyPongs?: number;
  /** Dead-peer detector: fixed timeout (default) or phi-accrual (docs/spec/0002-phi-accrual.md). */
  detector?: DetectorSpec;
  /** Stall guard: when our own event loop stalls, do not blame the server for it. Default true. */
  stallGuard?: boolean;
  /**
   * Offer the server to lead the heartbeat (HELLO followServerPings, docs/spec/0010-server-leads.md).
   * A server configured with `heartbeatLeader: 'server'` then pings us and we only answer:
   * cheaper for a server holding many connections. We still notice a silent server (we ping
   * ourselves after the interval plus a margin) and learn its status from the PONGs it pushes
   * when that changes; our own RTT samples come only from those rarer PINGs of ours. Not
   * offered with heartbeat 'adaptive' (the learner must time the idle itself). Default true.
   */
  followServerPings?: boolean;
  /**
   * Credential sent in HELLO on every connect and reconnect, for the server's `authenticate`
   * hook (docs/spec/0013-identity.md; a string goes as UTF-8). A function is called before each
   * HELLO and answers the token to use now — how a long-lived client presents a refreshed
   * token on its next reconnect. It must answer synchronously (keep the latest token at hand
   * and refresh it on your own schedule): HELLO goes out as soon as the transport is up. A
   * refused token ends the client (CLOSE auth-failed is not retried). Default: none.
   */
  token?: ClientToken | (() => ClientToken | undefined);
  /** Clock (tests inject a FakeClock). Default: the monotonic system clock. */
  clock?: Clock;
  /** Random numbers in [0, 1) for the reconnect jitter (tests inject one). Default Math.random. */
  rng?: () => number;
  /**
   * Where the client logs (docs/spec/0016-logging.md): a pino logger as it is, or anything with
   * child() and trace / debug / info / warn / error(obj, msg). Lines carry the session's tag
   * (never its id), the server's address and transport; never the token or payloads.
   * Default: none (nothing is built for any line).
   */
  logger?: Logger;
}

/** A HELLO token: a string (sent as UTF-8) or its bytes. */
export type ClientToken = Uint8Array | string;

/** The bytes HELLO carries for the `token` option right now (its function called, if it is one). */
export function helloToken(option: ClientOptions['token']): Uint8Array | undefined {
  const token = typeof option === 'function' ? option() : option;
  if (token === undefined) return undefined;
  if (typeof token === 'string') return new TextEncoder().encode(token);
  if (token instanceof Uint8Array) return token;
  throw new InvalidOptionError('token', `must be a string or a Uint8Array (or a function answering one), got ${typeof token}`);
}

export const CLIENT_DEFAULTS = {
  host: '127.0.0.1',
  availabilityBudget: 1000,
  busyPongs: 2,
  stallGuard: true,
  followServerPings: true,
  handshakeTimeout: 5000,
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  maxQueuedBytes: 4 * 1024 * 1024,
} as const;

export type ResolvedClientOptions = Omit<ClientOptions, 'servers' | 'reconnect'> & {
  host: string;
  port: number;
  /** At least one: `servers`, or `[{ host, port }]`. */
  servers: ServerAddress[];
  /** false: the first loss is final. */
  reconnect: ResolvedReconnectOptions | false;
  resume: boolean;
  rng: () => number;
  handshakeTimeout: number;
  maxFrameSize: number;
  maxQueuedBytes: number;
  availabilityBudget: number;
  busyPongs: number;
  stallGuard: boolean;
  followServerPings: boolean;
  socketTuning: SocketTuningOptions;
  /** Which socket-tuning settings came from the defaults: they follow the heartbeat after WELCOME (docs/spec/0008). */
  tuningFollows: TuningFollows;
  heartbeat: 'fixed' | 'adaptive';
  /** Resolved learner settings; present with heartbeat 'adaptive'. */
  adaptiveLearner?: ResolvedNatLearnerOptions;
};

export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'connect() needs an options object with at least { port }');
  }
  const socketTuning: SocketTuningOptions = {
    // Adaptive heartbeat: kernel keepalive probes (idle 15 s) would refresh the NAT themselves,
    // so the learner would see every idle survive and climb while the probes did the work at a
    // higher packet cost (docs/keepalive.md §Long heartbeat intervals). Off unless asked for.
    tcpKeepalive: options.tcpKeepalive ?? (options.heartbeat === 'adaptive' ? false : RECOMMENDED_SOCKET_TUNING.tcpKeepalive),
    tcpUserTimeout: options.tcpUserTimeout ?? RECOMMENDED_SOCKET_TUNING.tcpUserTimeout,
  };
  validateSocketTuning(socketTuning);
  const given = stripUndefined(options);
  const { servers: serverSpecs, reconnect, ...rest } = given;
  const servers = resolveServers(serverSpecs, rest.host, rest.port, rest.transport, rest.path);
  const first = servers[0]!;
  const o = {
    ...CLIENT_DEFAULTS,
    rng: Math.random,
    ...rest,
    host: first.host,
    port: first.port,
    servers,
    reconnect: resolveReconnect(reconnect),
    socketTuning,
    tuningFollows: { keepalive: options.tcpKeepalive === undefined, userTimeout: options.tcpUserTimeout === undefined },
  } as ResolvedClientOptions;
  o.resume ??= o.reconnect !== false;
  if (typeof o.resume !== 'boolean') throw new InvalidOptionError('resume', `must be a boolean, got ${typeof o.resume}`);
  if (typeof o.rng !== 'function') throw new InvalidOptionError('rng', 'must be a function returning numbers in [0, 1)');
  if (o.logger !== undefined && !isLogger(o.logger)) throw new InvalidOptionError('logger', 'must be a logger (pino, or child() and trace / debug / info / warn / error functions)');
  positiveNumber('handshakeTimeout', o.handshakeTimeout);
  positiveNumber('maxFrameSize', o.maxFrameSize);
  positiveNumber('maxQueuedBytes', o.maxQueuedBytes);
  positiveNumber('availabilityBudget', o.availabilityBudget);
  if (o.detector !== undefined) validateDetectorSpec(o.detector, 'detector');
  if (typeof o.stallGuard !== 'boolean') throw new InvalidOptionError('stallGuard', `must be a boolean, got ${String(o.stallGuard)}`);
  if (typeof o.followServerPings !== 'boolean') {
    throw new InvalidOptionError('followServerPings', `must be a boolean, got ${String(o.followServerPings)}`);
  }
  if (!Number.isInteger(o.busyPongs) || o.busyPongs < 1) {
    throw new InvalidOptionError('busyPongs', `must be an integer >= 1, got ${String(o.busyPongs)}`);
  }
  if (o.tls !== undefined && (typeof o.tls !== 'object' || o.tls === null)) throw new InvalidOptionError('tls', 'must be node:tls connection options ({ ca, … })');
  if (o.token !== undefined && typeof o.token !== 'function' && typeof o.token !== 'string' && !(o.token instanceof Uint8Array)) {
    throw new InvalidOptionError('token', `must be a string, a Uint8Array or a function answering one, got ${typeof o.token}`);
  }
  if (o.maxFrameSize < 64) throw new InvalidOptionError('maxFrameSize', `must be at least 64 bytes, got ${o.maxFrameSize}`);
  o.heartbeat ??= 'fixed';
  if (o.heartbeat !== 'fixed' && o.heartbeat !== 'adaptive') {
    throw new InvalidOptionError('heartbeat', `must be 'fixed' or 'adaptive', got ${String(o.heartbeat)}`);
  }
  if (o.heartbeat === 'adaptive') {
    if (o.heartbeatInterval !== undefined) {
      throw new InvalidOptionError('heartbeat', "'adaptive' chooses the interval itself: do not set heartbeatInterval with it");
    }
    o.adaptiveLearner = resolveNatLearnerOptions(o.adaptiveHeartbeat);
    const store: unknown = o.natStore;
    if (store !== undefined && store !== false && (typeof store !== 'object' || store === null || typeof (store as NatStateStore).load !== 'function' || typeof (store as NatStateStore).save !== 'function')) {
      throw new InvalidOptionError('natStore', 'must be a NatStateStore ({ load(key), save(key, state) }) or false');
    }
    if (o.natStatePath !== undefined && (typeof o.natStatePath !== 'string' || o.natStatePath === '')) {
      throw new InvalidOptionError('natStatePath', 'must be a non-empty path');
    }
  } else if (o.adaptiveHeartbeat !== undefined || o.natStore !== undefined || o.natStatePath !== undefined) {
    throw new InvalidOptionError('adaptiveHeartbeat', "adaptiveHeartbeat / natStore / natStatePath need heartbeat: 'adaptive'");
  }
  if (o.heartbeatInterval !== undefined) positiveNumber('heartbeatInterval', o.heartbeatInterval);
  if (o.heartbeatTimeout !== undefined) positiveNumber('heartbeatTimeout', o.heartbeatTimeout);
  if (o.heartbeatInterval !== undefined && o.heartbeatTimeout !== undefined && o.heartbeatTimeout <= o.heartbeatInterval) {
    throw new InvalidOptionError(
      'heartbeatTimeout',
      `must be greater than heartbeatInterval (${o.heartbeatInterval} ms), got ${o.heartbeatTimeout}`,
    );
  }
  return o;
}

function resolveServers(specs: unknown, host: unknown, port: unknown, transport: unknown, path: unknown): ServerAddress[] {
  if (specs === undefined) {
    if (port === undefined) throw new InvalidOptionError('port', 'is required (or give `servers`)');
    if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new InvalidOptionError('port', `must be an integer 1..65535, got ${String(port)}`);
    }
    const h = host ?? CLIENT_DEFAULTS.host;
    if (typeof h !== 'string' || h === '') throw new InvalidOptionError('host', 'must be a non-empty string');
    return [{ host: h, port, ...transportOf(transport, path, '') }];
  }
  // Mutually exclusive, as ws refuses mixed options: which one would be dialled first?
  if (host !== undefined || port !== undefined || transport !== undefined || path !== undefined) {
    throw new InvalidOptionError('servers', 'give either `servers` or `host` / `port` / `transport` / `path`, not both');
  }
  if (!Array.isArray(specs) || specs.length === 0) {
    throw new InvalidOptionError('servers', 'must be a non-empty array of "host:port" strings or { host, port } objects');
  }
  return specs.map((spec, i) => toServerAddress(spec, `servers[${i}]`));
}

function resolveReconnect(value: unknown): ResolvedReconnectOptions | false {
  // On by default, as socket.io, mqtt.js and nats.js clients are (spec 0005 §Defaults).
  if (value === undefined) value = true;
  if (value === false) return false;
  if (value === true) return { ...RECONNECT_DEFAULTS };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError('reconnect', `must be a boolean or an object, got ${value === null ? 'null' : typeof value}`);
  }
  const given = stripUndefined(value as ReconnectOptions);
  const o: ResolvedReconnectOptions = { ...RECONNECT_DEFAULTS, ...given };
  resolveBackoffOptions(o, 'reconnect.');
  const attempts: unknown = o.maxAttempts;
  if (!(attempts === Infinity || (typeof attempts === 'number' && Number.isInteger(attempts) && attempts >= 1))) {
    throw new InvalidOptionError('reconnect.maxAttempts', `must be an integer >= 1 or Infinity, got ${String(attempts)}`);
  }
  const stable: unknown = o.stableAfter;
  if (typeof stable !== 'number' || !Number.isFinite(stable) || stable < 0) {
    throw new InvalidOptionError('reconnect.stableAfter', `must be a finite number >= 0, got ${String(stable)}`);
  }
  return o;
}
