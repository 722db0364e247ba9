/**
 * Agent of `lifeline lab --adaptive`: one end of every row's connection, run inside a namespace
 * (or on loopback) through the hidden `lifeline lab-adaptive-agent` command. JSON lines: events
 * on stdout, commands on stdin; times are wall-clock ms (performance.timeOrigin + now),
 * comparable across processes on one host.
 *
 * The connections carry no application data at all: every byte on them is handshake or
 * heartbeat, so what the NAT sees is exactly the heartbeat's idle periods.
 *
 * Client events: {ev:'ready'} · {ev:'open', row, at, resumed, intervalMs, timeoutMs}
 *   · {ev:'pong', row, at} (our PING was answered) · {ev:'ping', row, at} (the server pinged us)
 *   · {ev:'disconnect', row, at, code, message, unanswered} (a connection was lost; the client resumes)
 *   · {ev:'adaptive', row, at, event, idleMs, intervalMs, phase, goodMs, badMs} (the learner, spec 0007 §Wiring 9)
 *   · {ev:'closed', row, at, code, message} (the client gave up: should not happen)
 *   · {ev:'report', rows: [{row, state, info, adaptive}]} (answer to {cmd:'report'})
 * Server events: {ev:'ready', ports} · {ev:'server-ping', row, at} (a client PING arrived)
 *   · {ev:'server-disconnect', row, at, code}
 */
import diagnostics from 'node:diagnostics_channel';
import { createInterface } from 'node:readline';
import { emitJsonLine, wallNow } from '../json-child.js';
import { createServer } from '../../server/server.js';
import { connect, type Client } from '../../client/client.js';
import type { AdaptiveEvent } from '../../client/adaptive.js';
import { adaptiveRowById, SCALED_RECONNECT, type AdaptiveRowSpec } from './rows.js';

export interface AdaptiveAgentOptions {
  role: 'server' | 'client';
  host: string;
  /** One port per row (server: 0 = any free port; 'ready' reports them). */
  ports: number[];
  rows: string[];
}

const emit = emitJsonLine;
/** Only the heartbeat under test: no kernel keepalive or user timeout on either end. */
const NO_KERNEL_TIMERS = { tcpKeepalive: false, tcpUserTimeout: 0 } as const;

export async function runAdaptiveAgent(opts: AdaptiveAgentOptions): Promise<void> {
  const specs = opts.rows.map(adaptiveRowById);
  if (opts.ports.length !== specs.length) throw new Error(`lab-adaptive-agent: ${specs.length} rows but ${opts.ports.length} ports`);
  if (opts.role === 'server') {
    const ports: number[] = [];
    for (const [i, spec] of specs.entries()) ports.push(await rowServer(spec, opts.host, opts.ports[i]!));
    emit({ ev: 'ready', ports });
    return;
  }
  const clients = specs.map((spec, i) => ({ spec, client: rowClient(spec, opts.host, opts.ports[i]!) }));
  emit({ ev: 'ready' });
  createInterface({ input: process.stdin }).on('line', (line) => {
    const cmd = JSON.parse(line) as { cmd: string };
    if (cmd.cmd !== 'report') return;
    emit({
      ev: 'report',
      at: wallNow(),
      rows: clients.map(({ spec, client }) => ({ row: spec.id, state: client.state, info: client.info, adaptive: client.adaptiveHeartbeat })),
    });
  });
}

async function rowServer(spec: AdaptiveRowSpec, host: string, port: number): Promise<number> {
  // The server's own defaults only matter if a client proposed nothing; every row proposes.
  const server = createServer({ heartbeatInterval: 2000, heartbeatTimeout: 3000, ...NO_KERNEL_TIMERS });
  server.on('session', (session) => {
    session.on('ping', () => emit({ ev: 'server-ping', row: spec.id, at: wallNow() }));
    session.on('disconnect', (reason) => emit({ ev: 'server-disconnect', row: spec.id, at: wallNow(), code: reason.code }));
  });
  return (await server.listen(port, host)).port;
}

/** How many PINGs a heartbeat-timeout close had left unanswered (connection.ts puts it in the message). */
export function unansweredPings(code: string, message: string): number {
  if (code !== 'heartbeat-timeout') return 0;
  const m = /(\d+) unanswered ping/.exec(message);
  // At least one: the timeout is longer than the interval, so a PING went out before it.
  return m ? Math.max(1, Number(m[1])) : 1;
}

function rowClient(spec: AdaptiveRowSpec, host: string, port: number): Client {
  const client = connect({
    host,
    port,
    ...(spec.adaptive ? { heartbeat: 'adaptive' as const, adaptiveHeartbeat: spec.adaptive, natStore: false as const } : { heartbeatInterval: spec.intervalMs! }),
    heartbeatTimeout: spec.timeoutMs,
    reconnect: SCALED_RECONNECT,
    resume: true,
    ...NO_KERNEL_TIMERS,
  });
  const row = spec.id;
  client.on('open', (info) => emit({ ev: 'open', row, at: wallNow(), resumed: info.resumed, intervalMs: info.heartbeatInterval, timeoutMs: info.heartbeatTimeout }));
  client.on('pong', () => emit({ ev: 'pong', row, at: wallNow() }));
  client.on('ping', () => emit({ ev: 'ping', row, at: wallNow() }));
  client.on('disconnect', (reason) =>
    emit({ ev: 'disconnect', row, at: wallNow(), code: reason.code, message: reason.message, unanswered: unansweredPings(reason.code, reason.message) }),
  );
  client.on('close', (reason) => emit({ ev: 'closed', row, at: wallNow(), code: reason.code, message: reason.message }));
  client.on('warning', (message) => emit({ ev: 'warning', row, message }));
  if (spec.adaptive) {
    diagnostics.subscribe('lifeline:client:adaptive', (message) => {
      const m = message as AdaptiveEvent & { client: Client };
      if (m.client !== client) return;
      const { client: _c, ...event } = m;
      emit({ ev: 'adaptive', row, at: wallNow(), ...event });
    });
  }
  return client;
}
