/**
 * Progress and an ETA for the long CLI runs — `lab --full`, `lab --adaptive`, `bench` (issue 13
 * §5; docs/bench.md §Progress). Two parts:
 *
 * - `ProgressPlan`: the run as a list of steps, each with the part of its duration the run knows
 *   (a measured window, a warm-up) and a guess for the rest (start-up, connecting, a fault window
 *   that may end early). As steps finish, the guessed part is corrected by what it really took
 *   (one factor for the whole run, bounded): measure what is known, estimate the rest. The ETA is
 *   never negative: a step past its estimate counts as ending now.
 * - `ProgressReporter`: on an interactive terminal a cli-progress bar on stderr (redrawn in place
 *   at most 4 times a second); otherwise plain lines on stderr, one per phase change and at most
 *   one every `plainEveryMs` within a phase — never a `\r` or an escape sequence. stdout is left
 *   to the report (and `--json -`).
 *
 * Time comes from an injected `now()` (ms): the model is tested on a fake clock.
 */
import { SingleBar, Presets } from 'cli-progress';

export interface PlannedStep {
  label: string;
  /** Duration the run knows in advance, ms (a measured window, a warm-up). */
  knownMs: number;
  /** Estimate of the rest of the step, ms (start-up, connecting, a window that may end early). */
  guessMs: number;
}

/** The correction factor for guesses stays within these bounds: one odd step must not make the ETA absurd. */
const MIN_FACTOR = 0.1;
const MAX_FACTOR = 10;

export class ProgressPlan {
  private readonly startedAt: (number | undefined)[];
  private readonly finishedAt: (number | undefined)[];
  private readonly skipped: boolean[];
  private firstAt: number | undefined;

  constructor(
    readonly steps: readonly PlannedStep[],
    private readonly now: () => number,
  ) {
    this.startedAt = steps.map(() => undefined);
    this.finishedAt = steps.map(() => undefined);
    this.skipped = steps.map(() => false);
  }

  /** Step i starts now; every earlier step that has not finished ends now (never-started ones as skipped). */
  begin(i: number): void {
    if (i < 0 || i >= this.steps.length || this.startedAt[i] !== undefined) return;
    const t = this.now();
    this.firstAt ??= t;
    for (let j = 0; j < i; j++) if (this.finishedAt[j] === undefined) this.finish(j, { skipped: this.startedAt[j] === undefined });
    this.startedAt[i] = t;
  }

  /** Step i is done. A skipped step (a system that cannot run here) teaches nothing about the others. */
  finish(i: number, o: { skipped?: boolean } = {}): void {
    if (i < 0 || i >= this.steps.length || this.finishedAt[i] !== undefined) return;
    const t = this.now();
    this.firstAt ??= t;
    this.startedAt[i] ??= t;
    this.finishedAt[i] = t;
    this.skipped[i] = o.skipped === true;
  }

  /** Finish every step (the run is over). */
  finishAll(): void {
    for (let i = 0; i < this.steps.length; i++) this.finish(i, { skipped: this.startedAt[i] === undefined });
  }

  /** Steps finished (skipped ones included). */
  get done(): number {
    return this.finishedAt.filter((t) => t !== undefined).length;
  }

  /** Index of the step running now (the latest started, unfinished one), or undefined. */
  get current(): number | undefined {
    for (let i = this.steps.length - 1; i >= 0; i--) if (this.startedAt[i] !== undefined && this.finishedAt[i] === undefined) return i;
    return undefined;
  }

  /** Real duration of guessed parts so far ÷ their guesses, over finished, measured steps; 1 before any. */
  guessFactor(): number {
    let actual = 0;
    let guessed = 0;
    this.steps.forEach((s, i) => {
      const start = this.startedAt[i];
      const end = this.finishedAt[i];
      if (start === undefined || end === undefined || this.skipped[i]) return;
      actual += Math.max(0, end - start - s.knownMs);
      guessed += s.guessMs;
    });
    if (!(guessed > 0)) return 1;
    return Math.min(MAX_FACTOR, Math.max(MIN_FACTOR, actual / guessed));
  }

  /** ms left, ≥ 0. */
  etaMs(): number {
    const t = this.now();
    const factor = this.guessFactor();
    let left = 0;
    this.steps.forEach((s, i) => {
      if (this.finishedAt[i] !== undefined) return;
      const expected = s.knownMs + s.guessMs * factor;
      const start = this.startedAt[i];
      left += start === undefined ? expected : Math.max(0, expected - (t - start));
    });
    return Number.isFinite(left) ? Math.max(0, left) : 0;
  }

  /** Share of the run's time behind us, 0..1 (elapsed ÷ (elapsed + ETA)). */
  fraction(): number {
    if (this.done === this.steps.length) return 1;
    if (this.firstAt === undefined) return 0;
    const elapsed = this.now() - this.firstAt;
    const total = elapsed + this.etaMs();
    return total > 0 ? Math.min(1, Math.max(0, elapsed / total)) : 0;
  }
}

