/**
 * Lab runner: for each fault, build a fresh topology (namespaces, or plain loopback when that is
 * all this machine allows), start a server agent and a client agent holding one connection per
 * mechanism, inject the fault, and record when each side of each connection noticed.
 * Faults run in parallel (each in its own namespaces); each cell is a real run on real sockets.
 */
import os from 'node:os';
import { Topology, probeNetnsSupport } from './netns.js';
import { agentHandle, type AgentHandle } from './agent-handle.js';
import { spawn } from 'node:child_process';
import { cliCommand, trackChild } from './processes.js';
import { applyLabScale, scaleInfo } from './scale.js';
import { labFault, outcomeFor, type CellMeasurement, type LabResult, type SkippedCell } from './results.js';
import { FAULTS, type FaultContext, type FaultSpec, type PathProxy } from './faults/index.js';
import { FaultProxy } from './fault-proxy.js';
import { UdpFaultProxy } from './udp-fault-proxy.js';
import { MECHANISMS, type MechanismSpec } from './mechanisms/index.js';
import { wallNow } from './json-child.js';

export interface LabOptions {
  mode: 'quick' | 'full';
  /** Repetitions per fault (quick: 1). */
  repetitions?: number;
  /** Subset of fault ids (default: all that this machine can run). */
  faults?: string[];
  /** Subset of mechanism ids (default: all). */
  mechanisms?: string[];
  /** Scale every fault's observation window (tests use < 1 to stay fast). */
  windowScale?: number;
  /** Force loopback mode even when namespaces are available. */
  loopback?: boolean;
  /** Called as faults finish (`repetition` 0-based). */
  onProgress?: (p: { done: number; total: number; label: string; repetition: number }) => void;
  /** Called once, before the first fault starts, with what will run (the CLI's ETA, src/cli/progress.ts). */
  onPlan?: (plan: LabPlan) => void;
}

/** What a lab run will do: `repetitions` rounds, each running `faults` in parallel. */
export interface LabPlan {
  repetitions: number;
  faults: { id: string; label: string; windowMs: number }[];
  /** Waited in every round before the fault is injected, ms. */
  settleMs: number;
}

