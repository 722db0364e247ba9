/**
 * Browser WebSocket adapter: maps a WHATWG WebSocket (the browser's, or any object with its API,
 * e.g. the `ws` package's in Node tests) to Transport. Same contract as ws.ts: every write() is
 * one binary message (a corked batch is joined into one; either split at 64 KiB, ws-framing.ts), inbound binary messages are chunks of
 * one byte stream, a text message ends the transport. Differences forced by the browser API:
 * no 'drain' event (bufferedAmount is polled while above the high-water mark), no terminate()
 * (destroy() starts the close and reports at once), close codes limited to 1000 / 3000–4999.
 */
import { LifelineError } from '../errors.js';
import type { Transport, TransportCloseCause, TransportHandlers } from './types.js';
import { sendInMessages, WriteBatch } from './ws-framing.js';

/** The part of the WHATWG WebSocket this adapter uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: any) => void): void;
  removeEventListener(type: string, listener: (event: any) => void): void;
}

const OPEN = 1;
const CLOSED = 3;
const HIGH_WATER_MARK_BYTES = 16 * 1024;
const DRAIN_POLL_MS = 20;
const GRACEFUL_END_TIMEOUT_MS = 2000;
/** Browsers may only send 1000 or 3000–4999; 4003 mirrors 1003 (unsupported data). */
export const WS_CLOSE_TEXT_REFUSED = 4003;

export class BrowserWsTransport implements Transport {
  readonly kind = 'ws' as const;
  readonly remoteAddress: string | undefined = undefined;
  readonly remotePort: number | undefined = undefined;
  private handlers: TransportHandlers | undefined;
  private lastError: Error | undefined;
  private closed = false;
  private locallyClosed = false;
  private readonly batch = new WriteBatch();
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  private endTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly ws: WebSocketLike) {
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('message', this.onMessage);
    ws.addEventListener('error', this.onError);
    ws.addEventListener('close', this.onClose);
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount + this.batch.bytes;
  }

  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
    if (this.ws.readyState === CLOSED) queueMicrotask(() => this.finish());
  }

  write(bytes: Uint8Array): boolean {
    if (this.closed || this.locallyClosed || this.ws.readyState !== OPEN) return false;
    if (this.batch.add(bytes)) return true;
    sendInMessages(bytes, this.sendMessage);
    const ok = this.ws.bufferedAmount < HIGH_WATER_MARK_BYTES;
    if (!ok) this.pollDrain();
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
    if (this.ws.readyState === OPEN) this.ws.close(1000);
    // No terminate() in browsers: a peer that never answers our close is given up on.
    this.endTimer = setTimeout(() => this.finish(), GRACEFUL_END_TIMEOUT_MS);
  }

  destroy(): void {
    this.locallyClosed = true;
    if (this.ws.readyState < 2) this.ws.close(1000);
    queueMicrotask(() => this.finish());
  }

  private readonly sendMessage = (message: Uint8Array): void => this.ws.send(message);

  private readonly onMessage = (event: { data: unknown }): void => {
    if (this.closed) return;
    const data = event.data;
    if (typeof data === 'string') {
      this.lastError ??= new LifelineError('LL_ERR_WS_TEXT_MESSAGE', 'received a text WebSocket message: lifeline frames travel in binary messages');
      this.locallyClosed = true;
      this.ws.close(WS_CLOSE_TEXT_REFUSED, 'lifeline frames travel in binary messages');
      this.endTimer ??= setTimeout(() => this.finish(), GRACEFUL_END_TIMEOUT_MS);
      return;
    }
    this.handlers?.onData(new Uint8Array(data as ArrayBuffer));
  };

  private readonly onError = (): void => {
    // Browsers give no detail; the close event that follows has the code.
    this.lastError ??= new Error('WebSocket error');
  };

  private readonly onClose = (event: { code: number; reason: string }): void => {
    const code = event.code;
    if (code !== 1000 && code !== 1001 && code !== 1005 && code !== 1006) {
      this.lastError ??= new LifelineError('LL_ERR_WS_CLOSED', `the peer closed the WebSocket with ${code}${event.reason ? `: ${event.reason}` : ''}`);
    }
    this.finish();
  };

  private pollDrain(): void {
    if (this.drainTimer !== undefined) return;
    const tick = (): void => {
      this.drainTimer = undefined;
      if (this.closed) return;
      if (this.ws.bufferedAmount < HIGH_WATER_MARK_BYTES) this.handlers?.onDrain();
      else this.drainTimer = setTimeout(tick, DRAIN_POLL_MS);
    };
    this.drainTimer = setTimeout(tick, DRAIN_POLL_MS);
  }

  private finish(): void {
    if (this.closed || !this.handlers) return;
    this.closed = true;
    if (this.endTimer !== undefined) clearTimeout(this.endTimer);
    if (this.drainTimer !== undefined) clearTimeout(this.drainTimer);
    this.ws.removeEventListener('message', this.onMessage);
    this.ws.removeEventListener('error', this.onError);
    this.ws.removeEventListener('close', this.onClose);
    const cause: TransportCloseCause = this.lastError
      ? { kind: 'error', error: this.lastError }
      : this.locallyClosed
        ? { kind: 'local' }
        : { kind: 'end' };
    const handlers = this.handlers;
    this.handlers = undefined;
    handlers.onTransportClose(cause);
  }
}
