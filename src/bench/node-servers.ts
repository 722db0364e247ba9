/**
 * The Node servers the benchmark compares, each configured the way its users are told to run a
 * heartbeat at interval T. Each factory returns the `net.Server` whose accepted sockets the
 * server process counts (bytes, closes) and a close function. Optional peers (ws, socket.io,
 * aedes) are imported lazily: when one is not installed the system is skipped, never failed.
 *
 * - raw:      1-byte echo on a bare socket, no liveness check at all: the floor.
 * - rawsweep: the same bytes led by the server: every socket gets 1 byte once per T, written in
 *             one pass per 50 ms slot (what "batch the writes of each timer-wheel slot" would
 *             cost at best), the client echoes. No liveness check: the floor of a server-led
 *             heartbeat, measured beside raw's client-led one.
 * - lifeline: src/server with heartbeatInterval T, heartbeatTimeout 3T, default socket tuning.
 * - lifeline-metrics: lifeline with lifelineMetrics() attached and its registry scraped every
 *   second in the server process (`--metrics`: the metrics on/off ratio, issue 13 §1).
 * - lifeline-sl: the same with heartbeatLeader 'server' (the lean clients offer to follow).
 * - lifeline-tls: the lifeline server on a TLS listener (certificate made at run time, certs.ts).
 * - lifeline-ws: the lifeline server on a WebSocket listener (its own RFC 6455 codec on the bare
 *   handle; spec 0011 §Lean WebSocket server), leading the heartbeat as it does for browsers.
 * - ws:       the heartbeat pattern from ws's README ("How to detect and close broken
 *             connections?"): one setInterval(T) sweep pings every client and terminates those
 *             that did not answer the previous sweep.
 * - socketio: Socket.IO's own heartbeat, pingInterval T, pingTimeout 2T.
 * - aedes:    MQTT broker; the client's CONNECT keepalive (whole seconds) drives PINGREQ, the
 *             broker drops a client silent for 1.5 × keepalive.
 */
import { benchCertificate, tlsUnavailable } from './certs.js';
import net from 'node:net';
import http from 'node:http';
import { createServer as createLifelineServer } from '../server/server.js';
import type { SystemId } from './types.js';

export interface NodeServerOptions {
  host: string;
  /** 0 = any free port (cluster workers all get the same one). */
  port: number;
  intervalMs: number;
  /**
   * A cluster worker listens on its own port instead of sharing the primary's (W independent
   * servers, like SO_REUSEPORT without the shared port; `--native` scale runs).
   */
  exclusive?: boolean;
  /** lifeline: 'off' turns the kernel socket tuning (keepalive, TCP_USER_TIMEOUT) off. */
  socketTuning?: 'default' | 'off';
}

export interface StartedNodeServer {
  /** The listener, when the server process should count its accepted sockets (no `counters`). */
  netServer?: net.Server;
  address(): net.AddressInfo;
  /**
   * From now on call `record` when the server *decides* a client is gone (its disconnect
   * event), which can come long before the socket closes: socket.io closes its WebSocket
   * gracefully and ws then waits up to 30 s for a frozen peer's close frame. Absent (raw): the
   * socket close is the only signal.
   */
  watchDisconnects?(record: () => void): void;
  /**
   * Counts from the server itself (lifeline: server.stats(), whose lean connections never reach
   * a net.Server 'connection' event). Absent: the server process counts the sockets
   * netServer's 'connection' hands it.
   */
  counters?(): { connections: number; closed: number; bytes: number };
  close(): Promise<void>;
}

export type NodeSystemId = Extract<SystemId, 'raw' | 'rawsweep' | 'lifeline' | 'lifeline-metrics' | 'lifeline-sl' | 'lifeline-ws' | 'lifeline-tls' | 'lifeline-udp' | 'ws' | 'socketio' | 'aedes'>;
export const NODE_SYSTEMS: readonly NodeSystemId[] = ['raw', 'rawsweep', 'lifeline', 'lifeline-metrics', 'lifeline-sl', 'lifeline-ws', 'lifeline-tls', 'lifeline-udp', 'ws', 'socketio', 'aedes'];

export function isNodeSystem(id: SystemId): id is NodeSystemId {
  return (NODE_SYSTEMS as readonly string[]).includes(id);
}

