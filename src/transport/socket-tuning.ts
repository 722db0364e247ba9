/**
 * Socket tuning: kernel-level liveness for one TCP socket (SO_KEEPALIVE, TCP_KEEPIDLE,
 * TCP_KEEPINTVL, TCP_KEEPCNT, TCP_USER_TIMEOUT), and an honest report of what is really in force.
 * docs/keepalive.md explains the trade-offs against the application heartbeat.
 *
 * What plain Node 20 can set (verified on Node 20.20 / Linux 6.x): `socket.setKeepAlive(true, ms)`
 * with ms ≥ 1000 sets TCP_KEEPIDLE = floor(ms / 1000) s and libuv hard-codes TCP_KEEPINTVL = 1 s and
 * TCP_KEEPCNT = 10; with ms < 1000 it only turns SO_KEEPALIVE on and the sysctl defaults
 * (net.ipv4.tcp_keepalive_time / _intvl / _probes) stay in force. JavaScript cannot set
 * TCP_KEEPINTVL, TCP_KEEPCNT or TCP_USER_TIMEOUT itself; the optional `net-keepalive` package
 * (setsockopt through ffi-rs) can. It is loaded lazily so lifeline works without it, and every
 * setting that could not be applied exactly yields one warning line instead of a silent gap.
 *
 * Order matters: libuv rewrites TCP_KEEPINTVL / TCP_KEEPCNT to 1 s / 10 on every effective
 * setKeepAlive() call, so the fine options are set after it — and nobody may call
 * socket.setKeepAlive() on a tuned socket afterwards.
 */
import { InvalidOptionError } from '../errors.js';

export interface TcpKeepaliveOptions {
  /** Idle time before the first probe, ms (kernel granularity: whole seconds, rounded up; min 1 s). */
  idle: number;
  /** Time between probes, ms (whole seconds, rounded up; min 1 s). */
  interval: number;
  /** Unanswered probes before the kernel drops the connection (1..127). */
  count: number;
}

export interface SocketTuningOptions {
  /**
   * false = SO_KEEPALIVE off; true = on with the kernel defaults (Linux: 2 h idle, 75 s × 9);
   * object = tuned. Default false (Node's own default).
   */
  tcpKeepalive?: boolean | TcpKeepaliveOptions;
  /**
   * TCP_USER_TIMEOUT, ms: how long transmitted data may stay unacknowledged before the kernel
   * drops the connection (also bounds keepalive when set, see keepaliveDropAfterMs). 0 = kernel
   * default (tcp_retries2 retransmissions, ≈15 min). Default 0. Needs net-keepalive.
   */
  tcpUserTimeout?: number;
}

/** What is really in force on the socket, and what could not be applied and why. */
export interface AppliedSocketOptions {
  keepalive: {
    enabled: boolean;
    idleMs: number | 'kernel-default';
    intervalMs: number | 'kernel-default';
    count: number | 'kernel-default';
  };
  userTimeoutMs: number | 'kernel-default';
  /** 'net-keepalive' when the optional module applied the fine options, 'node' when only socket.setKeepAlive was available. */
  via: 'net-keepalive' | 'node';
  /** Human-readable lines, one per requested setting that could not be applied exactly. Empty when everything was applied. */
  warnings: string[];
}

/**
 * What tuning needs of a socket: a net.Socket, or the stand-in a lean server connection gives
 * for its libuv handle (tcp-handle.ts). net-keepalive reads the file descriptor from `_handle.fd`.
 */
export interface TunableSocket {
  readonly destroyed: boolean;
  setKeepAlive(enable?: boolean, initialDelay?: number): unknown;
  readonly _handle?: unknown;
}

/** The part of `net-keepalive` we call (a narrow port, STYLE.md §1.2): tests pass a fake. */
export interface NetKeepaliveApi {
  setKeepAliveInterval(socket: TunableSocket, intervalMs: number): boolean;
  setKeepAliveProbes(socket: TunableSocket, count: number): boolean;
  setUserTimeout(socket: TunableSocket, timeoutMs: number): boolean;
  getKeepAliveInterval(socket: TunableSocket): number;
  getKeepAliveProbes(socket: TunableSocket): number;
  getUserTimeout(socket: TunableSocket): number;
}

