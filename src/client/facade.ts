/**
 * The public client's read-only state and its two methods, delegated to the shared core
 * (core.ts). Written once for both clients: the Node client mixes it into an EventEmitter
 * (client.ts), the browser client into util/emitter.ts's Emitter (browser/client.ts).
 * Runtime-neutral: no node:* import.
 */
import type { CloseReason } from '../connection/close-reason.js';
import type { PeerStatus } from '../protocol/frames.js';
import type { AdaptiveSnapshot } from './adaptive.js';
import type { ClientCore } from './core.js';
import type { ResolvedClientOptions } from './options.js';
import type { ClientState, OpenInfo } from './types.js';
import type { ClientStats } from './client-stats.js';
import type { WirePresenceState } from '../protocol/frames.js';

// TypeScript's mixin pattern needs `any[]` constructor arguments.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type EmitterClass = abstract new (...args: any[]) => { emit(event: string, ...args: unknown[]): boolean };

export function clientFacade<Base extends EmitterClass>(base: Base) {
  abstract class ClientFacade extends base {
    /**
     * @internal Set by the subclass's constructor (the core needs the finished emitter as its
     * sink). Public only because a mixin's declaration cannot carry a protected member.
     */
    abstract readonly core: ClientCore;
    get options(): ResolvedClientOptions {
      return this.core.options;
    }
    /** 'connecting' | 'open' | 'reconnecting' | 'closing' | 'closed'. */
    get state(): ClientState {
      return this.core.state;
    }
    /** Set at each 'open' (the latest connection's). */
    get info(): OpenInfo | undefined {
      return this.core.info;
    }
    /** Set once closed. */
    get closeReason(): CloseReason | undefined {
      return this.core.closeReason;
    }
    /** Last heartbeat round trip, ms. */
    get rtt(): number | undefined {
      return this.core.rtt;
    }
    get smoothedRtt(): number | undefined {
      return this.core.smoothedRtt;
    }
    /** ms since anything was received from the server. */
    get sinceLastSeen(): number | undefined {
      return this.core.sinceLastSeen;
    }
    /** Who sends the heartbeat PINGs on the current connection (docs/spec/0010-server-leads.md). */
    get heartbeatLeader(): 'client' | 'server' {
      return this.core.heartbeatLeader;
    }
    /**
     * RTT (last, smoothed), ms since last heard, the server's status and load, connects /
     * reconnects / resumes, messages and payload bytes sent and received: a fresh plain object.
     */
    stats(): ClientStats {
      return this.core.stats();
    }
    /** The server's status from its latest PONG. */
    get serverStatus(): PeerStatus {
      return this.core.serverStatus;
    }
    /** False while the current server is reported unavailable (see 'unavailable'). */
    get available(): boolean {
      return this.core.available;
    }
    /** heartbeat 'adaptive': what the learner knows about the current network. */
    get adaptiveHeartbeat(): AdaptiveSnapshot | undefined {
      return this.core.adaptiveHeartbeat;
    }
    /** The server being dialled or connected to (`host:port`, or its URL for TLS / WebSocket). */
    get server(): string {
      return this.core.server;
    }
    /** Bytes not yet on the wire, plus (resumable sessions) bytes the server has not acknowledged. */
    get bufferedAmount(): number {
      return this.core.bufferedAmount;
    }
    /**
     * Send a message. While no connection is open it is queued (up to maxQueuedBytes) and sent in
     * order on the next one; after close it throws LL_ERR_NOT_OPEN. Returns false when the send
     * buffer is above its high-water mark or the message was queued (wait for 'drain' / 'open').
     */
    send(data: Uint8Array | string): boolean {
      return this.core.send(data);
    }
    /**
     * Follow these identities' presence (docs/spec/0014 §Subscriptions): 'presence' ({ id, state })
     * with each one's state once the server answers, then on every change — on any node. Kept
     * across reconnects (sent again on each connection). Ids are 1..256 bytes of UTF-8
     * (TypeError / RangeError otherwise); RangeError above the server's per-connection limit.
     */
    subscribePresence(ids: string | Iterable<string>): void {
      this.core.presence.subscribe(ids);
    }
    /** Stop following these identities' presence. */
    unsubscribePresence(ids: string | Iterable<string>): void {
      this.core.presence.unsubscribe(ids);
    }
    /** The identities subscribed to, in order. */
    get presenceSubscriptions(): string[] {
      return this.core.presence.subscriptions;
    }
    /** The last state reported for an identity ('presence' event), undefined before its first. */
    presenceOf(id: string): WirePresenceState | undefined {
      return this.core.presence.stateOf(id);
    }
    /** Close gracefully (reason 'local-close'); the final 'close' follows. */
    close(message = ''): void {
      this.core.close(message);
    }
  }
  return ClientFacade;
}
