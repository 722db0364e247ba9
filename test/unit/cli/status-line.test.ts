/**
 * Unit: `lifeline client`'s status line (src/cli/status-line.ts) on a fake clock: what the line
 * says, the redraw rate on a terminal, erasing before other output, and plain mode (a line per
 * state change, the periodic one at most every everyMs, never an escape sequence).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/time/fake-clock.js';
import { REDRAW_MS, StatusLine, formatHeard, formatRtt, renderStatus, type LinkState, type StatusSnapshot } from '../../../src/cli/status-line.js';
import type { ClientStats } from '../../../src/client/client-stats.js';

const stats = (over: Partial<ClientStats> = {}): ClientStats => ({
  rttMs: 0.5,
  smoothedRttMs: 0.4234,
  lastHeardMs: 412,
  serverStatus: 'ok',
  serverLoad: 26,
  connects: 3,
  reconnects: 2,
  resumes: 1,
  messagesSent: 7,
  bytesSent: 70,
  messagesReceived: 5,
  bytesReceived: 50,
  ...over,
});

test('status line - one line with state, smoothed RTT, last heard, server status + load, reconnects, resumes, messages', () => {
  const line = renderStatus({ state: 'healthy', stats: stats() });
  assert.equal(line, 'healthy · RTT 0.42 ms · heard 0.4 s ago · server ok, load 10 % · reconnects 2 · resumes 1 · messages in 5 / out 7');
  const before = renderStatus({ state: 'connecting', stats: stats({ smoothedRttMs: undefined, lastHeardMs: undefined }) });
  assert.match(before, /^connecting · RTT — · heard — · /);
});

test('status line - RTT and last heard are rounded for people', () => {
  assert.equal(formatRtt(3.456), '3.5 ms');
  assert.equal(formatRtt(87.4), '87 ms');
  assert.equal(formatRtt(undefined), '—');
  assert.equal(formatHeard(9_960), '10.0 s ago');
  assert.equal(formatHeard(12_400), '12 s ago');
  assert.equal(formatHeard(-1), '—');
});

function terminal(clock: FakeClock, state: { s: LinkState }, columns?: number) {
  const out: string[] = [];
  const line = new StatusLine({
    clock,
    interactive: true,
    stream: { write: (c: string) => (out.push(c), true), ...(columns ? { columns } : {}) },
    snapshot: (): StatusSnapshot => ({ state: state.s, stats: stats() }),
  });
  return { out, line };
}

test('status line - on a terminal: redrawn in place (\\r + erase line), at most 1000 / REDRAW_MS times a second', () => {
  const clock = new FakeClock();
  const { out, line } = terminal(clock, { s: 'healthy' });
  line.start();
  clock.advance(10_000);
  assert.ok(line.draws <= 10_000 / REDRAW_MS && line.draws >= 10_000 / REDRAW_MS - 1, `${line.draws} draws`);
  for (const chunk of out) {
    assert.ok(chunk.startsWith('\r\x1b[2K'), JSON.stringify(chunk));
    assert.ok(!chunk.includes('\n'), 'a redraw never adds a row');
  }
  line.stop();
  const after = line.draws;
  clock.advance(10_000);
  assert.equal(line.draws, after, 'no draw after stop');
  assert.equal(out.at(-1), '\r\x1b[2K', 'stop erases the line');
});

test('status line - other output erases the line first; it comes back at the next tick', () => {
  const clock = new FakeClock();
  const { out, line } = terminal(clock, { s: 'healthy' });
  line.start();
  clock.advance(REDRAW_MS);
  out.length = 0;
  line.beforeOutput();
  out.push('a message\n');
  line.beforeOutput(); // nothing drawn since: nothing to erase
  out.push('a log line\n');
  assert.deepEqual(out, ['\r\x1b[2K', 'a message\n', 'a log line\n']);
  clock.advance(REDRAW_MS);
  assert.match(out.at(-1)!, /^\r\x1b\[2Khealthy · /);
  line.stop();
});

test('status line - cut to the terminal width (a wrapped line could not be erased)', () => {
  const clock = new FakeClock();
  const { out, line } = terminal(clock, { s: 'reconnecting' }, 40);
  line.start();
  clock.advance(REDRAW_MS);
  const drawn = out.at(-1)!.slice('\r\x1b[2K'.length);
  assert.ok(drawn.length < 40, drawn);
  assert.ok(drawn.startsWith('reconnecting · RTT'));
  line.stop();
});

test('status line - plain mode: a line per state change and one every everyMs at most in between, no escapes', () => {
  const clock = new FakeClock();
  const state = { s: 'connecting' as LinkState };
  const plain: { state: LinkState; line: string; at: number }[] = [];
  const line = new StatusLine({
    clock,
    interactive: false,
    everyMs: 30_000,
    snapshot: () => ({ state: state.s, stats: stats() }),
    plain: (snap, text) => plain.push({ state: snap.state, line: text, at: clock.now() }),
  });
  line.start();
  clock.advance(1000);
  state.s = 'healthy';
  line.stateChanged();
  line.stateChanged(); // same state: nothing
  clock.advance(20_000);
  state.s = 'dead';
  line.stateChanged();
  state.s = 'reconnecting';
  line.stateChanged();
  state.s = 'healthy';
  line.stateChanged();
  clock.advance(95_000);
  line.stop();
  clock.advance(60_000);
  assert.deepEqual(plain.map((p) => p.state), ['connecting', 'healthy', 'dead', 'reconnecting', 'healthy', 'healthy', 'healthy', 'healthy']);
  // The periodic lines come 30 s after the previous line, never closer.
  const periodic = plain.slice(5);
  assert.deepEqual(periodic.map((p) => p.at), [51_000, 81_000, 111_000]);
  for (const p of plain) assert.doesNotMatch(p.line, /[\r\n\x1b]/);
});

test('status line - plain mode with everyMs 0: state changes only', () => {
  const clock = new FakeClock();
  const state = { s: 'healthy' as LinkState };
  let lines = 0;
  const line = new StatusLine({ clock, interactive: false, everyMs: 0, snapshot: () => ({ state: state.s, stats: stats() }), plain: () => void lines++ });
  line.start();
  clock.advance(3_600_000);
  assert.equal(lines, 1);
  assert.equal(clock.pendingTimers, 0);
  line.stop();
});
