/**
 * The runner's side of a lab agent process: parse its JSON-line events, send commands, signal it.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface AgentEvent {
  ev: string;
  mech?: string;
  side?: 'client' | 'server';
  how?: string;
  message?: string;
  at?: number;
  [key: string]: unknown;
}

export class AgentHandle {
  readonly events: AgentEvent[] = [];
  readonly stderr: string[] = [];
  private readonly listeners = new Set<(e: AgentEvent) => void>();
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let event: AgentEvent;
      try {
        event = JSON.parse(line) as AgentEvent;
      } catch {
        event = { ev: 'stdout', text: line };
      }
      this.events.push(event);
      for (const l of this.listeners) l(event);
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (this.stderr.length < 50) this.stderr.push(line);
    });
    child.stdin!.on('error', () => {}); // a killed agent must not crash the runner
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  command(cmd: Record<string, unknown>): void {
    if (this.child.stdin?.writable) this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  waitFor(match: (e: AgentEvent) => boolean, timeoutMs: number, what: string): Promise<AgentEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms (stderr: ${this.stderr.slice(-5).join(' | ')})`));
      }, timeoutMs);
      const listener = (e: AgentEvent) => {
        if (!match(e)) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(e);
      };
      this.listeners.add(listener);
    });
  }
}
