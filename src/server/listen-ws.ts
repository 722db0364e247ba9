/**
 * WebSocket listener (docs/spec/0011-transports.md §WebSocket, §Lean WebSocket server):
 * lifeline over RFC 6455, on a port of its own (`server.listen({ transport: 'ws', port, path })`,
 * wss with `tls`) or on the user's http / https server (`server.attach(httpServer, { path })`),
 * where their routes keep working beside it: only upgrade requests for our path are taken.
 *
 * node:http parses the upgrade request; this listener checks it (path, Origin, then the
 * WebSocket headers: ws-upgrade.ts), writes the 101 response itself and hands the server a
 * WsServerTransport (the lean RFC 6455 codec, transport/ws-server.ts) — on the bare libuv handle
 * taken out of the socket (handle-from-socket.ts) when the server has leanSockets and the
 * connection is plain ws, else on the socket (wss, `leanSockets: false`). No `ws` WebSocket,
 * Receiver or Sender is made per connection.
 *
 * Before a connection becomes a lifeline connection it is bounded like any other:
 * - the upgrade request must arrive within the server's handshakeTimeout (own port: the HTTP
 *   server's headers / request timeouts; on the user's server, their settings apply);
 * - an Origin not allowed by `websocket.origins` is refused with 403 (browsers always send
 *   Origin; other clients may not, and are let through: the check stops cross-site pages, it
 *   is not authentication);
 * - a malformed upgrade is refused with 400 (the reason in the body);
 * - on a port of its own, the TCP socket is judged by admission at accept, before the TLS
 *   handshake (wss) or the upgrade request (docs/spec/0011-transports.md §Admission before the
 *   TLS handshake): over maxAcceptRate, maxConnections or maxConnectionsPerAddress a plain ws
 *   connection gets HTTP 503 at once (Retry-After when over the rate) and a wss one is closed;
 *   on the user's server the same check runs at the upgrade request, answered with 503;
 * each of these is reported once through the server's 'clientError'.
 * A message over max(WS_MESSAGE_BYTES, maxFrameSize + 16) is refused with close 1009, a text
 * message with 1003 (ws-server.ts).
 */
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { takeHandle } from '../transport/handle-from-socket.js';
import { handleBindings, HandleTransport } from '../transport/tcp-handle.js';
import { TcpTransport } from '../transport/tcp.js';
import type { Transport } from '../transport/types.js';
import { maxWsMessageBytes } from '../transport/ws-framing.js';
import { WsServerTransport } from '../transport/ws-server.js';
import { checkUpgrade, upgradeResponse } from './ws-upgrade.js';
import { addressOf, admitAtAccept, closeServer, listenOn, pendingOf, refusedAtAccept, type BindOptions, type Listener, type ListenerHost } from './listeners.js';
import type { AcceptRefusal, PendingAdmission } from './admission.js';

/** The `websocket` server option. */
export interface WebSocketServerOptions {
  /**
   * Origins a browser page may connect from (`https://app.example`), or a function deciding.
   * Requests without an Origin header (non-browser clients) are accepted. Default: any origin.
   */
  origins?: readonly string[] | ((origin: string) => boolean);
}

export interface WsListenerSettings {
  path: string;
  origins: WebSocketServerOptions['origins'];
  /** TLS options for a listener of our own (wss). */
  tls?: tls.TlsOptions | undefined;
  /** The user's server to attach to instead of a port of our own. */
  attachTo?: http.Server | https.Server | undefined;
}

export class WsListener implements Listener {
  readonly transport = 'ws';
  private readonly host: ListenerHost;
  private readonly http: http.Server | https.Server;
  private readonly owned: boolean;
  private readonly settings: WsListenerSettings;
  private readonly onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => this.upgrade(req, socket, head);

  constructor(host: ListenerHost, settings: WsListenerSettings) {
    this.host = host;
    this.settings = settings;
    this.owned = settings.attachTo === undefined;
    this.http = settings.attachTo ?? this.ownServer(settings.tls);
    this.http.on('upgrade', this.onUpgrade);
  }

  /** wss: TLS options of our own, or the user's https server (`server.addresses()` says 'wss'). */
  get secure(): boolean {
    return this.settings.tls !== undefined || this.http instanceof https.Server;
  }

  /** True when plain ws connections run on bare libuv handles (the server's leanSockets, this Node has the bindings). */
  get leanSockets(): boolean {
    return this.host.wantsLeanSockets && this.settings.tls === undefined && !(this.http instanceof https.Server) && handleBindings() !== null;
  }

  listen(bind: BindOptions): Promise<AddressInfo> {
    return listenOn(this.http, bind);
  }

  address(): AddressInfo {
    return addressOf(this.http);
  }

  async close(): Promise<void> {
    this.http.off('upgrade', this.onUpgrade);
    // The user's server is theirs to close; ours also drops connections that never upgraded.
    if (!this.owned) return;
    this.http.closeAllConnections();
    await closeServer(this.http);
  }