/**
 * What a careful operator would choose next to lifeline's default heartbeat (interval 5 s,
 * timeout 15 s):
 *
 * - keepalive idle 15 s, interval 5 s, count 3 ⇒ an unresponsive peer on an otherwise silent
 *   connection is dropped by the kernel 15 + 3 × 5 = 30 s after the last segment received, even
 *   when the application heartbeat cannot run (our event loop blocked) or was negotiated up to
 *   minutes. While the heartbeat runs, its PING/PONG every 5 s keeps the connection from ever
 *   being idle for 15 s, so these probes cost nothing in the normal case. 5 s between probes
 *   tolerates a lost probe on a congested path; 3 probes means one lost probe is not fatal
 *   (RFC 1122 §4.2.3.6: no single unanswered probe may be taken as death). When these defaults
 *   are in force, server and client raise the idle to the negotiated interval + timeout after the
 *   handshake (tuningForHeartbeat, docs/spec/0008; the user timeout moves with it), so a longer
 *   heartbeat does not end every interval in probes.
 * - TCP_USER_TIMEOUT 30 s ⇒ data in flight to a dead peer fails after 30 s instead of after
 *   tcp_retries2 (15) retransmissions ≈ 924.6 s; keepalive is suspended while data is
 *   unacknowledged, so nothing else bounds that case in the kernel.
 * - 30 s = idle + interval × count on purpose: with TCP_USER_TIMEOUT set, Linux ignores
 *   TCP_KEEPCNT and drops at the first probe tick at or after the user timeout (Cloudflare,
 *   "When TCP sockets refuse to die"); equal values keep "count 3" true.
 * - 30 s = 2 × the 15 s heartbeat timeout: the heartbeat, which also sees a frozen or overloaded
 *   peer process, normally wins and reports the precise reason; the kernel is the backstop.
 *   Raise these if you raise heartbeatTimeout.
 */
export const RECOMMENDED_SOCKET_TUNING: SocketTuningOptions = Object.freeze({
  tcpKeepalive: Object.freeze({ idle: 15_000, interval: 5_000, count: 3 }),
  tcpUserTimeout: 30_000,
});

/** Linux limits (include/net/tcp.h MAX_TCP_KEEPIDLE / MAX_TCP_KEEPINTVL / MAX_TCP_KEEPCNT). */
const MAX_KEEPALIVE_SECONDS = 32_767;
const MAX_KEEPALIVE_COUNT = 127;
/** TCP_USER_TIMEOUT is an int of milliseconds. */
const MAX_USER_TIMEOUT_MS = 2_147_483_647;
/** What libuv (as bundled with Node 20.20) sets whenever setKeepAlive() gets a delay ≥ 1 s. */
const LIBUV_KEEPALIVE_INTERVAL_MS = 1000;
const LIBUV_KEEPALIVE_COUNT = 10;

function optionName(prefix: string | undefined, name: string): string {
  if (!prefix) return name;
  return prefix.endsWith('.') ? prefix + name : `${prefix}.${name}`;
}

/** Throws InvalidOptionError naming the option (e.g. 'server.tcpKeepalive.count' with prefix 'server'). */
export function validateSocketTuning(options: SocketTuningOptions, prefix?: string): void {
  const name = (n: string): string => optionName(prefix, n);
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError(name('socketTuning'), `must be an object, got ${String(options)}`);
  }
  const ka: unknown = options.tcpKeepalive;
  if (ka !== undefined && typeof ka !== 'boolean') {
    if (typeof ka !== 'object' || ka === null) {
      throw new InvalidOptionError(name('tcpKeepalive'), `must be a boolean or { idle, interval, count }, got ${String(ka)}`);
    }
    const { idle, interval, count } = ka as Partial<Record<keyof TcpKeepaliveOptions, unknown>>;
    for (const [key, value] of [['idle', idle], ['interval', interval]] as const) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_KEEPALIVE_SECONDS * 1000) {
        throw new InvalidOptionError(
          name(`tcpKeepalive.${key}`),
          `must be a number of ms in (0, ${MAX_KEEPALIVE_SECONDS * 1000}], got ${String(value)}`,
        );
      }
    }
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_KEEPALIVE_COUNT) {
      throw new InvalidOptionError(name('tcpKeepalive.count'), `must be an integer 1..${MAX_KEEPALIVE_COUNT}, got ${String(count)}`);
    }
  }
  const ut: unknown = options.tcpUserTimeout;
  if (ut !== undefined && (typeof ut !== 'number' || !Number.isInteger(ut) || ut < 0 || ut > MAX_USER_TIMEOUT_MS)) {
    throw new InvalidOptionError(name('tcpUserTimeout'), `must be an integer number of ms 0..${MAX_USER_TIMEOUT_MS}, got ${String(ut)}`);
  }
}

