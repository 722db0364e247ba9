/**
 * ClientView: the client core's read-only state — RTT, last heard, server status, stats(),
 * availability, the adaptive heartbeat's snapshot, buffered bytes — as a base class of
 * ClientCore (core.ts), which owns and updates every field read here. facade.ts exposes them.
 */
import type { CloseReason } from '../connection/close-reason.js';
import type { PeerStatus } from '../protocol/frames.js';
import type { AppliedSocketOptions } from '../transport/socket-tuning.js';
import type { AdaptiveHeartbeat, AdaptiveSnapshot } from './adaptive.js';
import { ClientCounts, type ClientStats } from './client-stats.js';
import type { Link } from './link.js';
import type { Outbox } from './outbox.js';
import type { ReconnectPlanner } from './reconnect.js';
import { formatServer } from './servers.js';
import type { ClientState, OpenInfo } from './types.js';

export abstract class ClientView {
  state: ClientState = 'connecting';
  /** Set at each 'open' (the latest connection's). */
  info: OpenInfo | undefined;
  /** Set once closed. */
  closeReason: CloseReason | undefined;
  /** Kernel socket options really in force (keepalive, TCP_USER_TIMEOUT), set once connected. */
  socketOptions: AppliedSocketOptions | undefined;
  protected link: Link | undefined;
  protected peerStatus: PeerStatus = 'ok';
  protected peerLoad = 0;
  /** client.stats()'s counted fields (client-stats.ts). */
  protected readonly counts = new ClientCounts();
  /** Network key of the latest connection (adaptive heartbeat). */
  protected adaptiveKey: string | undefined;
  protected abstract readonly planner: ReconnectPlanner;
  protected abstract readonly outbox: Outbox;
  protected abstract readonly adaptive: AdaptiveHeartbeat | undefined;

  /** Last heartbeat round trip, ms. */
  get rtt(): number | undefined {
    return this.link?.connection?.rttMs;
  }

  get smoothedRtt(): number | undefined {
    return this.link?.connection?.smoothedRttMs;
  }

  /** ms since anything was received from the server. */
  get sinceLastSeen(): number | undefined {
    return this.link?.connection?.sinceLastSeenMs;
  }

  /**
   * Who sends the heartbeat PINGs on the current connection (docs/spec/0010-server-leads.md):
   * 'server' when the server leads (we offered and it is configured to), else 'client'.
   */
  get heartbeatLeader(): 'client' | 'server' {
    return this.link?.serverLeads === true ? 'server' : 'client';
  }

  /** RTT, last heard, server status and load, reconnects, resumes, messages and bytes (client-stats.ts). */
  stats(): ClientStats {
    const c = this.counts;
    return {
      rttMs: this.rtt,
      smoothedRttMs: this.smoothedRtt,
      lastHeardMs: this.sinceLastSeen,
      serverStatus: this.peerStatus,
      serverLoad: this.peerLoad,
      connects: c.connects,
      reconnects: Math.max(0, c.connects - 1),
      resumes: c.resumes,
      messagesSent: c.messagesSent,
      bytesSent: c.bytesSent,
      messagesReceived: c.messagesReceived,
      bytesReceived: c.bytesReceived,
    };
  }

  /** The server's status from its latest PONG. */
  get serverStatus(): PeerStatus {
    return this.peerStatus;
  }

  /** False while the current server is reported unavailable (see 'unavailable'). */
  get available(): boolean {
    return this.link?.available ?? true;
  }

  /**
   * heartbeat 'adaptive': what the learner knows about the current network (interval in use,
   * longest idle survived, shortest idle known to kill); undefined otherwise or before connecting.
   */
  get adaptiveHeartbeat(): AdaptiveSnapshot | undefined {
    const key = this.link?.networkKey ?? this.adaptiveKey;
    return key === undefined ? undefined : this.adaptive?.snapshot(key);
  }

  /** The server being dialled or connected to, `host:port`. */
  get server(): string {
    return this.link?.address ?? formatServer(this.planner.current);
  }

  /** Bytes not yet on the wire, plus (resumable sessions) bytes the server has not acknowledged. */
  get bufferedAmount(): number {
    return (this.link?.connection?.transport.bufferedBytes ?? 0) + this.outbox.bufferedBytes;
  }
}