/** Why a Node system cannot run here (its optional peer is missing), or undefined. */
export async function nodeSystemUnavailable(id: NodeSystemId): Promise<string | undefined> {
  if (id === 'lifeline-tls') return tlsUnavailable();
  const peer = { raw: undefined, rawsweep: undefined, lifeline: undefined, 'lifeline-metrics': undefined, 'lifeline-sl': undefined, 'lifeline-ws': undefined, 'lifeline-tls': undefined, 'lifeline-udp': undefined, ws: 'ws', socketio: 'socket.io', aedes: 'aedes' }[id];
  if (peer === undefined) return undefined;
  try {
    await import(peer);
    if (id === 'socketio') await import('socket.io-client');
    return undefined;
  } catch {
    return `optional peer '${id === 'socketio' ? 'socket.io / socket.io-client' : peer}' is not installed (npm install -D ${id === 'socketio' ? 'socket.io socket.io-client' : peer})`;
  }
}

export async function startNodeServer(id: NodeSystemId, o: NodeServerOptions): Promise<StartedNodeServer> {
  switch (id) {
    case 'raw':
      return startRaw(o);
    case 'rawsweep':
      return startRawSweep(o);
    case 'lifeline':
      return startLifeline(o, 'client');
    case 'lifeline-metrics':
      return startLifeline(o, 'client', 'tcp', true);
    case 'lifeline-sl':
      return startLifeline(o, 'server');
    case 'lifeline-ws':
      return startLifeline(o, 'server', 'ws');
    case 'lifeline-tls':
      return startLifeline(o, 'client', 'tls');
    case 'lifeline-udp':
      return startLifeline(o, 'client', 'udp');
    case 'ws':
      return startWs(o);
    case 'socketio':
      return startSocketIo(o);
    case 'aedes':
      return startAedes(o);
    default: {
      const never: never = id;
      return never;
    }
  }
}

function listen(server: net.Server, o: NodeServerOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // A deep backlog: generators open thousands of connections at once.
    server.listen({ host: o.host, port: o.port, backlog: 4096, exclusive: o.exclusive ?? false }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

const closeNet = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

async function startRaw(o: NodeServerOptions): Promise<StartedNodeServer> {
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => {});
  });
  await listen(server, o);
  return { netServer: server, address: () => server.address() as net.AddressInfo, close: () => closeNet(server) };
}

/** rawsweep reads the echoes only to keep the socket flowing: one listener for all sockets. */
const ignoreEcho = (): void => {};

/** Slot width of the rawsweep server: lifeline's default timer-wheel tick (timerResolution). */
const SWEEP_SLOT_MS = 50;

async function startRawSweep(o: NodeServerOptions): Promise<StartedNodeServer> {
  // Each socket is pinned to one slot of the interval, round robin, so it is written to once per
  // T: the T / 50 ms slots are written one per tick, every socket of a slot in one pass.
  const slotCount = Math.max(1, Math.round(o.intervalMs / SWEEP_SLOT_MS));
  const slots = Array.from({ length: slotCount }, () => new Set<net.Socket>());
  let nextSlot = 0;
  const beat = Uint8Array.of(0x2a);
  const server = net.createServer({ noDelay: true }, (socket) => {
    const slot = slots[nextSlot]!;
    nextSlot = (nextSlot + 1) % slotCount;
    socket.on('error', () => {});
    socket.on('close', () => slot.delete(socket));
    // The client's first byte is the handshake (as with raw): echo it, then lead.
    socket.once('data', (chunk) => {
      socket.write(chunk.subarray(0, 1));
      slot.add(socket);
      socket.on('data', ignoreEcho);
    });
  });
  let current = 0;
  const timer = setInterval(() => {
    for (const socket of slots[current]!) socket.write(beat);
    current = (current + 1) % slotCount;
  }, Math.min(SWEEP_SLOT_MS, o.intervalMs));
  await listen(server, o);
  return {
    netServer: server,
    address: () => server.address() as net.AddressInfo,
    close: () => {
      clearInterval(timer);
      return closeNet(server);
    },
  };
}

