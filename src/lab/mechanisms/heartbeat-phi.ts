import type { MechanismSpec } from './types.js';

/**
 * The heartbeat judged by phi-accrual instead of a fixed timeout (docs/spec/0002-phi-accrual.md):
 * same 1 s interval; phi threshold 8 with the acceptable pause defaulting to timeout − interval.
 */
export const heartbeatPhi: MechanismSpec = {
  id: 'heartbeat-phi',
  label: 'heartbeat phi θ=8',
  description: 'same heartbeat (1 s), dead when phi-accrual suspicion reaches 8 (pause allowance 2 s)',
  heartbeat: { intervalMs: 1000, timeoutMs: 3000 },
  detector: { kind: 'phi', threshold: 8 },
};
