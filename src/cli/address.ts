/** Parsing of user-typed addresses and numbers, with errors that say what was expected. */
import { InvalidArgumentError } from 'commander';
import { parseServer, type ServerAddress } from '../client/servers.js';

/**
 * `host:port`, `[v6]:port` or a `tcp://` `tls://` `ws://host:port/path` `wss://…` URL (the
 * library's parseServer, so the CLI accepts exactly what `servers` does).
 */
export function parseServerAddress(text: string): ServerAddress {
  const trimmed = text.trim();
  // ":7400" has always meant the loopback address here; parseServer wants a host.
  const parsed = parseServer(trimmed.startsWith(':') ? `127.0.0.1${trimmed}` : trimmed);
  if (parsed) return parsed;
  // Name the port when it is the only thing wrong, as parseHostPort did.
  const port = /:(\d+)(?:\/.*)?$/.exec(trimmed)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw new InvalidArgumentError(`port must be 1..65535, got ${Number(port)}`);
  throw new InvalidArgumentError(`expected host:port (e.g. 127.0.0.1:7400) or a tcp:// tls:// ws:// wss:// URL (e.g. wss://example.com/lifeline), got "${text}"`);
}

/** "a:1,tls://b:2,ws://c:3/x" → one or more addresses (for failover lists). */
export function parseServerList(text: string): ServerAddress[] {
  const parts = text.split(',').map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0) throw new InvalidArgumentError(`expected host:port or URL[,host:port…], got "${text}"`);
  return parts.map(parseServerAddress);
}

export function parseMs(name: string) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError(`${name} must be a positive number of milliseconds, got "${text}"`);
    return value;
  };
}

/** Units `parseDuration` accepts, in ms. */
const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration with an optional unit, as parseMs reads a bare number: `1500`, `1500ms`, `30s`, `15m`, `1h`, `7d` → ms. */
export function parseDuration(name: string) {
  return (text: string): number => {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
    const value = match ? Number(match[1]) * DURATION_UNITS_MS[match[2] ?? 'ms']! : Number.NaN;
    if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError(`${name} must be a positive duration (e.g. 90s, 15m, 1h, 7d; a bare number is ms), got "${text}"`);
    return value;
  };
}

export function parsePort(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new InvalidArgumentError(`port must be 0..65535, got "${text}"`);
  return value;
}

/** A WebSocket request path: the server compares it to the request's, so it must be absolute. */
export function parseWsPath(text: string): string {
  if (!text.startsWith('/') || /[\s?#]/.test(text)) throw new InvalidArgumentError(`expected a path starting with '/' (e.g. /lifeline), got "${text}"`);
  return text;
}

/**
 * Repeatable and comma-separated: `--ws-origin a --ws-origin b,c`. Each must be an origin as a
 * browser sends it (`https://app.example[:port]`, no path or trailing slash): the server compares
 * the Origin header as a string, so `https://app.example/` would never match anything.
 */
export function collectOrigins(text: string, previous: string[] | undefined): string[] {
  const origins = text.split(',').map((o) => o.trim()).filter(Boolean);
  if (origins.length === 0) throw new InvalidArgumentError(`expected an origin such as https://app.example, got "${text}"`);
  for (const origin of origins) {
    let normal: string | undefined;
    try {
      normal = new URL(origin).origin;
    } catch {
      normal = undefined;
    }
    if (normal !== origin) {
      const hint = normal !== undefined && normal !== 'null' ? ` (did you mean ${normal}?)` : '';
      throw new InvalidArgumentError(`expected an origin such as https://app.example (scheme://host[:port]), got "${origin}"${hint}`);
    }
  }
  return [...(previous ?? []), ...origins];
}
