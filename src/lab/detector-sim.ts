/**
 * Detector comparison harness (docs/spec/0002-phi-accrual.md §Results): 'fixed' vs 'phi' on a
 * simulated idle connection, interval 1000 ms, timeout 3000 ms. A SIMULATION, not a measurement:
 * deterministic (seeded mulberry32), no sockets, no real time; runs in well under a second.
 *
 * Model. The client runs the real Heartbeat with the detector under test (so pings, repeats and
 * jitter follow src/liveness exactly) and judges the server. Each PING draws an RTT, split evenly
 * between the two directions; it can be lost (either direction); the server answers when it
 * processes it — at once, or at the end of a stop-the-world pause. Simplifications: packets are
 * independent (datagram-like; over TCP a loss burst is a stall of at least the same length), the
 * server's own pings (sent only after the client went quiet) are not modelled — they could only
 * add arrivals, so false alarms here are an upper bound — and checks run exactly on time.
 *
 * Per detector × scenario: (1) `hours` of a live peer, counting false alarms (dead verdicts);
 * after each the connection restarts with a fresh heartbeat, as a reconnect would; (2) `trials`
 * runs in which the peer dies at a random time after 1–5 min; detection time = verdict − death.
 * All detectors of a scenario see the same pauses, bursts and random draws (common random
 * numbers) until their verdicts make them diverge.
 */
import { Heartbeat } from '../liveness/heartbeat.js';
import { pingSchedule } from '../liveness/negotiate.js';
import { createDetector, type DetectorSpec } from '../liveness/detectors/index.js';
import { renderTable } from './table.js';
import { percentile } from './summary.js';
import { seededRandom } from '../time/rng.js';

/** The simulation's PRNG (mulberry32), re-exported for callers that seed it. */
export const mulberry32 = seededRandom;

export const SIM_INTERVAL_MS = 1000;
export const SIM_TIMEOUT_MS = 3 * SIM_INTERVAL_MS;
const HOUR_MS = 3_600_000;
/** A trial that has not detected the death this long after it counts as undetected. */
const DETECTION_CAP_MS = 120_000;

export interface DetectorSimOptions {
  /** PRNG seed. Default 1. */
  seed?: number;
  /** Simulated hours of a live peer per detector × scenario. Default 1. */
  hours?: number;
  /** Death trials per detector × scenario. Default 200. */
  trials?: number;
}

export interface DetectorSimRow {
  scenario: string;
  detector: string;
  /** Dead verdicts while the peer was alive, over `hours`. */
  falseAlarms: number;
  falseAlarmsPerHour: number;
  /** Detection time after the death, ms, over the trials (null in JSON: undetected within 120 s). */
  detectionP50Ms: number;
  detectionP99Ms: number;
  detectionMaxMs: number;
  undetected: number;
}

export interface DetectorSimResult {
  seed: number;
  hours: number;
  trials: number;
  intervalMs: number;
  timeoutMs: number;
  scenarios: Array<{ id: string; description: string }>;
  detectors: Array<{ id: string; spec: DetectorSpec }>;
  rows: DetectorSimRow[];
}

/** The detectors compared. Pause 2000 = createDetector's default (timeoutMs − pingAfterMs). */
export const SIM_DETECTORS: ReadonlyArray<{ id: string; spec: DetectorSpec }> = [
  { id: 'fixed 3 s', spec: { kind: 'fixed' } },
  { id: 'phi θ=8', spec: { kind: 'phi', threshold: 8 } },
  { id: 'phi θ=12', spec: { kind: 'phi', threshold: 12 } },
  { id: 'phi θ=8 pause=0', spec: { kind: 'phi', threshold: 8, acceptablePauseMs: 0 } },
  { id: 'phi θ=3 pause=0', spec: { kind: 'phi', threshold: 3, acceptablePauseMs: 0 } },
];


