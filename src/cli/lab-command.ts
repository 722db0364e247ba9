/**
 * `lifeline lab`: the fault lab. Runs the faults × mechanisms matrix on real kernel faults
 * (network namespaces when root), prints the table, optionally writes every raw measurement as
 * JSON and a chart as HTML. `lab-agent` is the hidden helper the lab runs inside namespaces.
 */
import { writeFileSync } from 'node:fs';
import { SingleBar, Presets } from 'cli-progress';
import { runLab } from '../lab/runner.js';
import { renderLabReport } from '../lab/report.js';
import { renderLabHtml } from '../lab/html.js';
import { FAULTS } from '../lab/faults/index.js';
import { runAgent } from '../lab/agent.js';

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

export async function runLabCommand(opts: LabCommandOptions): Promise<number> {
  const mode = opts.full ? 'full' : 'quick';
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(`lifeline lab (${mode}): every fault below is injected for real and every mechanism is watched on real sockets.`);
  out(`Faults run in parallel, each in its own network namespaces. This takes about ${mode === 'quick' ? 'half a minute' : 'a few minutes'}.\n`);
  const faults = opts.faults?.split(',').map((s) => s.trim()).filter(Boolean);
  const bar = process.stdout.isTTY ? new SingleBar({ format: '  {bar} {value}/{total} faults · {label}', hideCursor: true, clearOnComplete: true }, Presets.shades_classic) : undefined;
  const startedAt = Date.now();
  const total = (faults?.length ?? FAULTS.length) * (opts.repetitions ?? (mode === 'full' ? 5 : 1));
  bar?.start(total, 0, { label: 'starting' });
  const ticker = bar ? setInterval(() => bar.update({ label: `${Math.round((Date.now() - startedAt) / 1000)} s` }), 500) : undefined;
  const result = await runLab({
    mode,
    ...(opts.repetitions ? { repetitions: opts.repetitions } : {}),
    ...(faults ? { faults } : {}),
    ...(opts.mechanisms ? { mechanisms: opts.mechanisms.split(',').map((s) => s.trim()) } : {}),
    loopback: opts.loopback,
    onProgress: ({ done, total: t, label }) => {
      if (bar) {
        bar.setTotal(t);
        bar.update(done, { label: `done: ${label}` });
      } else out(`  [${done}/${t}] ${label}`);
    },
  });
  clearInterval(ticker);
  bar?.stop();
  out('');
  out(renderLabReport(result));
  if (opts.json) {
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
