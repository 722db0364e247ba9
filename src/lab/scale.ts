/**
 * Time scale. Linux's defaults take hours (keepalive) or a quarter of an hour (retransmissions),
 * so inside the lab's own namespaces the per-namespace sysctls are scaled down. Reports print
 * what was measured *and* what the unscaled Linux default implies, labelled as such.
 */
import type { Topology, Host } from './netns.js';

/** Applied in the client and server namespaces (never on the host). */
export const LAB_SYSCTLS = {
  'net.ipv4.tcp_keepalive_time': 7, // Linux default 7200 s
  'net.ipv4.tcp_keepalive_intvl': 1, // Linux default 75 s
  'net.ipv4.tcp_keepalive_probes': 9, // Linux default 9
  'net.ipv4.tcp_retries2': 5, // Linux default 15
} as const;

export const LINUX_DEFAULTS = { keepaliveTimeS: 7200, keepaliveIntvlS: 75, keepaliveProbes: 9, retries2: 15 } as const;

export async function applyLabScale(topo: Topology, hosts: Host[] = ['client', 'server']): Promise<void> {
  for (const host of hosts) {
    for (const [key, value] of Object.entries(LAB_SYSCTLS)) await topo.sysctl(host, key, value);
  }
}

/** Seconds until Linux gives up retransmitting: RTO doubles from TCP_RTO_MIN (0.2 s), capped at TCP_RTO_MAX (120 s), retries2 + 1 intervals. */
export function retransmissionGiveUpS(retries2: number, rtoMinS = 0.2, rtoMaxS = 120): number {
  let total = 0;
  for (let i = 0; i <= retries2; i++) total += Math.min(rtoMinS * 2 ** i, rtoMaxS);
  return total;
}

/** Seconds until idle keepalive declares a silent peer dead: idle time + probes × interval. */
export function keepaliveGiveUpS(timeS: number, intvlS: number, probes: number): number {
  return timeS + intvlS * probes;
}

export interface ScaleInfo {
  scaled: { keepaliveGiveUpS: number; retransmitGiveUpS: number; sysctls: Record<string, number> };
  linux: { keepaliveGiveUpS: number; retransmitGiveUpS: number };
}

export function scaleInfo(): ScaleInfo {
  const s = LAB_SYSCTLS;
  const l = LINUX_DEFAULTS;
  return {
    scaled: {
      keepaliveGiveUpS: keepaliveGiveUpS(s['net.ipv4.tcp_keepalive_time'], s['net.ipv4.tcp_keepalive_intvl'], s['net.ipv4.tcp_keepalive_probes']),
      retransmitGiveUpS: retransmissionGiveUpS(s['net.ipv4.tcp_retries2']),
      sysctls: { ...s },
    },
    linux: {
      keepaliveGiveUpS: keepaliveGiveUpS(l.keepaliveTimeS, l.keepaliveIntvlS, l.keepaliveProbes),
      retransmitGiveUpS: retransmissionGiveUpS(l.retries2),
    },
  };
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  const h = Math.floor(seconds / 3600);
  const m = Math.round((seconds % 3600) / 60);
  return `${h} h ${m} min`;
}
