/**
 * `lifeline client --connect host:port`: stdin lines become messages, received messages are
 * printed on stdout, heartbeat / status changes and the close reason are logged on stderr.
 * Exit code: 0 after a local close (stdin ended), 1 when the connection was lost.
 */
import { createInterface } from 'node:readline';
import { connect } from '../client/client.js';
import { createLogger, type LogFormat } from './logger.js';

export interface ClientCommandOptions {
  connect: { host: string; port: number };
  interval?: number;
  timeout?: number;
  log: LogFormat;
  /** Log every PONG (RTT, server status): noisy, for watching the heartbeat. */
  verbose: boolean;
  /** Keep running when stdin ends (for scripted use where stdin is closed). */
  stay: boolean;
}

export function runClient(opts: ClientCommandOptions): void {
  const log = createLogger('lifeline-client', opts.log, opts.verbose ? 'debug' : 'info');
  const client = connect({
    host: opts.connect.host,
    port: opts.connect.port,
    heartbeatInterval: opts.interval,
    heartbeatTimeout: opts.timeout,
  });

  client.on('open', (info) => {
    log.info({ event: 'open', session: info.sessionId, interval: info.heartbeatInterval, timeout: info.heartbeatTimeout, pid: process.pid }, `connected to ${opts.connect.host}:${opts.connect.port}`);
  });
  client.on('message', (data) => process.stdout.write(`${data.toString('utf8')}\n`));
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
