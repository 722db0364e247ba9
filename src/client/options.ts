/** Client options: defaults, merge, validation (STYLE.md §4.17). Durations in milliseconds. */
import { DEFAULT_MAX_FRAME_SIZE } from '../protocol/frames.js';
import type { Clock } from '../time/clock.js';
import { InvalidOptionError } from '../errors.js';
import { validateDetectorSpec } from '../liveness/detectors/index.js';
import type { DetectorSpec } from '../liveness/detectors/types.js';
import { positiveNumber, stripUndefined } from '../options.js';
import { RECOMMENDED_SOCKET_TUNING, validateSocketTuning, type SocketTuningOptions } from '../transport/socket-tuning.js';

/**
 * tcpKeepalive / tcpUserTimeout (SocketTuningOptions): kernel-level backstop on the socket.
 * Default RECOMMENDED_SOCKET_TUNING (keepalive 15 s + 5 s × 3, TCP_USER_TIMEOUT 30 s).
 */
export interface ClientOptions extends SocketTuningOptions {
  /** Server host. Default '127.0.0.1'. */
  host?: string;
  /** Server port. Required. */
  port: number;
  /**
   * Heartbeat interval to propose, ms: a PING goes out when nothing has been received for this
   * long. Default: none proposed — the server's default applies (lifeline's is 5000).
   */
  heartbeatInterval?: number;
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
  /** Opaque credential sent in HELLO (for the server's auth hook). */
  token?: Uint8Array | string;
  /** Clock (tests inject a FakeClock). Default: the monotonic system clock. */
  clock?: Clock;
}

export const CLIENT_DEFAULTS = {
  host: '127.0.0.1',
  availabilityBudget: 1000,
  busyPongs: 2,
  stallGuard: true,
  handshakeTimeout: 5000,
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  maxQueuedBytes: 4 * 1024 * 1024,
} as const;

export type ResolvedClientOptions = ClientOptions & {
  host: string;
  handshakeTimeout: number;
  maxFrameSize: number;
  maxQueuedBytes: number;
  availabilityBudget: number;
  busyPongs: number;
  stallGuard: boolean;
  socketTuning: SocketTuningOptions;
};

export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'connect() needs an options object with at least { port }');
  }
  const socketTuning: SocketTuningOptions = {
    tcpKeepalive: options.tcpKeepalive ?? RECOMMENDED_SOCKET_TUNING.tcpKeepalive,
    tcpUserTimeout: options.tcpUserTimeout ?? RECOMMENDED_SOCKET_TUNING.tcpUserTimeout,
  };
  validateSocketTuning(socketTuning);
  const o = { ...CLIENT_DEFAULTS, ...stripUndefined(options), socketTuning } as ResolvedClientOptions;
  if (!Number.isInteger(o.port) || o.port <= 0 || o.port > 65535) {
    throw new InvalidOptionError('port', `must be an integer 1..65535, got ${String(o.port)}`);
  }
  if (typeof o.host !== 'string' || o.host === '') throw new InvalidOptionError('host', 'must be a non-empty string');
  positiveNumber('handshakeTimeout', o.handshakeTimeout);
  positiveNumber('maxFrameSize', o.maxFrameSize);
  positiveNumber('maxQueuedBytes', o.maxQueuedBytes);
  positiveNumber('availabilityBudget', o.availabilityBudget);
  if (o.detector !== undefined) validateDetectorSpec(o.detector, 'detector');
  if (typeof o.stallGuard !== 'boolean') throw new InvalidOptionError('stallGuard', `must be a boolean, got ${String(o.stallGuard)}`);
  if (!Number.isInteger(o.busyPongs) || o.busyPongs < 1) {
    throw new InvalidOptionError('busyPongs', `must be an integer >= 1, got ${String(o.busyPongs)}`);
  }
  if (o.maxFrameSize < 64) throw new InvalidOptionError('maxFrameSize', `must be at least 64 bytes, got ${o.maxFrameSize}`);
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