type LoadResult = { api: NetKeepaliveApi; reason?: undefined } | { api?: undefined; reason: string };
let loading: Promise<LoadResult> | undefined;
let loaded: LoadResult | undefined;

/**
 * The optional `net-keepalive` module, or undefined when it cannot be loaded (not installed, no
 * prebuilt ffi-rs binary for this platform, …). Loaded once; the outcome, including the reason
 * for a failure, is cached (see netKeepaliveUnavailableReason).
 */
export async function loadNetKeepalive(): Promise<NetKeepaliveApi | undefined> {
  loading ??= (async (): Promise<LoadResult> => {
    // A variable specifier keeps tsc from resolving the optional module at build time.
    const specifier = 'net-keepalive';
    try {
      const mod = (await import(specifier)) as { default?: unknown } & Record<string, unknown>;
      const api = (mod.default ?? mod) as Partial<Record<keyof NetKeepaliveApi, unknown>>;
      const required: (keyof NetKeepaliveApi)[] = [
        'setKeepAliveInterval',
        'setKeepAliveProbes',
        'setUserTimeout',
        'getKeepAliveInterval',
        'getKeepAliveProbes',
        'getUserTimeout',
      ];
      const missing = required.filter((fn) => typeof api[fn] !== 'function');
      if (missing.length > 0) return { reason: `net-keepalive lacks ${missing.join(', ')}` };
      return { api: api as NetKeepaliveApi };
    } catch (err) {
      return { reason: firstLine(err) };
    }
  })();
  loaded = await loading;
  return loaded.api;
}

/** Why loadNetKeepalive() returned undefined; undefined when it loaded or was never tried. */
export function netKeepaliveUnavailableReason(): string | undefined {
  return loaded?.reason;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n', 1)[0] ?? text;
}

/** Seconds the kernel will use for a millisecond request: whole seconds, rounded up, at least 1. */
function toKernelSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * When the kernel drops a connection whose peer stopped answering while the connection was idle,
 * ms after the last segment received. Without TCP_USER_TIMEOUT: idle + interval × count. With
 * it, Linux (net/ipv4/tcp_timer.c, tcp_keepalive_timer) ignores the count and drops at the first
 * probe tick (idle + k × interval, k ≥ 1) at or after the user timeout; verified on Linux 6.18
 * (idle 2 s, interval 3 s, count 3: user timeout 4 s → 5 s, 9 s → 11 s, 15 s → 17 s).
 */
export function keepaliveDropAfterMs(
  keepalive: { idleMs: number; intervalMs: number; count: number },
  userTimeoutMs: number,
): number {
  const { idleMs, intervalMs, count } = keepalive;
  if (userTimeoutMs <= 0) return idleMs + intervalMs * count;
  const ticks = Math.max(1, Math.ceil((userTimeoutMs - idleMs) / intervalMs));
  return idleMs + intervalMs * ticks;
}

/**
 * Apply the options to a connected socket (client: after 'connect'; server: on accept) and report
 * what is in force. Synchronous; never throws for a setting the platform refuses — that becomes a
 * warning. Throws InvalidOptionError for invalid options. `netKeepalive` is the result of
 * loadNetKeepalive() (undefined: only socket.setKeepAlive is used).
 */
