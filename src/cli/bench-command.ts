/**
 * `lifeline bench`: lifeline against raw `net`, ws, socket.io, MQTT and NATS, each with N
 * heartbeating connections held by separate generator processes against its own server
 * process (src/bench/harness.ts). Prints ratios to raw `net` (same run) as the headline, the
 * absolute figures under them, and optionally writes everything as JSON (`--json -`: the JSON
 * on stdout, the report on stderr). Progress and its ETA go to stderr (progress.ts): a bar on a
 * terminal, plain lines otherwise.
 */
import { writeFileSync } from 'node:fs';
import { runBench } from '../bench/harness.js';
import { benchStepEstimate } from '../bench/plan.js';
import { renderBenchReport } from '../bench/report.js';
import { parseSystems } from '../bench/systems.js';
import type { BenchConfig } from '../bench/types.js';
import { ProgressPlan, ProgressReporter } from './progress.js';

export interface BenchCommandOptions {
  connections: number;
  /** Heartbeat interval, ms. */
  interval: number;
  /** Measured window, ms. */
  duration: number;
  /** Comma-separated system ids (default: all). */
  systems?: string;
  json?: string;
  scale?: boolean;
  /** Freeze a generator holding 10 % of the connections and time the server's detection. */
  freeze?: boolean;
  /** Scale mode with the C load generator and independent server processes (implies --scale). */
  native?: boolean;
  /** lifeline's kernel socket tuning: 'default' or 'off'. */
  lifelineSocketTuning?: string;
  /** Run the system list this many times and report median ratios. */
  rounds?: number;
  /** Also run lifeline with lifelineMetrics() attached and scraped every second (lifeline-metrics), right after lifeline. */
  metrics?: boolean;
}

/** Bounds: keep a typo from opening a million sockets or sleeping for a day. */
const MAX_CONNECTIONS = 200_000;
/** With --native (C generators, ~60 B each per connection): the million, plus headroom. */
const MAX_CONNECTIONS_NATIVE = 1_200_000;
const MAX_DURATION_MS = 600_000;
const MAX_ROUNDS = 20;

function parseTuning(value: string | undefined): 'default' | 'off' {
  if (value === undefined || value === 'default' || value === 'off') return value ?? 'default';
  throw new RangeError(`--lifeline-socket-tuning must be 'default' or 'off', got ${value}`);
}

export async function runBenchCommand(opts: BenchCommandOptions): Promise<number> {
  // `--json -`: stdout carries the JSON alone, so the words move to stderr.
  const jsonToStdout = opts.json === '-';
  const out = (s: string) => (jsonToStdout ? process.stderr : process.stdout).write(`${s}\n`);
  const { connections, interval, duration } = opts;
  const native = opts.native ?? false;
  const max = native ? MAX_CONNECTIONS_NATIVE : MAX_CONNECTIONS;
  if (!Number.isInteger(connections) || connections < 1 || connections > max) {
    throw new RangeError(`--connections must be an integer in [1, ${max}]${native ? '' : ' (--native: up to 1,200,000)'}, got ${connections}`);
  }
  if (!(interval >= 50 && interval <= 60_000)) throw new RangeError(`--interval must be in [50, 60000] ms, got ${interval}`);
  if (!(duration >= 500 && duration <= MAX_DURATION_MS)) throw new RangeError(`--duration must be in [500, ${MAX_DURATION_MS}] ms, got ${duration}`);
  const rounds = opts.rounds ?? 1;
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > MAX_ROUNDS) throw new RangeError(`--rounds must be an integer in [1, ${MAX_ROUNDS}], got ${rounds}`);
  if (!opts.scale && !native && connections > 19_000) {
    throw new RangeError(`--connections ${connections}: one server process holds at most ~19,000 (ulimit -n 20,000); use --scale`);
  }
  const config: BenchConfig = {
    connections,
    intervalMs: interval,
    durationMs: duration,
    systems: parseSystems(opts.systems ?? (native ? 'raw,lifeline' : opts.scale ? 'raw,lifeline,ws' : undefined), { metrics: opts.metrics ?? false }),
    scale: (opts.scale ?? false) || native,
    freeze: opts.freeze ?? false,
    native,
    lifelineSocketTuning: parseTuning(opts.lifelineSocketTuning),
    rounds,
  };
  out(
    `lifeline bench: ${connections} connections per system, heartbeat every ${interval} ms, ${duration / 1000} s measured; ` +
      `systems: ${config.systems.join(', ')}` +
      (rounds > 1 ? `, ${rounds} rounds` : '') +
      (native ? ' (native mode: C load generators, independent server processes)' : config.scale ? ' (scale mode: cluster servers)' : '') +
      '.',
  );
  out('Each system gets its own server process and separate load-generator processes, one system at a time.\n');

  const steps = config.systems.length * rounds;
  const estimate = benchStepEstimate(config);
  const plan = new ProgressPlan(
    Array.from({ length: steps }, (_, i) => ({ label: config.systems[i % config.systems.length]!, ...estimate })),
    () => performance.now(),
  );
  const progress = new ProgressReporter(plan, { unit: 'systems' });
  let result;
  try {
    result = await runBench(config, {
      progress: ({ system, index, round, step, detail }) => {
        plan.begin(index);
        const where = rounds > 1 ? `round ${round + 1}/${rounds}: ` : '';
        progress.update(`${system}: ${where}${step}`, detail);
      },
      notice: (line) => progress.notice(line),
    });
  } finally {
    progress.stop();
  }
  out('');
  out(renderBenchReport(result));
  if (jsonToStdout) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else if (opts.json) {
    writeFileSync(opts.json, `${JSON.stringify(result, null, 2)}\n`);
    out(`\nraw measurements: ${opts.json}`);
  }
  const ran = (result.rounds ?? [result.results]).flat().filter((r) => !r.skipped);
  return ran.length > 0 && ran.every((r) => !r.error) ? 0 : 1;
}
