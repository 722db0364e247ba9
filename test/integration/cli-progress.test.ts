/**
 * Integration: progress of a real `lifeline bench` run without a terminal (issue 13 §5). A tiny
 * run (50 connections, 200 ms heartbeat, 1 s measured; raw, and lifeline with and without
 * metrics through --metrics) with `--json -`: stdout is the JSON alone and parses; stderr has
 * plain progress lines — no `\r`, no escape sequence, each system's phases in order, a bounded
 * count — and the report with the metrics on/off line. No figure is asserted: the machine is
 * shared; the ratios are `lifeline bench --metrics` runs (BENCHMARKS.md §Metrics on vs off).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from '../../src/bench/types.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SYSTEMS = ['raw', 'lifeline', 'lifeline-metrics'];
/** The harness's steps for one system, in order (src/bench/harness.ts BenchStep). */
const PHASES = ['starting', 'connecting', 'warm-up', 'measuring', 'stopping'];

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.CI;
    delete env.NO_COLOR;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`lifeline ${args[0]} did not finish in ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('lifeline bench --metrics --json - without a terminal: JSON alone on stdout, plain bounded progress on stderr', { timeout: 120_000 }, async () => {
  const { code, stdout, stderr } = await run(['bench', '--connections', '50', '--interval', '200', '--duration', '1000', '--systems', 'raw', '--metrics', '--json', '-'], 110_000);
  assert.equal(code, 0, stderr);

  const result = JSON.parse(stdout) as BenchResult;
  assert.deepEqual(result.config.systems, SYSTEMS);
  for (const r of result.results) {
    assert.equal(r.error, undefined, `${r.system}: ${String(r.error)}`);
    assert.equal(r.connectionsOpen, 50, r.system);
    assert.ok(r.derived && r.derived.roundTrips > 0, `${r.system} measured round trips`);
  }

  assert.doesNotMatch(stderr, /\r/, 'no carriage return without a terminal');
  assert.doesNotMatch(stderr, /\x1b/, 'no escape sequence without a terminal');
  const progress = stderr.split('\n').filter((l) => /^ {2}\[\d+\/\d+\] /.test(l));
  // One line per phase change (5 per system) and, within a phase, one per 5 s at most: a 1 s
  // window and 50 connections give no repeats unless the machine is very slow.
  assert.ok(progress.length >= SYSTEMS.length * PHASES.length && progress.length <= SYSTEMS.length * (PHASES.length + 4), `${progress.length} progress lines:\n${progress.join('\n')}`);
  for (const [i, system] of SYSTEMS.entries()) {
    const mine = progress.filter((l) => l.startsWith(`  [${i + 1}/${SYSTEMS.length}] ${system}: `));
    const seen = mine.map((l) => PHASES.find((p) => l.includes(`${system}: ${p}`)));
    assert.deepEqual([...new Set(seen)], PHASES, `${system}'s phases in order:\n${mine.join('\n')}`);
    for (const line of mine) assert.match(line, / · ETA (<1 s|\d+ s|\d+ min \d\d s)$/, line);
  }
  assert.match(stderr, /Metrics on vs off \(lifeline with lifelineMetrics\(\) scraped every second ÷ lifeline without, same run\):\n {2}CPU per heartbeat \d+\.\d{3}×; heap per connection \d+\.\d{3}×\./);
});
