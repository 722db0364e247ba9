/**
 * The rows of `lifeline lab --adaptive` (docs/spec/0007 §Wiring step 10): heartbeat settings
 * compared side by side, each on its own idle connection through the same NAT.
 *
 * Time is scaled down TIME_SCALE = 15×: the lab's NAT forgets idle flows after 4 s
 * (faults/nat-timeout.ts), standing for a 60 s NAT; every duration of the adaptive learner and of
 * the reconnect policy is its default divided by 15, so one real minute is one scaled quarter
 * hour and the default 240 s run is one scaled hour.
 */
import { NAT_LEARNER_DEFAULTS, type NatLearnerOptions, type ResolvedNatLearnerOptions } from '../../liveness/nat-learner.js';
import { RECONNECT_DEFAULTS, type ReconnectOptions } from '../../client/options.js';
import { NAT_TIMEOUT_S } from '../faults/nat-timeout.js';

/** Real time × TIME_SCALE = the time it stands for. */
export const TIME_SCALE = 15;
/** The emulated NAT's idle timeout, real ms (4 s; a 60 s NAT at scale). */
export const NAT_TIMEOUT_MS = NAT_TIMEOUT_S * 1000;
/** A fixed 30 s heartbeat (the common mobile-safe choice, spec 0007 §Abstract) pings this often per hour. */
export const FIXED_30S_PINGS_PER_HOUR = 3600 / 30;

const scaled = (ms: number) => Math.round(ms / TIME_SCALE);

/**
 * The learner's defaults scaled 15×: minIntervalMs 1000, stepMs 1000, resolutionMs 133,
 * safetyMarginMs 333, maxIntervalMs 40 000, reprobeAfterMs 24 h / 15 (96 min, so no re-probe
 * within a scaled hour); ratios and counts unchanged.
 */
export const SCALED_LEARNER: ResolvedNatLearnerOptions = {
  ...NAT_LEARNER_DEFAULTS,
  minIntervalMs: scaled(NAT_LEARNER_DEFAULTS.minIntervalMs),
  maxIntervalMs: scaled(NAT_LEARNER_DEFAULTS.maxIntervalMs),
  stepMs: scaled(NAT_LEARNER_DEFAULTS.stepMs),
  resolutionMs: scaled(NAT_LEARNER_DEFAULTS.resolutionMs),
  safetyMarginMs: scaled(NAT_LEARNER_DEFAULTS.safetyMarginMs),
  reprobeAfterMs: scaled(NAT_LEARNER_DEFAULTS.reprobeAfterMs),
  maxReprobeAfterMs: scaled(NAT_LEARNER_DEFAULTS.maxReprobeAfterMs),
};

/** The client's reconnect policy, scaled the same way (a death is followed by a quick resume). */
export const SCALED_RECONNECT: ReconnectOptions = {
  initialDelay: scaled(RECONNECT_DEFAULTS.initialDelay),
  maxDelay: scaled(RECONNECT_DEFAULTS.maxDelay),
  stableAfter: scaled(RECONNECT_DEFAULTS.stableAfter),
};

/**
 * Heartbeat timeout every client proposes, ms (45 s at scale): a dead idle flow is noticed within
 * a few seconds. Negotiation raises it to ≥ 1.5 × the interval (spec 0001).
 */
export const PROPOSED_TIMEOUT_MS = 3000;

export interface AdaptiveRowSpec {
  id: string;
  /** Short row label. */
  label: string;
  /** One sentence: what is configured. */
  description: string;
  /** Fixed heartbeat interval, real ms (not with `adaptive`). */
  intervalMs?: number;
  /** `heartbeat: 'adaptive'` with these learner settings (not with `intervalMs`). */
  adaptive?: NatLearnerOptions;
  /** Heartbeat timeout the client proposes, real ms (negotiation raises it to ≥ 1.5 × the interval). */
  timeoutMs: number;
}

export const fixed2s: AdaptiveRowSpec = {
  id: 'fixed-2s',
  label: 'fixed 2 s (= 30 s)',
  description: 'PING after 2 s of silence: the common 30 s choice, scaled 15×; safe under the 4 s NAT, but twice as often as needed',
  intervalMs: 2000,
  timeoutMs: PROPOSED_TIMEOUT_MS,
};

export const adaptive: AdaptiveRowSpec = {
  id: 'adaptive',
  label: 'adaptive (learns)',
  description: "heartbeat: 'adaptive' with the learner's defaults scaled 15× (starts at 1 s, steps up 1 s, settles 333 ms below the longest survived idle)",
  adaptive: SCALED_LEARNER,
  timeoutMs: PROPOSED_TIMEOUT_MS,
};

export const fixed6s: AdaptiveRowSpec = {
  id: 'fixed-6s',
  label: 'fixed 6 s (= 90 s)',
  description: 'PING after 6 s of silence, longer than the NAT keeps an idle flow: the failing baseline, dies every idle period',
  intervalMs: 6000,
  // The client refuses a timeout not above its own fixed interval; 1.5 × is what negotiation
  // would raise 3000 to anyway.
  timeoutMs: 9000,
};

/** Display order. */
export const ADAPTIVE_ROWS: readonly AdaptiveRowSpec[] = [fixed2s, adaptive, fixed6s];

export function adaptiveRowById(id: string): AdaptiveRowSpec {
  const row = ADAPTIVE_ROWS.find((r) => r.id === id);
  if (!row) throw new Error(`unknown adaptive lab row "${id}" (known: ${ADAPTIVE_ROWS.map((r) => r.id).join(', ')})`);
  return row;
}
