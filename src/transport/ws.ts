/**
 * WebSocket adapter for the Node client: maps a `ws` WebSocket (client side, client/dial.ts) to
 * Transport. The server no longer uses it: it runs its own lean RFC 6455 codec (ws-server.ts,
 * docs/spec/0011-transports.md §Lean WebSocket server) behind the same contract.
 * lifeline frames travel in binary messages (docs/spec/0011-transports.md §WebSocket): every
 * write() is one message — or, between cork() and uncork(), the writes of that batch joined in
 * one — and inbound messages are handed to the decoder as consecutive chunks of one byte stream.
 * The application heartbeat runs inside those messages (browsers cannot send WebSocket pings),
 * so no WebSocket ping is ever sent.
 *
 * Bad input ends the transport with a reason, never silently: a text message closes the
 * WebSocket with 1003 (unsupported data) and reports LL_ERR_WS_TEXT_MESSAGE; a message over
 * `maxPayload` is refused by `ws` itself (close 1009) and reported with its error.
 *
 * Closing: end() starts the WebSocket closing handshake (1000) and bounds it like TCP's FIN
 * (GRACEFUL_END_TIMEOUT_MS, then terminate); destroy() terminates at once. The close is reported
 * when the underlying socket has closed, exactly once.
 */
import type net from 'node:net';
import type { RawData, WebSocket } from 'ws';
import { LifelineError } from '../errors.js';
import type { Transport, TransportCloseCause, TransportHandlers } from './types.js';
import { GRACEFUL_END_TIMEOUT_MS } from './shared-read.js';
import { sendInMessages, WriteBatch } from './ws-framing.js';

/** WebSocket close codes we send (RFC 6455 §7.4.1). */
export const WS_CLOSE_NORMAL = 1000;
export const WS_CLOSE_GOING_AWAY = 1001;
export const WS_CLOSE_UNSUPPORTED_DATA = 1003;

/** write() reports a full buffer (wait for onDrain) above this many queued bytes, as net.Socket's default. */
const HIGH_WATER_MARK_BYTES = 16 * 1024;

const kTransport = Symbol('lifeline.wsTransport');
const BINARY = { binary: true } as const;
type OwnedWebSocket = WebSocket & { [kTransport]?: WsTransport };
type OwnedSocket = net.Socket & { [kTransport]?: WsTransport };

// Shared listeners (`this` is the emitter), as in tcp.ts: no closures per connection.
function onMessage(this: OwnedWebSocket, data: RawData, isBinary: boolean): void {
  const transport = this[kTransport];
  if (transport === undefined) return;
  if (!isBinary) {
    transport.fail(
      new LifelineError('LL_ERR_WS_TEXT_MESSAGE', 'received a text WebSocket message: lifeline frames travel in binary messages'),
      WS_CLOSE_UNSUPPORTED_DATA,
      'lifeline frames travel in binary messages',
    );
    return;
  }
  // binaryType 'nodebuffer' (the default): one Buffer per message.
  transport.handlers?.onData(data as Buffer);
}

function onError(this: OwnedWebSocket, err: Error): void {
  const transport = this[kTransport];
  if (transport !== undefined) transport.lastError ??= err;
}

function onClose(this: OwnedWebSocket, code: number, reason: Buffer): void {
  const transport = this[kTransport];
  if (transport === undefined) return;
  // 1005: a close frame without a code; 1006: no close frame (TCP FIN or reset) — as TCP's FIN.
  if (code !== WS_CLOSE_NORMAL && code !== WS_CLOSE_GOING_AWAY && code !== 1005 && code !== 1006) {
    const text = reason.length > 0 ? `: ${reason.toString('utf8')}` : '';
    transport.lastError ??= new LifelineError('LL_ERR_WS_CLOSED', `the peer closed the WebSocket with ${code}${text}`);
  }
  transport.finish();
}

function onSocketError(this: OwnedSocket, err: Error): void {
  // ws closes quietly on a socket error (ECONNRESET…); keep it for the close cause, as tcp.ts does.
  const transport = this[kTransport];
  if (transport !== undefined) transport.lastError ??= err;
}

