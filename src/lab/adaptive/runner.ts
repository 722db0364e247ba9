/**
 * `lifeline lab --adaptive` (docs/spec/0007 §Wiring step 10): fixed and adaptive heartbeats side
 * by side, each on one idle connection through the same NAT, for a scaled hour.
 *
 * With network namespaces (root, `ip`, `nft`): the lab topology (netns.ts: client ns ── router
 * ns with source NAT and conntrack ── server ns), the router's conntrack forgetting established
 * TCP flows idle for 4 s (faults/nat-timeout.ts) and dropping the packets of forgotten flows;
 * nat-counter.ts counts the flows it forgot. Without them (or with `loopback`): one FaultProxy per
 * row on 127.0.0.1 with idleTimeoutMs 4000, a user-space NAT with the same rule (a flow silent
 * for longer is blackholed; a new connection gets a new mapping), and its own count.
 *
 * The server agent holds one lifeline server per row, the client agent one client per row
 * (reconnect + resume, kernel keepalive off). Both are child processes; namespaces and processes
 * are removed on return, on failure, and on exit / Ctrl-C (Topology and trackChild hooks).
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { Topology, probeNetnsSupport } from '../netns.js';
import { cliCommand, trackChild } from '../processes.js';
import { wrapJsonChild, type JsonChild, wallNow } from '../json-child.js';
import { FaultProxy } from '../fault-proxy.js';
import { natTimeout } from '../faults/nat-timeout.js';
import type { ResolvedNatLearnerOptions } from '../../liveness/nat-learner.js';
import { NatFlowCounter } from './nat-counter.js';
import { ADAPTIVE_ROWS, NAT_TIMEOUT_MS, SCALED_LEARNER, SCALED_RECONNECT, TIME_SCALE, adaptiveRowById, type AdaptiveRowSpec } from './rows.js';
import { summarizeAdaptive, type AdaptiveAgentEvent, type AdaptiveRowResult, type AdaptiveSummary } from './summary.js';

export const DEFAULT_ADAPTIVE_DURATION_MS = 240_000;
const SERVER_PORT_BASE = 7500;
const PROGRESS_EVERY_MS = 1000;

export interface AdaptiveNatOptions {
  /** Measured time, real ms. Default 240 000 (one hour at the 60 s scale). */
  durationMs?: number;
  /** Subset of row ids (default: all, see rows.ts). */
  rows?: string[];
  /** Use the loopback FaultProxy even when namespaces are available. */
  loopback?: boolean;
  /** Called about once a second with what has been measured so far. */
  onProgress?: (p: AdaptiveProgress) => void;
}

export interface AdaptiveProgress {
  elapsedMs: number;
  durationMs: number;
  rows: AdaptiveRowResult[];
}

