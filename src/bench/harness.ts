/**
 * The benchmark harness: for each system, one server process (or a cluster of them in scale
 * mode) and separate load-generator processes; hold N connections heartbeating at interval T,
 * warm up, measure a window, optionally freeze one generator and time the server's detection,
 * tear everything down. Systems run one after another, never side by side, so they do not
 * share the CPU with each other.
 *
 * Loopback only: the server listens on 127.0.0.1; connection k comes from source address
 * sourceAddress(floor(k / PER_SOURCE)) so no source address needs more than PER_SOURCE
 * ephemeral ports (bind-before-connect allocates them per address, not per destination).
 * Who holds what: plan.ts. `native`: C load generators (native-generator.ts) against
 * independent server processes, one port each, for up to 1,000,000 connections.
 *
 * Every run is watched by a memory guard (memory-guard.ts): below MEMORY_FLOOR_BYTES of
 * MemAvailable it stops, reports the connections reached and kills all it started. Every child
 * is tracked (lab/processes.ts): killed on exit, Ctrl-C and failure.
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnBenchChild, type JsonChild } from './child.js';
import { readMemInfo, readNetCounters, waitForMemorySettled, watchMemory, type NetCounters } from './memory-guard.js';
import { NATIVE_SYSTEMS, isNativeSystem, nativeGeneratorBinary, spawnNativeGenerator } from './native-generator.js';
import { FROZEN_SHARE, benchWarmupMs, nativeSegmentConnections, planGenerators, planNativeSegments, serverProcesses, sourcesFor } from './plan.js';
import { startExternalServer, type ExternalServer } from './external-servers.js';
import { isNodeSystem } from './node-servers.js';
import { SYSTEMS, systemUnavailable } from './systems.js';
import {
  wallNow,
  type BenchConfig,
  type BenchResult,
  type DerivedMetrics,
  type DetectionResult,
  type GeneratorWindow,
  type MemorySample,
  type ServerWindow,
  type SystemId,
  type SystemResult,
} from './types.js';

export { planGenerators, planNativeSegments, sourceAddress, PER_SOURCE } from './plan.js';

const HOST = '127.0.0.1';
/**
 * The run stops (everything it started is killed) when MemAvailable falls below this: 2.5 GiB,
 * or LIFELINE_BENCH_MEMORY_FLOOR_GIB (e.g. to see the guard trip in a small run).
 */
export const MEMORY_FLOOR_BYTES = Number(process.env.LIFELINE_BENCH_MEMORY_FLOOR_GIB ?? 2.5) * 2 ** 30;

/** What a system's run is doing (the progress display starts a new plain line on each change). */
export type BenchStep = 'waiting' | 'starting' | 'connecting' | 'warm-up' | 'measuring' | 'freezing' | 'stopping';

export interface BenchProgress {
  system: SystemId;
  /** Index of the system in the run (round × systems + i) and how many there are. */
  index: number;
  total: number;
  /** 0-based round. */
  round: number;
  step: BenchStep;
  /** What moves within the step ("15103/19000", "3/10 s"), may be empty. */
  detail: string;
  /** step + detail as one line, with "round r/R: " in front when there are rounds. */
  phase: string;
}

export interface BenchHooks {
  progress?(p: BenchProgress): void;
  /** One-line notices (skips, errors). */
  notice?(line: string): void;
}

