/**
 * `lifeline lab`: the fault lab. Runs the faults × mechanisms matrix on real kernel faults
 * (network namespaces when root), prints the table, optionally writes every raw measurement as
 * JSON (`--json -`: on stdout, the words then on stderr) and a chart as HTML. Progress with an
 * ETA on stderr (progress.ts). `lab-agent` is the hidden helper the lab runs inside namespaces.
 */
import { writeFileSync } from 'node:fs';
import { runLab, type LabPlan } from '../lab/runner.js';
import { renderLabReport } from '../lab/report.js';
import { renderLabHtml } from '../lab/html.js';
import { runAgent } from '../lab/agent.js';
import { ProgressPlan, ProgressReporter } from './progress.js';

export interface LabCommandOptions {
  full: boolean;
  quick: boolean;
  json?: string;
  html?: string;
  faults?: string;
  mechanisms?: string;
  repetitions?: number;
  loopback: boolean;
}

/**
 * A round's topology, agents and connections before its settle time, ms: a guess (the ETA
 * corrects it after the first round).
 */
const ROUND_SETUP_GUESS_MS = 4000;

/** One progress step per repetition: the faults of a round run in parallel, the longest window bounds it. */
export function labProgressPlan(plan: LabPlan, now: () => number): ProgressPlan {
  const longest = Math.max(0, ...plan.faults.map((f) => f.windowMs));
  return new ProgressPlan(
    Array.from({ length: plan.repetitions }, (_, i) => ({ label: `repetition ${i + 1}`, knownMs: plan.settleMs, guessMs: ROUND_SETUP_GUESS_MS + longest })),
    now,
  );
}

export async function runLabCommand(opts: LabCommandOptions): Promise<number> {
  const mode = opts.full ? 'full' : 'quick';
  const jsonToStdout = opts.json === '-';
  const out = (s: string) => (jsonToStdout ? process.stderr : process.stdout).write(`${s}\n`);
  out(`lifeline lab (${mode}): every fault below is injected for real and every mechanism is watched on real sockets.`);
  out(`Faults run in parallel, each in its own network namespaces. This takes about ${mode === 'quick' ? 'half a minute' : 'a few minutes'}.\n`);
  const faults = opts.faults?.split(',').map((s) => s.trim()).filter(Boolean);
  let progress: ProgressReporter | undefined;
  let faultCount = 0;
  const doneIn = new Map<number, number>();
  const phase = (rep: number, repetitions: number) => (repetitions > 1 ? `repetition ${rep + 1}/${repetitions}` : 'faults');
  let result;
  try {
    result = await runLab({
      mode,
      ...(opts.repetitions ? { repetitions: opts.repetitions } : {}),
      ...(faults ? { faults } : {}),
      ...(opts.mechanisms ? { mechanisms: opts.mechanisms.split(',').map((s) => s.trim()) } : {}),
      loopback: opts.loopback,
      onPlan: (plan) => {
        faultCount = plan.faults.length;
        progress = new ProgressReporter(labProgressPlan(plan, () => performance.now()), { unit: plan.repetitions > 1 ? 'repetitions' : 'rounds' });
        progress.plan.begin(0);
        progress.update(phase(0, plan.repetitions), `${faultCount} faults in parallel`);
      },
      onProgress: ({ label, repetition }) => {
        if (!progress) return;
        const reps = progress.plan.steps.length;
        const done = (doneIn.get(repetition) ?? 0) + 1;
        doneIn.set(repetition, done);
        if (done === faultCount) {
          progress.plan.finish(repetition);
          progress.plan.begin(repetition + 1);
          if (repetition + 1 < reps) progress.update(phase(repetition + 1, reps), `${faultCount} faults in parallel`);
          return;
        }
        progress.update(phase(repetition, reps), `${done}/${faultCount} faults done (last: ${label})`);
      },
    });
  } finally {
    progress?.stop();
  }
  out('');
  out(renderLabReport(result));
  if (jsonToStdout) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else if (opts.json) {
    writeFileSync(opts.json, `${JSON.stringify(result, null, 2)}\n`);
    out(`\nraw measurements: ${opts.json}`);
  }
  if (opts.html) {
    writeFileSync(opts.html, renderLabHtml(result));
    out(`chart: ${opts.html}`);
  }
  return result.errors.length === 0 ? 0 : 1;
}

export interface LabAgentCommandOptions {
  role: 'server' | 'client';
  host: string;
  ports: string;
  mechanisms: string;
}

export async function runLabAgentCommand(opts: LabAgentCommandOptions): Promise<void> {
  await runAgent({
    role: opts.role,
    host: opts.host,
    ports: opts.ports.split(',').map(Number),
    mechanisms: opts.mechanisms.split(','),
  });
}