export function applySocketTuning(
  socket: TunableSocket,
  options: SocketTuningOptions,
  netKeepalive: NetKeepaliveApi | undefined,
): AppliedSocketOptions {
  validateSocketTuning(options);
  const warnings: string[] = [];
  const kernelDefault = 'kernel-default' as const;
  const disabled = { enabled: false, idleMs: kernelDefault, intervalMs: kernelDefault, count: kernelDefault };

  if (socket.destroyed) {
    const wanted = options.tcpKeepalive !== undefined || (options.tcpUserTimeout ?? 0) > 0;
    return {
      keepalive: disabled,
      userTimeoutMs: kernelDefault,
      via: 'node',
      warnings: wanted ? ['socket tuning not applied: the socket is already destroyed'] : [],
    };
  }

  const unavailable = netKeepalive
    ? undefined
    : `net-keepalive unavailable (${
        loaded === undefined
          ? 'not loaded: await loadNetKeepalive() first'
          : (loaded.reason ?? 'loaded, but not passed to applySocketTuning')
      })`;
  let viaNetKeepalive = false;
  /** One setsockopt through net-keepalive; a refusal becomes a warning. */
  const trySet = (label: string, set: (api: NetKeepaliveApi) => boolean, fallback: string): boolean => {
    if (!netKeepalive) {
      warnings.push(`${label} not applied: ${unavailable}; ${fallback}`);
      return false;
    }
    try {
      if (set(netKeepalive)) {
        viaNetKeepalive = true;
        return true;
      }
      warnings.push(`${label} not applied: net-keepalive reported failure; ${fallback}`);
    } catch (err) {
      warnings.push(`${label} not applied: ${firstLine(err)}; ${fallback}`);
    }
    return false;
  };

  let keepalive: AppliedSocketOptions['keepalive'];
  const ka = options.tcpKeepalive ?? false;
  if (ka === false) {
    socket.setKeepAlive(false);
    keepalive = disabled;
  } else if (ka === true) {
    // A delay below 1 s makes libuv set SO_KEEPALIVE only: the sysctl defaults stay in force.
    socket.setKeepAlive(true, 0);
    keepalive = { enabled: true, idleMs: kernelDefault, intervalMs: kernelDefault, count: kernelDefault };
  } else {
    const idleMs = toKernelSeconds(ka.idle) * 1000;
    const intervalMs = toKernelSeconds(ka.interval) * 1000;
    if (idleMs !== ka.idle) {
      warnings.push(`tcpKeepalive.idle ${ka.idle} ms rounded up to ${idleMs} ms (the kernel counts whole seconds, min 1 s)`);
    }
    if (intervalMs !== ka.interval) {
      warnings.push(`tcpKeepalive.interval ${ka.interval} ms rounded up to ${intervalMs} ms (the kernel counts whole seconds, min 1 s)`);
    }
    // Sets SO_KEEPALIVE + TCP_KEEPIDLE, and (libuv) TCP_KEEPINTVL 1 s / TCP_KEEPCNT 10: must come first.
    socket.setKeepAlive(true, idleMs);
    keepalive = { enabled: true, idleMs, intervalMs: LIBUV_KEEPALIVE_INTERVAL_MS, count: LIBUV_KEEPALIVE_COUNT };
    if (intervalMs !== LIBUV_KEEPALIVE_INTERVAL_MS || netKeepalive) {
      const ok = trySet(
        `tcpKeepalive.interval ${ka.interval} ms`,
        (api) => api.setKeepAliveInterval(socket, intervalMs),
        `libuv's ${LIBUV_KEEPALIVE_INTERVAL_MS} ms is in force`,
      );
      if (ok) keepalive.intervalMs = intervalMs;
    }
    if (ka.count !== LIBUV_KEEPALIVE_COUNT || netKeepalive) {
      const ok = trySet(
        `tcpKeepalive.count ${ka.count}`,
        (api) => api.setKeepAliveProbes(socket, ka.count),
        `libuv's ${LIBUV_KEEPALIVE_COUNT} is in force`,
      );
      if (ok) keepalive.count = ka.count;
    }
  }

  let userTimeoutMs: AppliedSocketOptions['userTimeoutMs'] = kernelDefault;
  const ut = options.tcpUserTimeout ?? 0;
  if (ut > 0) {
    const ok = trySet(
      `tcpUserTimeout ${ut} ms`,
      (api) => api.setUserTimeout(socket, ut),
      'the kernel default is in force (unacknowledged data fails only after net.ipv4.tcp_retries2 retransmissions, ≈15 min by default)',
    );
    if (ok) userTimeoutMs = ut;
  }

  // With both in force the count no longer decides (see keepaliveDropAfterMs): say what does.
  if (
    keepalive.enabled &&
    typeof userTimeoutMs === 'number' &&
    typeof keepalive.idleMs === 'number' &&
    typeof keepalive.intervalMs === 'number' &&
    typeof keepalive.count === 'number'
  ) {
    const byCount = keepalive.idleMs + keepalive.intervalMs * keepalive.count;
    const actual = keepaliveDropAfterMs(
      { idleMs: keepalive.idleMs, intervalMs: keepalive.intervalMs, count: keepalive.count },
      userTimeoutMs,
    );
    if (actual !== byCount) {
      warnings.push(
        `tcpKeepalive.count ${keepalive.count} overridden by tcpUserTimeout ${userTimeoutMs} ms: an unresponsive idle peer is ` +
          `dropped ${actual} ms after the last segment received, not idle + interval × count = ${byCount} ms ` +
          `(make tcpUserTimeout equal to idle + interval × count)`,
      );
    }
  }

  return { keepalive, userTimeoutMs, via: viaNetKeepalive ? 'net-keepalive' : 'node', warnings };
}

