/**
 * `lifeline server`: a lifeline server in the foreground. Messages from clients are printed on
 * stdout; lines typed on stdin are sent to every session (so two terminals can talk). Session
 * open / close (with the reason and how stale the peer was) are logged on stderr.
 * `--tls-cert` / `--tls-key` make the main listener TLS; `--ws-port` adds a WebSocket listener
 * (wss with the TLS files) for browsers and proxies that only pass HTTP. `--token-secret-file`
 * admits only clients with a token from `lifeline token` on the same secret (docs/spec/0013).
 * `--metrics-port` serves Prometheus metrics on `/metrics` (docs/spec/0015).
 * `--redis redis://host:port` shares presence with the other nodes on that Redis
 * (RedisPresenceStore, docs/spec/0014; `--node-id` names this node there); presence changes —
 * of any node's identities — are logged at info level, a Redis outage at warn.
 */
import { createInterface } from 'node:readline';
import type tls from 'node:tls';
import { createServer } from '../server/server.js';
import type { Session } from '../server/session.js';
import { formatServer, type DialTransport } from '../client/servers.js';
import { createLogger, type LogFormat } from './logger.js';
import { sessionTag } from '../util/session-tag.js';
import { readFlagFile, readSecretFile } from './files.js';
import { MIN_SECRET_BYTES, tokenAuthenticator } from '../server/token.js';
import { RedisPresenceStore } from '../presence/redis-store.js';
import { lifelineMetrics } from '../metrics/prometheus.js';
import { serveMetrics, type MetricsHttpServer } from '../metrics/http.js';

export interface ServerCommandOptions {
  host: string;
  port: number;
  interval: number;
  timeout: number;
  echo: boolean;
  heartbeatLeader: 'auto' | 'client' | 'server';
  log: LogFormat;
  /** PEM certificate (chain) and its key: both or neither (serverFlagError). */
  tlsCert?: string;
  tlsKey?: string;
  /** A WebSocket listener on this port too, same host. */
  wsPort?: number;
  /** Its request path. Default '/'. */
  wsPath?: string;
  /** Browser origins the WebSocket listener accepts. Default: any. */
  wsOrigin?: string[];
  /** A UDP listener on this port too, same host (spec 0012). */
  udpPort?: number;
  /** Its cookie / reset secret, read from this file (default: random per process). */
  udpSecretFile?: string;
  /** Accept only clients whose HELLO token was signed with this file's secret (`lifeline token`; spec 0013). */
  tokenSecretFile?: string;
  /** Share presence through this Redis (redis:// or rediss:// URL; spec 0014). */
  redis?: string;
  /** This node's name in the presence store (default: random per process). */
  nodeId?: string;
  /** Serve Prometheus metrics on http://host:PORT/metrics (docs/spec/0015-metrics.md). */
  metricsPort?: number;
  /** Serve the live dashboard on this port (docs/spec/0017-dashboard.md); fastify loads only then. */
  dashboard?: number;
  /** Its bind address. Default 127.0.0.1, whatever --host is. */
  dashboardHost?: string;
  /** Lab / bench --json files its results page may open. */
  dashboardResults?: string;
}

/**
 * Flag combinations commander cannot express, as the message for `command.error()`; undefined
 * when fine. Checked before anything starts, so a half-configured TLS server never listens in
 * plain text.
 */
