/**
 * Lab agent: one end of every mechanism's connection, run inside a namespace (or on loopback)
 * by the lab runner through the hidden `lifeline lab-agent` command. Heartbeat rows speak lifeline
 * over TCP, or over WebSocket / UDP when the mechanism says `transport: 'ws'` / `'udp'`. Speaks JSON lines:
 * events on stdout, commands on stdin. Times are wall-clock ms with sub-ms precision
 * (performance.timeOrigin + now), comparable across processes on the same host.
 *
 * Events:  {ev:'ready'} {ev:'open', mech} {ev:'closed', mech, side, how, message, at}
 *          {ev:'probe', mech, at} (server: a probe message arrived)
 *          {ev:'applied', mech, side, options} (server lifeline rows add transport, leader)
 *          {ev:'unavailable', mech, side, how, at} (client: the heartbeat reported the server unavailable)
 * Commands: {cmd:'probe'} (client: send one probe on every connection)
 *           {cmd:'stream', periodMs} (client: keep data in flight on every connection)
 *           {cmd:'busy', ms} (server: block the event loop — an overloaded process)
 */
import net from 'node:net';
import { createInterface } from 'node:readline';
import { emitJsonLine, wallNow } from './json-child.js';
import { createServer } from '../server/server.js';
import { connect } from '../client/client.js';
import { applySocketTuning, loadNetKeepalive, type NetKeepaliveApi } from '../transport/socket-tuning.js';
import { mechanismById, type MechanismSpec } from './mechanisms/index.js';

export interface AgentOptions {
  role: 'server' | 'client';
  host: string;
  /** One port per mechanism (server: 0 = any free port; the 'ready' event reports them). */
  ports: number[];
  mechanisms: string[];
}

const emit = emitJsonLine;
const PROBE = Buffer.from('probe\n');
const FILLER = Buffer.alloc(1024, 0x2e);
/** WebSocket rows (mechanism transport 'ws'): the request path both agents agree on. */
const WS_PATH = '/lab';

interface Endpoint {
  /** The port a server endpoint listens on. */
  port?: number;
  probe(): void;
  stream(periodMs: number): void;
}

export async function runAgent(opts: AgentOptions): Promise<void> {
  const nk = await loadNetKeepalive();
  const specs = opts.mechanisms.map(mechanismById);
  if (opts.ports.length !== specs.length) throw new Error(`lab-agent: ${specs.length} mechanisms but ${opts.ports.length} ports`);
  const endpoints: Endpoint[] = [];
  const ports: number[] = [];
  for (const [i, spec] of specs.entries()) {
    const port = opts.ports[i]!;
    const endpoint =
      opts.role === 'server'
        ? spec.heartbeat
          ? await lifelineServer(spec, opts.host, port)
          : await rawServer(spec, opts.host, port, nk)
        : spec.heartbeat
          ? lifelineClient(spec, opts.host, port)
          : rawClient(spec, opts.host, port, nk);
    endpoints.push(endpoint);
    ports.push(endpoint.port ?? port);
  }
  emit({ ev: 'ready', netKeepalive: nk !== undefined, ports });
  createInterface({ input: process.stdin }).on('line', (line) => {
    const cmd = JSON.parse(line) as { cmd: string; periodMs?: number; ms?: number };
    if (cmd.cmd === 'probe') for (const e of endpoints) e.probe();
    if (cmd.cmd === 'stream') for (const e of endpoints) e.stream(cmd.periodMs ?? 50);
    if (cmd.cmd === 'busy') {
      const end = Date.now() + (cmd.ms ?? 5000);
      while (Date.now() < end) {
        /* an overloaded process: the kernel still ACKs, nothing in JS runs */
      }
    }
  });
}

/** A heartbeat row measures exactly what it names: no kernel backstop unless the row asks for one. */
function kernelOptions(spec: MechanismSpec) {
  return { tcpKeepalive: false, tcpUserTimeout: 0, ...spec.socket, ...(spec.detector ? { detector: spec.detector } : {}) };
}

function closedOnce(mech: string, side: 'server' | 'client') {
  let done = false;
  return (how: string, message: string) => {
    if (done) return;
    done = true;
    emit({ ev: 'closed', mech, side, how, message, at: wallNow() });
  };
}