const SERVER_PORT_BASE = 7400;
const SETTLE_MS = 1500;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function runLab(options: LabOptions): Promise<LabResult> {
  const started = wallNow();
  const support = options.loopback ? { ok: false, reason: 'loopback mode requested' } : await probeNetnsSupport();
  const envKind = support.ok ? 'netns' : 'loopback';
  const mechanisms = options.mechanisms ? MECHANISMS.filter((m) => options.mechanisms!.includes(m.id)) : [...MECHANISMS];
  const wanted = options.faults ? FAULTS.filter((f) => options.faults!.includes(f.id)) : [...FAULTS];
  const skipped: SkippedCell[] = [];
  const runnable = wanted.filter((f) => {
    if (f.requires === 'netns' && envKind !== 'netns') {
      skipped.push({ fault: f.id, reason: `needs network namespaces (${support.reason ?? 'unavailable'}); a user-space proxy cannot emulate it honestly` });
      return false;
    }
    // The proxy stand-in only when the real kernel fault cannot run (and only if asked for by
    // name when namespaces are there).
    if (f.requires === 'proxy' && envKind === 'netns' && !options.faults?.includes(f.id)) return false;
    return true;
  });
  // A row that does not apply to a fault is not run there, and says why (mechanism notFor).
  for (const f of runnable) {
    for (const m of mechanisms) {
      const reason = m.notFor?.[f.id];
      if (reason) skipped.push({ fault: f.id, mechanism: m.id, reason });
    }
  }
  for (const f of runnable.filter((x) => x.requires === 'proxy')) {
    for (const m of mechanisms.filter((x) => !x.heartbeat)) {
      skipped.push({ fault: f.id, mechanism: m.id, reason: "a user-space proxy ACKs for the vanished peer, so kernel mechanisms cannot be judged through it" });
    }
  }
  const repetitions = options.repetitions ?? (options.mode === 'full' ? 5 : 1);
  const measurements: CellMeasurement[] = [];
  const errors: string[] = [];
  let netKeepalive = false;
  const total = runnable.length * repetitions;
  let done = 0;
  options.onPlan?.({
    repetitions,
    faults: runnable.map((f) => ({ id: f.id, label: f.label, windowMs: f.windowMs * (options.windowScale ?? 1) })),
    settleMs: SETTLE_MS,
  });

  for (let rep = 0; rep < repetitions; rep++) {
    await Promise.all(
      runnable.map(async (fault) => {
        try {
          const mechs = mechanisms.filter((m) => !m.notFor?.[fault.id] && (fault.requires !== 'proxy' || m.heartbeat));
          const r = await runFault(fault, mechs, rep, envKind === 'netns' && fault.requires !== 'proxy', options.windowScale ?? 1);
          measurements.push(...r.cells);
          netKeepalive ||= r.netKeepalive;
        } catch (err) {
          errors.push(`${fault.id} (repetition ${rep + 1}): ${(err as Error).message}`);
        }
        options.onProgress?.({ done: ++done, total, label: fault.label, repetition: rep });
      }),
    );
  }

  return {
    tool: 'lifeline lab',
    mode: options.mode,
    startedAt: new Date(started).toISOString(),
    durationMs: Math.round(wallNow() - started),
    environment: {
      kind: envKind,
      ...(support.reason ? { reason: support.reason } : {}),
      kernel: os.release(),
      node: process.version,
      netKeepalive,
    },
    scale: envKind === 'netns' ? scaleInfo() : undefined,
    ...(options.windowScale !== undefined && options.windowScale !== 1 ? { windowScale: options.windowScale } : {}),
    faults: runnable.map((f) => labFault(f, options.windowScale ?? 1)),
    mechanisms: mechanisms.map((m) => ({
      id: m.id,
      label: m.label,
      description: m.description,
      transport: m.transport ?? 'tcp',
      kernelTimers: { tunedKeepalive: typeof m.socket?.tcpKeepalive === 'object', userTimeout: (m.socket?.tcpUserTimeout ?? 0) > 0 },
    })),
    measurements: sortCells(measurements, runnable, mechanisms),
    skipped,
    errors,
  };
}

function sortCells(cells: CellMeasurement[], faults: FaultSpec[], mechs: MechanismSpec[]): CellMeasurement[] {
  const fi = (id: string) => faults.findIndex((f) => f.id === id);
  const mi = (id: string) => mechs.findIndex((m) => m.id === id);
  return cells.sort((a, b) => fi(a.fault) - fi(b.fault) || mi(a.mechanism) - mi(b.mechanism) || a.repetition - b.repetition);
}

