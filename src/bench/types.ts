/**
 * Shapes shared by the benchmark's parent (harness.ts), its server processes (server-main.ts,
 * external-servers.ts) and its load generators (generator-main.ts). Children speak JSON lines:
 * events on stdout, commands on stdin. Wall-clock times are ms (performance.timeOrigin + now),
 * comparable across processes on one host.
 */

/**
 * Every system the benchmark knows, in table order. `raw` is the floor the ratios divide by.
 * `lifeline-metrics` (`--metrics`) is `lifeline` with lifelineMetrics() attached and scraped
 * every second, run right after it: not in the default list.
 */
export const SYSTEM_IDS = ['raw', 'rawsweep', 'lifeline', 'lifeline-metrics', 'lifeline-sl', 'lifeline-ws', 'lifeline-tls', 'lifeline-udp', 'ws', 'socketio', 'aedes', 'mosquitto', 'nats'] as const;
export type SystemId = (typeof SYSTEM_IDS)[number];

export interface BenchConfig {
  /** Connections held per system. */
  connections: number;
  /** Heartbeat interval, ms. */
  intervalMs: number;
  /** Measured window, ms (after all connections are up and one interval of warm-up). */
  durationMs: number;
  systems: SystemId[];
  /** Several server processes behind one port (node:cluster) and more generators. */
  scale: boolean;
  /** Freeze (SIGSTOP) one generator holding ~10 % of the connections and time the server's detection. */
  freeze: boolean;
  /**
   * Scale mode with the C load generator (src/bench/native/loadgen.c) and W independent server
   * processes, one port each: for runs up to 1,000,000 connections. raw and lifeline only.
   */
  native?: boolean;
  /**
   * lifeline's kernel socket tuning: 'default' (keepalive idle 15 s / 5 s × 3, TCP_USER_TIMEOUT
   * 30 s, as createServer() does) or 'off' (tcpKeepalive: false, tcpUserTimeout: 0). Default 'default'.
   */
  lifelineSocketTuning?: 'default' | 'off';
  /**
   * Run the whole system list this many times, back to back (default 1). The ratios to raw are
   * then reported per round and as their median: on a noisy machine one round's ratio moves by
   * ±0.2.
   */
  rounds?: number;
}

/** Server-side memory at one instant (after a forced GC for Node servers). */
export interface MemorySample {
  /** V8 heap used, bytes (undefined for non-Node servers). */
  heapUsed: number | undefined;
  rss: number;
}

/** What a server process reports for the measured window. */
export interface ServerWindow {
  baseline: MemorySample;
  loaded: MemorySample;
  /** Connections open on the server when the window started / ended. */
  connectionsAtStart: number;
  connectionsAtEnd: number;
  /** Connections the server saw close during the window (with healthy generators: false "dead"). */
  closedInWindow: number;
  /** user + system CPU over the window, µs (all server processes summed). */
  cpuMicros: number;
  windowMs: number;
  /** Event-loop delay over the window, ms (resolution-corrected; undefined for non-Node servers). */
  loopDelayP50Ms: number | undefined;
  loopDelayP99Ms: number | undefined;
  loopDelayMaxMs: number | undefined;
  /** Socket bytesRead + bytesWritten on the server over the window (undefined: not observable). */
  bytes: number | undefined;
  /** Server processes (cluster workers in scale mode; 1 otherwise). */
  processes: number;
}

/** What one generator process reports for the measured window. */
export interface GeneratorWindow {
  /** Heartbeat round trips completed (a PONG / PINGRESP / echo received, or a server PING answered). */
  roundTrips: number;
  /** Client socket bytesRead + bytesWritten over the window (undefined: the client library hides its socket). */
  bytes: number | undefined;
  /** Beats a connection went without: a gap of g intervals between round trips counts round(g) - 1. */
  missed: number;
  /** Connections that closed during the window. */
  closed: number;
  /** Open connections that closed after every connection was up (warm-up + window). */
  closedSinceReady: number;
  /** Connections open at the end of the window. */
  open: number;
  /** Client-measured ping→pong round-trip time (client-initiated heartbeats only), ms. */
  rttP50Ms: number | undefined;
  rttP99Ms: number | undefined;
  /** The generators' own CPU over the window, µs (native generators only). */
  cpuMicros?: number;
}

/** Host memory around one system's run (/proc/meminfo; Linux only). */
export interface HostMemory {
  /** Kernel Slab before the server started / with every connection open (at the report), bytes. */
  slabBefore: number;
  slabLoaded: number;
  /** Lowest MemAvailable seen during the run, bytes. */
  minAvailable: number | undefined;
  /**
   * Kernel counters over the run (start of the server → the report): packets dropped because a
   * CPU's input backlog was full (/proc/net/softnet_stat, net.core.netdev_max_backlog; loopback
   * goes through it), and connections the kernel aborted on a timeout (TcpExt
   * TCPAbortOnTimeout: keepalive probes or TCP_USER_TIMEOUT). Undefined where not readable.
   */
  backlogDrops?: number;
  abortsOnTimeout?: number;
}

export interface DetectionResult {
  /** Connections held by the frozen generator. */
  frozen: number;
  /** Of those, closed by the server before the deadline. */
  detected: number;
  /** Server close time minus freeze time, ms, over detected connections. */
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  maxMs: number | undefined;
  /** How long the harness waited, ms. */
  waitedMs: number;
}

export interface SystemResult {
  system: SystemId;
  label: string;
  /** Set when the system was not run (missing optional peer, failed start): the reason. */
  skipped?: string;
  /** Set when the run started but could not finish. */
  error?: string;
  connectionsRequested: number;
  connectionsOpen: number;
  server?: ServerWindow;
  generators?: GeneratorWindow;
  detection?: DetectionResult;
  host?: HostMemory;
  /** Where the bytes figure came from. */
  bytesSource?: 'server' | 'client';
  /** The per-connection / per-heartbeat figures the table shows, computed from the raw ones above. */
  derived?: DerivedMetrics;
}

export interface DerivedMetrics {
  /** (heap after the window − empty-server heap) / connections, bytes. */
  heapPerConnection: number | undefined;
  rssPerConnection: number;
  /** Server CPU over the window / round trips, µs. */
  cpuPerRoundTripMicros: number | undefined;
  /** Bytes on the wire over the window / round trips. */
  bytesPerRoundTrip: number | undefined;
  roundTrips: number;
  /** Round trips per connection per interval: 1.0 = every beat on time. */
  beatRatio: number;
  missed: number;
  /**
   * Live connections lost after all were open, warm-up included (a heartbeat that kills
   * clients while they connect shows here): server-side count, or the clients' if larger.
   */
  dropped: number;
}

export interface BenchResult {
  startedAt: string;
  machine: { cpus: number; cpuModel: string; totalMemGiB: number; node: string; platform: string };
  config: BenchConfig;
  /** The last round's results (the only round unless config.rounds > 1). */
  results: SystemResult[];
  /** With config.rounds > 1: every round's results, in order (the last one is `results`). */
  rounds?: SystemResult[][];
}

/** A generator/server child's JSON line. */
export interface ChildEvent {
  ev: string;
  [key: string]: unknown;
}

export { wallNow } from '../lab/json-child.js';
