import type { MechanismSpec } from './types.js';

export const keepaliveDefault: MechanismSpec = {
  id: 'keepalive-default',
  label: 'keepalive (defaults)',
  description: 'keepalive on; idle/interval/count from the namespace sysctls (scaled Linux defaults)',
  socket: { tcpKeepalive: true },
};
