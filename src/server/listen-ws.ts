/**
 * WebSocket listener (docs/spec/0011-transports.md §WebSocket): lifeline over `ws`, on a port
 * of its own (`server.listen({ transport: 'ws', port, path })`, wss with `tls`) or on the
 * user's http / https server (`server.attach(httpServer, { path })`), where their routes keep
 * working beside it: only upgrade requests for our path are taken.
 *
 * Before a connection becomes a lifeline connection it is bounded like any other:
 * - the upgrade request must arrive within the server's handshakeTimeout (own port: the HTTP
 *   server's headers / request timeouts; on the user's server, their settings apply);
 * - an Origin not allowed by `websocket.origins` is refused with 403 (browsers always send
 *   Origin; other clients may not, and are let through: the check stops cross-site pages, it
 *   is not authentication);
 * - a malformed upgrade is refused by `ws` with 400;
 * each of these is reported once through the server's 'clientError'.
 * A message over `maxPayload` (max(WS_MESSAGE_BYTES, maxFrameSize + 16)) is refused by `ws`
 * with close 1009; text messages are refused by the transport (ws.ts).
 */
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { WsTransport } from '../transport/ws.js';
import { maxWsMessageBytes } from '../transport/ws-framing.js';
import { addressOf, closeServer, listenOn, type BindOptions, type Listener, type ListenerHost } from './listeners.js';

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
  readonly leanSockets = false;
  private readonly host: ListenerHost;
  private readonly wss: WebSocketServer;
  private readonly http: http.Server | https.Server;
  private readonly owned: boolean;
  private readonly settings: WsListenerSettings;
  private readonly onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => this.upgrade(req, socket, head);

  constructor(host: ListenerHost, settings: WsListenerSettings) {
    this.host = host;
    this.settings = settings;
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: maxWsMessageBytes(host.maxFrameSize),
    });
    this.wss.on('wsClientError', (err: Error, socket: Duplex, req: http.IncomingMessage) => {
      this.refuseUpgrade(socket, req, 400, err.message);
    });
    this.owned = settings.attachTo === undefined;
    this.http = settings.attachTo ?? this.ownServer(settings.tls);
    this.http.on('upgrade', this.onUpgrade);
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
    server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket', Connection: 'close' });
      res.end('lifeline: this port serves WebSocket connections only\n');
    });
    server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
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
      this.host.clientError({ transport: 'ws', code: 'tls-handshake-failed', message: `TLS handshake failed: ${err.message}`, remoteAddress: socket.remoteAddress });
      socket.destroy();
    });
    server.on('error', (err) => this.host.listenerError(err));
    return server;
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
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
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      this.host.incoming(new WsTransport(ws, socket as net.Socket));
    });
  }

  private refuseUpgrade(socket: Duplex, req: http.IncomingMessage, status: number, message: string): void {
    this.host.clientError({ transport: 'ws', code: 'ws-upgrade-refused', message: `${status}: ${message}`, remoteAddress: req.socket.remoteAddress });
    if (socket.writable) {
      const body = `${message}\n`;
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }
    setTimeout(() => socket.destroy(), 1000).unref();
  }
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