function onSocketDrain(this: OwnedSocket): void {
  const transport = this[kTransport];
  if (transport !== undefined && transport.bufferedBytes < HIGH_WATER_MARK_BYTES) transport.handlers?.onDrain();
}

export class WsTransport implements Transport {
  /** @internal read by the shared listeners */
  handlers: TransportHandlers | undefined;
  /** @internal first error, reported in the close cause */
  lastError: Error | undefined;
  private readonly ws: WebSocket;
  private readonly socket: net.Socket;
  private closed = false;
  private locallyClosed = false;
  private drainListening = false;
  /** Writes between cork() and uncork(), sent as one message. */
  private readonly batch = new WriteBatch();
  private endTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param ws an open WebSocket (binaryType 'nodebuffer')
   * @param socket the TCP (or TLS) socket under it: addresses, backpressure and socket tuning
   */
  constructor(ws: WebSocket, socket: net.Socket) {
    this.ws = ws;
    this.socket = socket;
    socket.setNoDelay(true);
    (ws as OwnedWebSocket)[kTransport] = this;
    (socket as OwnedSocket)[kTransport] = this;
    ws.on('error', onError);
    ws.on('close', onClose);
    socket.on('error', onSocketError);
  }

  get kind(): 'ws' {
    return 'ws';
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  get tunable(): net.Socket {
    return this.socket;
  }

  /** WebSocket payload and framing, TCP (or TLS record) bytes: what the socket counted. */
  get bytesRead(): number {
    return this.socket.bytesRead;
  }

  get bytesWritten(): number {
    return this.socket.bytesWritten;
  }

  setHandlers(handlers: TransportHandlers): void {
    const first = this.handlers === undefined;
    this.handlers = handlers;
    if (first) this.ws.on('message', onMessage);
    if (this.ws.readyState === this.ws.CLOSED) queueMicrotask(() => this.finish());
  }

  write(bytes: Uint8Array): boolean {
    if (this.closed || this.locallyClosed || this.ws.readyState !== this.ws.OPEN) return false;
    if (this.batch.add(bytes)) return true;
    sendInMessages(bytes, this.sendMessage);
    const ok = this.ws.bufferedAmount < HIGH_WATER_MARK_BYTES;
    if (!ok && !this.drainListening) {
      this.drainListening = true;
      this.socket.on('drain', onSocketDrain);
    }
    return ok;
  }

  cork(): void {
    this.batch.cork();
  }

  uncork(): void {
    const joined = this.batch.uncork();
    if (joined !== undefined) this.write(joined);
  }

  end(): void {
    if (this.locallyClosed) return;
    const queued = this.batch.flush();
    if (queued !== undefined) this.write(queued);
    this.locallyClosed = true;
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(WS_CLOSE_NORMAL);
    // A peer that never answers our close frame is cut, as a TCP peer that never sends its FIN.
    this.endTimer = setTimeout(() => this.ws.terminate(), GRACEFUL_END_TIMEOUT_MS);
    this.endTimer.unref();
  }

  destroy(): void {
    this.locallyClosed = true;
    this.ws.terminate();
  }

  /** @internal bad input: close the WebSocket with `code` and report `error` as the cause. */
  fail(error: Error, code: number, reason: string): void {
    this.lastError ??= error;
    this.locallyClosed = true;
    this.ws.close(code, reason);
    this.endTimer ??= setTimeout(() => this.ws.terminate(), GRACEFUL_END_TIMEOUT_MS);
    this.endTimer.unref();
  }

  /** @internal the WebSocket closed (or was closed before the handlers came). */
  finish(): void {
    if (this.closed || !this.handlers) return;
    this.closed = true;
    if (this.endTimer !== undefined) clearTimeout(this.endTimer);
    const cause: TransportCloseCause = this.lastError
      ? { kind: 'error', error: this.lastError }
      : this.locallyClosed
        ? { kind: 'local' }
        : // The peer's close frame, or its TCP FIN without one: the peer went away, as TCP's 'end'.
          { kind: 'end' };
    const handlers = this.handlers;
    this.handlers = undefined;
    handlers.onTransportClose(cause);
  }

  private readonly sendMessage = (message: Uint8Array): void => this.ws.send(message, BINARY);

}
