import type { MechanismSpec } from './types.js';

export const userTimeout: MechanismSpec = {
  id: 'user-timeout',
  label: 'user timeout 4s',
  description: 'unacknowledged data for 4 s drops the connection; no keepalive',
  socket: { tcpUserTimeout: 4000 },
};