/** "<1 s", "12 s", "3 min 05 s", "1 h 02 min", "> 99 h". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return '<1 s';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(s / 3600);
  if (h > 99) return '> 99 h';
  return `${h} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/**
 * May this stream be redrawn in place? A terminal, and none of: CI=true, NO_COLOR (whoever asks
 * for no colour on a terminal asks for plain output), TERM=dumb.
 */
export function interactiveTerminal(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (stream.isTTY !== true) return false;
  if (env.CI === 'true' || env.CI === '1') return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return env.TERM !== 'dumb';
}

export interface ProgressOutput {
  write(chunk: string): boolean;
  isTTY?: boolean;
}

export interface ProgressReporterOptions {
  /** Where progress goes (default process.stderr). */
  stream?: ProgressOutput;
  /** Default: interactiveTerminal(stream). */
  interactive?: boolean;
  now?: () => number;
  /** Plain mode: within one phase, a line at most this often, ms (default 5000). */
  plainEveryMs?: number;
  /** What a step counts, for "[2/6] …" (e.g. 'systems', 'repetitions'). */
  unit?: string;
}

export const PLAIN_EVERY_MS = 5000;
/** The bar redraws at most this often (cli-progress fps). */
const BAR_FPS = 4;

export class ProgressReporter {
  private readonly stream: ProgressOutput;
  private readonly now: () => number;
  private readonly plainEveryMs: number;
  private readonly bar: SingleBar | undefined;
  private readonly ticker: ReturnType<typeof setInterval> | undefined;
  private lastPhase: string | undefined;
  private lastPlainAt = Number.NEGATIVE_INFINITY;
  private text = 'starting';
  private shown = 0;
  /** Plain lines written (tests bound it). */
  lines = 0;

  constructor(
    readonly plan: ProgressPlan,
    o: ProgressReporterOptions = {},
  ) {
    this.stream = o.stream ?? process.stderr;
    this.now = o.now ?? (() => performance.now());
    this.plainEveryMs = o.plainEveryMs ?? PLAIN_EVERY_MS;
    const interactive = o.interactive ?? interactiveTerminal(this.stream);
    if (interactive) {
      this.bar = new SingleBar(
        {
          format: `  {bar} {percentage}% · {done}/{steps} ${o.unit ?? 'steps'} · {text} · ETA {eta_text}`,
          hideCursor: true,
          clearOnComplete: true,
          fps: BAR_FPS,
          stream: this.stream as NodeJS.WritableStream,
        },
        Presets.shades_classic,
      );
      this.bar.start(1000, 0, this.payload());
      // The ETA moves while nothing reports (a fault window, a measured window).
      this.ticker = setInterval(() => this.redraw(), 1000 / BAR_FPS);
      this.ticker.unref();
    }
  }

  /**
   * Where the run is. `phase` names the kind of work ("lifeline: connecting"); `detail` what
   * moves inside it ("15103/19000"). Plain mode prints on a phase change, else at most every
   * plainEveryMs.
   */
  update(phase: string, detail = ''): void {
    this.text = detail ? `${phase} ${detail}` : phase;
    if (this.bar) return this.redraw();
    const t = this.now();
    if (phase === this.lastPhase && t - this.lastPlainAt < this.plainEveryMs) return;
    this.lastPhase = phase;
    this.lastPlainAt = t;
    this.plain(this.text);
  }

  /** A line that must be read (a skip, a failure): printed in both modes, above the bar. */
  notice(line: string): void {
    if (this.bar) {
      this.stream.write(`\r\x1b[2K  ${line}\n`);
      this.redraw();
    } else this.plain(line, false);
  }

  stop(): void {
    this.plan.finishAll();
    if (this.ticker) clearInterval(this.ticker);
    if (this.bar) {
      this.bar.update(1000, this.payload());
      this.bar.stop();
    }
  }

  private redraw(): void {
    if (!this.bar) return;
    // Monotone: a corrected (longer) estimate must not move the bar backwards.
    this.shown = Math.max(this.shown, Math.round(1000 * this.plan.fraction()));
    this.bar.update(this.shown, this.payload());
  }

  private payload(): Record<string, string | number> {
    return { done: this.plan.done, steps: this.plan.steps.length, text: this.text, eta_text: formatDuration(this.plan.etaMs()) };
  }

  private plain(text: string, withEta = true): void {
    const step = Math.min(this.plan.steps.length, (this.plan.current ?? this.plan.done - 1) + 1);
    const eta = withEta && this.plan.done < this.plan.steps.length ? ` · ETA ${formatDuration(this.plan.etaMs())}` : '';
    // Whatever the caller passed, a plain line carries no control characters.
    this.stream.write(`  [${Math.max(step, 1)}/${this.plan.steps.length}] ${stripControl(text)}${eta}\n`);
    this.lines++;
  }
}

/** Removes escape sequences and control characters (\r, \x1b…) from one line of text. */
export function stripControl(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/[\x00-\x09\x0b-\x1f\x7f]/g, '');
}