export interface AdaptiveNatResult extends AdaptiveSummary {
  tool: 'lifeline lab --adaptive';
  startedAt: string;
  /** Measured window, real ms. */
  durationMs: number;
  timeScale: number;
  natTimeoutMs: number;
  environment: {
    kind: 'netns' | 'loopback';
    /** Why not namespaces. */
    reason?: string;
    /** What forgets idle flows. */
    nat: string;
    kernel: string;
    node: string;
    host: string;
    cpus: number;
  };
  learner: ResolvedNatLearnerOptions;
  reconnect: typeof SCALED_RECONNECT;
  /** Every agent event of the run (raw data). */
  events: AdaptiveAgentEvent[];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type Agent = JsonChild<AdaptiveAgentEvent>;

export async function runAdaptiveNat(options: AdaptiveNatOptions = {}): Promise<AdaptiveNatResult> {
  const durationMs = options.durationMs ?? DEFAULT_ADAPTIVE_DURATION_MS;
  if (!(Number.isFinite(durationMs) && durationMs > 0)) throw new RangeError(`durationMs must be > 0, got ${durationMs}`);
  const rows = options.rows ? options.rows.map(adaptiveRowById) : [...ADAPTIVE_ROWS];
  const support = options.loopback ? { ok: false, reason: 'loopback mode requested' } : await probeNetnsSupport();
  const topo = support.ok ? await Topology.create() : undefined;
  const agents: Agent[] = [];
  const proxies: FaultProxy[] = [];
  try {
    let counter: NatFlowCounter | undefined;
    if (topo) {
      await natTimeout.prepare!(topo);
      counter = await NatFlowCounter.install(topo);
    }
    const ids = rows.map((r) => r.id).join(',');
    const serverHost = topo ? topo.serverIp : '127.0.0.1';
    const server = spawnAgent(topo, 'server', [
      '--role', 'server', '--host', serverHost, '--ports', rows.map((_, i) => (topo ? SERVER_PORT_BASE + i : 0)).join(','), '--rows', ids,
    ]);
    agents.push(server);
    const serverPorts = (await server.waitFor('ready', 15_000)).ports as number[];
    let clientPorts = serverPorts;
    if (!topo) {
      clientPorts = [];
      for (const port of serverPorts) {
        const proxy = new FaultProxy({ host: serverHost, port }, { idleTimeoutMs: NAT_TIMEOUT_MS });
        proxies.push(proxy);
        clientPorts.push((await proxy.listen(0, '127.0.0.1')).port);
      }
    }
    const client = spawnAgent(topo, 'client', ['--role', 'client', '--host', serverHost, '--ports', clientPorts.join(','), '--rows', ids]);
    agents.push(client);
    await client.waitFor('ready', 15_000);
    await Promise.all(rows.map((r) => client.waitFor((e) => e.ev === 'open' && e.row === r.id, 10_000)));

    const startAt = wallNow();
    const events = () => [...server.events, ...client.events];
    const summarize = (endAt: number, natForgotten?: ReadonlyMap<string, number>) =>
      summarizeAdaptive({ rows, events: events(), startAt, endAt, ...(natForgotten ? { natForgotten } : {}) });
    const proxyCounts = () => new Map(rows.map((r, i) => [r.id, proxies[i]!.stats.forgottenFlows] as const));
    while (wallNow() - startAt < durationMs) {
      await sleep(Math.min(PROGRESS_EVERY_MS, durationMs - (wallNow() - startAt)));
      for (const agent of agents) {
        if (agent.process.exitCode !== null || agent.process.signalCode !== null) {
          throw new Error(`${agent.name} agent exited (${agent.process.exitCode ?? agent.process.signalCode}): ${agent.stderr.slice(-5).join(' | ')}`);
        }
      }
      const now = wallNow();
      options.onProgress?.({ elapsedMs: Math.min(now - startAt, durationMs), durationMs, rows: summarize(now, topo ? undefined : proxyCounts()).rows });
    }
    const endAt = wallNow();
    // Read what the NAT forgot before anything closes (a close on a forgotten flow would count).
    const natForgotten = counter ? byRow(rows, serverPorts, await counter.forgottenByServerPort()) : proxyCounts();
    const reportFrom = client.events.length;
    client.send({ cmd: 'report' });
    await client.waitFor('report', 5000, reportFrom);
    const summary = summarize(endAt, natForgotten);
    return {
      tool: 'lifeline lab --adaptive',
      startedAt: new Date(startAt).toISOString(),
      durationMs: Math.round(endAt - startAt),
      timeScale: TIME_SCALE,
      natTimeoutMs: NAT_TIMEOUT_MS,
      environment: {
        kind: topo ? 'netns' : 'loopback',
        ...(support.reason ? { reason: support.reason } : {}),
        nat: topo
          ? `the router's conntrack forgets established TCP flows idle for ${NAT_TIMEOUT_MS / 1000} s (nf_conntrack_tcp_timeout_established) and drops their packets`
          : `FaultProxy (idleTimeoutMs ${NAT_TIMEOUT_MS}) blackholes a flow silent for longer`,
        kernel: os.release(),
        node: process.version,
        host: os.hostname(),
        cpus: os.cpus().length,
      },
      learner: SCALED_LEARNER,
      reconnect: SCALED_RECONNECT,
      ...summary,
      events: events(),
    };
  } finally {
    for (const a of agents) a.kill('SIGKILL');
    await Promise.all(proxies.map((p) => p.close()));
    await topo?.destroy();
  }
}

function byRow(rows: AdaptiveRowSpec[], serverPorts: number[], byPort: Map<number, number>): Map<string, number> {
  return new Map(rows.map((r, i) => [r.id, byPort.get(serverPorts[i]!) ?? 0] as const));
}

function spawnAgent(topo: Topology | undefined, role: 'server' | 'client', args: string[]): Agent {
  const { command, args: base } = cliCommand();
  const full = [...base, 'lab-adaptive-agent', ...args];
  const child = topo ? topo.spawnIn(role, command, full) : trackChild(spawn(command, full, { stdio: ['pipe', 'pipe', 'pipe'] }));
  return wrapJsonChild<AdaptiveAgentEvent>(role, child);
}
