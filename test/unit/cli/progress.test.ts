/**
 * Unit: the progress / ETA model (src/cli/progress.ts) on a fake clock, the plain-line
 * reporter's throttle and its output (no \r, no escapes), and the lab / bench / adaptive plans
 * built from what each run knows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/time/fake-clock.js';
import { ProgressPlan, ProgressReporter, formatDuration, interactiveTerminal, stripControl } from '../../../src/cli/progress.js';
import { labProgressPlan } from '../../../src/cli/lab-command.js';
import { adaptiveProgressPlan } from '../../../src/cli/lab-adaptive-command.js';
import { benchStepEstimate } from '../../../src/bench/plan.js';

const steps = (n: number, knownMs: number, guessMs: number) => Array.from({ length: n }, (_, i) => ({ label: `s${i}`, knownMs, guessMs }));

test('progress - before any step the ETA is the sum of the plan: known parts + guesses', () => {
  const clock = new FakeClock();
  const plan = new ProgressPlan(steps(3, 10_000, 2000), () => clock.now());
  assert.equal(plan.etaMs(), 36_000);
  assert.equal(plan.fraction(), 0);
  assert.equal(plan.done, 0);
});

test('progress - a running step counts down; the guess is corrected by what finished steps really took', () => {
  const clock = new FakeClock();
  const plan = new ProgressPlan(steps(3, 10_000, 2000), () => clock.now());
  plan.begin(0);
  clock.advance(4000);
  assert.equal(plan.etaMs(), 8000 + 2 * 12_000);
  // The first step took 16 s: its guessed 2 s really took 6 s → factor 3 for the others.
  clock.advance(12_000);
  plan.begin(1);
  assert.equal(plan.done, 1);
  assert.equal(plan.guessFactor(), 3);
  assert.equal(plan.etaMs(), 2 * (10_000 + 6000));
  clock.advance(1000);
  assert.equal(plan.etaMs(), 15_000 + 16_000);
});

test('progress - the ETA is never negative: a step past its estimate counts as ending now', () => {
  const clock = new FakeClock();
  const plan = new ProgressPlan(steps(2, 1000, 1000), () => clock.now());
  plan.begin(0);
  clock.advance(60_000);
  assert.equal(plan.etaMs(), 2000);
  plan.begin(1);
  clock.advance(3_600_000);
  assert.equal(plan.etaMs(), 0);
  assert.ok(plan.fraction() <= 1 && plan.fraction() > 0.99);
});

test('progress - one absurd step cannot make the ETA absurd: the correction factor is bounded', () => {
  const clock = new FakeClock();
  const plan = new ProgressPlan(steps(3, 0, 1000), () => clock.now());
  plan.begin(0);
  clock.advance(10_000_000);
  plan.begin(1);
  assert.equal(plan.guessFactor(), 10);
  assert.ok(plan.etaMs() <= 2 * 10 * 1000);
  const fast = new ProgressPlan(steps(3, 0, 1000), () => clock.now());
  fast.begin(0);
  fast.begin(1); // the first step took 0 ms
  assert.equal(fast.guessFactor(), 0.1);
  assert.ok(fast.etaMs() > 0);
});

test('progress - skipped steps (never started) are finished as skipped and teach nothing', () => {
  const clock = new FakeClock();
  const plan = new ProgressPlan(steps(4, 0, 5000), () => clock.now());
  plan.begin(0);
  clock.advance(5000);
  plan.begin(2); // step 1 was skipped (a system that cannot run here)
  assert.equal(plan.done, 2);
  assert.equal(plan.guessFactor(), 1);
  assert.equal(plan.current, 2);
  assert.equal(plan.etaMs(), 10_000);
  plan.finishAll();
  assert.equal(plan.done, 4);
  assert.equal(plan.etaMs(), 0);
  assert.equal(plan.fraction(), 1);
});

test('progress - formatDuration: rounded for people, never negative or NaN on screen', () => {
  assert.equal(formatDuration(400), '<1 s');
  assert.equal(formatDuration(12_400), '12 s');
  assert.equal(formatDuration(185_000), '3 min 05 s');
  assert.equal(formatDuration(3_720_000), '1 h 02 min');
  assert.equal(formatDuration(1e12), '> 99 h');
  assert.equal(formatDuration(-5), '?');
  assert.equal(formatDuration(Number.NaN), '?');
});

test('progress - interactive only on a terminal without CI=true, NO_COLOR or TERM=dumb', () => {
  assert.equal(interactiveTerminal({ isTTY: true }, {}), true);
  assert.equal(interactiveTerminal({ isTTY: false }, {}), false);
  assert.equal(interactiveTerminal({}, {}), false);
  assert.equal(interactiveTerminal({ isTTY: true }, { CI: 'true' }), false);
  assert.equal(interactiveTerminal({ isTTY: true }, { NO_COLOR: '1' }), false);
  assert.equal(interactiveTerminal({ isTTY: true }, { TERM: 'dumb' }), false);
});

test('progress - plain lines: one per phase change, within a phase at most one per 5 s, no control characters', () => {
  const clock = new FakeClock();
  const written: string[] = [];
  const stream = { write: (s: string) => (written.push(s), true), isTTY: false };
  const plan = new ProgressPlan(steps(2, 10_000, 2000), () => clock.now());
  const reporter = new ProgressReporter(plan, { stream, now: () => clock.now() });
  plan.begin(0);
  reporter.update('raw: starting');
  // 19,000 connections reported one by one over 10 s: two lines at most for the phase (every 5 s).
  for (let i = 1; i <= 19_000; i++) {
    if (i % 1900 === 0) clock.advance(1000);
    reporter.update('raw: connecting', `${i}/19000`);
  }
  reporter.update('raw: warm-up', '2 s');
  reporter.notice('skipped ws: \x1b[31mnot installed\r');
  plan.begin(1);
  reporter.update('lifeline: starting');
  reporter.stop();
  const lines = written.join('').split('\n').filter(Boolean);
  assert.ok(lines.length >= 5 && lines.length <= 7, `${lines.length} lines:\n${lines.join('\n')}`);
  assert.equal(reporter.lines, lines.length);
  for (const line of lines) {
    assert.doesNotMatch(line, /[\r\x1b]/, line);
    assert.match(line, /^ {2}\[[12]\/2\] /, line);
  }
  assert.match(lines[0]!, /raw: starting · ETA 24 s$/);
  assert.ok(lines.some((l) => /skipped ws: not installed$/.test(l)));
  assert.ok(lines.some((l) => l.startsWith('  [2/2] lifeline: starting')));
});

test('progress - stripControl removes escape sequences and control characters only', () => {
  assert.equal(stripControl('\x1b[2K\ra\tb\x1b[0mc'), 'abc');
  assert.equal(stripControl('lifeline · 3/5 s'), 'lifeline · 3/5 s');
});

test('progress - lab plan: one step per repetition, bounded by the longest fault window', () => {
  const clock = new FakeClock();
  const plan = labProgressPlan({ repetitions: 5, settleMs: 1500, faults: [{ id: 'a', label: 'A', windowMs: 30_000 }, { id: 'b', label: 'B', windowMs: 60_000 }] }, () => clock.now());
  assert.equal(plan.steps.length, 5);
  const eta = plan.etaMs();
  assert.ok(eta >= 5 * 61_500 && eta < 5 * 61_500 + 5 * 10_000, String(eta));
});

test('progress - adaptive plan: the measured time is known, the set-up guessed', () => {
  const clock = new FakeClock();
  const plan = adaptiveProgressPlan(240_000, () => clock.now());
  plan.begin(0);
  clock.advance(3000);
  plan.begin(1);
  clock.advance(100_000);
  const eta = plan.etaMs();
  assert.ok(eta >= 140_000 && eta <= 150_000, String(eta));
});

test('progress - bench estimate: warm-up and window known, start-up and connecting guessed and growing with connections', () => {
  const small = benchStepEstimate({ connections: 50, intervalMs: 1000, durationMs: 10_000, freeze: false, native: false, scale: false });
  const big = benchStepEstimate({ connections: 19_000, intervalMs: 1000, durationMs: 10_000, freeze: true, native: false, scale: false });
  assert.equal(small.knownMs, 2000 + 10_000);
  assert.equal(big.knownMs, small.knownMs);
  assert.ok(big.guessMs > small.guessMs && small.guessMs > 0);
});
