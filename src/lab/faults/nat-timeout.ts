import type { FaultSpec } from './types.js';

export const NAT_TIMEOUT_S = 4;

export const natTimeout: FaultSpec = {
  id: 'nat-timeout',
  label: `NAT forgets idle flows (${NAT_TIMEOUT_S} s)`,
  how:
    `the router's conntrack forgets TCP and UDP flows idle for ${NAT_TIMEOUT_S} s (nf_conntrack_tcp_timeout_established, nf_conntrack_udp_timeout[_stream]) ` +
    `and drops non-SYN packets of unknown flows; nothing else is done — the flows just stay idle, then the client sends one message`,
  requires: 'netns',
  sides: ['client', 'server'],
  async prepare(topo) {
    await topo.sysctl('router', 'net.netfilter.nf_conntrack_tcp_timeout_established', NAT_TIMEOUT_S);
    // UDP rows: the same forgetfulness for UDP flows (unreplied and two-way).
    await topo.sysctl('router', 'net.netfilter.nf_conntrack_udp_timeout', NAT_TIMEOUT_S);
    await topo.sysctl('router', 'net.netfilter.nf_conntrack_udp_timeout_stream', NAT_TIMEOUT_S);
  },
  async inject() {
    /* the fault is idleness itself */
  },
  // After the NAT has surely forgotten idle flows, the application speaks: does it get through?
  probeAfterMs: NAT_TIMEOUT_S * 2000 + 1000,
  windowMs: 26_000,
  note: 'a mechanism that pings more often than the NAT timeout keeps the flow alive (nothing to detect)',
};