export function serverFlagError(opts: ServerCommandOptions): string | undefined {
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
    return `error: --tls-cert and --tls-key go together: give both (the PEM certificate and its private key) or neither (missing ${opts.tlsCert === undefined ? '--tls-cert' : '--tls-key'})`;
  }
  if (opts.wsPort === undefined && (opts.wsPath !== undefined || opts.wsOrigin !== undefined)) {
    return `error: ${opts.wsPath !== undefined ? '--ws-path' : '--ws-origin'} applies to the WebSocket listener: add --ws-port`;
  }
  if (opts.udpPort === undefined && opts.udpSecretFile !== undefined) return 'error: --udp-secret-file applies to the UDP listener: add --udp-port';
  if (opts.redis !== undefined && !/^rediss?:\/\/[^/\s]+/.test(opts.redis)) return `error: --redis takes a redis://host:port (or rediss://) URL, got ${JSON.stringify(opts.redis)}`;
  if (opts.dashboard === undefined && (opts.dashboardHost !== undefined || opts.dashboardResults !== undefined)) return `error: ${opts.dashboardHost !== undefined ? '--dashboard-host' : '--dashboard-results'} applies to the dashboard: add --dashboard PORT`;
  if (opts.nodeId !== undefined && opts.redis === undefined) return 'error: --node-id names this node in the shared presence store: add --redis';
  if (opts.nodeId !== undefined && (opts.nodeId === '' || opts.nodeId.includes('/') || opts.nodeId.length > 200)) return "error: --node-id must be 1..200 characters without '/'";
  return undefined;
}

