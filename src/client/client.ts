/**
 * Client: the application's long-lived handle on a lifeline server. It outlives its
 * connections: each one is a Link (link.ts: dial, handshake, heartbeat, availability), and with
 * reconnect on (docs/spec/0005-reconnect.md) a lost link is followed, after a backoff delay, by a
 * new one — to the GOAWAY's redirect or the next server of the list. The send queue lives here,
 * so messages sent while no connection is open go out on the next one.
 *
 * Availability (docs/spec/0004-availability.md): 'unavailable' (UnavailableInfo) when a PONG
 * says draining, `busyPongs` PONGs in a row say busy, or a PING waits longer than
 * `availabilityBudget`; 'available' when an ok PONG comes back in time. A GOAWAY makes the
 * client finish what it is writing and close gracefully (reason 'goaway'). With reconnect on and
 * more than one server, an unavailable server is left for the next one (spec 0005 §Failover).
 *
 * Events: 'open' (OpenInfo), 'message' (Buffer), 'ping' (id: the server pinged, we answered),
 * 'pong' (PongInfo: the answer to our own PING), 'status' (PeerStatus, load) when the server's
 * reported status changes, 'goaway' (GoawayFrame), 'unavailable' / 'available', 'drain',
 * 'warning', 'stall', 'undelivered' (Buffer[], Error) for messages send() accepted that were never
 * written — nothing is dropped silently —, and with reconnect: 'disconnect' (CloseReason) when a
 * connection or an attempt ends and the client will try again, then 'reconnecting'
 * (ReconnectingInfo). 'close' (CloseReason) comes exactly once, when the client is done: close(),
 * a non-retryable reason, maxAttempts used up, or — without reconnect — the first loss.
 */
import { EventEmitter } from 'node:events';
import type { CloseReason } from '../connection/close-reason.js';
import type { PongInfo } from '../connection/connection.js';
import { asBuffer, toPayload } from '../connection/payload.js';
import type { GoawayFrame, PeerStatus } from '../protocol/frames.js';
import { loadNetKeepalive, type AppliedSocketOptions } from '../transport/socket-tuning.js';
import { channels, publish } from '../diagnostics.js';
import { ClientCore } from './core.js';
import { clientFacade } from './facade.js';
import { dial } from './dial.js';
import { JsonFileNatStore, defaultNatStatePath } from './nat-file-store.js';
import { resolveClientOptions, type ClientOptions } from './options.js';
import type { ClientRuntime } from './runtime.js';
import type { OpenInfo, ReconnectingInfo, UnavailableInfo } from './types.js';
import type { PresenceUpdate } from './presence.js';

export type { OpenInfo, ReconnectingInfo, ClientState, UnavailableInfo } from './types.js';
export type { AdaptiveSnapshot, AdaptiveEvent } from './adaptive.js';
export type { PresenceUpdate } from './presence.js';

export interface Client {
  on(event: 'open', listener: (info: OpenInfo) => void): this;
  on(event: 'message', listener: (data: Buffer) => void): this;
  on(event: 'ping', listener: (id: number) => void): this;
  on(event: 'pong', listener: (info: PongInfo) => void): this;
  on(event: 'status', listener: (status: PeerStatus, load: number) => void): this;
  on(event: 'goaway', listener: (frame: GoawayFrame) => void): this;
  on(event: 'unavailable', listener: (info: UnavailableInfo) => void): this;
  on(event: 'available', listener: (info: { status: PeerStatus; load: number; rttMs?: number }) => void): this;
  on(event: 'drain', listener: () => void): this;
  on(event: 'warning', listener: (message: string) => void): this;
  /** Our own process stalled this long (blocked loop, GC, suspend): the server was not blamed for it. */
  on(event: 'stall', listener: (lateByMs: number) => void): this;
  on(event: 'undelivered', listener: (messages: Buffer[], error: Error) => void): this;
  /** A subscribed identity's presence (subscribePresence; docs/spec/0014 §Subscriptions). */
  on(event: 'presence', listener: (update: PresenceUpdate) => void): this;
  /** A connection (or an attempt) ended; the client will try again ('reconnecting' follows). */
  on(event: 'disconnect', listener: (reason: CloseReason) => void): this;
  on(event: 'reconnecting', listener: (info: ReconnectingInfo) => void): this;
  on(event: 'close', listener: (reason: CloseReason) => void): this;
  once(event: 'open', listener: (info: OpenInfo) => void): this;
  once(event: 'presence', listener: (update: PresenceUpdate) => void): this;
  once(event: 'close', listener: (reason: CloseReason) => void): this;
  once(event: 'message', listener: (data: Buffer) => void): this;
  once(event: 'disconnect', listener: (reason: CloseReason) => void): this;
  once(event: 'reconnecting', listener: (info: ReconnectingInfo) => void): this;
}

export class Client extends clientFacade(EventEmitter) {
  /** @internal */
  readonly core: ClientCore;
  constructor(options: ClientOptions) {
    super();
    this.core = new ClientCore(resolveClientOptions(options), nodeRuntime, this);
  }
  /** Kernel socket options really in force (keepalive, TCP_USER_TIMEOUT), set once connected. */
  get socketOptions(): AppliedSocketOptions | undefined {
    return this.core.socketOptions;
  }
}

const nodeRuntime: ClientRuntime<Buffer> = {
  dial,
  prepare: loadNetKeepalive,
  defaultNatStore: (o, onError) => new JsonFileNatStore(o.natStatePath ?? defaultNatStatePath(), { onError }),
  publish: (name, message) => publish(channels[name], message),
  holdOpen() {
    const timer = setInterval(() => {}, 1 << 30);
    return () => clearInterval(timer);
  },
  toPayload,
  toMessage: asBuffer,
};

/** Connect to a lifeline server. The returned client emits 'open' once the handshake is done. */
export function connect(options: ClientOptions): Client {
  return new Client(options);
}