/** Standard normal draw (Box–Muller). */
function normal(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

interface Scenario {
  id: string;
  description: string;
  rttMs(rng: () => number): number;
  /** Independent loss probability per packet. */
  lossRate: number;
  /** Poisson rate and duration range of peer stop-the-world pauses. */
  pausesPerHour: number;
  pauseMs: [number, number];
  /** Poisson rate and duration range of loss bursts (everything sent inside is lost). */
  burstsPerHour: number;
  burstMs: [number, number];
}

/** No loss, no pauses, no bursts. */
const CALM = { lossRate: 0, pausesPerHour: 0, pauseMs: [0, 0], burstsPerHour: 0, burstMs: [0, 0] } satisfies Omit<Scenario, 'id' | 'description' | 'rttMs'>;

const SCENARIOS: readonly Scenario[] = [
  {
    id: 'lan',
    description: 'steady LAN: RTT 2 ms ± 0.5 ms (normal)',
    rttMs: (r) => Math.max(0.1, 2 + 0.5 * normal(r)),
    ...CALM,
  },
  {
    id: 'heavy-tail',
    description: 'jittery WAN: RTT lognormal (median 60 ms, σ 0.6); 1 % of pings +0.5–5 s (Pareto α 1.5)',
    rttMs: (r) => 60 * Math.exp(0.6 * normal(r)) + (r() < 0.01 ? Math.min(5000, 500 * (1 - r()) ** (-1 / 1.5)) : 0),
    ...CALM,
  },
  {
    id: 'gc-pauses',
    description: 'peer GC: stop-the-world 0.8–1.5 s, 6 per hour; RTT 20 ms ± 5 ms',
    rttMs: (r) => Math.max(1, 20 + 5 * normal(r)),
    ...CALM,
    pausesPerHour: 6,
    pauseMs: [800, 1500],
  },
  {
    id: 'mobile-loss',
    description: 'mobile: RTT lognormal (median 80 ms, σ 0.5), 1 % loss, 20 loss bursts/h of 1.1–1.9 s',
    rttMs: (r) => 80 * Math.exp(0.5 * normal(r)),
    ...CALM,
    lossRate: 0.01,
    burstsPerHour: 20,
    burstMs: [1100, 1900],
  },
];

/**
 * Sorted, non-overlapping [start, end) windows from a Poisson process over [0, untilMs); at least
 * 10 s apart, so "a pause of at most 1.5 s" really bounds the silence it causes.
 */
function windows(rng: () => number, perHour: number, [minMs, maxMs]: [number, number], untilMs: number): Float64Array {
  const out: number[] = [];
  if (perHour <= 0) return new Float64Array(0);
  for (let t = 0; ; ) {
    t += (-Math.log(1 - rng()) * HOUR_MS) / perHour;
    if (t >= untilMs) break;
    out.push(t, t + minMs + rng() * (maxMs - minMs));
    t = out[out.length - 1]! + 10_000;
  }
  return Float64Array.from(out);
}

/** End of the window containing atMs, or undefined. Binary search over [start, end) pairs. */
function windowEnd(w: Float64Array, atMs: number): number | undefined {
  let lo = 0;
  let hi = w.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (atMs < w[2 * mid]!) hi = mid - 1;
    else if (atMs >= w[2 * mid + 1]!) lo = mid + 1;
    else return w[2 * mid + 1];
  }
  return undefined;
}

/** One simulated connection life: same seed → same pauses, bursts and draws for every detector. */
interface World {
  scenario: Scenario;
  pauses: Float64Array;
  bursts: Float64Array;
  seed: number;
}

function makeWorld(scenario: Scenario, seed: number, untilMs: number): World {
  const rng = mulberry32(seed);
  return { scenario, seed, pauses: windows(rng, scenario.pausesPerHour, scenario.pauseMs, untilMs), bursts: windows(rng, scenario.burstsPerHour, scenario.burstMs, untilMs) };
}

/** Runs the client's heartbeat over [0, endMs); returns false alarms and the detection time (if the peer died). */
function live(world: World, spec: DetectorSpec, endMs: number, deathMs: number): { falseAlarms: number; detectedAtMs?: number } {
  const { scenario, pauses, bursts } = world;
  const pathRng = mulberry32(world.seed ^ 0x5bd1e995);
  const jitterRng = mulberry32(world.seed ^ 0x27d4eb2f);
  const schedule = pingSchedule('client', { intervalMs: SIM_INTERVAL_MS, timeoutMs: SIM_TIMEOUT_MS });
  const start = (nowMs: number): Heartbeat =>
    new Heartbeat(
      {
        intervalMs: schedule.pingAfterMs,
        timeoutMs: SIM_TIMEOUT_MS,
        jitterMs: schedule.jitterMs,
        rng: jitterRng,
        detector: createDetector(spec, { timeoutMs: SIM_TIMEOUT_MS, pingAfterMs: schedule.pingAfterMs, nowMs }),
      },
      nowMs,
    );
  const lost = (atMs: number): boolean => pathRng() < scenario.lossRate || windowEnd(bursts, atMs) !== undefined;
  let hb = start(0);
  let falseAlarms = 0;
  /** PONGs in flight: arrival time and ping id (a handful at most). */
  const pongAtMs: number[] = [];
  const pongId: number[] = [];
  for (;;) {
    let next = -1;
    for (let i = 0; i < pongAtMs.length; i++) if (next < 0 || pongAtMs[i]! < pongAtMs[next]!) next = i;
    const checkAtMs = hb.nextCheckAtMs;
    const nowMs = next >= 0 ? Math.min(pongAtMs[next]!, checkAtMs) : checkAtMs;
    if (nowMs >= endMs) return { falseAlarms };
    if (next >= 0 && pongAtMs[next]! <= checkAtMs) {
      hb.pong(pongId[next]!, nowMs);
      pongAtMs.splice(next, 1);
      pongId.splice(next, 1);
      continue;
    }
    const verdict = hb.check(nowMs);
    if (verdict.kind === 'ping') {
      const halfRttMs = scenario.rttMs(pathRng) / 2;
      if (lost(nowMs)) continue;
      const answeredAtMs = windowEnd(pauses, nowMs + halfRttMs) ?? nowMs + halfRttMs;
      if (answeredAtMs >= deathMs || lost(answeredAtMs)) continue;
      pongAtMs.push(answeredAtMs + halfRttMs);
      pongId.push(verdict.id);
    } else if (verdict.kind === 'dead') {
      if (nowMs >= deathMs) return { falseAlarms, detectedAtMs: nowMs };
      falseAlarms++;
      hb = start(nowMs); // reconnect: a fresh connection, nothing in flight
      pongAtMs.length = 0;
      pongId.length = 0;
    }
  }
}

