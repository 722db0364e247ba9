/**
 * The benchmark's child processes: a Node entry file next to this module (compiled .js under
 * dist/, .ts under tsx), JSON-line events on stdout, commands on stdin. Every child is tracked
 * (lab/processes.ts) so none outlives the run, even on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, extname, join } from 'node:path';
import { trackChild } from '../lab/processes.js';
import type { ChildEvent } from './types.js';

export interface JsonChild {
  readonly name: string;
  readonly process: ChildProcess;
  readonly events: ChildEvent[];
  /** Last stderr lines (for error messages). */
  readonly stderr: string[];
  send(command: Record<string, unknown>): void;
  /** The first event (already seen or future) named `ev` after index `from`; rejects at the deadline or on exit. */
  waitFor(ev: string, timeoutMs: number, from?: number): Promise<ChildEvent>;
  onEvent(listener: (event: ChildEvent) => void): void;
  readonly exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

/** `node [--import tsx] <dir>/<entry>.{js,ts} ...args`, with extra Node flags first. */
export function spawnBenchChild(name: string, entry: string, args: string[], nodeFlags: string[] = []): JsonChild {
  const here = fileURLToPath(import.meta.url);
  const ext = extname(here);
  const file = join(dirname(here), `${entry}${ext}`);
  const flags = [...nodeFlags, ...(ext === '.ts' ? ['--import', 'tsx'] : [])];
  const child = trackChild(spawn(process.execPath, [...flags, file, ...args], { stdio: ['pipe', 'pipe', 'pipe'] }));
  return wrapJsonChild(name, child);
}

/** Wrap any child that prints JSON lines on stdout (non-JSON lines become {ev:'text'}). */
export function wrapJsonChild(name: string, child: ChildProcess): JsonChild {
  const events: ChildEvent[] = [];
  const stderr: string[] = [];
  const listeners: ((e: ChildEvent) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let event: ChildEvent;
    try {
      event = JSON.parse(text) as ChildEvent;
    } catch {
      event = { ev: 'text', text };
    }
    events.push(event);
    for (const l of listeners) l(event);
  });
  createInterface({ input: child.stderr! }).on('line', (text) => {
    stderr.push(text);
    if (stderr.length > 20) stderr.shift();
  });
  child.stdin?.on('error', () => {});
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
    waitFor(ev, timeoutMs, from = 0) {
      const seen = events.slice(from).find((e) => e.ev === ev);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const fail = (why: string) => {
          const err = events.slice(from).find((e) => e.ev === 'error');
          const detail = err ? String(err.message) : stderr.slice(-3).join(' | ');
          reject(new Error(`${name}: ${why} before '${ev}'${detail ? `: ${detail}` : ''}`));
        };
        const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
        listeners.push((e) => {
          if (e.ev !== ev) return;
          clearTimeout(timer);
          resolve(e);
        });
        void exited.then((code) => {
          clearTimeout(timer);
          if (!events.slice(from).some((e) => e.ev === ev)) fail(`exited (code ${code})`);
        });
      });
    },
  };
}
