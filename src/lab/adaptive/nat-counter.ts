/**
 * Counts the flows the namespace NAT forgot while their connection was still in use.
 *
 * The router (netns.ts) drops every non-SYN packet of a flow conntrack does not know; such a
 * packet is conntrack state `new` (nf_conntrack_tcp_loose, on by default, lets a mid-stream
 * packet start a new entry, which the drop then discards). This table, in the router namespace
 * only, runs just before that drop and adds each such packet's flow to a set keyed by
 * (client port, server port): packets from the client side are forwarded (source = client port),
 * the server's are addressed to the router itself after source NAT (destination = the mapped
 * port, which masquerading keeps equal to the client's unless two flows collide). One element is
 * one forgotten flow, however many of its packets were dropped; grouping by server port gives
 * one count per lab row (each row has its own server port).
 *
 * What it cannot see: a forgotten flow on which nobody ever sends again (nothing to drop).
 */
import type { Topology } from '../netns.js';

const TABLE = 'lifeline_adaptive_lab';

export class NatFlowCounter {
  private constructor(private readonly topo: Topology) {}

  static async install(topo: Topology): Promise<NatFlowCounter> {
    await topo.nft(
      'router',
      `table ip ${TABLE} {
        set forgotten {
          type inet_service . inet_service
          flags dynamic
          size 65535
        }
        chain forward_count {
          type filter hook forward priority -10; policy accept;
          tcp flags & (syn|ack) != syn ct state new update @forgotten { tcp sport . tcp dport }
        }
        chain input_count {
          type filter hook input priority -10; policy accept;
          tcp flags & (syn|ack) != syn ct state new update @forgotten { tcp dport . tcp sport }
        }
      }`,
    );
    return new NatFlowCounter(topo);
  }

  /** Forgotten flows so far, by server port. */
  async forgottenByServerPort(): Promise<Map<number, number>> {
    const { stdout } = await this.topo.exec('router', 'nft', ['-j', 'list', 'set', 'ip', TABLE, 'forgotten']);
    return countByServerPort(stdout);
  }
}

/** Parse `nft -j list set` output: elements are `{ concat: [clientPort, serverPort] }`. */
export function countByServerPort(nftJson: string): Map<number, number> {
  const counts = new Map<number, number>();
  const doc = JSON.parse(nftJson) as { nftables?: { set?: { elem?: unknown[] } }[] };
  for (const entry of doc.nftables ?? []) {
    for (const elem of entry.set?.elem ?? []) {
      // With `flags dynamic` nft may wrap an element as { elem: { val: { concat } } }.
      const e = elem as { concat?: unknown[]; elem?: { val?: { concat?: unknown[] } } };
      const concat = e.concat ?? e.elem?.val?.concat;
      const serverPort = concat?.[1];
      if (typeof serverPort === 'number') counts.set(serverPort, (counts.get(serverPort) ?? 0) + 1);
    }
  }
  return counts;
}
