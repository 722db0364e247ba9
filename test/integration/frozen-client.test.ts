/**
 * Integration: a real `lifeline client` process that freezes (SIGSTOP: its kernel keeps the
 * socket open and ACKs everything, only the application is gone) must be found by the server's
 * heartbeat; one that is killed (the kernel closes its socket) must be found at once.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createServer, sessionTag, type CloseReason, type LifelineServer, type Session } from '../../src/index.js';
import { nextEvent } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STARTUP_MS = 20_000; // tsx compiles the CLI on first run; a loaded CI box can be slow

interface LogLine {
  event?: string;
  pid?: number;
  session?: string;
  [key: string]: unknown;
}

/** Spawn the CLI client (stdin piped and kept open) and wait for its 'open' log line. */
async function spawnClient(t: TestContext, port: number, intervalMs: number, timeoutMs: number) {
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'client', '--connect', `127.0.0.1:${port}`];
  args.push('--interval', String(intervalMs), '--timeout', String(timeoutMs), '--stay', '--log', 'json');
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['pipe', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    kill(child, 'SIGKILL'); // works on a stopped process too
    await exited;
  });
  const lines: LogLine[] = [];
  const open = new Promise<LogLine>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`client printed no 'open' within ${STARTUP_MS} ms: ${JSON.stringify(lines.slice(-3))}`)), STARTUP_MS);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`client exited before 'open': ${JSON.stringify(lines.slice(-3))}`));
    });
    createInterface({ input: child.stderr! }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { event: 'stderr', text };
      }
      lines.push(line);
      if (line.event === 'open') {
        clearTimeout(timer);
        resolve(line);
      }
    });
  });
  return { child, open: await open, lines };
}

function kill(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
}

/** Field 3 of /proc/PID/stat: R, S, T (stopped)… The comm field may hold spaces and parens. */
function procState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
}

async function waitForProcState(pid: number, state: string, timeoutMs: number): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  let seen = procState(pid);
  while (seen !== state && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    seen = procState(pid);
  }
  return seen;
}

/** The server session of the client whose 'open' line we read. */
/** The server's session whose tag the CLI client logged (it never logs the id itself: spec 0016). */
async function sessionOf(server: LifelineServer, tag: string): Promise<Session> {
  for (const s of server.sessions()) if (sessionTag(s.id) === tag) return s;
  for (;;) {
    const [s] = await nextEvent<[Session]>(server, 'session', 5000);
    if (sessionTag(s.id) === tag) return s;
  }
}

async function startServer(t: TestContext): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({ minHeartbeatInterval: 50, minHeartbeatTimeout: 100 });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port };
}

test('frozen client - a SIGSTOPped client process is declared dead by the server heartbeat in time', { skip: process.platform !== 'linux' && 'needs /proc' }, async (t) => {
  const intervalMs = 200;
  const timeoutMs = 600;
  const { server, port } = await startServer(t);
  const { child, open } = await spawnClient(t, port, intervalMs, timeoutMs);
  assert.equal(open.pid, child.pid, "the 'open' line comes from the process we spawned");
  assert.equal(open.interval, intervalMs);
  assert.equal(open.timeout, timeoutMs);
  const session = await sessionOf(server, String(open.session));
  assert.equal(server.sessionCount, 1);

  // Freeze right after a heartbeat answer, so the server's silence clock starts ~ at the freeze.
  await nextEvent(session, 'ping', 2000);
  const silentBeforeStopMs = session.sinceLastSeen;
  const stoppedAt = performance.now();
  const closed = nextEvent<[Session, CloseReason]>(server, 'sessionClose', 5 * timeoutMs);
  process.kill(child.pid!, 'SIGSTOP');
  assert.equal(await waitForProcState(child.pid!, 'T', 1000), 'T', 'the client process is stopped');

  const [closedSession, reason] = await closed;
  const elapsedMs = performance.now() - stoppedAt;
  t.diagnostic(`detected ${Math.round(elapsedMs)} ms after SIGSTOP (silent ${Math.round(silentBeforeStopMs)} ms before it): ${reason.message}`);
  assert.equal(closedSession, session);
  assert.equal(reason.code, 'heartbeat-timeout');
  assert.equal(reason.detectedBy, 'heartbeat');
  assert.equal(reason.initiator, 'local');
  assert.ok(reason.sinceLastSeenMs >= timeoutMs, `declared dead after only ${reason.sinceLastSeenMs} ms of silence`);
  assert.ok(elapsedMs <= (intervalMs + timeoutMs) * 1.2, `detection took ${Math.round(elapsedMs)} ms`);
  // Not suspiciously early: the deadline is last-seen + timeout, and last-seen was just before the stop.
  assert.ok(elapsedMs >= timeoutMs - intervalMs, `detected after only ${Math.round(elapsedMs)} ms`);
  assert.ok(elapsedMs >= timeoutMs - silentBeforeStopMs - 2, `detected ${Math.round(elapsedMs)} ms after the stop, before last-seen + timeout`);
  assert.equal(server.sessionCount, 0);
  assert.equal(server.connectionCount, 0);
  // The process is still frozen, not dead: the heartbeat, not a socket close, found it.
  assert.equal(procState(child.pid!), 'T');
  assert.equal(child.exitCode, null);
});

test('frozen client - a SIGKILLed client process is detected at once by the transport', async (t) => {
  // A long heartbeat, so that only the transport can explain a fast detection.
  const intervalMs = 2000;
  const timeoutMs = 6000;
  const { server, port } = await startServer(t);
  const { child, open } = await spawnClient(t, port, intervalMs, timeoutMs);
  const session = await sessionOf(server, String(open.session));
  assert.equal(server.sessionCount, 1);

  const closed = nextEvent<[Session, CloseReason]>(server, 'sessionClose', timeoutMs);
  const killedAt = performance.now();
  process.kill(child.pid!, 'SIGKILL');
  const [closedSession, reason] = await closed;
  const elapsedMs = performance.now() - killedAt;
  t.diagnostic(`detected ${Math.round(elapsedMs)} ms after SIGKILL: ${reason.code} — ${reason.message}`);
  assert.equal(closedSession, session);
  assert.ok(reason.code === 'transport-closed' || reason.code === 'transport-error', `unexpected close reason ${reason.code}`);
  assert.equal(reason.detectedBy, 'transport');
  assert.equal(reason.initiator, 'transport');
  assert.ok(elapsedMs < intervalMs / 2, `detection took ${Math.round(elapsedMs)} ms`);
  assert.equal(server.sessionCount, 0);
});