  private ownServer(tlsOptions: tls.TlsOptions | undefined): http.Server | https.Server {
    const timeoutMs = this.host.handshakeTimeoutMs;
    const bounds = {
      headersTimeout: timeoutMs,
      requestTimeout: timeoutMs,
      // How often Node checks those timeouts: a slow upgrade is cut at most this late.
      connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.round(timeoutMs / 4))),
    };
    const server = tlsOptions ? https.createServer({ ...tlsOptions, ...bounds, handshakeTimeout: timeoutMs }) : http.createServer(bounds);
    server.on('connection', (socket: net.Socket) => this.acceptSocket(socket, tlsOptions !== undefined));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (refusedAtAccept(req.socket)) return void req.socket.destroy();
      res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket', Connection: 'close' });
      res.end('lifeline: this port serves WebSocket connections only\n');
    });
    server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
      if (refusedAtAccept(socket as net.Socket)) return void socket.destroy();
      const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
      this.host.clientError({
        transport: 'ws',
        code: timedOut ? 'ws-upgrade-timeout' : 'ws-upgrade-refused',
        message: timedOut ? `WebSocket upgrade not completed within ${timeoutMs} ms` : `bad upgrade request: ${err.message}`,
        remoteAddress: (socket as net.Socket).remoteAddress,
      });
      if (socket.writable) socket.end(`HTTP/1.1 ${timedOut ? '408 Request Timeout' : '400 Bad Request'}\r\nConnection: close\r\n\r\n`);
      socket.destroy();
    });
    server.on('tlsClientError', (err: Error & { code?: string }, socket: tls.TLSSocket) => {
      if (refusedAtAccept(socket)) return void socket.destroy();
      this.host.clientError({ transport: 'ws', code: 'tls-handshake-failed', message: `TLS handshake failed: ${err.message}`, remoteAddress: socket.remoteAddress });
      socket.destroy();
    });
    server.on('error', (err) => this.host.listenerError(err));
    return server;
  }

  /** Our own port's TCP socket at accept: counted from now, or refused before any handshake (503, or closed for wss). */
  private acceptSocket(socket: net.Socket, secure: boolean): void {
    const refusal = admitAtAccept(this.host, socket);
    if (refusal === undefined) return;
    const message = secure ? `refused before the TLS handshake: ${refusal.refused}` : `503: ${refusal.refused}`;
    this.host.clientError({ transport: 'ws', code: 'ws-upgrade-refused', message, remoteAddress: socket.remoteAddress });
    socket.on('error', () => socket.destroy());
    // wss: no HTTP can be spoken before a TLS handshake, which is what the refusal saves.
    if (secure) return void socket.destroy();
    // Answered before the request is read (HTTP allows it; a WebSocket client reports the 503).
    socket.end(serviceUnavailable(refusal));
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /** On the user's server (no accept of ours): the same limits at the upgrade request, refused with 503. */
  private admitUpgrade(req: http.IncomingMessage, socket: Duplex): PendingAdmission | undefined {
    const verdict = this.host.accepted(req.socket.remoteAddress);
    if (!('refused' in verdict)) return verdict;
    this.refuseUpgrade(socket, req, 503, verdict.refused, retryAfterHeader(verdict));
    return undefined;
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (refusedAtAccept(socket as net.Socket)) return void socket.destroy();
    const path = pathOf(req.url);
    if (path !== this.settings.path) {
      // On the user's server another upgrade handler may own this path; on ours, nobody does.
      if (this.owned || this.http.listenerCount('upgrade') === 1) this.refuseUpgrade(socket, req, 404, `no WebSocket endpoint at ${path}`);
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !originAllowed(this.settings.origins, origin)) {
      this.refuseUpgrade(socket, req, 403, `origin ${origin} is not allowed`);
      return;
    }
    const check = checkUpgrade(req);
    if (!check.ok) {
      this.refuseUpgrade(socket, req, 400, check.message, check.headers);
      return;
    }
    const tcp = socket as net.Socket;
    // A client that already sent FIN gets nothing (as ws).
    if (!tcp.readable || !tcp.writable) {
      tcp.destroy();
      return;
    }
    const pending = pendingOf(tcp) ?? this.admitUpgrade(req, socket);
    if (pending === undefined) return;
    const inner = this.innerTransport(tcp);
    inner.write(upgradeResponse(check.key, check.protocol));
    this.host.incoming(new WsServerTransport(inner, { maxMessageBytes: maxWsMessageBytes(this.host.maxFrameSize), head }), pending);
  }

  /** The upgraded connection as a Transport: its bare handle when possible, else the socket. */
  private innerTransport(socket: net.Socket): Transport {
    if (this.host.wantsLeanSockets) {
      const handle = takeHandle(socket);
      if (handle !== undefined) return new HandleTransport(handle);
    }
    // node:http sockets allow half-open connections; lifeline's never do (a FIN ends it, as on TCP).
    socket.allowHalfOpen = false;
    const encrypted = (socket as net.Socket & { encrypted?: boolean }).encrypted === true;
    return new TcpTransport(socket, encrypted ? { kind: 'tls' } : { sharedReadBuffer: true });
  }

  private refuseUpgrade(socket: Duplex, req: http.IncomingMessage, status: number, message: string, headers: Record<string, string> = {}): void {
    this.host.clientError({ transport: 'ws', code: 'ws-upgrade-refused', message: `${status}: ${message}`, remoteAddress: req.socket.remoteAddress });
    // node:http removed its error listener at the upgrade: a reset now must not throw.
    socket.on('error', () => socket.destroy());
    if (socket.writable) {
      const body = `${message}\n`;
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
          Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('') +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}

/** Over the accept rate: when to come back, in whole seconds (RFC 9110 §10.2.3). */
function retryAfterHeader(refusal: AcceptRefusal): Record<string, string> {
  return refusal.retryAfterMs === undefined ? {} : { 'Retry-After': String(Math.max(1, Math.ceil(refusal.retryAfterMs / 1000))) };
}

function serviceUnavailable(refusal: AcceptRefusal): string {
  const body = `${refusal.refused}\n`;
  const headers = Object.entries(retryAfterHeader(refusal)).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function originAllowed(origins: WebSocketServerOptions['origins'], origin: string): boolean {
  if (origins === undefined) return true;
  if (typeof origins === 'function') return origins(origin);
  return origins.includes(origin);
}
