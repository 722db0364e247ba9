/**
 * `lifeline lab --detectors`: the fixed-vs-phi detector comparison (src/lab/detector-sim.ts).
 * A deterministic simulation, no sockets and no root; prints the table and optionally writes the
 * result as JSON (undetected deaths appear as null there: JSON has no Infinity).
 */
import { writeFileSync } from 'node:fs';
import { renderDetectorTable, runDetectorSimulation } from '../lab/detector-sim.js';
import { InvalidOptionError } from '../errors.js';

export interface DetectorsCommandOptions {
  /** PRNG seed. Default 1. */
  seed?: number;
  /** Simulated hours of a live peer per row. Default 1. */
  hours?: number;
  /** Death trials per row. Default 200. */
  trials?: number;
  /** Write the result as JSON to this path. */
  json?: string;
}

/** Bounds keep an argv typo from running for minutes. */
const MAX_HOURS = 1000;
const MAX_TRIALS = 100_000;

export function runDetectorsCommand(opts: DetectorsCommandOptions): void {
  const { seed, hours, trials } = opts;
  if (seed !== undefined && !Number.isInteger(seed)) throw new InvalidOptionError('seed', `must be an integer, got ${seed}`);
  if (hours !== undefined && !(hours > 0 && hours <= MAX_HOURS)) {
    throw new InvalidOptionError('hours', `must be in (0, ${MAX_HOURS}], got ${hours}`);
  }
  if (trials !== undefined && !(Number.isInteger(trials) && trials >= 1 && trials <= MAX_TRIALS)) {
    throw new InvalidOptionError('trials', `must be an integer in [1, ${MAX_TRIALS}], got ${trials}`);
  }
  const result = runDetectorSimulation({
    ...(seed !== undefined ? { seed } : {}),
    ...(hours !== undefined ? { hours } : {}),
    ...(trials !== undefined ? { trials } : {}),
  });
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(renderDetectorTable(result));
  if (opts.json) {
    writeFileSync(opts.json, `${JSON.stringify(result, null, 2)}\n`);
    out(`\nresult: ${opts.json}`);
  }
}
