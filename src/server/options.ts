/**
 * Server options: defaults in one object, merged, validated at construction (STYLE.md §4.17).
 * All durations in milliseconds.
 */
import { DEFAULT_MAX_FRAME_SIZE } from '../protocol/frames.js';
import type { HealthReport } from '../connection/connection.js';
import type { Clock } from '../time/clock.js';
import { InvalidOptionError } from '../errors.js';
import { positiveNumber, stripUndefined } from '../options.js';
import { RECOMMENDED_SOCKET_TUNING, validateSocketTuning, type SocketTuningOptions } from '../transport/socket-tuning.js';

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
  /** Status and load for every PONG this server sends. Default: always `{ status: 'ok', load: 0 }`. */
  health?: () => HealthReport;
  /** Timer-wheel slot width, ms: heartbeat checks fire up to this late. Default 50. */
  timerResolution?: number;
  /** Clock (tests inject a FakeClock). Default: the monotonic system clock. */
  clock?: Clock;
  // tcpKeepalive / tcpUserTimeout (SocketTuningOptions): kernel-level backstop on every accepted
  // socket. Default RECOMMENDED_SOCKET_TUNING: keepalive idle 15 s, interval 5 s, count 3 and
  // TCP_USER_TIMEOUT 30 s (docs/keepalive.md). `tcpKeepalive: false, tcpUserTimeout: 0` = off.
}

export type ResolvedServerOptions = Required<Omit<ServerOptions, 'clock' | keyof SocketTuningOptions>> & {
  clock: Clock | undefined;
  socketTuning: SocketTuningOptions;
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
} as const;

const okHealth = (): HealthReport => ({ status: 'ok', load: 0 });

export function resolveServerOptions(options: ServerOptions = {}): ResolvedServerOptions {
  const { tcpKeepalive, tcpUserTimeout, ...rest } = options;
  const socketTuning: SocketTuningOptions = {
    tcpKeepalive: tcpKeepalive ?? RECOMMENDED_SOCKET_TUNING.tcpKeepalive,
    tcpUserTimeout: tcpUserTimeout ?? RECOMMENDED_SOCKET_TUNING.tcpUserTimeout,
  };
  validateSocketTuning(socketTuning, 'server');
  const o = { ...SERVER_DEFAULTS, health: okHealth, clock: undefined, ...stripUndefined(rest), socketTuning };
  for (const key of Object.keys(SERVER_DEFAULTS) as (keyof typeof SERVER_DEFAULTS)[]) {
    positiveNumber(`server.${key}`, o[key]);
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
  if (typeof o.health !== 'function') throw new InvalidOptionError('server.health', 'must be a function');
  return o;
}
