/**
 * Listeners: where a LifelineServer's connections come from (docs/spec/0011-transports.md). One
 * server may listen on several — plain TCP for native clients beside a WebSocket port for
 * browsers — and every connection, whatever its transport, lands in the same registry, limits
 * and heartbeat. A listener only turns its socket kind into a Transport and hands it to its host;
 * admission, refusal and the handshake stay in the server.
 *
 * TCP (`tcp`): net.Server; with leanSockets the accepted handles skip net.Socket (tcp-handle.ts).
 * TLS (`tls`): tls.Server; the session starts once the TLS handshake is done, which must finish
 * within the server's handshakeTimeout (else the socket is destroyed and 'clientError' says so).
 * Its TCP socket is judged by admission at accept (ListenerHost.accepted), before the handshake:
 * a refused one is closed at once ('clientError' `tls-refused` says why); an admitted one counts
 * from then on (docs/spec/0011-transports.md §Admission before the TLS handshake).
 * WebSocket (`ws`, over TLS when `tls` is given): listen-ws.ts (its own RFC 6455 codec; with
 * leanSockets plain ws connections also run on the bare handle after the upgrade).
 * UDP (`udp`): listen-udp.ts — one datagram socket, sessions by connection id.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { TcpTransport } from '../transport/tcp.js';
import { takeOverConnections, type TcpHandle } from '../transport/tcp-handle.js';
import type { Transport } from '../transport/types.js';
import { LifelineError } from '../errors.js';
import { PendingAdmission, type AcceptRefusal } from './admission.js';
import type { UdpListenOptions } from './listen-udp.js';

/** Transports a server can listen on. */
export type ListenTransport = 'tcp' | 'tls' | 'ws' | 'udp';

/** One listener as `server.addresses()` and the 'listening' event report it: a `ws` listener over TLS is `wss`. */
export interface ListenerAddress extends AddressInfo {
  transport: ListenTransport | 'wss';
}

/** `server.listen(options)`. */
export interface ListenOptions {
  /** Default: 'tls' when the server has `tls` options, else 'tcp'. */
  transport?: ListenTransport;
  /** Port; 0 (default) picks a free one (see the returned address). */
  port?: number;
  /** Address to bind. Default: all interfaces (Node's default). */
  host?: string;
  /** Pending-connection queue length (listen(2) backlog). Default: Node's (511). */
  backlog?: number;
  /** Do not share the port with cluster workers (node:net `exclusive`). Default false. */
  exclusive?: boolean;
  /** WebSocket: the request path served (others get 404). Default '/'. */
  path?: string;
  /**
   * TLS key, certificate and the rest of node:tls's server options: `tls` makes a TLS listener,
   * with `ws` a secure WebSocket (wss). Default: the server's `tls` option.
   */
  tls?: tls.TlsOptions;
  /** UDP (docs/spec/0012-udp.md): cookie / reset secret, cookie lifetime, answer budget, sessions per address. */
  udp?: UdpListenOptions;
}

/** A connection that failed before it became a lifeline connection (TLS handshake, WebSocket upgrade). */
export interface ClientErrorInfo {
  transport: ListenTransport;
  /**
   * `tls-handshake-timeout`, `tls-handshake-failed`, `tls-refused` (closed at accept: over
   * maxAcceptRate, maxConnections or maxConnectionsPerAddress), `ws-upgrade-refused` (bad
   * request, wrong path, origin refused; 503: the same limits), `ws-upgrade-timeout`.
   */
  code: string;
  message: string;
  remoteAddress: string | undefined;
}

/** What a listener needs from its server (narrow port). */
export interface ListenerHost {
  /**
   * A new connection of any transport: the server admits or refuses it. `pending`: what
   * accepted() answered at its TCP accept (TLS, WebSocket), so it is not judged twice.
   */
  incoming(transport: Transport, pending?: PendingAdmission): void;
  /** A TCP socket under a TLS or WebSocket listener, at accept: counted from now, or refused (admission.ts). */
  accepted(remoteAddress: string | undefined): PendingAdmission | AcceptRefusal;
  /** leanSockets: an accepted libuv TCP handle, before any Transport exists. */
  incomingHandle(handle: TcpHandle): void;
  /** Whether accepted TCP (and upgraded plain ws) connections should run on bare handles (the server's leanSockets). */
  readonly wantsLeanSockets: boolean;
  /** Connections that never completed the TLS handshake / WebSocket upgrade in this long are cut, ms. */
  readonly handshakeTimeoutMs: number;
  /** Largest lifeline frame accepted (bounds a WebSocket message). */
  readonly maxFrameSize: number;
  listenerError(err: Error): void;
  clientError(info: ClientErrorInfo): void;
}

export interface Listener {
  readonly transport: ListenTransport;
  /** A `ws` listener over TLS (its own https server, or an attached one): reported as `wss`. */
  readonly secure?: boolean;
  /** True when accepted connections run on bare libuv handles (TCP listeners, plain ws listeners). */
  readonly leanSockets: boolean;
  listen(options: BindOptions): Promise<AddressInfo>;
  address(): AddressInfo;
  /** Stop accepting; connections already handed over are the server's to close. */
  close(): Promise<void>;
}

/** Where and how a listener binds. */
export type BindOptions = Pick<ListenOptions, 'port' | 'host' | 'backlog' | 'exclusive'>;

/** Listen on a net.Server (or tls / http server) and report bind errors once. */
export function listenOn(server: net.Server, bind: BindOptions): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    const { port = 0, host, backlog, exclusive } = bind;
    server.listen({ port, ...(host === undefined ? {} : { host }), ...(backlog === undefined ? {} : { backlog }), exclusive: exclusive ?? false }, () => {
      server.off('error', onError);
      resolve(addressOf(server));
    });
  });
}

