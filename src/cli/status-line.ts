/**
 * `lifeline client`'s live status (issue 13 §4; docs/spec/0015-metrics.md §Client status line):
 * state, smoothed RTT, time since the server was last heard, server status + load, reconnects,
 * resumes, messages in / out, from `client.stats()`.
 *
 * - Interactive terminal (progress.ts `interactiveTerminal`; the CLI also requires a log format
 *   other than json): one line on stderr, redrawn in place (`\r` + erase line) on a timer,
 *   at most 1000 / REDRAW_MS times a second. Anything else written to the terminal — a received
 *   message, a log line — goes through `beforeOutput()`: the line is erased first and drawn
 *   again at the next tick, so the two never share a row.
 * - Otherwise: no escape sequences. `plain(snapshot)` is called when the state changes and, if
 *   `everyMs` > 0, once every `everyMs` in between (the CLI logs it as an `event: 'stats'` line).
 *
 * Time and timers come from a `Clock` (tests use FakeClock).
 */
import pino, { type Logger } from 'pino';
import type { Clock } from '../time/clock.js';
import type { ClientStats } from '../client/client-stats.js';
import { formatDuration } from './progress.js';

/** What the line says the connection is. */
export type LinkState = 'connecting' | 'healthy' | 'unavailable' | 'dead' | 'reconnecting' | 'closed';

export interface StatusSnapshot {
  state: LinkState;
  stats: ClientStats;
}

/** Interactive redraw period, ms: 4 a second keeps "heard 0.4 s ago" alive without flicker. */
export const REDRAW_MS = 250;

/** "0.42 ms", "3.4 ms", "87 ms": two significant figures below 10 ms, whole ms above. */
export function formatRtt(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}

/** "0.4 s ago", "12 s ago", "3 min 05 s ago"; "—" while not connected. */
export function formatHeard(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s ago`;
  return `${formatDuration(ms)} ago`;
}

/** One line, no control characters: "healthy · RTT 0.42 ms · heard 0.4 s ago · server ok, load 3 % · …". */
export function renderStatus({ state, stats }: StatusSnapshot): string {
  const load = Math.round((100 * stats.serverLoad) / 255);
  return [
    state,
    `RTT ${formatRtt(stats.smoothedRttMs)}`,
    `heard ${formatHeard(stats.lastHeardMs)}`,
    `server ${stats.serverStatus}, load ${load} %`,
    `reconnects ${stats.reconnects}`,
    `resumes ${stats.resumes}`,
    `messages in ${stats.messagesReceived} / out ${stats.messagesSent}`,
  ].join(' · ');
}

export interface StatusLineOptions {
  clock: Clock;
  /** Current state and stats (called on every draw). */
  snapshot(): StatusSnapshot;
  /** Redraw in place on `stream` (true), or call `plain` (false). */
  interactive: boolean;
  /** Interactive: where the line is drawn (stderr). `columns`: the line is cut to fit, a wrapped line could not be erased. */
  stream?: { write(chunk: string): boolean; columns?: number };
  /** Plain: a state change or the periodic line. */
  plain?(snapshot: StatusSnapshot, line: string): void;
  /** Plain: a line at least this often between state changes, ms; 0 = on state changes only. */
  everyMs?: number;
}

const ERASE_LINE = '\r\x1b[2K';

export class StatusLine {
  private cancel: (() => void) | undefined;
  private drawn = false;
  private lastState: LinkState | undefined;
  private stopped = false;
  /** Interactive draws so far (tests bound the rate). */
  draws = 0;

  constructor(private readonly o: StatusLineOptions) {}

  start(): void {
    if (this.o.interactive) this.redrawEvery(REDRAW_MS);
    else this.stateChanged();
  }

  /** The state may have changed (a client event): plain mode reports a change at once. */
  stateChanged(): void {
    if (this.stopped) return;
    const snap = this.o.snapshot();
    if (snap.state === this.lastState) return;
    this.lastState = snap.state;
    if (!this.o.interactive) this.plainLine(snap);
  }

  /** Something else is about to be written to the terminal: erase the line (drawn again at the next tick). */
  beforeOutput(): void {
    if (!this.o.interactive || !this.drawn) return;
    this.o.stream?.write(ERASE_LINE);
    this.drawn = false;
  }

  /** Erase the line and stop drawing (before the last log line and exit). */
  stop(): void {
    this.beforeOutput();
    this.stopped = true;
    this.cancel?.();
    this.cancel = undefined;
  }

  private redrawEvery(ms: number): void {
    this.cancel = this.o.clock.setTimer(() => {
      if (this.stopped) return;
      this.draw();
      this.redrawEvery(ms);
    }, ms);
  }

  /** Plain: report, then the periodic line comes everyMs after this one (never two within everyMs but for a state change). */
  private plainLine(snap: StatusSnapshot): void {
    this.o.plain?.(snap, renderStatus(snap));
    const every = this.o.everyMs ?? 0;
    if (!(every > 0)) return;
    this.cancel?.();
    this.cancel = this.o.clock.setTimer(() => {
      if (this.stopped) return;
      const next = this.o.snapshot();
      this.lastState = next.state;
      this.plainLine(next);
    }, every);
  }

  private draw(): void {
    const columns = this.o.stream?.columns;
    let line = renderStatus(this.o.snapshot());
    if (columns !== undefined && columns > 1 && line.length >= columns) line = `${line.slice(0, columns - 2)}…`;
    this.o.stream?.write(`${ERASE_LINE}${line}`);
    this.drawn = true;
    this.draws++;
  }
}

/**
 * Erase the status line before every line `logger` writes (its children share the stream).
 * pino exposes its destination under `pino.symbols.streamSym` for this kind of plugin; wrapping
 * its `write` keeps the logger's own construction (src/cli/logger.ts) untouched. pino-pretty and
 * sync sonic-boom write within that call, so the erase always lands first.
 */
export function eraseBeforeLogs(logger: Logger, line: StatusLine): void {
  const stream = (logger as unknown as Record<symbol, { write(chunk: string): boolean } | undefined>)[pino.symbols.streamSym];
  if (!stream) return;
  const write = stream.write.bind(stream);
  stream.write = (chunk: string) => {
    line.beforeOutput();
    return write(chunk);
  };
}
