/**
 * A child process that speaks JSON lines: events on stdout (non-JSON lines become
 * `{ ev: 'text' }`), commands on stdin, the last stderr lines kept for error messages. Shared by
 * the lab's agents and the benchmark's servers and generators.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';

/** Wall-clock ms (performance.timeOrigin + now): comparable across processes on the same host. */
export const wallNow = (): number => performance.timeOrigin + performance.now();

/** The child side: one event as one JSON line on stdout. */
export function emitJsonLine(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

export interface JsonEvent {
  ev: string;
  [key: string]: unknown;
}

export interface JsonChild<E extends JsonEvent = JsonEvent> {
  readonly name: string;
  readonly process: ChildProcess;
  readonly events: E[];
  /** Last stderr lines (for error messages). */
  readonly stderr: string[];
  readonly exited: Promise<number | null>;
  /** Write one command line (ignored once the child has exited). */
  send(command: Record<string, unknown>): void;
  /** Signal the child if it is still running (default SIGKILL; SIGKILL also ends a stopped one). */
  kill(signal?: NodeJS.Signals): void;
  /**
   * The first event (already seen or future, from index `from`) named `match` or satisfying it;
   * rejects at the deadline or when the child exits first, with its last words.
   */
  waitFor(match: string | ((event: E) => boolean), timeoutMs: number, from?: number): Promise<E>;
  onEvent(listener: (event: E) => void): void;
}

const STDERR_LINES = 20;

export function wrapJsonChild<E extends JsonEvent = JsonEvent>(name: string, child: ChildProcess): JsonChild<E> {
  const events: E[] = [];
  const stderr: string[] = [];
  const listeners: ((e: E) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let event: E;
    try {
      event = JSON.parse(text) as E;
    } catch {
      event = { ev: 'text', text } as unknown as E;
    }
    events.push(event);
    for (const l of listeners) l(event);
  });
  createInterface({ input: child.stderr! }).on('line', (text) => {
    stderr.push(text);
    if (stderr.length > STDERR_LINES) stderr.shift();
  });
  child.stdin?.on('error', () => {}); // a killed child must not crash its parent
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  return {
    name,
    process: child,
    events,
    stderr,
    exited,
    onEvent: (l) => listeners.push(l),
    send(command) {
      if (!hasExited && child.stdin?.writable) child.stdin.write(`${JSON.stringify(command)}\n`);
    },
    kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    waitFor(match, timeoutMs, from = 0) {
      const test = typeof match === 'string' ? (e: E) => e.ev === match : match;
      const what = typeof match === 'string' ? `'${match}'` : 'the expected event';
      const seen = events.slice(from).find(test);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const fail = (why: string) => {
          const err = events.slice(from).find((e) => e.ev === 'error');
          const detail = err ? String(err.message) : stderr.slice(-3).join(' | ');
          reject(new Error(`${name}: ${why} before ${what}${detail ? `: ${detail}` : ''}`));
        };
        const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
        listeners.push((e) => {
          if (!test(e)) return;
          clearTimeout(timer);
          resolve(e);
        });
        void exited.then((code) => {
          clearTimeout(timer);
          if (!events.slice(from).some(test)) fail(`exited (code ${code})`);
        });
      });
    },
  };
}
