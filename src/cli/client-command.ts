/**
 * `lifeline client --connect host:port[,host:port…]`: stdin lines become messages, received
 * messages are printed on stdout, heartbeat / status changes and the close reason are logged on
 * stderr. Several addresses (or --reconnect) turn on reconnect, failover and resume. Addresses
 * may be tls:// ws:// wss:// URLs; --ca / --insecure set how tls and wss servers are verified;
 * --token is sent in HELLO (docs/spec/0013). A live status line on stderr (status-line.ts):
 * redrawn in place on a terminal, a plain `stats` log line on state changes and every
 * --status-every otherwise; --no-status turns it off.
 * Exit code: 0 after a local close (stdin ended), 1 when the connection was lost for good.
 */
import { createInterface } from 'node:readline';
import diagnostics from 'node:diagnostics_channel';
import type tls from 'node:tls';
import { connect, type AdaptiveEvent } from '../client/client.js';
import { formatServer, type ServerAddress } from '../client/servers.js';
import { createLogger, type LogFormat } from './logger.js';
import { readFlagFile } from './files.js';
import { sessionTag } from '../util/session-tag.js';
import { interactiveTerminal } from './progress.js';
import { StatusLine, eraseBeforeLogs, type LinkState } from './status-line.js';
import { systemClock } from '../time/clock.js';

export interface ClientCommandOptions {
  connect: ServerAddress[];
  /** PEM CA(s) to trust for tls / wss servers instead of Node's store. */
  ca?: string;
  /** Do not verify tls / wss server certificates (testing only; warned about). */
  insecure: boolean;
  /** Reconnect (and resume) after a loss, even with a single address. */
  reconnect: boolean;
  interval?: number;
  timeout?: number;
  log: LogFormat;
  /** Log every PONG (RTT, server status): noisy, for watching the heartbeat. */
  verbose: boolean;
  /** heartbeat: 'adaptive' (learns the NAT timeout; logs what it learns). */
  adaptive: boolean;
  /** Keep running when stdin ends (for scripted use where stdin is closed). */
  stay: boolean;
  /** HELLO token (e.g. from `lifeline token`), sent on every connect. */
  token?: string;
  /** The live status line (default true; --no-status). */
  status?: boolean;
  /** Not on a terminal: a status line at least this often between state changes, ms (default 30 s). */
  statusEvery?: number;
}

const DEFAULT_STATUS_EVERY_MS = 30_000;

/**
 * Flag combinations commander cannot express, as the message for `command.error()`; undefined
 * when fine. --ca / --insecure without a tls or wss address would be ignored, and someone who
 * gave them most likely expected an encrypted connection they would not get.
 */
export function clientFlagError(opts: ClientCommandOptions): string | undefined {
  const secure = opts.connect.some((a) => a.transport === 'tls' || a.transport === 'wss');
  if (!secure && (opts.ca !== undefined || opts.insecure)) {
    return `error: ${opts.ca !== undefined ? '--ca' : '--insecure'} applies to tls:// and wss:// servers, and --connect names none (e.g. --connect tls://host:port or wss://host:port/path)`;
  }
  return undefined;
}

