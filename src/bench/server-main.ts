/**
 * Benchmark server process (entry file, spawned by harness.ts; never the generators' process).
 * Runs one Node system's server and measures itself. JSON lines on stdout, commands on stdin:
 *
 *   → {ev:'ready', port, pid, baseline}   listening, no connection yet; baseline = memory after GC
 *   ← {cmd:'mark'}    → {ev:'marked'}      start the window: CPU, loop-delay histogram, bytes, closes
 *   ← {cmd:'report'}  → {ev:'report', window}   end the window (memory is sampled after it, after a GC)
 *   ← {cmd:'watch'}   → {ev:'watching'}    from now on remember when the server drops a client
 *                                         (its disconnect event; the socket close for raw)
 *   ← {cmd:'closes'}  → {ev:'closes', times}    wall-clock ms of those closes
 *
 * With --workers W > 1 this process is a node:cluster primary: W workers each run the server
 * behind the same port (the primary hands out accepted connections round-robin), the primary
 * forwards commands and sums what the workers report. Node 20 has no `reusePort` listen option
 * (Node 22.12+), hence cluster. With --independent each worker listens on its own port
 * (`exclusive`) and `ready` lists them: W independent servers, no handle passing through the
 * primary (what a million connections need; the harness spreads connections over the ports).
 *
 * Loop delay: monitorEventLoopDelay samples every LOOP_RESOLUTION_MS and records how late each
 * sample ran *including* that period; we subtract it (clamped at 0).
 */
import cluster from 'node:cluster';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isNodeSystem, startNodeServer, type NodeSystemId } from './node-servers.js';
import { wallNow, type ChildEvent, type MemorySample, type ServerWindow } from './types.js';

const LOOP_RESOLUTION_MS = 10;

const { values } = parseArgs({
  options: {
    system: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    interval: { type: 'string', default: '1000' },
    workers: { type: 'string', default: '1' },
    /** Cluster workers each listen on their own port (ready reports `ports`), no shared accept. */
    independent: { type: 'boolean', default: false },
    /** lifeline only: 'off' = no keepalive / TCP_USER_TIMEOUT on accepted sockets. */
    'socket-tuning': { type: 'string', default: 'default' },
  },
});
const system = String(values.system);
if (!isNodeSystem(system as never)) throw new Error(`bench server: unknown system ${system}`);
const workers = Math.max(1, Number(values.workers));
const host = String(values.host);
const port = Number(values.port);
const intervalMs = Number(values.interval);
const independent = values.independent === true;
const socketTuning = values['socket-tuning'] === 'off' ? 'off' : 'default';

type Emit = (event: ChildEvent) => void;
const stdoutEmit: Emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

function onStdinCommands(handle: (cmd: { cmd: string }) => void, beforeExit?: () => void): void {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => handle(JSON.parse(line) as { cmd: string }));
  // The parent is done (or gone): exit normally, so --cpu-prof / --heap-prof get written.
  rl.on('close', () => {
    beforeExit?.();
    process.exit(0);
  });
}

const gc = (globalThis as { gc?: () => void }).gc;
async function settledMemory(): Promise<MemorySample> {
  for (let i = 0; i < 2; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss };
}

/** One server (a worker, or the whole process when not clustered) measuring itself. */
async function runServer(emit: Emit, onCommand: (h: (cmd: { cmd: string }) => void) => void): Promise<void> {
  const started = await startNodeServer(system as NodeSystemId, { host, port, intervalMs, exclusive: independent && cluster.isWorker, socketTuning });
  const sockets = new Set<net.Socket>();
  let closedBytes = 0;
  let socketCloses = 0;
  let watching = false;
  const closeTimes: number[] = [];
  const record = () => {
    if (closeTimes.length < 1_000_000) closeTimes.push(wallNow());
  };
  started.netServer?.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      closedBytes += socket.bytesRead + socket.bytesWritten;
      socketCloses++;
      if (watching && !started.watchDisconnects) record();
    });
  });
  // A server that counts for itself (lifeline's leanSockets: no net.Socket per connection).
  const counted = started.counters;
  const bytesNow = (): number => {
    if (counted) return counted().bytes;
    let total = closedBytes;
    for (const s of sockets) total += s.bytesRead + s.bytesWritten;
    return total;
  };
  const connectionsNow = (): number => (counted ? counted().connections : sockets.size);
  const closesNow = (): number => (counted ? counted().closed : socketCloses);
  const baseline = await settledMemory();
  const address = started.address();
  emit({ ev: 'ready', port: address.port, pid: process.pid, baseline });

  const histogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  let mark: { cpu: NodeJS.CpuUsage; bytes: number; closes: number; connections: number; at: number } | undefined;
  const ms = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);

  onCommand((cmd) => {
    switch (cmd.cmd) {
      case 'mark':
        histogram.reset();
        histogram.enable();
        mark = { cpu: process.cpuUsage(), bytes: bytesNow(), closes: closesNow(), connections: connectionsNow(), at: performance.now() };
        emit({ ev: 'marked' });
        return;
      case 'report': {
        if (!mark) return emit({ ev: 'error', message: 'report before mark' });
        const cpu = process.cpuUsage(mark.cpu);
        const windowMs = performance.now() - mark.at;
        histogram.disable();
        const partial = {
          connectionsAtStart: mark.connections,
          connectionsAtEnd: connectionsNow(),
          closedInWindow: closesNow() - mark.closes,
          cpuMicros: cpu.user + cpu.system,
          windowMs,
          loopDelayP50Ms: ms(histogram.percentile(50)),
          loopDelayP99Ms: ms(histogram.percentile(99)),
          loopDelayMaxMs: ms(histogram.max),
          bytes: bytesNow() - mark.bytes,
          processes: 1,
        };
        // Memory after the window (steady state), outside it (the GC would skew CPU and delay).
        void settledMemory().then((loaded) => emit({ ev: 'report', window: { ...partial, baseline, loaded } satisfies ServerWindow }));
        return;
      }
      case 'watch':
        watching = true;
        started.watchDisconnects?.(record);
        emit({ ev: 'watching' });
        return;
      case 'closes':
        emit({ ev: 'closes', times: closeTimes });
        return;
      default:
        emit({ ev: 'error', message: `unknown command ${cmd.cmd}` });
    }
  });
}