export function addressOf(server: net.Server): AddressInfo {
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new LifelineError('LL_ERR_SERVER_NOT_LISTENING', 'server is not listening on a TCP port');
  }
  return address;
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/** Plain TCP. */
export class TcpListener implements Listener {
  readonly transport = 'tcp';
  private readonly server: net.Server;
  private readonly host: ListenerHost;
  private lean = false;

  constructor(host: ListenerHost) {
    this.host = host;
    this.server = net.createServer({ noDelay: true }, (socket) => host.incoming(new TcpTransport(socket, { sharedReadBuffer: true })));
    this.server.on('error', (err) => host.listenerError(err));
  }

  get leanSockets(): boolean {
    return this.lean;
  }

  async listen(bind: BindOptions): Promise<AddressInfo> {
    const address = await listenOn(this.server, bind);
    this.lean = this.host.wantsLeanSockets && takeOverConnections(this.server, (handle) => this.host.incomingHandle(handle));
    return address;
  }

  address(): AddressInfo {
    return addressOf(this.server);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}

const kAcceptedFrom = Symbol('lifeline.acceptedFrom');
const kPending = Symbol('lifeline.pendingAdmission');
const kRefused = Symbol('lifeline.refusedAtAccept');
type AcceptedSocket = net.Socket & { [kAcceptedFrom]?: string; [kPending]?: PendingAdmission; [kRefused]?: true };

/** The peer's address while the accepted socket still has it, for a handshake failure's report. */
function rememberPeer(socket: AcceptedSocket): void {
  socket[kAcceptedFrom] = socket.remoteAddress;
}

/** A pending connection's socket closed: if it never became a lifeline connection, it stops counting. Shared: no closure per socket. */
function abandonPending(this: AcceptedSocket): void {
  this[kPending]?.abandon();
}

/**
 * Judge a TCP socket at accept (TLS and WebSocket listeners): admitted, it counts until it is
 * handed over or closes; refused, it is marked (its handshake errors are then not reported
 * again) and the refusal is returned for the listener to carry out in its own terms.
 */
export function admitAtAccept(host: ListenerHost, socket: net.Socket): AcceptRefusal | undefined {
  const accepted = socket as AcceptedSocket;
  rememberPeer(accepted);
  const verdict = host.accepted(accepted.remoteAddress);
  if (verdict instanceof PendingAdmission) {
    accepted[kPending] = verdict;
    accepted.on('close', abandonPending);
    return undefined;
  }
  accepted[kRefused] = true;
  return verdict;
}

/** The TCP socket under a socket (itself, or a TLSSocket's: node:tls keeps it as `_parent`). */
function acceptedSocketOf(socket: net.Socket): AcceptedSocket {
  return (socket as AcceptedSocket & { _parent?: AcceptedSocket })._parent ?? socket;
}

/** What admitAtAccept() answered for this socket (or the TLSSocket over it), if it admitted it. */
export function pendingOf(socket: net.Socket): PendingAdmission | undefined {
  return (socket as AcceptedSocket)[kPending] ?? acceptedSocketOf(socket)[kPending];
}

/** Whether admitAtAccept() refused this socket (or the one under it): it was answered already. */
export function refusedAtAccept(socket: net.Socket): boolean {
  return (socket as AcceptedSocket)[kRefused] === true || acceptedSocketOf(socket)[kRefused] === true;
}

/** TLS: the connection is handed over once the TLS handshake completed. */
export class TlsListener implements Listener {
  readonly transport = 'tls';
  readonly leanSockets = false;
  private readonly server: tls.Server;

  constructor(host: ListenerHost, options: tls.TlsOptions) {
    this.server = tls.createServer({ ...options, handshakeTimeout: host.handshakeTimeoutMs }, (socket) => {
      socket.setNoDelay(true);
      host.incoming(new TcpTransport(socket, { kind: 'tls' }), pendingOf(socket));
    });
    this.server.on('tlsClientError', (err: Error & { code?: string }, socket: tls.TLSSocket) => {
      // Refused at accept: reported then; its reset is the refusal, not another failure.
      if (refusedAtAccept(socket)) return void socket.destroy();
      const timedOut = err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT';
      host.clientError({
        transport: 'tls',
        code: timedOut ? 'tls-handshake-timeout' : 'tls-handshake-failed',
        message: timedOut ? `TLS handshake not completed within ${host.handshakeTimeoutMs} ms` : `TLS handshake failed: ${err.message}`,
        // A client gone during the handshake leaves both sockets without a handle, so without an
        // address: the one read at accept time (below) is reported. node:tls keeps the TCP socket
        // under a TLSSocket as `_parent`.
        remoteAddress: socket.remoteAddress ?? (socket as tls.TLSSocket & { _parent?: AcceptedSocket })._parent?.[kAcceptedFrom],
      });
      socket.destroy();
    });
    // After node:tls's own 'connection' listener (it wraps the socket): destroying the TCP socket
    // ends the TLSSocket over it before any handshake byte is read.
    this.server.on('connection', (socket: net.Socket) => {
      const refusal = admitAtAccept(host, socket);
      if (refusal === undefined) return;
      host.clientError({ transport: 'tls', code: 'tls-refused', message: `refused before the TLS handshake: ${refusal.refused}`, remoteAddress: (socket as AcceptedSocket)[kAcceptedFrom] });
      socket.destroy();
    });
    this.server.on('error', (err) => host.listenerError(err));
  }

  listen(bind: BindOptions): Promise<AddressInfo> {
    return listenOn(this.server, bind);
  }

  address(): AddressInfo {
    return addressOf(this.server);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}
