/**
 * Detector selection (docs/spec/0002-phi-accrual.md §Settings): `detector` is a per-server and
 * per-client option; this turns it, plus the negotiated heartbeat, into a FailureDetector.
 * validateDetectorSpec() is for options.ts: it fails fast at construction, naming the option.
 */
import { InvalidOptionError } from '../../errors.js';
import { FixedTimeoutDetector } from './fixed.js';
import { MAX_SAMPLE_SIZE_LIMIT, PhiAccrualDetector } from './phi-accrual.js';
import type { DetectorSpec, FailureDetector } from './types.js';

export type { DetectorSpec, FailureDetector } from './types.js';
export { FixedTimeoutDetector } from './fixed.js';
export { PhiAccrualDetector, PHI_DEFAULTS, phiOf, standardizedSilenceAt } from './phi-accrual.js';
export type { PhiAccrualOptions } from './phi-accrual.js';

export interface DetectorParams {
  /** Negotiated heartbeat timeout, ms: the fixed detector's timeout; sets phi's default pause. */
  timeoutMs: number;
  /** This side's idle wait before a PING, ms (pingSchedule().pingAfterMs): phi's idle cadence. */
  pingAfterMs: number;
  /** Now (handshake done), ms. */
  nowMs: number;
}

/**
 * undefined or 'fixed' → dead after timeoutMs of silence (spec 0001). 'phi' → phi-accrual with
 * expectedIdleGapMs = firstHeartbeatEstimateMs = pingAfterMs and, unless given,
 * acceptablePauseMs = timeoutMs − pingAfterMs: a silent peer then gets at least the fixed
 * timeout plus the learned round trip and k·std — phi only ever adds margin to 'fixed' with these
 * defaults; a smaller pause trades false alarms for faster detection (spec 0002 §Results).
 */
export function createDetector(spec: DetectorSpec | undefined, params: DetectorParams): FailureDetector {
  const { timeoutMs, pingAfterMs, nowMs } = params;
  if (spec === undefined || spec.kind === 'fixed') return new FixedTimeoutDetector(timeoutMs, nowMs);
  return new PhiAccrualDetector(
    {
      ...(spec.threshold !== undefined ? { threshold: spec.threshold } : {}),
      ...(spec.maxSampleSize !== undefined ? { maxSampleSize: spec.maxSampleSize } : {}),
      ...(spec.minStdDeviationMs !== undefined ? { minStdDeviationMs: spec.minStdDeviationMs } : {}),
      acceptablePauseMs: spec.acceptablePauseMs ?? Math.max(0, timeoutMs - pingAfterMs),
      expectedIdleGapMs: pingAfterMs,
      firstHeartbeatEstimateMs: pingAfterMs,
    },
    nowMs,
  );
}

const PHI_FIELDS: Record<string, { ok: (v: number) => boolean; rule: string }> = {
  threshold: { ok: (v) => v > 0, rule: 'a finite number > 0' },
  maxSampleSize: {
    ok: (v) => Number.isInteger(v) && v >= 1 && v <= MAX_SAMPLE_SIZE_LIMIT,
    rule: `an integer in [1, ${MAX_SAMPLE_SIZE_LIMIT}]`,
  },
  minStdDeviationMs: { ok: (v) => v > 0, rule: 'a finite number > 0' },
  acceptablePauseMs: { ok: (v) => v >= 0, rule: 'a finite number >= 0' },
};

/** Throws InvalidOptionError naming `${optionName}` (or `${optionName}.field`) unless spec is a valid DetectorSpec or undefined. */
export function validateDetectorSpec(spec: unknown, optionName: string): asserts spec is DetectorSpec | undefined {
  if (spec === undefined) return;
  if (typeof spec !== 'object' || spec === null) {
    throw new InvalidOptionError(optionName, `must be { kind: 'fixed' } or { kind: 'phi', ... }, got ${String(spec)}`);
  }
  const record = spec as Record<string, unknown>;
  const kind = record['kind'];
  if (kind !== 'fixed' && kind !== 'phi') {
    throw new InvalidOptionError(`${optionName}.kind`, `must be 'fixed' or 'phi', got ${JSON.stringify(kind) ?? String(kind)}`);
  }
  for (const [key, value] of Object.entries(record)) {
    if (key === 'kind' || value === undefined) continue;
    const field = kind === 'phi' && Object.hasOwn(PHI_FIELDS, key) ? PHI_FIELDS[key] : undefined;
    if (field === undefined) throw new InvalidOptionError(`${optionName}.${key}`, `is not a setting of the '${kind}' detector`);
    if (typeof value !== 'number' || !Number.isFinite(value) || !field.ok(value)) {
      throw new InvalidOptionError(`${optionName}.${key}`, `must be ${field.rule}, got ${String(value)}`);
    }
  }
}
