/**
 * Child processes for the demo and the lab: spawn this CLI with arguments, read its JSON log
 * lines (stderr), wait for an event with a deadline, and make sure nothing outlives us.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, extname, join } from 'node:path';

export interface LogLine {
  event?: string;
  [key: string]: unknown;
}

export interface CliChild {
  readonly name: string;
  readonly process: ChildProcess;
  readonly lines: LogLine[];
  /** Resolves with the first log line (already seen or future) that matches, or rejects at the deadline. */
  waitFor(match: (line: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine>;
  onLine(listener: (line: LogLine) => void): void;
  readonly exited: Promise<number | null>;
}

const children = new Set<ChildProcess>();
let cleanupInstalled = false;

/** Kill every child we started (SIGKILL works on stopped processes too). */
export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** Register a child so it is killed when we exit (normally, on Ctrl-C or on failure). */
export function trackChild<T extends ChildProcess>(child: T): T {
  installCleanup();
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', killAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAllChildren();
      process.exit(130);
    });
  }
}

/**
 * The command that runs this CLI: located next to this module, so it works from dist/ (compiled
 * .js) and from src/ under tsx (tests) alike, whatever script the current process started with.
 */
export function cliCommand(): { command: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ext = extname(here);
  const entry = join(dirname(here), '..', 'cli', `main${ext}`);
  return { command: process.execPath, args: [...(ext === '.ts' ? ['--import', 'tsx'] : []), entry] };
}

export function spawnCli(name: string, args: string[]): CliChild {
  installCleanup();
  const { command, args: base } = cliCommand();
  const child = trackChild(spawn(command, [...base, ...args, '--log', 'json'], { stdio: ['pipe', 'pipe', 'pipe'] }));
  const lines: LogLine[] = [];
  const listeners: ((line: LogLine) => void)[] = [];
  createInterface({ input: child.stderr! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { event: 'stderr', text };
    }
    lines.push(line);
    for (const l of listeners) l(line);
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return {
    name,
    process: child,
    lines,
    exited,
    onLine: (listener) => listeners.push(listener),
    waitFor(match, timeoutMs, what) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`${name}: no ${what} within ${timeoutMs} ms; last lines: ${JSON.stringify(lines.slice(-3))}`));
        }, timeoutMs);
        const listener = (line: LogLine) => {
          if (!match(line)) return;
          clearTimeout(timer);
          resolve(line);
        };
        listeners.push(listener);
        void exited.then((code) => {
          clearTimeout(timer);
          if (!lines.some(match)) reject(new Error(`${name} exited (code ${code}) before ${what}; last lines: ${JSON.stringify(lines.slice(-3))}`));
        });
      });
    },
  };
}