export function runDetectorSimulation(opts: DetectorSimOptions = {}): DetectorSimResult {
  const { seed = 1, hours = 1, trials = 200 } = opts;
  const rows: DetectorSimRow[] = [];
  for (const [s, scenario] of SCENARIOS.entries()) {
    const liveWorld = makeWorld(scenario, (seed * 7919 + s * 104_729) >>> 0, hours * HOUR_MS);
    const trialWorlds = Array.from({ length: trials }, (_, i) => {
      const worldSeed = (seed * 7919 + s * 104_729 + (i + 1) * 15_485_863) >>> 0;
      const deathMs = 60_000 + mulberry32(worldSeed ^ 0x9e3779b9)() * 240_000;
      return { world: makeWorld(scenario, worldSeed, deathMs + DETECTION_CAP_MS), deathMs };
    });
    for (const detector of SIM_DETECTORS) {
      const { falseAlarms } = live(liveWorld, detector.spec, hours * HOUR_MS, Infinity);
      const times = trialWorlds
        .map(({ world, deathMs }) => {
          const { detectedAtMs } = live(world, detector.spec, deathMs + DETECTION_CAP_MS, deathMs);
          return detectedAtMs === undefined ? Infinity : detectedAtMs - deathMs;
        })
        .sort((a, b) => a - b);
      rows.push({
        scenario: scenario.id,
        detector: detector.id,
        falseAlarms,
        falseAlarmsPerHour: falseAlarms / hours,
        detectionP50Ms: percentile(times, 50) ?? Infinity,
        detectionP99Ms: percentile(times, 99) ?? Infinity,
        detectionMaxMs: times[times.length - 1] ?? Infinity,
        undetected: times.filter((t) => t === Infinity).length,
      });
    }
  }
  return {
    seed,
    hours,
    trials,
    intervalMs: SIM_INTERVAL_MS,
    timeoutMs: SIM_TIMEOUT_MS,
    scenarios: SCENARIOS.map(({ id, description }) => ({ id, description })),
    detectors: SIM_DETECTORS.map(({ id, spec }) => ({ id, spec })),
    rows,
  };
}

const seconds = (ms: number): string => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : '> 120 s');

export function renderDetectorTable(result: DetectorSimResult): string {
  const header = ['scenario', 'detector', 'false alarms/h', 'detect p50', 'detect p99', 'detect max'];
  const rows = result.rows.map((r) => [
    r.scenario,
    r.detector,
    r.falseAlarmsPerHour.toFixed(r.falseAlarmsPerHour % 1 === 0 ? 0 : 1),
    seconds(r.detectionP50Ms),
    seconds(r.detectionP99Ms),
    seconds(r.detectionMaxMs),
  ]);
  const legend = result.scenarios.map((s) => `  ${s.id}: ${s.description}`);
  return [
    `Detector simulation (seed ${result.seed}; ${result.hours} h live peer and ${result.trials} death trials per row;`,
    `interval ${result.intervalMs} ms, timeout ${result.timeoutMs} ms; phi pause defaults to timeout − interval = ${result.timeoutMs - result.intervalMs} ms).`,
    'A simulation, not a measurement.',
    '',
    renderTable(header, rows),
    '',
    ...legend,
  ].join('\n');
}