async function startLifeline(o: NodeServerOptions, heartbeatLeader: 'client' | 'server', transport: 'tcp' | 'ws' | 'tls' | 'udp' = 'tcp', metrics = false): Promise<StartedNodeServer> {
  const server = createLifelineServer({
    heartbeatLeader,
    heartbeatInterval: o.intervalMs,
    heartbeatTimeout: 3 * o.intervalMs,
    // The smoke test runs at 200 ms; the defaults would clamp it to 250 ms.
    minHeartbeatInterval: Math.min(250, o.intervalMs),
    minHeartbeatTimeout: Math.min(500, 3 * o.intervalMs),
    ...(o.socketTuning === 'off' ? { tcpKeepalive: false, tcpUserTimeout: 0 } : {}),
    ...(transport === 'tls' ? { tls: benchCertificate() } : {}),
  });
  // A cluster worker owns its port (exclusive); generators open thousands of connections at once.
  // UDP: every generator connection comes from one loopback address and opens at once, so the
  // per-address limit and the RETRY budget (spec 0012, built for the internet) are lifted.
  const udp = { maxSessionsPerAddress: 1_000_000, unvalidatedAnswersPerSecond: 1_000_000 };
  const address = await server.listen(
    transport === 'udp'
      ? { transport, port: o.port, host: o.host, exclusive: o.exclusive ?? false, udp }
      : { transport, port: o.port, host: o.host, backlog: 4096, exclusive: o.exclusive ?? false },
  );
  const scraping = metrics ? await scrapeEverySecond(server) : undefined;
  return {
    address: () => address,
    watchDisconnects: (record) => void server.on('sessionClose', record),
    // Lean sockets never reach a net.Server 'connection' event, and counting through the server
    // is the same for both socket layers: ask it.
    counters: () => {
      const stats = server.stats();
      return { connections: stats.connections, closed: stats.connectionsClosed, bytes: stats.bytesRead + stats.bytesWritten };
    },
    close: async () => {
      scraping?.stop();
      await server.close();
    },
  };
}

/**
 * lifelineMetrics() on the server and a scrape once a second: what a Prometheus server pulling
 * every second costs the process (collect + text; the HTTP exchange is left out: it is the same
 * for any exporter). Imported lazily: only lifeline-metrics loads prom-client.
 */
async function scrapeEverySecond(server: ReturnType<typeof createLifelineServer>): Promise<{ stop(): void }> {
  const { lifelineMetrics } = await import('../metrics/index.js');
  const attached = lifelineMetrics(server);
  const timer = setInterval(() => void attached.metrics(), 1000);
  return {
    stop: () => {
      clearInterval(timer);
      attached.close();
    },
  };
}

async function startWs(o: NodeServerOptions): Promise<StartedNodeServer> {
  const { WebSocketServer } = await import('ws');
  const httpServer = http.createServer();
  const wss = new WebSocketServer({ server: httpServer });
  // ws README pattern, verbatim in spirit: mark alive on pong, sweep every interval.
  const alive = new WeakMap<object, boolean>();
  wss.on('connection', (ws) => {
    alive.set(ws, true);
    ws.on('error', () => {});
    ws.on('pong', () => alive.set(ws, true));
  });
  const sweep = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, o.intervalMs);
  await listen(httpServer, o);
  return {
    netServer: httpServer,
    address: () => httpServer.address() as net.AddressInfo,
    watchDisconnects: (record) => {
      for (const ws of wss.clients) ws.once('close', record);
    },
    close: async () => {
      clearInterval(sweep);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await closeNet(httpServer);
    },
  };
}

async function startSocketIo(o: NodeServerOptions): Promise<StartedNodeServer> {
  const { Server } = await import('socket.io');
  const httpServer = http.createServer();
  const io = new Server(httpServer, { pingInterval: o.intervalMs, pingTimeout: 2 * o.intervalMs, transports: ['websocket'] });
  io.on('connection', () => {});
  await listen(httpServer, o);
  return {
    netServer: httpServer,
    address: () => httpServer.address() as net.AddressInfo,
    watchDisconnects: (record) => {
      for (const socket of io.sockets.sockets.values()) socket.once('disconnect', record);
    },
    close: async () => {
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
}

async function startAedes(o: NodeServerOptions): Promise<StartedNodeServer> {
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker();
  const server = net.createServer({ noDelay: true }, broker.handle as unknown as (socket: net.Socket) => void);
  broker.on('clientError', () => {});
  broker.on('connectionError', () => {});
  await listen(server, o);
  return {
    netServer: server,
    address: () => server.address() as net.AddressInfo,
    watchDisconnects: (record) => void broker.on('clientDisconnect', record),
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await closeNet(server);
    },
  };
}