export async function runBench(config: BenchConfig, hooks: BenchHooks = {}): Promise<BenchResult> {
  const cpus = os.cpus();
  const native = config.native ? await nativeGeneratorBinary() : undefined;
  const roundCount = config.rounds ?? 1;
  const total = config.systems.length * roundCount;
  // Why a system cannot run is decided once; later rounds skip it quietly.
  const skips = new Map<SystemId, string | undefined>();
  const rounds: SystemResult[][] = [];
  for (let round = 0; round < roundCount; round++) {
    const results: SystemResult[] = [];
    for (const [i, system] of config.systems.entries()) {
      const index = round * config.systems.length + i;
      const progress: StepProgress = (step, detail = '') => {
        const text = detail ? `${step} ${detail}` : step;
        hooks.progress?.({ system, index, total, round, step, detail, phase: roundCount > 1 ? `round ${round + 1}/${roundCount}: ${text}` : text });
      };
      if (!skips.has(system)) {
        const unavailable =
          native && 'unavailable' in native
            ? native.unavailable
            : config.native && !isNativeSystem(system)
              ? `native mode (C load generator) runs ${NATIVE_SYSTEMS.join(', ')} only`
              : await systemUnavailable(system, { intervalMs: config.intervalMs, scale: config.scale });
        skips.set(system, unavailable);
        if (unavailable) hooks.notice?.(`skipped ${system}: ${unavailable}`);
      }
      const unavailable = skips.get(system);
      if (unavailable) {
        results.push({ system, label: SYSTEMS[system].label, skipped: unavailable, connectionsRequested: config.connections, connectionsOpen: 0 });
        continue;
      }
      // The previous system's sockets are freed by the kernel asynchronously.
      if (config.native && (results.some((r) => !r.skipped) || round > 0)) {
        progress('waiting', 'for the kernel to free the previous run');
        await waitForMemorySettled();
      }
      progress('starting');
      const result = await runSystem(system, config, progress, native && 'path' in native ? native.path : undefined);
      if (result.error) hooks.notice?.(`${system} failed: ${result.error}`);
      results.push(result);
    }
    rounds.push(results);
  }
  const results = rounds.at(-1) ?? [];
  return {
    startedAt: new Date().toISOString(),
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? 'unknown',
      totalMemGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
    },
    config,
    results,
    ...(roundCount > 1 ? { rounds } : {}),
  };
}

/** What the harness needs from a server, Node or not (narrow port). */
interface ServerHandle {
  readonly port: number;
  /** Every listening port (independent server processes); [port] otherwise. */
  readonly ports: number[];
  readonly baseline: MemorySample;
  mark(): Promise<void>;
  report(): Promise<Omit<ServerWindow, 'connectionsAtStart' | 'connectionsAtEnd' | 'closedInWindow'> & Partial<ServerWindow>>;
  /** Start recording close times; then read them (undefined: this server cannot tell). */
  watch(): Promise<boolean>;
  closes(): Promise<number[]>;
  stop(): Promise<void>;
}

/**
 * Extra Node flags for the server processes only, from LIFELINE_BENCH_NODE_FLAGS (space
 * separated), e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the servers under load.
 */
