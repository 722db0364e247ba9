/**
 * Server addresses for the client: parse `"host:port"` / `"[v6]:port"` strings, URLs naming the
 * transport (`tcp://`, `tls://`, `ws://host:port/path`, `wss://…`, `udp://` (spec 0012); docs/spec/0011-transports.md)
 * and `{ host, port, transport?, path? }` objects, and format them back the same way (for
 * events and logs; a plain TCP address keeps its `host:port` form).
 */
import { InvalidOptionError } from '../errors.js';

/** Transports a client can dial. `wss` is WebSocket over TLS. */
export type DialTransport = 'tcp' | 'tls' | 'ws' | 'wss' | 'udp';

export interface ServerAddress {
  host: string;
  port: number;
  /** Default 'tcp'. */
  transport?: DialTransport;
  /** WebSocket request path (ws / wss only). Default '/'. */
  path?: string;
}

const TRANSPORTS: readonly DialTransport[] = ['tcp', 'tls', 'ws', 'wss', 'udp'];
const DEFAULT_PORTS: Partial<Record<DialTransport, number>> = { ws: 80, wss: 443 };

export type ServerSpec = string | ServerAddress;

/** `host:port`, with IPv6 literals in brackets (`[::1]:7400`), as PROTOCOL.md's GOAWAY redirect. */
export function formatServer(address: ServerAddress): string {
  const hostPort = address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
  const transport = address.transport ?? 'tcp';
  if (transport === 'tcp') return hostPort;
  return transport === 'ws' || transport === 'wss' ? `${transport}://${hostPort}${address.path ?? '/'}` : `${transport}://${hostPort}`;
}

/** The URL a WebSocket dial uses. */
export function serverUrl(address: ServerAddress): string {
  return formatServer({ ...address, transport: address.transport ?? 'ws' });
}

/**
 * Parse `host:port`, `[v6]:port` or a URL (`tls://host:port`, `ws://host[:port]/path`);
 * undefined when the text is not one (the caller names the error).
 */
export function parseServer(text: string): ServerAddress | undefined {
  const url = /^([a-z]+):\/\/(?:\[([^\]]+)\]|([^:/[\]]+))(?::(\d{1,5}))?(\/[^\s]*)?$/.exec(text.trim());
  if (url) {
    const transport = url[1] as DialTransport;
    if (!TRANSPORTS.includes(transport)) return undefined;
    const ws = transport === 'ws' || transport === 'wss';
    if (url[5] !== undefined && !ws) return undefined;
    const port = url[4] === undefined ? DEFAULT_PORTS[transport] : Number(url[4]);
    if (port === undefined || port < 1 || port > 65535) return undefined;
    return { host: (url[2] ?? url[3])!, port, transport, ...(ws ? { path: url[5] ?? '/' } : {}) };
  }
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (match[1] ?? match[2])!, port };
}

/** Validate one entry of the `servers` option (or `host` / `port`), naming it in the error. */
export function toServerAddress(spec: unknown, name: string): ServerAddress {
  if (typeof spec === 'string') {
    const parsed = parseServer(spec);
    if (!parsed) throw new InvalidOptionError(name, `expected "host:port" (IPv6 as "[::1]:port") or a tcp:// tls:// ws:// wss:// udp:// URL, got "${spec}"`);
    return parsed;
  }
  if (typeof spec !== 'object' || spec === null) {
    throw new InvalidOptionError(name, `expected "host:port" or { host, port }, got ${spec === null ? 'null' : typeof spec}`);
  }
  const { host, port, transport, path } = spec as Partial<ServerAddress>;
  if (typeof host !== 'string' || host === '') throw new InvalidOptionError(`${name}.host`, 'must be a non-empty string');
  if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new InvalidOptionError(`${name}.port`, `must be an integer 1..65535, got ${String(port)}`);
  }
  return { host, port, ...transportOf(transport, path, `${name}.`) };
}

/** Validate `transport` / `path` of an address object (or of connect()'s options). */
export function transportOf(transport: unknown, path: unknown, prefix: string): Pick<ServerAddress, 'transport' | 'path'> {
  if (transport === undefined && path === undefined) return {};
  const t = transport ?? 'tcp';
  if (!TRANSPORTS.includes(t as DialTransport)) {
    throw new InvalidOptionError(`${prefix}transport`, `must be one of ${TRANSPORTS.join(', ')}, got ${String(t)}`);
  }
  const ws = t === 'ws' || t === 'wss';
  if (path !== undefined && (!ws || typeof path !== 'string' || !path.startsWith('/'))) {
    throw new InvalidOptionError(`${prefix}path`, ws ? `must start with '/', got ${String(path)}` : `only applies to ws / wss, not ${String(t)}`);
  }
  return t === 'tcp' ? {} : { transport: t as DialTransport, ...(ws ? { path: (path as string | undefined) ?? '/' } : {}) };
}