function rawServer(spec: MechanismSpec, host: string, port: number, nk: NetKeepaliveApi | undefined): Promise<Endpoint> {
  const server = net.createServer((socket) => {
    const applied = applySocketTuning(socket, spec.socket ?? { tcpKeepalive: false }, nk);
    emit({ ev: 'applied', mech: spec.id, side: 'server', options: applied });
    const closed = closedOnce(spec.id, 'server');
    let lastError: NodeJS.ErrnoException | undefined;
    socket.on('data', (d) => {
      if (d.includes(PROBE)) emit({ ev: 'probe', mech: spec.id, at: wallNow() });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (lastError = err));
    socket.on('end', () => closed('FIN', 'peer closed'));
    socket.on('close', () => closed(lastError?.code ?? 'closed', lastError?.message ?? 'socket closed'));
  });
  return new Promise((resolve) =>
    server.listen(port, host, () => resolve({ port: (server.address() as net.AddressInfo).port, probe() {}, stream() {} })),
  );
}

function rawClient(spec: MechanismSpec, host: string, port: number, nk: NetKeepaliveApi | undefined): Endpoint {
  const socket = net.connect({ host, port, noDelay: true });
  const closed = closedOnce(spec.id, 'client');
  let lastError: NodeJS.ErrnoException | undefined;
  let timer: NodeJS.Timeout | undefined;
  socket.on('connect', () => {
    const applied = applySocketTuning(socket, spec.socket ?? { tcpKeepalive: false }, nk);
    emit({ ev: 'applied', mech: spec.id, side: 'client', options: applied });
    emit({ ev: 'open', mech: spec.id });
  });
  socket.on('data', () => {});
  socket.on('error', (err: NodeJS.ErrnoException) => (lastError = err));
  socket.on('end', () => closed('FIN', 'peer closed'));
  socket.on('close', () => {
    clearInterval(timer);
    closed(lastError?.code ?? 'closed', lastError?.message ?? 'socket closed');
  });
  return {
    probe: () => void (socket.writable && socket.write(PROBE)),
    stream(periodMs) {
      timer = setInterval(() => socket.writable && socket.write(FILLER), periodMs);
    },
  };
}

async function lifelineServer(spec: MechanismSpec, host: string, port: number): Promise<Endpoint> {
  const hb = spec.heartbeat!;
  const server = createServer({
    heartbeatInterval: hb.intervalMs,
    heartbeatTimeout: hb.timeoutMs,
    minHeartbeatInterval: 10,
    minHeartbeatTimeout: 10,
    ...kernelOptions(spec),
  });
  server.on('session', (session) => {
    // transport: the runner checks that a row ran over what it names (leader: who pings, for the record).
    emit({ ev: 'applied', mech: spec.id, side: 'server', options: session.socketOptions, transport: session.transport, leader: session.heartbeatLeader });
    session.on('message', (data) => {
      if (data.includes(PROBE)) emit({ ev: 'probe', mech: spec.id, at: wallNow() });
    });
  });
  server.on('sessionClose', (_session, reason) => {
    emit({ ev: 'closed', mech: spec.id, side: 'server', how: reason.code, message: reason.message, at: wallNow() });
  });
  const address = await server.listen(
    spec.transport === 'ws' ? { transport: 'ws', port, host, path: WS_PATH } : spec.transport === 'udp' ? { transport: 'udp', port, host } : { port, host },
  );
  return { port: address.port, probe() {}, stream() {} };
}

function lifelineClient(spec: MechanismSpec, host: string, port: number): Endpoint {
  const hb = spec.heartbeat!;
  // One connection per fault: the lab times how its loss is noticed, never a reconnect.
  const via = spec.transport === 'ws' ? { transport: 'ws' as const, path: WS_PATH } : spec.transport === 'udp' ? { transport: 'udp' as const } : {};
  const client = connect({ host, port, ...via, reconnect: false, heartbeatInterval: hb.intervalMs, heartbeatTimeout: hb.timeoutMs, ...kernelOptions(spec) });
  let timer: NodeJS.Timeout | undefined;
  client.on('open', () => {
    emit({ ev: 'applied', mech: spec.id, side: 'client', options: client.socketOptions });
    emit({ ev: 'open', mech: spec.id });
  });
  client.on('unavailable', (info) => {
    emit({ ev: 'unavailable', mech: spec.id, side: 'client', how: info.reason, at: wallNow() });
  });
  client.on('close', (reason) => {
    clearInterval(timer);
    emit({ ev: 'closed', mech: spec.id, side: 'client', how: reason.code, message: reason.message, at: wallNow() });
  });
  // The connection may be going away between our check and the send: the lab must not crash.
  const trySend = (data: Buffer) => {
    if (client.state !== 'open') return;
    try {
      client.send(data);
    } catch {
      /* closing: the 'closed' event reports it */
    }
  };
  return {
    probe: () => trySend(PROBE),
    stream(periodMs) {
      timer = setInterval(() => trySend(FILLER), periodMs);
    },
  };
}
