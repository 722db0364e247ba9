import type { MechanismSpec } from './types.js';

export const keepaliveTuned: MechanismSpec = {
  id: 'keepalive-tuned',
  label: 'keepalive 2s+1s×3',
  description: 'TCP_KEEPIDLE 2 s, TCP_KEEPINTVL 1 s, TCP_KEEPCNT 3: a dead idle peer in ~5 s',
  socket: { tcpKeepalive: { idle: 2000, interval: 1000, count: 3 } },
};
