/**
 * `lifeline demo`: one server process and four client processes on loopback. One client is
 * frozen (SIGSTOP: its kernel still ACKs, so TCP alone never notices), one is killed (SIGKILL:
 * its kernel sends FIN at once), one closes politely, one stays healthy. Prints what the server
 * detected, how, after how long, and that it reclaimed the sessions. Every figure is measured
 * in this run.
 */
import { performance } from 'node:perf_hooks';
import { spawnCli, killAllChildren, type CliChild, type LogLine } from '../lab/processes.js';
import { renderTable } from '../lab/table.js';

export interface DemoOptions {
  interval: number;
  timeout: number;
}

type Fault = 'none' | 'freeze' | 'kill' | 'close';
interface DemoClient {
  child: CliChild;
  fault: Fault;
  label: string;
  sessionId?: string;
  faultAt?: number;
  closeLine?: LogLine;
  closeSeenAt?: number;
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const { interval, timeout } = opts;
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(`lifeline demo — heartbeat interval ${interval} ms, timeout ${timeout} ms, all on 127.0.0.1\n`);
  try {
    const server = spawnCli('server', ['server', '--port', '0', '--host', '127.0.0.1', '--interval', String(interval), '--timeout', String(timeout)]);
    const listening = await server.waitFor((l) => l.event === 'listening', 10_000, 'listening');
    const port = Number(listening.port);
    out(`server pid ${server.process.pid} listening on 127.0.0.1:${port}`);

    const plan: [Fault, string][] = [
      ['none', 'healthy'],
      ['freeze', 'frozen (SIGSTOP)'],
      ['kill', 'killed (SIGKILL)'],
      ['close', 'closes (SIGTERM → close())'],
    ];
    const clients: DemoClient[] = plan.map(([fault, label], i) => ({
      child: spawnCli(`client-${i + 1}`, ['client', '--connect', `127.0.0.1:${port}`, '--stay']),
      fault,
      label,
    }));
    await Promise.all(
      clients.map(async (c) => {
        const open = await c.child.waitFor((l) => l.event === 'open', 10_000, 'open');
        // Both CLIs log a session by its tag (docs/spec/0016-logging.md), never by its id.
        c.sessionId = String(open.session);
      }),
    );
    const bySession = new Map(clients.map((c) => [c.sessionId, c]));
    server.onLine((line) => {
      if (line.event !== 'session-close') return;
      const c = bySession.get(String(line.session));
      if (c && !c.closeLine) {
        c.closeLine = line;
        c.closeSeenAt = performance.now();
      }
    });
    out(`${clients.length} client processes connected; letting heartbeats run for ${interval * 2} ms…`);
    await sleep(interval * 2);

    for (const c of clients) {
      const pid = c.child.process.pid!;
      if (c.fault === 'freeze') c.child.process.kill('SIGSTOP');
      if (c.fault === 'kill') c.child.process.kill('SIGKILL');
      if (c.fault === 'close') c.child.process.kill('SIGTERM'); // the client CLI calls close() on SIGTERM
      if (c.fault !== 'none') {
        c.faultAt = performance.now();
        out(`  ${c.child.name} (pid ${pid}): ${c.label}`);
      }
    }
    // Wait until every faulty client was detected, or well past the bound.
    const deadline = performance.now() + interval + timeout * 2 + 2000;
    while (performance.now() < deadline && clients.some((c) => c.fault !== 'none' && !c.closeLine)) await sleep(25);

    const sessionsLeft = server.lines.filter((l) => l.event === 'session-close').at(-1)?.sessions;
    out('');
    out(
      renderTable(
        ['client', 'what happened', 'server saw', 'detected by', 'after', 'silent for', 'session'],
        clients.map((c) => {
          const l = c.closeLine;
          const after = l && c.faultAt !== undefined && c.closeSeenAt !== undefined ? `${Math.round(c.closeSeenAt - c.faultAt)} ms` : '—';
          return [
            c.child.name,
            c.label,
            l ? String(l.code) : c.fault === 'none' ? 'alive' : 'NOT DETECTED',
            l ? String(l.detectedBy) : '—',
            after,
            l ? `${String(l.sinceLastSeenMs)} ms` : '—',
            l ? 'reclaimed' : 'open',
          ];
        }),
      ),
    );
    out('');
    out(`server sessions after the faults: ${String(sessionsLeft ?? '?')} (1 expected: the healthy client)`);
    out(
      `The frozen client's kernel kept ACKing TCP, so only the heartbeat could tell: it was declared dead after\n` +
        `${timeout} ms of silence. Without a heartbeat, Linux would keep that session until TCP keepalive\n` +
        `(first probe after 2 h) — or ~15 min of retransmissions if data had been in flight.`,
    );
    const missed = clients.filter((c) => c.fault !== 'none' && !c.closeLine);
    for (const c of clients) c.child.process.kill('SIGKILL');
    server.process.kill('SIGTERM');
    await server.exited;
    return missed.length === 0 ? 0 : 1;
  } finally {
    killAllChildren();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
