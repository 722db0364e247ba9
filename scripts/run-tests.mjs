#!/usr/bin/env node
// Runs the node:test suites. Node 20's `node --test` does not expand globs, so we list files
// ourselves. Usage: node scripts/run-tests.mjs [--serial] [unit|integration|path-fragment ...]
//
// Two lanes, side by side (the whole suite on 2 cores in about half the serial time):
// - the main lane: integration files one at a time, so CPU-heavy tests (floods, storms,
//   chaos, leaks, bench smoke) never share the machine with each other;
// - the waiting lane: unit and fuzz files (short, fake clocks), then the files whose time is
//   spent waiting on the wall clock or another process — a tab hidden for 60 s, a NAT timeout
//   being learned, lab faults held for seconds, a browser page — and which assert only bounds
//   with slack for a busy machine.
// --serial (or LIFELINE_TEST_SERIAL=1) runs everything in one lane, as before.
import { readdirSync, statSync, mkdtempSync, createWriteStream, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'fixtures' ? [] : walk(p);
    return /\.test\.ts$/.test(name) ? [p] : [];
  });
}
const argv = process.argv.slice(2);
const serial = argv.includes('--serial') || process.env.LIFELINE_TEST_SERIAL === '1';
const filters = argv.filter((a) => a !== '--serial');
const files = walk(join(root, 'test'))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched', filters);
  process.exit(1);
}

/** Files that mostly wait (timers, child processes, Chromium): the waiting lane, after unit. */
const WAITING = [
  'test/integration/browser.test.ts',
  'test/integration/adaptive-heartbeat.test.ts',
  'test/integration/lab/adaptive-nat.test.ts',
  'test/integration/lab/lab-reduced.test.ts',
  'test/integration/dashboard.test.ts',
  'test/integration/dashboard-results.test.ts',
  // Eleven cases that each wait seconds for a peer that does not read (write() false, no drain).
  'test/integration/transport-backpressure.test.ts',
];
const isMain = (f) => f.startsWith('test/integration/') && !WAITING.includes(f);
const lanes = serial ? [files] : [files.filter(isMain), files.filter((f) => !isMain(f))].filter((l) => l.length > 0);

function run(laneFiles, out) {
  const args = ['--import', 'tsx', '--test', '--test-concurrency=1', ...laneFiles];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: out ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    if (out) {
      child.stdout.pipe(out, { end: false });
      child.stderr.pipe(out, { end: false });
    }
    child.on('exit', (code, signal) => resolve(signal ? 1 : code ?? 1));
  });
}

const started = Date.now();
if (lanes.length === 1) {
  process.exit(await run(lanes[0]));
}
// The main lane streams live; the waiting lane's output is kept in a file and printed after it,
// so the two never interleave.
const dir = mkdtempSync(join(tmpdir(), 'lifeline-tests-'));
const laneFile = join(dir, 'waiting-lane.txt');
const out = createWriteStream(laneFile);
const [mainCode, waitingCode] = await Promise.all([run(lanes[0]), run(lanes[1], out)]);
await new Promise((resolve) => out.end(resolve));
process.stdout.write(`\n# ---- waiting lane (${lanes[1].length} files: unit, fuzz, and ${lanes[1].filter((f) => WAITING.includes(f)).length} that wait on the clock) ----\n`);
process.stdout.write(readFileSync(laneFile));
rmSync(dir, { recursive: true, force: true });
const seconds = Math.round((Date.now() - started) / 1000);
process.stdout.write(`\n# lanes: main ${mainCode === 0 ? 'passed' : 'FAILED'}, waiting ${waitingCode === 0 ? 'passed' : 'FAILED'}; ${seconds} s in all\n`);
process.exit(mainCode !== 0 ? mainCode : waitingCode);