export async function runServer(opts: ServerCommandOptions): Promise<void> {
  const log = createLogger('lifeline-server', opts.log);
  // Read at start: an unreadable file is a start-up error, not a failure on the first handshake.
  const tlsOptions: tls.TlsOptions | undefined =
    opts.tlsCert !== undefined && opts.tlsKey !== undefined ? { cert: readFlagFile('--tls-cert', opts.tlsCert), key: readFlagFile('--tls-key', opts.tlsKey) } : undefined;
  const tokenSecret = opts.tokenSecretFile === undefined ? undefined : readSecretFile('--token-secret-file', opts.tokenSecretFile, MIN_SECRET_BYTES);
  const server = createServer({
    heartbeatInterval: opts.interval,
    heartbeatTimeout: opts.timeout,
    heartbeatLeader: opts.heartbeatLeader,
    // Session open / close, detections, auth failures, drain and stalls are the library's lines
    // (docs/spec/0016-logging.md): the session's tag, remote and transport on each, never the id.
    logger: log,
    ...(tlsOptions ? { tls: tlsOptions } : {}),
    ...(opts.wsOrigin ? { websocket: { origins: opts.wsOrigin } } : {}),
    ...(tokenSecret ? { authenticate: tokenAuthenticator(tokenSecret) } : {}),
    ...(opts.redis !== undefined ? { presence: { store: new RedisPresenceStore({ redis: opts.redis }), ...(opts.nodeId !== undefined ? { nodeId: opts.nodeId } : {}) } } : {}),
  });
  logPresence(log, server);
  // The session's tag, as in the log lines (the id itself is a resume credential: spec 0016).
  const short = (s: Session) => sessionTag(s.id);

  server.on('session', (session) => {
    session.on('message', (data) => {
      process.stdout.write(`${short(session)}> ${data.toString('utf8')}\n`);
      if (opts.echo && session.isOpen) session.send(data);
    });
  });
  // Failed TLS handshakes and refused upgrades never become sessions: without this line a
  // client with the wrong CA or origin would fail with nothing on the server's side. The info
  // carries no TLS material, only what went wrong and from where.
  server.on('clientError', (info) => {
    log.warn(
      { event: 'client-error', transport: info.transport, code: info.code, reason: info.message, remoteAddress: info.remoteAddress },
      `${info.transport} connection from ${info.remoteAddress ?? 'unknown'} failed: ${info.code} — ${info.message}`,
    );
  });

  // A refused token is told only "unauthorized"; the library logs the code at warn and the
  // reason at debug (LIFELINE_LOG_LEVEL=debug: the reason may quote a hook's error, spec 0016).

  // The main listener first and alone on the first 'listening' line: the demo and the tests
  // take that line's port as the server's.
  const secure = tlsOptions !== undefined;
  const main = await server.listen(opts.port, opts.host);
  logListening(log, secure ? 'tls' : 'tcp', main.address, main.port);
  if (opts.wsPort !== undefined) {
    const path = opts.wsPath ?? '/';
    const ws = await server.listen({ transport: 'ws', port: opts.wsPort, host: opts.host, path });
    logListening(log, secure ? 'wss' : 'ws', ws.address, ws.port, path);
  }
  if (opts.udpPort !== undefined) {
    const secret = opts.udpSecretFile === undefined ? undefined : readSecretFile('--udp-secret-file', opts.udpSecretFile, MIN_SECRET_BYTES);
    const udp = await server.listen({ transport: 'udp', port: opts.udpPort, host: opts.host, ...(secret ? { udp: { secret } } : {}) });
    logListening(log, 'udp', udp.address, udp.port);
  }
  let metricsHttp: MetricsHttpServer | undefined;
  if (opts.metricsPort !== undefined) {
    metricsHttp = await serveMetrics(lifelineMetrics(server), { port: opts.metricsPort, host: opts.host });
    const { address, port } = metricsHttp.address;
    const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}/metrics`;
    log.info({ event: 'metrics-listening', host: address, port, url }, `metrics on ${url}`);
  }

  let dashboard: { close(): Promise<void> } | undefined;
  if (opts.dashboard !== undefined) {
    const { serveDashboard } = await import('../dashboard/index.js');
    // One metrics instance per scrape target: with --metrics-port, /metrics stays there only.
    const metrics = opts.metricsPort === undefined ? lifelineMetrics(server) : undefined;
    const d = await serveDashboard(server, { port: opts.dashboard, host: opts.dashboardHost ?? '127.0.0.1', ...(metrics ? { metrics } : {}), ...(opts.dashboardResults !== undefined ? { resultsDir: opts.dashboardResults } : {}) });
    dashboard = d;
    log.info({ event: 'dashboard-listening', host: d.address.address, port: d.address.port, url: d.url, metrics: metrics !== undefined }, `dashboard on ${d.url}`);
  }

  if (!process.stdin.isTTY || process.stdin.readable) {
    const rl = createInterface({ input: process.stdin, terminal: false });
    rl.on('line', (line) => {
      for (const session of server.sessions()) if (session.isOpen) session.send(line);
    });
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'stopping', signal }, 'closing sessions');
    await Promise.all([server.close(), metricsHttp?.close(), dashboard?.close()]);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

/**
 * Presence is by identity: only sessions with one (--token-secret-file) count. Every node logs
 * every change (changes reach all nodes through the store's pub/sub); `node` is where it happened.
 */
function logPresence(log: ReturnType<typeof createLogger>, server: ReturnType<typeof createServer>): void {
  server.presence.on('change', (change) => {
    log.info({ event: 'presence', id: change.id, state: change.state, previous: change.previous, node: change.nodeId, devices: change.devices.length }, `presence: ${change.id} ${change.previous} → ${change.state} (node ${change.nodeId})`);
  });
  server.presence.on('degraded', (error) => {
    log.warn({ event: 'presence-degraded', node: server.presence.nodeId, reason: error.message }, `presence store not answering (${error.message}): serving local sessions; presence covers this node only`);
  });
  server.presence.on('restored', () => {
    log.info({ event: 'presence-restored', node: server.presence.nodeId }, "presence store answers again: this node's state is re-published");
  });
  server.presence.on('warning', (warning) => {
    log.warn({ event: 'presence-warning', code: warning.code, node: warning.nodeId }, warning.message);
  });
}

/** One line per listener; `url` is what a client passes to --connect (wss, not the listener's 'ws'). */
function logListening(log: ReturnType<typeof createLogger>, transport: DialTransport, host: string, port: number, path?: string): void {
  const url = formatServer({ host, port, transport, ...(path !== undefined ? { path } : {}) });
  log.info({ event: 'listening', host, port, transport, ...(path !== undefined ? { path } : {}), url }, `listening on ${url}`);
}
