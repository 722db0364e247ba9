/** Parsing of user-typed addresses and numbers, with errors that say what was expected. */
import { InvalidArgumentError } from 'commander';

export function parseHostPort(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text.trim());
  if (!match) throw new InvalidArgumentError(`expected host:port (e.g. 127.0.0.1:7400), got "${text}"`);
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  if (port < 1 || port > 65535) throw new InvalidArgumentError(`port must be 1..65535, got ${port}`);
  return { host: host || '127.0.0.1', port };
}

export function parseMs(name: string) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError(`${name} must be a positive number of milliseconds, got "${text}"`);
    return value;
  };
}

export function parsePort(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new InvalidArgumentError(`port must be 0..65535, got "${text}"`);
  return value;
}

/** "a:1,b:2" → one or more addresses (for failover lists). */
export function parseHostPortList(text: string): { host: string; port: number }[] {
  const parts = text.split(',').map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0) throw new InvalidArgumentError(`expected host:port[,host:port…], got "${text}"`);
  return parts.map(parseHostPort);
}
