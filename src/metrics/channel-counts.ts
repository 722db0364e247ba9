/**
 * Counts one server's metrics take from diagnostics channels (src/diagnostics.ts) rather than
 * from ServerCounters: events that are rare (a ping strike, a presence warning) and published
 * by code that keeps no counter of its own. Subscribed by lifelineMetrics(), so these count
 * from attach, not from the server's construction (docs/spec/0015-metrics.md §Channel counts).
 * Channels are process-wide: each message is kept only if it is about this server.
 */
import diagnostics from 'node:diagnostics_channel';
import { channels } from '../diagnostics.js';
import type { LifelineServer } from '../server/server.js';
import type { Session } from '../server/session.js';

type Listener = (message: unknown, name: string | symbol) => void;

export class ChannelCounts {
  /** lifeline:server:ping-strike by verdict: 'strike' (forgivable) and 'too-many' (the session is sent away). */
  readonly pingStrikes = { strike: 0, 'too-many': 0 };
  /** lifeline:presence:warning by code ('node-id-conflict': two live processes share this nodeId). */
  readonly presenceWarnings = new Map<string, number>();
  private readonly subscriptions: Array<[string | symbol, Listener]> = [];

  constructor(server: LifelineServer) {
    const counters = server.counters;
    this.on(channels.serverPingStrike, (m) => {
      const { session, verdict } = m as { session?: Session; verdict: 'strike' | 'too-many' };
      // The session's current peer belongs to one server: its counters object says which.
      if (session?.currentPeer.host.counters !== counters) return;
      if (verdict === 'strike' || verdict === 'too-many') this.pingStrikes[verdict]++;
    });
    this.on(channels.presenceWarning, (m) => {
      const { presence, code } = m as { presence?: unknown; code: string };
      if (presence !== server.presence) return;
      this.presenceWarnings.set(code, (this.presenceWarnings.get(code) ?? 0) + 1);
    });
  }

  close(): void {
    for (const [name, listener] of this.subscriptions.splice(0)) diagnostics.unsubscribe(name, listener);
  }

  private on(channel: diagnostics.Channel, listener: Listener): void {
    diagnostics.subscribe(channel.name, listener);
    this.subscriptions.push([channel.name, listener]);
  }
}
