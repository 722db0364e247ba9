import type { MechanismSpec } from './types.js';

export const none: MechanismSpec = {
  id: 'none',
  label: 'plain TCP',
  description: 'no keepalive, no heartbeat: Linux defaults',
};
