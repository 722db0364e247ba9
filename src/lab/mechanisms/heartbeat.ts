import type { MechanismSpec } from './types.js';

export const heartbeat: MechanismSpec = {
  id: 'heartbeat',
  label: 'heartbeat 1s/3s',
  description: 'idle-driven PING after 1 s of silence, dead after 3 s with nothing received',
  heartbeat: { intervalMs: 1000, timeoutMs: 3000 },
};