function serverNodeFlags(): string[] {
  return (process.env.LIFELINE_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
}

async function nodeServer(system: SystemId, config: BenchConfig): Promise<ServerHandle> {
  const workers = serverProcesses(config);
  const child = spawnBenchChild(
    `${system} server`,
    'server-main',
    [
      '--system', system,
      '--host', HOST,
      '--interval', String(config.intervalMs),
      '--workers', String(workers),
      ...(config.native ? ['--independent'] : []),
      ...(config.lifelineSocketTuning === 'off' ? ['--socket-tuning', 'off'] : []),
    ],
    ['--expose-gc', '--max-old-space-size=8192', ...serverNodeFlags()],
  );
  // Dozens of workers start on 2 cores: allow ~1 s each.
  const ready = await child.waitFor('ready', 30_000 + 1000 * workers);
  const ask = async (cmd: string, ev: string, timeoutMs = 30_000) => {
    const from = child.events.length;
    child.send({ cmd });
    return child.waitFor(ev, timeoutMs, from);
  };
  return {
    port: Number(ready.port),
    ports: (ready.ports as number[] | undefined) ?? [Number(ready.port)],
    baseline: ready.baseline as MemorySample,
    mark: async () => void (await ask('mark', 'marked')),
    report: async () => (await ask('report', 'report', 60_000 + 2000 * workers)).window as ServerWindow,
    watch: async () => (await ask('watch', 'watching'), true),
    closes: async () => (await ask('closes', 'closes')).times as number[],
    stop: async () => {
      // Ending stdin lets the server exit by itself (profiles get written, workers are reaped).
      child.process.stdin?.end();
      const timer = setTimeout(() => child.kill(), 10_000);
      await child.exited;
      clearTimeout(timer);
    },
  };
}

async function externalServer(system: 'mosquitto' | 'nats', config: BenchConfig): Promise<ServerHandle> {
  const server: ExternalServer = await startExternalServer(system, HOST, config.intervalMs);
  await sleep(300);
  const baseline = server.memory();
  let mark = { cpu: 0, at: 0 };
  return {
    port: server.port,
    ports: [server.port],
    baseline,
    mark: async () => void (mark = { cpu: server.cpuMicros(), at: performance.now() }),
    report: async () => ({
      baseline,
      loaded: server.memory(),
      cpuMicros: server.cpuMicros() - mark.cpu,
      windowMs: performance.now() - mark.at,
      loopDelayP50Ms: undefined,
      loopDelayP99Ms: undefined,
      loopDelayMaxMs: undefined,
      bytes: undefined,
      processes: 1,
    }),
    watch: async () => false,
    closes: async () => [],
    stop: () => server.stop(),
  };
}

type StepProgress = (step: BenchStep, detail?: string) => void;

async function runSystem(system: SystemId, config: BenchConfig, progress: StepProgress, nativeBinary?: string): Promise<SystemResult> {
  const result: SystemResult = { system, label: SYSTEMS[system].label, connectionsRequested: config.connections, connectionsOpen: 0 };
  const generators: JsonChild[] = [];
  let server: ServerHandle | undefined;
  const readyCounts: number[] = [];
  const reached = () => readyCounts.reduce((a, b) => a + b, 0);
  const hostBefore = readMemInfo();
  const netBefore = readNetCounters();
  const netDelta = (now: NetCounters | undefined) =>
    netBefore && now ? { backlogDrops: now.backlogDrops - netBefore.backlogDrops, abortsOnTimeout: now.abortsOnTimeout - netBefore.abortsOnTimeout } : {};
  const guard = watchMemory(MEMORY_FLOOR_BYTES, () => `${reached()} connections open`);
  /** Every wait of the run loses against the memory guard. */
  const guarded = <T>(p: Promise<T>) => Promise.race([p, guard.tripped]);
  try {
    server = await guarded(isNodeSystem(system) ? nodeServer(system, config) : externalServer(system as 'mosquitto' | 'nats', config));
    // Native mode freezes whole C generators: lifeline (either leader) is the only native system that detects.
    const freeze = config.freeze && SYSTEMS[system].detectsDeadClients && (config.native ? system !== 'raw' : isNodeSystem(system));
    const plan = config.native ? [] : planGenerators(config.connections, config.scale, freeze);
    /** Native: connections per generator, to freeze the first ~10 % of them. */
    const nativeCounts: number[] = [];
    const connectDeadlineMs = config.native ? 120_000 + config.connections : 30_000 + config.connections * 2;
    if (config.native && isNativeSystem(system)) {
      for (const [i, segments] of planNativeSegments(config.connections, server.ports).entries()) {
        nativeCounts.push(nativeSegmentConnections(segments));
        generators.push(
          spawnNativeGenerator(`${system} native generator ${i + 1}`, nativeBinary!, system, {
            host: HOST,
            intervalMs: config.intervalMs,
            segments,
            connectDeadlineMs,
          }),
        );
      }
    }
    let first = 0;
    for (const [i, count] of plan.entries()) {
      generators.push(
        spawnBenchChild(`${system} generator ${i + 1}`, 'generator-main', [
          '--system', system,
          '--host', HOST,
          '--port', String(server.port),
          '--interval', String(config.intervalMs),
          '--sources', sourcesFor(first, count),
          '--connect-deadline', String(connectDeadlineMs),
        ]),
      );
      first += count;
    }
    generators.forEach((g, i) => {
      readyCounts[i] = 0;
      g.onEvent((e) => {
        if (e.ev !== 'progress' && e.ev !== 'ready') return;
        readyCounts[i] = Number(e.ready);
        progress('connecting', `${reached()}/${config.connections}`);
      });
    });
    const ready = await guarded(Promise.all(generators.map((g) => g.waitFor('ready', connectDeadlineMs + 15_000))));
    result.connectionsOpen = ready.reduce((a, e) => a + Number(e.ready), 0);
    const failed = ready.find((e) => e.firstError !== undefined);
    if (result.connectionsOpen < config.connections) {
      throw new Error(`only ${result.connectionsOpen} of ${config.connections} connections opened (${String(failed?.firstError ?? 'unknown')})`);
    }

    // Warm-up: every connection's beat has started (first beats are spread over one interval).
    const warmupMs = benchWarmupMs(config);
    progress('warm-up', `${Math.round(warmupMs / 100) / 10} s`);
    await guarded(sleep(warmupMs));

    const askAll = (cmd: string, ev: string) =>
      Promise.all(
        generators.map((g) => {
          const from = g.events.length;
          g.send({ cmd });
          return g.waitFor(ev, 30_000, from);
        }),
      );
    await guarded(Promise.all([server.mark(), askAll('mark', 'marked')]));
    const startedAt = Date.now();
    while (Date.now() - startedAt < config.durationMs) {
      progress('measuring', `${Math.round((Date.now() - startedAt) / 1000)}/${Math.round(config.durationMs / 1000)} s`);
      await guarded(sleep(Math.min(500, config.durationMs - (Date.now() - startedAt))));
    }
    const hostLoaded = readMemInfo();
    const [serverWindow, genReports] = await guarded(Promise.all([server.report(), askAll('report', 'report')]));
    if (hostBefore && hostLoaded) {
      result.host = { slabBefore: hostBefore.slab, slabLoaded: hostLoaded.slab, minAvailable: guard.minAvailable, ...netDelta(readNetCounters()) };
    }
    const gens = mergeGenerators(genReports.map((e) => e.window as GeneratorWindow));
    result.generators = gens;
    result.server = {
      ...serverWindow,
      connectionsAtStart: serverWindow.connectionsAtStart ?? result.connectionsOpen,
      connectionsAtEnd: serverWindow.connectionsAtEnd ?? gens.open,
      closedInWindow: serverWindow.closedInWindow ?? gens.closed,
    };
    result.bytesSource = serverWindow.bytes !== undefined ? 'server' : 'client';
    result.derived = derive(result.server, gens, config, result.connectionsOpen);

    if (freeze) {
      // The first generator holds ~10 % (planGenerators); native generators hold equal shares,
      // so the first ~10 % of them are frozen together.
      const frozenGenerators = config.native ? Math.max(1, Math.round(nativeCounts.length * FROZEN_SHARE)) : 1;
      const frozen = config.native ? nativeCounts.slice(0, frozenGenerators).reduce((a, b) => a + b, 0) : plan[0]!;
      progress('freezing', `${frozenGenerators === 1 ? 'one generator' : `${frozenGenerators} generators`} (${frozen} connections)`);
      result.detection = await measureDetection(server, generators.slice(0, frozenGenerators), frozen, config.intervalMs);
    }
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    result.connectionsOpen = Math.max(result.connectionsOpen, reached());
    const hostNow = readMemInfo();
    if (hostBefore && hostNow && !result.host) {
      result.host = { slabBefore: hostBefore.slab, slabLoaded: hostNow.slab, minAvailable: guard.minAvailable, ...netDelta(readNetCounters()) };
    }
  } finally {
    guard.stop();
    progress('stopping');
    for (const g of generators) g.kill('SIGKILL');
    await Promise.all(generators.map((g) => g.exited));
    await server?.stop();
  }
  return result;
}

function mergeGenerators(windows: GeneratorWindow[]): GeneratorWindow {
  const sum = (f: (w: GeneratorWindow) => number) => windows.reduce((a, w) => a + f(w), 0);
  // The C generator reports null (JSON) when it timed no PING of its own (the server leads).
  const defined = (xs: (number | null | undefined)[]) => xs.filter((x): x is number => typeof x === 'number');
  const p50s = defined(windows.map((w) => w.rttP50Ms));
  const p99s = defined(windows.map((w) => w.rttP99Ms));
  return {
    roundTrips: sum((w) => w.roundTrips),
    bytes: windows.some((w) => w.bytes === undefined) ? undefined : sum((w) => w.bytes!),
    missed: sum((w) => w.missed),
    closed: sum((w) => w.closed),
    closedSinceReady: sum((w) => w.closedSinceReady),
    open: sum((w) => w.open),
    rttP50Ms: p50s.length ? p50s.reduce((a, b) => a + b, 0) / p50s.length : undefined,
    rttP99Ms: p99s.length ? Math.max(...p99s) : undefined,
    ...(windows.every((w) => w.cpuMicros !== undefined) ? { cpuMicros: sum((w) => w.cpuMicros!) } : {}),
  };
}

export function derive(server: ServerWindow, gens: GeneratorWindow, config: BenchConfig, opened: number): DerivedMetrics {
  const n = Math.max(1, server.connectionsAtStart);
  const rts = gens.roundTrips;
  const bytes = server.bytes ?? gens.bytes;
  const heap = server.loaded.heapUsed !== undefined && server.baseline.heapUsed !== undefined ? server.loaded.heapUsed - server.baseline.heapUsed : undefined;
  return {
    heapPerConnection: heap === undefined ? undefined : heap / n,
    rssPerConnection: (server.loaded.rss - server.baseline.rss) / n,
    cpuPerRoundTripMicros: rts > 0 ? server.cpuMicros / rts : undefined,
    bytesPerRoundTrip: rts > 0 && bytes !== undefined ? bytes / rts : undefined,
    roundTrips: rts,
    beatRatio: rts / (n * (server.windowMs / config.intervalMs)),
    missed: gens.missed,
    dropped: Math.max(opened - server.connectionsAtStart + server.closedInWindow, gens.closedSinceReady),
  };
}

/**
 * SIGSTOP the generator holding `frozen` connections (its kernel keeps ACKing, its process
 * answers nothing), then wait until the server has closed that many connections or a
 * deadline of 5 intervals + 3 s (every timeout here is ≤ 3 intervals) passes.
 */
async function measureDetection(server: ServerHandle, generators: JsonChild[], frozen: number, intervalMs: number): Promise<DetectionResult> {
  await server.watch();
  const frozenAt = wallNow();
  for (const generator of generators) generator.kill('SIGSTOP');
  const deadlineMs = 5 * intervalMs + 3000;
  // Every poll ships all close times so far: poll less often when there are many.
  const pollMs = Math.min(intervalMs, frozen > 10_000 ? 5000 : 500);
  let times: number[] = [];
  const start = Date.now();
  while (Date.now() - start < deadlineMs) {
    await sleep(pollMs);
    times = await server.closes();
    if (times.length >= frozen) break;
  }
  const waitedMs = Date.now() - start;
  for (const generator of generators) generator.kill('SIGKILL');
  const delays = times.map((t) => t - frozenAt).sort((a, b) => a - b);
  const pct = (p: number) => (delays.length ? delays[Math.min(delays.length - 1, Math.ceil((p / 100) * delays.length) - 1)] : undefined);
  return { frozen, detected: Math.min(delays.length, frozen), p50Ms: pct(50), p99Ms: pct(99), maxMs: delays.at(-1), waitedMs };
}
