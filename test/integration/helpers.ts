/** Small waiting and process helpers shared by the integration tests. */
import type { EventEmitter } from 'node:events';
import type { TestContext } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The next `event` from `emitter`, or a rejection naming what did not happen. */
export function nextEvent<T extends unknown[]>(emitter: EventEmitter, event: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const listener = (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as T);
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no '${event}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    emitter.once(event, listener);
  });
}

/** Poll `condition` every 10 ms until it holds (true) or `timeoutMs` passes (false). */
export async function eventually(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return condition();
}

/**
 * `lifeline server` (the CLI, under tsx) in its own process, on a free loopback port: resolves
 * the process and its port once it logs `listening`. Killed when the test ends.
 */
export async function spawnCliServer(t: TestContext, extraArgs: string[] = []): Promise<{ child: ChildProcess; port: number }> {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'server', '--port', '0', '--host', '127.0.0.1', '--log', 'json', ...extraArgs];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['pipe', 'ignore', 'pipe'] });
  t.after(() => void child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start')), 20_000);
    createInterface({ input: child.stderr! }).on('line', (line) => {
      const event = JSON.parse(line) as { event?: string; port?: number };
      if (event.event === 'listening') {
        clearTimeout(timer);
        resolve(event.port!);
      }
    });
  });
  return { child, port };
}

/** Samples, every 10 ms until stop(), the longest silence each side of a connection saw. */
export function silenceSampler(t: TestContext, client: { sinceLastSeen: number | undefined }, session: { sinceLastSeen: number }) {
  const max = { clientMs: 0, serverMs: 0 };
  const timer = setInterval(() => {
    max.clientMs = Math.max(max.clientMs, client.sinceLastSeen ?? Infinity);
    max.serverMs = Math.max(max.serverMs, session.sinceLastSeen);
  }, 10);
  const stop = () => clearInterval(timer);
  t.after(stop);
  return { max, stop };
}

/**
 * SIGSTOP a server process (its kernel keeps ACKing) and time the client's verdicts: its first
 * 'unavailable' and its 'close'. The caller sends SIGCONT when done.
 */
export async function freezeServer<U, C>(child: ChildProcess, client: EventEmitter): Promise<{ unavailable: U; unavailableMs: number; closed: C; deadMs: number }> {
  const unavailableP = nextEvent<[U]>(client, 'unavailable', 5000);
  const closeP = nextEvent<[C]>(client, 'close', 10_000);
  const frozenAt = performance.now();
  child.kill('SIGSTOP');
  const [unavailable] = await unavailableP;
  const unavailableMs = performance.now() - frozenAt;
  const [closed] = await closeP;
  return { unavailable, unavailableMs, closed, deadMs: performance.now() - frozenAt };
}
