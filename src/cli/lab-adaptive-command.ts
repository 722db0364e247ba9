/**
 * `lifeline lab --adaptive [--adaptive-seconds N] [--json FILE] [--loopback]`: fixed and adaptive
 * heartbeats side by side on the namespace NAT for a scaled hour (src/lab/adaptive/).
 * `lab-adaptive-agent` is the hidden helper it runs inside namespaces. Progress with an ETA on
 * stderr (progress.ts); `--json -` puts the JSON on stdout and the words on stderr.
 */
import { writeFileSync } from 'node:fs';
import { ProgressPlan, ProgressReporter } from './progress.js';
import { DEFAULT_ADAPTIVE_DURATION_MS, runAdaptiveNat } from '../lab/adaptive/runner.js';
import { progressLabel, renderAdaptiveReport } from '../lab/adaptive/report.js';
import { runAdaptiveAgent } from '../lab/adaptive/agent.js';
import { NAT_TIMEOUT_MS, TIME_SCALE } from '../lab/adaptive/rows.js';

export interface AdaptiveLabCommandOptions {
  /** Measured seconds (real). */
  adaptiveSeconds?: number;
  json?: string;
  loopback: boolean;
}

/** Without a terminal, a progress line this often. */
const PLAIN_PROGRESS_EVERY_MS = 30_000;
/** Namespaces (or proxies), agents and their connections before the measured time starts, ms: a guess. */
const SETUP_GUESS_MS = 5000;
/** After it: the NAT's counts, the client's report, teardown. */
const TEARDOWN_GUESS_MS = 2000;

/** Setting up (guessed), then the measured time (known) and the teardown (guessed). */
export function adaptiveProgressPlan(durationMs: number, now: () => number): ProgressPlan {
  return new ProgressPlan(
    [
      { label: 'setting up', knownMs: 0, guessMs: SETUP_GUESS_MS },
      { label: 'measuring', knownMs: durationMs, guessMs: TEARDOWN_GUESS_MS },
    ],
    now,
  );
}

export async function runAdaptiveLabCommand(opts: AdaptiveLabCommandOptions): Promise<number> {
  const jsonToStdout = opts.json === '-';
  const out = (s: string) => (jsonToStdout ? process.stderr : process.stdout).write(`${s}\n`);
  const durationMs = opts.adaptiveSeconds !== undefined ? opts.adaptiveSeconds * 1000 : DEFAULT_ADAPTIVE_DURATION_MS;
  if (!(Number.isFinite(durationMs) && durationMs > 0)) {
    out(`lifeline lab --adaptive: --adaptive-seconds must be a number > 0, got ${String(opts.adaptiveSeconds)}`);
    return 2;
  }
  const scaledMin = (durationMs * TIME_SCALE) / 60_000;
  out(`lifeline lab --adaptive: fixed and adaptive heartbeats side by side, each on one idle connection through a NAT that forgets`);
  out(`idle flows after ${NAT_TIMEOUT_MS / 1000} s (a ${(NAT_TIMEOUT_MS * TIME_SCALE) / 1000} s NAT scaled ${TIME_SCALE}× down). ` +
    `This takes ${Math.round(durationMs / 1000)} s (${scaledMin.toFixed(0)} min at scale).\n`);
  const plan = adaptiveProgressPlan(durationMs, () => performance.now());
  // The measured time is long and uneventful: a plain line every 30 s is enough.
  const progress = new ProgressReporter(plan, { unit: 'steps', plainEveryMs: PLAIN_PROGRESS_EVERY_MS });
  plan.begin(0);
  progress.update('setting up');
  let result;
  try {
    result = await runAdaptiveNat({
      durationMs,
      loopback: opts.loopback,
      onProgress: ({ elapsedMs, rows }) => {
        plan.begin(1);
        progress.update('measuring', `${Math.round(elapsedMs / 1000)}/${Math.round(durationMs / 1000)} s · ${progressLabel(rows)}`);
      },
    });
  } finally {
    progress.stop();
  }
  if (result.environment.kind === 'loopback') {
    out(`Ran on loopback (${result.environment.reason}): the NAT was a user-space proxy (FaultProxy idleTimeoutMs ${NAT_TIMEOUT_MS}), not the kernel's conntrack.\n`);
  }
  out(renderAdaptiveReport(result));
  if (jsonToStdout) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else if (opts.json) {
    writeFileSync(opts.json, `${JSON.stringify(result, null, 2)}\n`);
    out(`\nraw measurements: ${opts.json}`);
  }
  return result.rows.some((r) => r.gaveUp) ? 1 : 0;
}

export interface LabAdaptiveAgentCommandOptions {
  role: 'server' | 'client';
  host: string;
  ports: string;
  rows: string;
}

export async function runLabAdaptiveAgentCommand(opts: LabAdaptiveAgentCommandOptions): Promise<void> {
  await runAdaptiveAgent({ role: opts.role, host: opts.host, ports: opts.ports.split(',').map(Number), rows: opts.rows.split(',') });
}
