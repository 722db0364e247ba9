/**
 * Who holds which connections: generator processes, loopback source addresses (≤ PER_SOURCE
 * each, since bind-before-connect allocates ephemeral ports per address) and, in native mode,
 * which server port each connection goes to. Pure functions of the run's size.
 */
import { PER_NATIVE_GENERATOR } from './native-generator.js';
import type { BenchConfig } from './types.js';

/** Connections per loopback source address (the bound: ≤ ~4,000). */
export const PER_SOURCE = 4000;
/** Connections per generator process (a process may hold at most `ulimit -n` = 20,000 files). */
export const PER_GENERATOR = 5000;
export const PER_GENERATOR_SCALE = 10_000;
/** Connections per cluster worker in scale mode. */
export const PER_WORKER_SCALE = 15_000;
/** Connections per independent server process in native mode (each a cluster worker on its own port). */
export const PER_WORKER_NATIVE = 16_000;
/** Share of the connections the frozen generator holds. */
export const FROZEN_SHARE = 0.1;

/** Server processes for a run: 1, cluster workers (scale) or independent servers (native). */
export function serverProcesses(config: Pick<BenchConfig, 'connections' | 'scale' | 'native'>): number {
  if (config.native) return Math.ceil(config.connections / PER_WORKER_NATIVE);
  return config.scale ? Math.max(2, Math.ceil(config.connections / PER_WORKER_SCALE)) : 1;
}

/** 127.0.x.y for source index i (x from 0, y in 2..251; 127.0.0.1 is the server). */
export function sourceAddress(i: number): string {
  return `127.0.${Math.floor(i / 250)}.${2 + (i % 250)}`;
}

/** How many connections each generator opens. With `freeze`, the first holds ~10 % (it is the one frozen). */
export function planGenerators(connections: number, scale: boolean, freeze: boolean): number[] {
  const per = scale ? PER_GENERATOR_SCALE : PER_GENERATOR;
  const split = (n: number) => {
    if (n <= 0) return [];
    const k = Math.ceil(n / per);
    return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
  };
  if (!freeze || connections < 10) return split(connections);
  const frozen = Math.max(1, Math.round(connections * FROZEN_SHARE));
  return [frozen, ...split(connections - frozen)];
}

/**
 * Native mode: `source:port:count,…` per generator (≤ PER_NATIVE_GENERATOR connections each).
 * Global connection k comes from sourceAddress(⌊k / PER_SOURCE⌋) and goes to ports[⌊k / per⌋],
 * per = ⌈N / ports⌉: every server process gets the same share.
 */
export function planNativeSegments(connections: number, ports: number[]): string[] {
  const perPort = Math.ceil(connections / ports.length);
  const gens = Math.ceil(connections / PER_NATIVE_GENERATOR);
  const plans: string[] = [];
  let k = 0;
  for (let g = 0; g < gens; g++) {
    const end = k + Math.floor(connections / gens) + (g < connections % gens ? 1 : 0);
    const parts: string[] = [];
    while (k < end) {
      const source = Math.floor(k / PER_SOURCE);
      const port = Math.floor(k / perPort);
      const upto = Math.min(end, (source + 1) * PER_SOURCE, (port + 1) * perPort);
      parts.push(`${sourceAddress(source)}:${ports[port]}:${upto - k}`);
      k = upto;
    }
    plans.push(parts.join(','));
  }
  return plans;
}

/** How many connections one planNativeSegments() entry holds. */
export function nativeSegmentConnections(segments: string): number {
  return segments.split(',').reduce((sum, part) => sum + Number(part.split(':')[2]), 0);
}

/** `address:count,…` for the generator holding global connections [first, first + count). */
export function sourcesFor(first: number, count: number): string {
  const parts: string[] = [];
  let k = first;
  const end = first + count;
  while (k < end) {
    const index = Math.floor(k / PER_SOURCE);
    const upto = Math.min(end, (index + 1) * PER_SOURCE);
    parts.push(`${sourceAddress(index)}:${upto - k}`);
    k = upto;
  }
  return parts.join(',');
}

/** Warm-up before the measured window: every connection's beat has started (first beats are spread over one interval). */
export function benchWarmupMs(config: Pick<BenchConfig, 'intervalMs'>): number {
  return Math.max(500, 2 * config.intervalMs);
}

/**
 * Guesses for what a system's run does besides the warm-up and window (the progress ETA,
 * src/cli/progress.ts, corrects them by what the first systems took): start the server
 * processes, open the connections, stop. Rough figures from runs on the dev container; only
 * the ETA uses them.
 */
const SERVER_START_GUESS_MS = 2000;
const CONNECT_GUESS_MS_PER_CONNECTION = 0.3;
const STOP_GUESS_MS = 1000;

/** One system's run for the progress ETA: the known part (warm-up + window) and a guess for the rest. */
export function benchStepEstimate(config: Pick<BenchConfig, 'connections' | 'intervalMs' | 'durationMs' | 'freeze' | 'native' | 'scale'>): { knownMs: number; guessMs: number } {
  const processes = serverProcesses(config);
  // A freeze waits for the detection: about the heartbeat timeout (3 intervals) + a poll.
  const freezeMs = config.freeze ? 3 * config.intervalMs + 1000 : 0;
  return {
    knownMs: benchWarmupMs(config) + config.durationMs,
    guessMs: SERVER_START_GUESS_MS * Math.max(1, processes / 2) + config.connections * CONNECT_GUESS_MS_PER_CONNECTION + STOP_GUESS_MS + freezeMs,
  };
}
