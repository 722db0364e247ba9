import type { FaultSpec } from './types.js';

/**
 * The loopback stand-in for "cable cut" when network namespaces are unavailable: a user-space
 * proxy between client and server silently drops every byte both ways. Honest only for the
 * application heartbeat: the proxy's own kernel keeps ACKing both ends, so keepalive and
 * TCP_USER_TIMEOUT cells are skipped, not measured.
 */
export const proxyBlackhole: FaultSpec = {
  id: 'proxy-blackhole',
  label: 'path black-holed (user-space proxy)',
  how: 'a user-space proxy on loopback between client and server drops every byte (every datagram, for UDP) in both directions; both TCP connections to the proxy stay up',
  requires: 'proxy',
  sides: ['client', 'server'],
  async inject(ctx) {
    for (const proxy of ctx.proxies) proxy.blackhole();
  },
  windowMs: 20_000,
  note: 'kernel mechanisms are not judged here: the proxy ACKs for the vanished peer',
};
