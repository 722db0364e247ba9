/**
 * Browser client: the same connect() / events / reconnect / resume as the Node client (the shared
 * core is client/core.ts), over the native WebSocket. Messages are Uint8Array (no Buffer).
 */
import type { CloseReason } from '../connection/close-reason.js';
import type { PongInfo } from '../connection/connection.js';
import type { GoawayFrame, PeerStatus } from '../protocol/frames.js';
import { MemoryNatStore } from '../liveness/nat-store.js';
import { ClientCore } from '../client/core.js';
import { resolveClientOptions, type ClientOptions } from '../client/options.js';
import type { ClientRuntime } from '../client/runtime.js';
import type { OpenInfo, ReconnectingInfo, UnavailableInfo } from '../client/types.js';
import { Emitter } from '../util/emitter.js';
import type { PresenceUpdate } from '../client/presence.js';
import { clientFacade } from '../client/facade.js';
import { browserDial, type WebSocketConstructor } from './dial.js';

export type BrowserClientOptions = Omit<ClientOptions, 'tcpKeepalive' | 'tcpUserTimeout' | 'tls' | 'natStatePath'> & {
  /** WebSocket constructor. Default: globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
};

const encoder = new TextEncoder();

export interface Client {
  on(event: 'open', listener: (info: OpenInfo) => void): this;
  on(event: 'message', listener: (data: Uint8Array) => void): this;
  on(event: 'ping', listener: (id: number) => void): this;
  on(event: 'pong', listener: (info: PongInfo) => void): this;
  on(event: 'status', listener: (status: PeerStatus, load: number) => void): this;
  on(event: 'goaway', listener: (frame: GoawayFrame) => void): this;
  on(event: 'unavailable', listener: (info: UnavailableInfo) => void): this;
  on(event: 'available', listener: (info: { status: PeerStatus; load: number; rttMs?: number }) => void): this;
  on(event: 'drain' | 'warning' | 'stall', listener: (...args: any[]) => void): this;
  on(event: 'undelivered', listener: (messages: Uint8Array[], error: Error) => void): this;
  on(event: 'disconnect' | 'close', listener: (reason: CloseReason) => void): this;
  on(event: 'reconnecting', listener: (info: ReconnectingInfo) => void): this;
  on(event: 'presence', listener: (update: PresenceUpdate) => void): this;
}

export class Client extends clientFacade(Emitter) {
  /** @internal */
  readonly core: ClientCore;
  constructor(options: BrowserClientOptions) {
    super();
    const { WebSocket: impl, ...rest } = options;
    const WebSocketImpl = impl ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    const runtime: ClientRuntime<Uint8Array> = {
      dial: browserDial(WebSocketImpl),
      defaultNatStore: () => new MemoryNatStore(),
      publish: () => {},
      holdOpen: () => () => {},
      toPayload(data) {
        if (typeof data === 'string') return encoder.encode(data);
        if (data instanceof Uint8Array) return data;
        throw new TypeError(`send() takes a Uint8Array or string, got ${typeof data}`);
      },
      toMessage: (bytes) => bytes,
    };
    this.core = new ClientCore(resolveClientOptions(rest), runtime, this);
  }
}

export function connect(options: BrowserClientOptions): Client {
  return new Client(options);
}
