import type { MechanismSpec } from './types.js';

/**
 * What lifeline recommends: the application heartbeat (sees frozen and overloaded peers) plus
 * kernel keepalive and TCP_USER_TIMEOUT as a cheap backstop that works even while our own event
 * loop is stalled. Kernel timers are set longer than the heartbeat timeout so the heartbeat,
 * which knows more, normally decides.
 */
export const recommended: MechanismSpec = {
  id: 'recommended',
  label: 'lifeline recommended',
  description: 'heartbeat 1s/3s + keepalive 2s+1s×3 + TCP_USER_TIMEOUT 5s',
  heartbeat: { intervalMs: 1000, timeoutMs: 3000 },
  socket: { tcpKeepalive: { idle: 2000, interval: 1000, count: 3 }, tcpUserTimeout: 5000 },
};
