/**
 * Which listener serves a `server.listen()` / `server.attach()` call (docs/spec/0011-transports.md):
 * the transport named, else TLS when there are TLS options, else TCP; bad combinations fail
 * fast naming the option.
 */
import type http from 'node:http';
import type https from 'node:https';
import { InvalidOptionError } from '../errors.js';
import { TcpListener, TlsListener, type Listener, type ListenerHost, type ListenOptions } from './listeners.js';
import { WsListener } from './listen-ws.js';
import { UdpListener } from './listen-udp.js';
import type { ResolvedServerOptions } from './options.js';
import type { UdpListenOptions } from './listen-udp.js';

export type ListenerFactoryOptions = Pick<ResolvedServerOptions, 'websocket' | 'tls'>;

export function makeListener(host: ListenerHost, o: ListenOptions, options: ListenerFactoryOptions): Listener {
  if (typeof o !== 'object' || o === null) throw new InvalidOptionError('listen', 'expects a port number or { transport, port, host, path, tls }');
  const tlsOptions = o.tls ?? options.tls;
  const transport = o.transport ?? (tlsOptions ? 'tls' : 'tcp');
  if (o.udp !== undefined && transport !== 'udp') throw new InvalidOptionError('listen.udp', `only applies to transport 'udp', not '${transport}'`);
  if (o.path !== undefined && transport !== 'ws') throw new InvalidOptionError('listen.path', `only applies to transport 'ws', not '${transport}'`);
  switch (transport) {
    case 'tcp':
      return new TcpListener(host);
    case 'tls':
      if (!tlsOptions) throw new InvalidOptionError('listen.tls', "transport 'tls' needs TLS options ({ key, cert }) here or in createServer({ tls })");
      return new TlsListener(host, tlsOptions);
    case 'ws':
      return new WsListener(host, { path: wsPath(o.path), origins: options.websocket.origins, tls: tlsOptions });
    case 'udp':
      if (o.tls !== undefined) throw new InvalidOptionError('listen.tls', "transport 'udp' has no TLS (use 'tls' or 'ws' with tls for confidentiality)");
      return new UdpListener(host, udpOptions(o.udp));
    default:
      throw new InvalidOptionError('listen.transport', `must be 'tcp', 'tls', 'ws' or 'udp', got ${String(transport)}`);
  }
}

/** WebSocket on the user's own http / https server (`server.attach()`). */
export function attachedListener(host: ListenerHost, server: http.Server | https.Server, path: string | undefined, options: ListenerFactoryOptions): Listener {
  return new WsListener(host, { path: wsPath(path), origins: options.websocket.origins, attachTo: server });
}

function wsPath(path: string | undefined): string {
  if (path === undefined) return '/';
  if (typeof path !== 'string' || !path.startsWith('/')) throw new InvalidOptionError('path', `must start with '/', got ${String(path)}`);
  return path;
}

/** Check `listen({ udp })` by name (a wrong type fails here, not at the first datagram). */
function udpOptions(o: UdpListenOptions | undefined): UdpListenOptions {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null) throw new InvalidOptionError('listen.udp', 'expects { secret, cookieLifetimeMs, unvalidatedAnswersPerSecond, maxSessionsPerAddress, socketBufferBytes }');
  if (o.secret !== undefined && (!(o.secret instanceof Uint8Array) || o.secret.length < 16)) {
    throw new InvalidOptionError('listen.udp.secret', 'must be a Uint8Array of at least 16 bytes');
  }
  for (const key of ['cookieLifetimeMs', 'unvalidatedAnswersPerSecond', 'maxSessionsPerAddress', 'socketBufferBytes'] as const) {
    const v = o[key];
    if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v) && v > 0)) {
      throw new InvalidOptionError(`listen.udp.${key}`, `must be a positive integer, got ${String(v)}`);
    }
  }
  return o;
}