/** Cluster primary: fork workers, fan commands out, sum the answers. */
async function runPrimary(): Promise<void> {
  const forked = Array.from({ length: workers }, () => cluster.fork());
  let stopping = false;
  // Never leave a worker behind, however the primary ends.
  process.on('exit', () => {
    for (const w of forked) w.process.kill('SIGKILL');
  });
  const answers = new Map<string, ChildEvent[]>();
  const waiters = new Map<string, (events: ChildEvent[]) => void>();
  for (const worker of forked) {
    worker.on('message', (event: ChildEvent) => {
      const list = answers.get(event.ev) ?? [];
      list.push(event);
      answers.set(event.ev, list);
      if (list.length === forked.length) {
        answers.delete(event.ev);
        waiters.get(event.ev)?.(list);
      }
    });
    worker.on('exit', (code) => {
      if (stopping) return;
      stdoutEmit({ ev: 'error', message: `cluster worker ${worker.process.pid} exited (code ${code})` });
      process.exit(1);
    });
  }
  const all = (ev: string) => new Promise<ChildEvent[]>((resolve) => waiters.set(ev, resolve));
  const sumMem = (list: MemorySample[]): MemorySample => ({
    heapUsed: list.reduce((a, m) => a + (m.heapUsed ?? 0), 0),
    rss: list.reduce((a, m) => a + m.rss, 0),
  });
  const ready = await all('ready');
  const primaryBaseline = await settledMemory();
  stdoutEmit({
    ev: 'ready',
    port: ready[0]!.port,
    ports: ready.map((r) => r.port),
    pid: process.pid,
    workerPids: ready.map((r) => r.pid),
    baseline: sumMem([primaryBaseline, ...ready.map((r) => r.baseline as MemorySample)]),
  });
  let primaryCpu = process.cpuUsage();
  onStdinCommands((cmd) => {
    for (const w of forked) w.send(cmd);
    if (cmd.cmd === 'mark') {
      primaryCpu = process.cpuUsage();
      void all('marked').then(() => stdoutEmit({ ev: 'marked' }));
    } else if (cmd.cmd === 'report') {
      const cpu = process.cpuUsage(primaryCpu);
      void all('report').then(async (list) => {
        const ws = list.map((e) => e.window as ServerWindow);
        const mine = await settledMemory();
        const max = (f: (w: ServerWindow) => number | undefined) => Math.max(...ws.map((w) => f(w) ?? 0));
        const sum = (f: (w: ServerWindow) => number | undefined) => ws.reduce((a, w) => a + (f(w) ?? 0), 0);
        const window: ServerWindow = {
          baseline: sumMem([primaryBaseline, ...ws.map((w) => w.baseline)]),
          loaded: sumMem([mine, ...ws.map((w) => w.loaded)]),
          connectionsAtStart: sum((w) => w.connectionsAtStart),
          connectionsAtEnd: sum((w) => w.connectionsAtEnd),
          closedInWindow: sum((w) => w.closedInWindow),
          cpuMicros: sum((w) => w.cpuMicros) + cpu.user + cpu.system,
          windowMs: max((w) => w.windowMs),
          // Per-worker figures: report the worst worker.
          loopDelayP50Ms: max((w) => w.loopDelayP50Ms),
          loopDelayP99Ms: max((w) => w.loopDelayP99Ms),
          loopDelayMaxMs: max((w) => w.loopDelayMaxMs),
          bytes: sum((w) => w.bytes),
          processes: ws.length,
        };
        stdoutEmit({ ev: 'report', window });
      });
    } else if (cmd.cmd === 'watch') {
      void all('watching').then(() => stdoutEmit({ ev: 'watching' }));
    } else if (cmd.cmd === 'closes') {
      void all('closes').then((list) => stdoutEmit({ ev: 'closes', times: list.flatMap((e) => e.times as number[]) }));
    }
  }, () => {
    stopping = true;
  });
}

if (workers > 1 && cluster.isPrimary) {
  // Round-robin accept in the primary spreads connections evenly over the workers.
  cluster.schedulingPolicy = cluster.SCHED_RR;
  await runPrimary();
} else if (cluster.isWorker) {
  const send: Emit = (event) => process.send?.(event);
  await runServer(send, (handle) => process.on('message', (cmd: { cmd: string }) => handle(cmd)));
} else {
  await runServer(stdoutEmit, onStdinCommands);
}
