/**
 * Server addresses for the client: parse `"host:port"` / `"[v6]:port"` strings and
 * `{ host, port }` objects, and format them back the same way (for events and logs).
 */
import { InvalidOptionError } from '../errors.js';

export interface ServerAddress {
  host: string;
  port: number;
}

export type ServerSpec = string | ServerAddress;

/** `host:port`, with IPv6 literals in brackets (`[::1]:7400`), as PROTOCOL.md's GOAWAY redirect. */
export function formatServer(address: ServerAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** Parse `host:port` or `[v6]:port`; undefined when the text is not one (the caller names the error). */
export function parseServer(text: string): ServerAddress | undefined {
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
    if (!parsed) throw new InvalidOptionError(name, `expected "host:port" (IPv6 as "[::1]:port"), got "${spec}"`);
    return parsed;
  }
  if (typeof spec !== 'object' || spec === null) {
    throw new InvalidOptionError(name, `expected "host:port" or { host, port }, got ${spec === null ? 'null' : typeof spec}`);
  }
  const { host, port } = spec as Partial<ServerAddress>;
  if (typeof host !== 'string' || host === '') throw new InvalidOptionError(`${name}.host`, 'must be a non-empty string');
  if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new InvalidOptionError(`${name}.port`, `must be an integer 1..65535, got ${String(port)}`);
  }
  return { host, port };
}