/** Which of the tuning's settings came from the defaults, and so may follow the heartbeat (spec 0008). */
export interface TuningFollows {
  /** `tcpKeepalive` was not given. */
  keepalive: boolean;
  /** `tcpUserTimeout` was not given. */
  userTimeout: boolean;
}

/**
 * Spec 0008: the keepalive idle (ms, whole seconds) that lets a heartbeat of this interval and
 * timeout run without a single probe: probes start only once the peer has been silent for a whole
 * interval + timeout, i.e. after the heartbeat has already stopped. undefined when `tuning`
 * already waits that long, or keepalive is off or left to the kernel defaults.
 */
export function keepaliveIdleForHeartbeat(
  tuning: SocketTuningOptions,
  heartbeat: { intervalMs: number; timeoutMs: number },
): number | undefined {
  const ka = tuning.tcpKeepalive;
  if (typeof ka !== 'object') return undefined;
  const wanted = Math.min(toKernelSeconds(heartbeat.intervalMs + heartbeat.timeoutMs), MAX_KEEPALIVE_SECONDS) * 1000;
  return wanted > toKernelSeconds(ka.idle) * 1000 ? wanted : undefined;
}

/**
 * Spec 0008: the tuning to apply once the heartbeat is negotiated. What came from the defaults
 * follows it: the keepalive idle moves to interval + timeout (keepaliveIdleForHeartbeat), and a
 * default TCP_USER_TIMEOUT to at least idle + interval × count, so "count" probes still decide
 * (with a user timeout shorter than the idle, Linux drops at the first unanswered probe, see
 * keepaliveDropAfterMs). Explicit settings are kept as given. Returns `tuning` itself when
 * nothing follows.
 */
export function tuningForHeartbeat(
  tuning: SocketTuningOptions,
  heartbeat: { intervalMs: number; timeoutMs: number },
  follows: TuningFollows,
): SocketTuningOptions {
  const ka = tuning.tcpKeepalive;
  if (!follows.keepalive || typeof ka !== 'object') return tuning;
  const idle = keepaliveIdleForHeartbeat(tuning, heartbeat);
  if (idle === undefined) return tuning;
  const next: SocketTuningOptions = { ...tuning, tcpKeepalive: { ...ka, idle } };
  const userTimeout = tuning.tcpUserTimeout ?? 0;
  if (follows.userTimeout && userTimeout > 0) {
    next.tcpUserTimeout = Math.min(MAX_USER_TIMEOUT_MS, Math.max(userTimeout, idle + toKernelSeconds(ka.interval) * 1000 * ka.count));
  }
  return next;
}

/** What getsockopt says (fields the platform refuses are left out). */
export interface KernelSocketOptions {
  keepaliveIntervalMs?: number;
  keepaliveCount?: number;
  userTimeoutMs?: number;
}

/** For tests and the lab: read what the kernel has for this socket (fields the platform refuses are left out). */
export function readSocketOptions(socket: TunableSocket, netKeepalive: NetKeepaliveApi | undefined): KernelSocketOptions {
  const out: KernelSocketOptions = {};
  if (!netKeepalive) return out;
  const read = (get: () => number): number | undefined => {
    try {
      return get();
    } catch {
      return undefined;
    }
  };
  const interval = read(() => netKeepalive.getKeepAliveInterval(socket));
  const count = read(() => netKeepalive.getKeepAliveProbes(socket));
  const userTimeout = read(() => netKeepalive.getUserTimeout(socket));
  if (interval !== undefined) out.keepaliveIntervalMs = interval;
  if (count !== undefined) out.keepaliveCount = count;
  if (userTimeout !== undefined) out.userTimeoutMs = userTimeout;
  return out;
}

