/** The lab's columns, in display order. Add a fault: one file beside this one, one line here. */
import { natTimeout } from './nat-timeout.js';
import { cableCutIdle, cableCutData } from './cable-cut.js';
import { frozenServer } from './frozen.js';
import { overloadedServer } from './overloaded.js';
import { processCrash } from './process-crash.js';
import { hostCrash } from './host-crash.js';
import { proxyBlackhole } from './proxy-blackhole.js';
import type { FaultSpec } from './types.js';

export type { FaultSpec, FaultContext, PathProxy } from './types.js';

export const FAULTS: readonly FaultSpec[] = [natTimeout, cableCutIdle, cableCutData, frozenServer, overloadedServer, processCrash, hostCrash, proxyBlackhole];

export function faultById(id: string): FaultSpec {
  const f = FAULTS.find((x) => x.id === id);
  if (!f) throw new Error(`unknown lab fault "${id}" (known: ${FAULTS.map((x) => x.id).join(', ')})`);
  return f;
}
