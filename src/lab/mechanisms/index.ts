/** The lab's rows, in display order. Add a mechanism: one file beside this one, one line here. */
import { none } from './none.js';
import { keepaliveDefault } from './keepalive-default.js';
import { keepaliveTuned } from './keepalive-tuned.js';
import { userTimeout } from './user-timeout.js';
import { heartbeat } from './heartbeat.js';
import { heartbeatWs } from './heartbeat-ws.js';
import { heartbeatUdp } from './heartbeat-udp.js';
import { heartbeatPhi } from './heartbeat-phi.js';
import { recommended } from './recommended.js';
import type { MechanismSpec } from './types.js';

export type { MechanismSpec } from './types.js';

export const MECHANISMS: readonly MechanismSpec[] = [none, keepaliveDefault, keepaliveTuned, userTimeout, heartbeat, heartbeatWs, heartbeatUdp, heartbeatPhi, recommended];

export function mechanismById(id: string): MechanismSpec {
  const m = MECHANISMS.find((x) => x.id === id);
  if (!m) throw new Error(`unknown lab mechanism "${id}" (known: ${MECHANISMS.map((x) => x.id).join(', ')})`);
  return m;
}
