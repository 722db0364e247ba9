/**
 * `lifeline server`: a lifeline server in the foreground. Messages from clients are printed on
 * stdout; lines typed on stdin are sent to every session (so two terminals can talk). Session
 * open / close (with the reason and how stale the peer was) are logged on stderr.
 */
import { createInterface } from 'node:readline';
import { createServer } from '../server/server.js';
import type { Session } from '../server/session.js';
import { createLogger, type LogFormat } from './logger.js';

export interface ServerCommandOptions {
  host: string;
  port: number;
  interval: number;
  timeout: number;
  echo: boolean;
  heartbeatLeader: 'client' | 'server';
  log: LogFormat;
}

export async function runServer(opts: ServerCommandOptions): Promise<void> {
  const log = createLogger('lifeline-server', opts.log);
  const server = createServer({ heartbeatInterval: opts.interval, heartbeatTimeout: opts.timeout, heartbeatLeader: opts.heartbeatLeader });
  const short = (s: Session) => s.id.slice(0, 8);

  server.on('session', (session) => {
    log.info(
      { event: 'session-open', session: session.id, remote: `${session.remoteAddress}:${session.remotePort}`, interval: session.heartbeatInterval, timeout: session.heartbeatTimeout, sessions: server.sessionCount },
      'session open',
    );
    session.on('message', (data) => {
      process.stdout.write(`${short(session)}> ${data.toString('utf8')}\n`);
      if (opts.echo && session.isOpen) session.send(data);
    });
  });
  server.on('sessionClose', (session, reason) => {
    log.info(
      { event: 'session-close', session: session.id, code: reason.code, detectedBy: reason.detectedBy, sinceLastSeenMs: Math.round(reason.sinceLastSeenMs), sessions: server.sessionCount },
      `session closed: ${reason.code} — ${reason.message}`,
    );
  });

  const address = await server.listen(opts.port, opts.host);
  log.info({ event: 'listening', host: address.address, port: address.port }, `listening on ${address.address}:${address.port}`);

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
    await server.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
