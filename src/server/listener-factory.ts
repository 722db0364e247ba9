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
import type { ResolvedServerOptions } from './options.js';

export type ListenerFactoryOptions = Pick<ResolvedServerOptions, 'websocket' | 'tls'>;

export function makeListener(host: ListenerHost, o: ListenOptions, options: ListenerFactoryOptions): Listener {
  if (typeof o !== 'object' || o === null) throw new InvalidOptionError('listen', 'expects a port number or { transport, port, host, path, tls }');
  const tlsOptions = o.tls ?? options.tls;
  const transport = o.transport ?? (tlsOptions ? 'tls' : 'tcp');
  if (o.path !== undefined && transport !== 'ws') throw new InvalidOptionError('listen.path', `only applies to transport 'ws', not '${transport}'`);
  switch (transport) {
    case 'tcp':
      return new TcpListener(host);
    case 'tls':
      if (!tlsOptions) throw new InvalidOptionError('listen.tls', "transport 'tls' needs TLS options ({ key, cert }) here or in createServer({ tls })");
      return new TlsListener(host, tlsOptions);
    case 'ws':
      return new WsListener(host, { path: wsPath(o.path), origins: options.websocket.origins, tls: tlsOptions });
    default:
      throw new InvalidOptionError('listen.transport', `must be 'tcp', 'tls' or 'ws', got ${String(transport)}`);
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