export function runClient(opts: ClientCommandOptions): void {
  const log = createLogger('lifeline-client', opts.log, opts.verbose ? 'debug' : 'info');
  const servers = opts.connect.map(formatServer);
  const failover = opts.reconnect || servers.length > 1;
  const tlsOptions: tls.ConnectionOptions | undefined = opts.insecure
    ? { rejectUnauthorized: false }
    : opts.ca !== undefined
      ? { ca: readFlagFile('--ca', opts.ca) }
      : undefined;
  if (opts.insecure) log.warn({ event: 'insecure' }, '--insecure: server certificates are NOT verified; anyone on the path can impersonate the server');
  const client = connect({
    // One address without --reconnect is one connection: its first loss ends the command (the
    // library reconnects by default; a command-line probe of one server should not).
    ...(failover ? { servers } : { ...opts.connect[0]!, reconnect: false }),
    ...(tlsOptions ? { tls: tlsOptions } : {}),
    heartbeatInterval: opts.interval,
    heartbeatTimeout: opts.timeout,
    ...(opts.adaptive ? { heartbeat: 'adaptive' as const } : {}),
    ...(opts.token !== undefined ? { token: opts.token } : {}),
  });
  // The status line's listeners come first: on 'close' it is erased before the last log line.
  let linkState: LinkState = 'connecting';
  const interactive = interactiveTerminal(process.stderr) && opts.log !== 'json';
  const status = opts.status === false
    ? undefined
    : new StatusLine({
        clock: systemClock,
        interactive,
        stream: process.stderr,
        everyMs: opts.statusEvery ?? DEFAULT_STATUS_EVERY_MS,
        snapshot: () => ({ state: linkState, stats: client.stats() }),
        plain: (snap, line) => {
          const s = snap.stats;
          log.info({ event: 'stats', state: snap.state, rttMs: s.smoothedRttMs, lastHeardMs: s.lastHeardMs === undefined ? undefined : Math.round(s.lastHeardMs), serverStatus: s.serverStatus, serverLoad: s.serverLoad, reconnects: s.reconnects, resumes: s.resumes, messagesReceived: s.messagesReceived, messagesSent: s.messagesSent }, line);
        },
      });
  if (status) {
    if (interactive) eraseBeforeLogs(log, status);
    const to = (state: LinkState) => () => {
      linkState = state;
      status.stateChanged();
    };
    client.on('open', () => to(client.available === false ? 'unavailable' : 'healthy')());
    client.on('available', to('healthy'));
    client.on('unavailable', to('unavailable'));
    client.on('disconnect', to('dead'));
    client.on('reconnecting', to('reconnecting'));
    client.on('close', () => {
      linkState = 'closed';
      status.stop();
    });
    status.start();
  }
  const printMessage = (text: string) => {
    if (process.stdout.isTTY) status?.beforeOutput();
    process.stdout.write(text);
  };

  if (opts.adaptive) {
    diagnostics.subscribe('lifeline:client:adaptive', (message) => {
      const e = message as AdaptiveEvent;
      const level = e.event === 'survived' ? 'debug' : 'info';
      log[level]({ event: `adaptive-${e.event}`, idleMs: Math.round(e.idleMs), intervalMs: e.intervalMs, goodMs: Math.round(e.goodMs), badMs: e.badMs, phase: e.phase, network: e.key }, `adaptive heartbeat: ${e.event} after ${Math.round(e.idleMs)} ms idle; interval now ${e.intervalMs} ms (${e.phase})`);
    });
  }

  client.on('open', (info) => {
    log.info(
      { event: 'open', session: sessionTag(info.sessionId), resumed: info.resumed, interval: info.heartbeatInterval, timeout: info.heartbeatTimeout, pid: process.pid },
      `connected to ${client.server}${info.resumed ? ' (session resumed)' : ''}`,
    );
  });
  client.on('disconnect', (reason) => log.warn({ event: 'disconnect', code: reason.code }, `connection lost: ${reason.code} — ${reason.message}`));
  client.on('reconnecting', (r) => log.info({ event: 'reconnecting', ...r }, `reconnecting to ${r.server} in ${Math.round(r.delayMs)} ms (attempt ${r.attempt})`));
  client.on('unavailable', (u) => log.warn({ event: 'unavailable', ...u }, `server unavailable: ${u.reason}`));
  client.on('available', () => log.info({ event: 'available' }, 'server available again'));
  client.on('undelivered', (msgs) => log.error({ event: 'undelivered', count: msgs.length }, `${msgs.length} messages were not confirmed by the server`));
  client.on('message', (data) => printMessage(`${data.toString('utf8')}\n`));
  client.on('ping', (id) => log.debug({ event: 'ping', id, sinceLastSeenMs: Math.round(client.sinceLastSeen ?? 0) }, 'server pinged, answered'));
  client.on('pong', (info) => log.debug({ event: 'pong', rttMs: info.rttMs, status: info.status, load: info.load }, 'pong'));
  client.on('status', (status, load) => log.warn({ event: 'status', status, load }, `server status: ${status}`));
  client.on('goaway', (frame) => log.warn({ event: 'goaway', code: frame.code, redirect: frame.redirect, retryAfterMs: frame.retryAfterMs }, `server sent GOAWAY: ${frame.message}`));
  client.on('close', (reason) => {
    const lost = reason.code !== 'local-close';
    log[lost ? 'error' : 'info'](
      { event: 'close', code: reason.code, detectedBy: reason.detectedBy, sinceLastSeenMs: Math.round(reason.sinceLastSeenMs) },
      `connection closed: ${reason.code} — ${reason.message}`,
    );
    process.exit(lost ? 1 : 0);
  });

  const rl = createInterface({ input: process.stdin, terminal: false });
  rl.on('line', (line) => {
    if (client.state === 'closed' || client.state === 'closing') return;
    client.send(line);
  });
  rl.on('close', () => {
    if (!opts.stay) client.close('stdin ended');
  });
  process.on('SIGINT', () => client.close('interrupted'));
  process.on('SIGTERM', () => client.close('terminated'));
}
