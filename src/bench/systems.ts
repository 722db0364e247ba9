/**
 * The systems a benchmark run can compare: labels, whether each can run here, and what each
 * supports (cluster scale mode, server-side detection of frozen clients).
 */
import { isNodeSystem, nodeSystemUnavailable } from './node-servers.js';
import { externalSystemUnavailable } from './external-servers.js';
import { SYSTEM_IDS, type SystemId } from './types.js';

export interface SystemInfo {
  id: SystemId;
  label: string;
  /** How the heartbeat is configured for interval T (shown under the table). */
  heartbeat: string;
  /** The server closes a connection whose client stopped answering (the freeze phase measures it). */
  detectsDeadClients: boolean;
}

export const SYSTEMS: Record<SystemId, SystemInfo> = {
  raw: { id: 'raw', label: 'raw net echo', heartbeat: 'client writes 1 byte every T, server echoes; no liveness check (the floor)', detectsDeadClients: false },
  rawsweep: {
    id: 'rawsweep',
    label: 'raw net, server sweeps',
    heartbeat: 'server writes 1 byte to each socket once per T, in one write pass per 50 ms slot; client echoes; no liveness check',
    detectsDeadClients: false,
  },
  lifeline: { id: 'lifeline', label: 'lifeline', heartbeat: 'client PING after T idle, server PONG with status/load; timeout 3T; one TimerWheel', detectsDeadClients: true },
  'lifeline-metrics': {
    id: 'lifeline-metrics',
    label: 'lifeline + metrics',
    heartbeat: 'as lifeline, with lifelineMetrics() attached (spec 0015) and its registry scraped once a second inside the server process (collect + Prometheus text, no HTTP)',
    detectsDeadClients: true,
  },
  'lifeline-sl': {
    id: 'lifeline-sl',
    label: 'lifeline, server leads',
    heartbeat: "heartbeatLeader 'server': server PING after T idle (one wheel tick's in one pass), client PONG; status pushed on change; timeout 3T",
    detectsDeadClients: true,
  },
  'lifeline-ws': {
    id: 'lifeline-ws',
    label: 'lifeline over WebSocket',
    heartbeat: "lifeline in binary messages on lifeline's own WebSocket server (RFC 6455 codec on the bare handle), heartbeatLeader 'server' (as for browsers): server PING after T idle, client PONG; timeout 3T; no WebSocket pings",
    detectsDeadClients: true,
  },
  'lifeline-tls': {
    id: 'lifeline-tls',
    label: 'lifeline over TLS',
    heartbeat: 'as lifeline (client PING after T idle, server PONG; timeout 3T), on a TLS listener (ECDSA P-256 certificate made at run time)',
    detectsDeadClients: true,
  },
  'lifeline-udp': {
    id: 'lifeline-udp',
    label: 'lifeline over UDP',
    heartbeat: 'as lifeline (client PING after T idle, server PONG; timeout 3T), on a UDP listener: one socket, sessions by connection id, PING / PONG beside the reliable stream (spec 0012)',
    detectsDeadClients: true,
  },
  ws: { id: 'ws', label: 'ws (README pattern)', heartbeat: 'server setInterval(T) sweep: ping all, terminate if no pong since the last sweep', detectsDeadClients: true },
  socketio: { id: 'socketio', label: 'socket.io', heartbeat: 'pingInterval T, pingTimeout 2T, websocket transport', detectsDeadClients: true },
  aedes: { id: 'aedes', label: 'MQTT (aedes)', heartbeat: 'keepalive T (whole seconds, ≥ 1 s), PINGREQ/PINGRESP; broker drops after 1.5 × keepalive', detectsDeadClients: true },
  mosquitto: { id: 'mosquitto', label: 'MQTT (mosquitto)', heartbeat: 'keepalive T (whole seconds, ≥ 1 s), PINGREQ/PINGRESP', detectsDeadClients: false },
  nats: { id: 'nats', label: 'NATS (nats-server)', heartbeat: 'server ping_interval T, ping_max 2; client answers PONG', detectsDeadClients: false },
};

/** Systems a run without --systems gets: all but the --metrics twin. */
export const DEFAULT_SYSTEMS: readonly SystemId[] = SYSTEM_IDS.filter((id) => id !== 'lifeline-metrics');

/**
 * Parse `--systems a,b` (default: DEFAULT_SYSTEMS), in table order, raw first when present.
 * `metrics` (--metrics) adds lifeline and lifeline-metrics: in table order they run back to
 * back in every round, so their ratio is measured on the same machine state.
 */
export function parseSystems(list: string | undefined, o: { metrics?: boolean } = {}): SystemId[] {
  if (!list && !o.metrics) return [...DEFAULT_SYSTEMS];
  if (!list) return SYSTEM_IDS.filter((id) => DEFAULT_SYSTEMS.includes(id) || id === 'lifeline-metrics');
  const wanted = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const w of wanted) {
    if (!(SYSTEM_IDS as readonly string[]).includes(w)) throw new RangeError(`unknown system '${w}' (known: ${SYSTEM_IDS.join(', ')})`);
  }
  if (o.metrics) wanted.push('lifeline', 'lifeline-metrics');
  return SYSTEM_IDS.filter((id) => wanted.includes(id));
}

/** Why `id` cannot run with this configuration, or undefined. */
export async function systemUnavailable(id: SystemId, o: { intervalMs: number; scale: boolean }): Promise<string | undefined> {
  if ((id === 'aedes' || id === 'mosquitto') && o.intervalMs < 1000) {
    return `MQTT keepalive is whole seconds; interval ${o.intervalMs} ms cannot be expressed`;
  }
  if (isNodeSystem(id)) {
    if (o.scale && (id === 'socketio' || id === 'aedes')) return 'scale mode runs raw, rawsweep, lifeline and ws only (cluster workers)';
    return nodeSystemUnavailable(id);
  }
  if (o.scale) return 'scale mode runs Node servers only';
  return externalSystemUnavailable(id);
}
