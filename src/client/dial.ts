/**
 * Dial: open the transport a ServerAddress names (docs/spec/0011-transports.md) — TCP, TLS,
 * WebSocket (ws / wss, through the `ws` package) or UDP (dial-udp.ts, spec 0012) — and hand over a Transport once it is up.
 * Everything after that (handshake, heartbeat, reconnect) is the Link's and the Client's, the same
 * for every kind. A dial reports exactly once: connected or failed, unless aborted first.
 */
import net from 'node:net';
import tls from 'node:tls';
import { WebSocket } from 'ws';
import { TcpTransport } from '../transport/tcp.js';
import { WsTransport } from '../transport/ws.js';
import { maxWsMessageBytes } from '../transport/ws-framing.js';
import type { Transport } from '../transport/types.js';
import type { ServerAddress } from './servers.js';
import { serverUrl } from './servers.js';
import { dialUdp } from './dial-udp.js';

export interface DialOwner {
  dialed(transport: Transport, localAddress: string | undefined): void;
  dialFailed(error: Error): void;
}

export interface DialSettings {
  /** TLS client options (ca, servername, rejectUnauthorized, cert, key…) for tls and wss. */
  tls: tls.ConnectionOptions | undefined;
  /** Largest lifeline frame we accept (bounds a WebSocket message). */
  maxFrameSize: number;
}

export interface Dial {
  /** Give up: nothing is reported after this. */
  abort(): void;
}


export function dial(server: ServerAddress, settings: DialSettings, owner: DialOwner): Dial {
  switch (server.transport ?? 'tcp') {
    case 'tcp':
      return dialSocket(net.connect({ host: server.host, port: server.port, noDelay: true }), 'connect', owner, (s) => new TcpTransport(s));
    case 'tls':
      return dialSocket(
        tls.connect({ host: server.host, port: server.port, ...sniFor(server.host), ...settings.tls }),
        'secureConnect',
        owner,
        (s) => new TcpTransport(s, { kind: 'tls' }),
      );
    case 'ws':
    case 'wss':
      return dialWebSocket(server, settings, owner);
    case 'udp':
      return dialUdp(server, settings, owner);
  }
}

/** TLS SNI: a host name, never an IP literal (RFC 6066 §3). */
function sniFor(host: string): { servername?: string } {
  return net.isIP(host) === 0 ? { servername: host } : {};
}

function dialSocket<S extends net.Socket>(socket: S, upEvent: 'connect' | 'secureConnect', owner: DialOwner, wrap: (socket: S) => Transport): Dial {
  let done = false;
  const onError = (err: Error) => {
    if (done) return;
    done = true;
    owner.dialFailed(err);
  };
  socket.once('error', onError);
  socket.once(upEvent, () => {
    socket.off('error', onError);
    if (done) return void socket.destroy();
    done = true;
    owner.dialed(wrap(socket), socket.localAddress);
  });
  return {
    abort() {
      done = true;
      socket.off('error', onError);
      socket.on('error', () => {});
      socket.destroy();
    },
  };
}

function dialWebSocket(server: ServerAddress, settings: DialSettings, owner: DialOwner): Dial {
  let done = false;
  const ws = new WebSocket(serverUrl(server), {
    perMessageDeflate: false,
    maxPayload: maxWsMessageBytes(settings.maxFrameSize),
    ...(server.transport === 'wss' ? { ...sniFor(server.host), ...settings.tls } : {}),
  });
  const onError = (err: Error) => {
    if (done) return;
    done = true;
    owner.dialFailed(err);
  };
  ws.once('error', onError);
  ws.once('open', () => {
    ws.off('error', onError);
    if (done) return void ws.terminate();
    done = true;
    // `ws` keeps the socket under the WebSocket in `_socket` (not in its typings).
    const socket = (ws as unknown as { _socket: net.Socket })._socket;
    owner.dialed(new WsTransport(ws, socket), socket.localAddress);
  });
  return {
    abort() {
      done = true;
      ws.off('error', onError);
      ws.on('error', () => {});
      ws.terminate();
    },
  };
}