async function runFault(
  fault: FaultSpec,
  mechanisms: MechanismSpec[],
  repetition: number,
  useNetns: boolean,
  windowScale: number,
): Promise<{ cells: CellMeasurement[]; netKeepalive: boolean }> {
  const topo = useNetns ? await Topology.create() : undefined;
  const agents: AgentHandle[] = [];
  const proxies: PathProxy[] = [];
  try {
    if (topo) {
      await applyLabScale(topo);
      await fault.prepare?.(topo);
    }
    const ids = mechanisms.map((m) => m.id).join(',');
    const serverHost = topo ? topo.serverIp : '127.0.0.1';
    const wantPorts = mechanisms.map((_, i) => (topo ? SERVER_PORT_BASE + i : 0)).join(',');
    const startServer = async () => {
      const agent = spawnAgent(topo, 'server', ['--role', 'server', '--host', serverHost, '--ports', wantPorts, '--mechanisms', ids]);
      agents.push(agent);
      await agent.waitFor('ready', 15_000);
      return agent;
    };
    let server = await startServer();
    const ready = server.events.find((e) => e.ev === 'ready')!;
    const serverPorts = ready.ports as number[];
    // Faults made by a user-space proxy put one between client and server for every mechanism.
    const proxyPorts: number[] = [];
    if (fault.requires === 'proxy') {
      for (const [i, port] of serverPorts.entries()) {
        if (mechanisms[i]!.transport === 'udp') {
          const proxy = new UdpFaultProxy({ host: serverHost, port });
          proxies.push(proxy);
          proxyPorts.push((await proxy.listen(0, '127.0.0.1')).port);
          continue;
        }
        const proxy = new FaultProxy({ host: serverHost, port });
        proxies.push({ blackhole: () => proxy.setMode('blackhole'), close: () => proxy.close() });
        proxyPorts.push((await proxy.listen(0, '127.0.0.1')).port);
      }
    }
    const ports = (fault.requires === 'proxy' ? proxyPorts : serverPorts).join(',');
    const client = spawnAgent(topo, 'client', ['--role', 'client', '--host', serverHost, '--ports', ports, '--mechanisms', ids]);
    agents.push(client);
    await client.waitFor('ready', 15_000);
    await Promise.all(mechanisms.map((m) => client.waitFor((e) => e.ev === 'open' && e.mech === m.id, 10_000)));

    if (fault.dataInFlight) client.send({ cmd: 'stream', periodMs: 50 });
    await sleep(SETTLE_MS);
    checkTransports(server, mechanisms);

    const ctx: FaultContext = {
      topo,
      get server() {
        return server;
      },
      client,
      proxies,
      async restartServer() {
        server = await startServer();
        return server;
      },
      sleep,
    };
    const faultAt = wallNow();
    await fault.inject(ctx);
    const during = Promise.all([
      fault.during?.(ctx),
      fault.probeAfterMs === undefined ? undefined : sleep(fault.probeAfterMs).then(() => client.send({ cmd: 'probe' })),
    ]);
    const windowMs = fault.windowMs * windowScale;
    const deadline = faultAt + windowMs;
    const allEvents = () => agents.flatMap((a) => a.events);
    const allRelevantClosed = () =>
      mechanisms.every((m) =>
        fault.sides.every((side) => allEvents().some((e) => e.ev === 'closed' && e.mech === m.id && e.side === side)),
      );
    while (wallNow() < deadline && !allRelevantClosed()) await sleep(50);
    await during.catch((err: Error) => {
      throw new Error(`fault ${fault.id} failed while running: ${err.message}`);
    });

    // An agent that died on its own (not a fault we injected) makes its cells meaningless: say so.
    for (const agent of agents) {
      const { exitCode, signalCode } = agent.process;
      const injected = fault.id === 'process-crash' || fault.id === 'host-crash';
      if ((exitCode !== null || signalCode !== null) && !(injected && agent.name === 'server')) {
        throw new Error(`${agent.name} agent exited (${exitCode ?? signalCode}) during the run: ${agent.stderr.slice(-8).join(' | ')}`);
      }
    }
    const events = allEvents();
    const netKeepalive = events.some((e) => e.ev === 'ready' && e.netKeepalive === true);
    const cells = mechanisms.map((m): CellMeasurement => {
      const probed = events.some((e) => e.ev === 'probe' && e.mech === m.id);
      return {
        fault: fault.id,
        mechanism: m.id,
        repetition,
        client: outcomeFor(events, m.id, 'client', faultAt, fault.sides.includes('client')),
        server: outcomeFor(events, m.id, 'server', faultAt, fault.sides.includes('server')),
        ...(fault.probeAfterMs === undefined ? {} : { probeDelivered: probed }),
      };
    });
    return { cells, netKeepalive };
  } finally {
    for (const a of agents) a.kill('SIGKILL');
    await Promise.all(proxies.map((p) => p.close()));
    await topo?.destroy();
  }
}

/** A row must run over the transport it names (a WebSocket row silently on TCP would lie). */
function checkTransports(server: AgentHandle, mechanisms: MechanismSpec[]): void {
  for (const m of mechanisms.filter((x) => x.heartbeat)) {
    const applied = server.events.find((e) => e.ev === 'applied' && e.mech === m.id);
    const want = m.transport ?? 'tcp';
    if (applied?.transport !== want) throw new Error(`${m.id}: the server saw transport ${String(applied?.transport)}, the row names ${want}`);
  }
}

function spawnAgent(topo: Topology | undefined, role: 'server' | 'client', args: string[]): AgentHandle {
  const { command, args: base } = cliCommand();
  const full = [...base, 'lab-agent', ...args];
  const child = topo ? topo.spawnIn(role, command, full) : trackChild(spawn(command, full, { stdio: ['pipe', 'pipe', 'pipe'] }));
  return agentHandle(role, child);
}
