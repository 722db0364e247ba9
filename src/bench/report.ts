/**
 * Benchmark result → terminal text. Headline: ratios to raw `net` echo measured in the same run
 * (the machine is noisy; ratios travel better than absolutes). Then the absolute figures, the
 * issue's targets against what lifeline measured, and what was skipped.
 */
import { renderTable } from '../lab/table.js';
import { SYSTEMS } from './systems.js';
import type { BenchResult, DerivedMetrics, SystemResult } from './types.js';

const dash = '—';
const kb = (bytes: number | undefined) => (bytes === undefined ? dash : `${(bytes / 1024).toFixed(2)} KB`);
const fixed = (v: number | undefined, digits = 1, unit = '') => (v === undefined || !Number.isFinite(v) ? dash : `${v.toFixed(digits)}${unit}`);
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || !(b > 0) ? dash : `${(a / b).toFixed(2)}×`;

function measured(results: SystemResult[]): (SystemResult & { derived: DerivedMetrics })[] {
  return results.filter((r): r is SystemResult & { derived: DerivedMetrics } => r.derived !== undefined && !r.error);
}

export function renderBenchReport(result: BenchResult): string {
  const { config } = result;
  const rows = measured(result.results);
  const raw = rows.find((r) => r.system === 'raw')?.derived;
  const out: string[] = [];

  out.push(
    renderTable(
      ['system', 'heap/conn ×raw', 'RSS/conn ×raw', 'CPU/heartbeat ×raw', 'loop p99', 'bytes/heartbeat', 'beats on time', 'dropped'],
      rows.map((r) => [
        r.label,
        ratio(r.derived.heapPerConnection, raw?.heapPerConnection),
        ratio(r.derived.rssPerConnection, raw?.rssPerConnection),
        ratio(r.derived.cpuPerRoundTripMicros, raw?.cpuPerRoundTripMicros),
        fixed(r.server?.loopDelayP99Ms, 1, ' ms'),
        fixed(r.derived.bytesPerRoundTrip, 2) + (r.bytesSource === 'client' ? ' (c)' : ''),
        `${(100 * r.derived.beatRatio).toFixed(1)} %`,
        String(r.derived.dropped),
      ]),
    ),
  );
  out.push('');
  out.push(
    renderTable(
      ['system', 'conns', 'heap/conn', 'RSS/conn', 'CPU/heartbeat', 'loop p50', 'loop max', 'round trips', 'missed beats', 'client RTT p99', 'detect p50 / p99'],
      rows.map((r) => [
        r.label,
        String(r.server?.connectionsAtStart ?? r.connectionsOpen),
        kb(r.derived.heapPerConnection),
        kb(r.derived.rssPerConnection),
        fixed(r.derived.cpuPerRoundTripMicros, 1, ' µs'),
        fixed(r.server?.loopDelayP50Ms, 2, ' ms'),
        fixed(r.server?.loopDelayMaxMs, 1, ' ms'),
        String(r.derived.roundTrips),
        String(r.derived.missed),
        fixed(r.generators?.rttP99Ms, 2, ' ms'),
        r.detection
          ? `${fixed(r.detection.p50Ms === undefined ? undefined : r.detection.p50Ms / 1000, 2, ' s')} / ${fixed(r.detection.p99Ms === undefined ? undefined : r.detection.p99Ms / 1000, 2, ' s')} (${r.detection.detected}/${r.detection.frozen})`
          : dash,
      ]),
    ),
  );
  out.push('');
  out.push(
    `${config.connections} connections per system, heartbeat interval ${config.intervalMs} ms, measured ${config.durationMs / 1000} s after a warm-up` +
      (config.native
        ? `; native mode (C load generators, ${rows[0]?.server?.processes ?? '?'} independent server processes, one port each)`
        : config.scale
          ? `; scale mode (${rows[0]?.server?.processes ?? '?'} server processes)`
          : '; one server process') +
      `. Machine: ${result.machine.cpus} × ${result.machine.cpuModel}, ${result.machine.totalMemGiB} GiB, Node ${result.machine.node}.`,
  );
  out.push(
    'heap = V8 heapUsed after GC, RSS = resident set, both minus the same server process before any connection; CPU = server user+system time / round trips;',
    'loop = event-loop delay in the server (10 ms sampling, corrected); bytes = TCP payload both ways / round trips, on the server ((c): counted on the clients);',
    "beats on time = round trips / (connections × window / interval); dropped = live connections lost after all were open, warm-up included (false 'dead').",
  );
  const hostRows = result.results.filter((r) => r.host && (r.derived || r.error));
  if (config.scale && hostRows.length > 0) {
    out.push('');
    out.push(
      renderTable(
        ['system', 'conns', 'kernel slab Δ/conn', 'lowest MemAvailable', 'server RSS total', 'generator CPU/heartbeat', 'backlog drops', 'kernel timeout aborts'],
        hostRows.map((r) => {
          const h = r.host!;
          const n = r.server?.connectionsAtStart ?? r.connectionsOpen;
          const genCpu = r.generators?.cpuMicros;
          return [
            r.label,
            String(n),
            n > 0 ? kb((h.slabLoaded - h.slabBefore) / n) : dash,
            h.minAvailable === undefined ? dash : `${(h.minAvailable / 2 ** 30).toFixed(2)} GiB`,
            r.server ? `${(r.server.loaded.rss / 2 ** 30).toFixed(2)} GiB` : dash,
            genCpu !== undefined && r.derived?.roundTrips ? fixed(genCpu / r.derived.roundTrips, 1, ' µs') : dash,
            h.backlogDrops === undefined ? dash : String(h.backlogDrops),
            h.abortsOnTimeout === undefined ? dash : String(h.abortsOnTimeout),
          ];
        }),
      ),
    );
    out.push(
      'kernel slab Δ = /proc/meminfo Slab with every connection open minus before the server started, ÷ connections: both ends of a loopback pair;',
      'backlog drops = packets dropped on a full CPU input backlog (/proc/net/softnet_stat; loopback goes through it); kernel timeout aborts = TcpExt TCPAbortOnTimeout',
      '(keepalive / TCP_USER_TIMEOUT gave up), both over the whole run of that system, whatever else ran on the box.',
    );
    if (config.lifelineSocketTuning === 'off') out.push("lifeline ran with --lifeline-socket-tuning off (no keepalive, no TCP_USER_TIMEOUT).");
  }
  const perRound = renderRounds(result);
  if (perRound) out.push('', perRound);
  const metricsCost = renderMetricsCost(result);
  if (metricsCost) out.push('', metricsCost);
  const targets = renderTargets(result);
  if (targets) out.push('', targets);
  for (const r of result.results) {
    if (r.skipped) out.push(`skipped ${r.system}: ${r.skipped}`);
    if (r.error) out.push(`failed ${r.system}: ${r.error}`);
  }
  out.push('', 'Heartbeat per system:');
  for (const r of result.results) if (!r.skipped) out.push(`  ${SYSTEMS[r.system].label}: ${SYSTEMS[r.system].heartbeat}`);
  return out.join('\n');
}

type MeasuredRow = ReturnType<typeof measured>[number];
type Metric = 'cpuPerRoundTripMicros' | 'heapPerConnection';

/** A system's ratio to raw in each round where both were measured (one entry without rounds). */
export function roundRatios(result: BenchResult, system: SystemResult['system'], metric: Metric, against: SystemResult['system'] = 'raw'): number[] {
  const ratios: number[] = [];
  for (const results of result.rounds ?? [result.results]) {
    const rows = measured(results);
    const a = rows.find((r) => r.system === system)?.derived[metric];
    const b = rows.find((r) => r.system === against)?.derived[metric];
    if (a !== undefined && b !== undefined && b > 0) ratios.push(a / b);
  }
  return ratios;
}

export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** With --rounds: each system's CPU and heap ratio to raw per round, and their medians. */
function renderRounds(result: BenchResult): string | undefined {
  const rounds = result.rounds;
  if (!rounds || rounds.length < 2) return undefined;
  const systems = measured(result.results).filter((r) => r.system !== 'raw').map((r) => r.system);
  const cell = (v: number | undefined) => (v === undefined ? dash : `${v.toFixed(2)}×`);
  const rows = systems.map((system) => {
    const cpu = roundRatios(result, system, 'cpuPerRoundTripMicros');
    const heap = roundRatios(result, system, 'heapPerConnection');
    return [SYSTEMS[system].label, cpu.map((v) => v.toFixed(2)).join(' '), cell(median(cpu)), cell(median(heap))];
  });
  return `Ratios to raw over ${rounds.length} rounds (each round runs every system once, back to back):\n${renderTable(['system', 'CPU/heartbeat ×raw per round', 'CPU median', 'heap median'], rows)}`;
}

/**
 * The issue's targets for lifeline (issue 7), each against this run: one table per lifeline
 * system that ran. With --rounds the CPU and heap ratios are the medians over the rounds.
 */
export function renderTargets(result: BenchResult): string | undefined {
  const rows = measured(result.results);
  const tables = rows.filter((r) => r.system === 'lifeline' || r.system === 'lifeline-sl').map((ll) => targetTable(result, ll));
  const overWs = rows.find((r) => r.system === 'lifeline-ws');
  if (overWs) tables.push(wsTargetTable(result, overWs));
  const plain = rows.find((r) => r.system === 'lifeline');
  for (const other of rows.filter((r) => r.system === 'lifeline-tls' || r.system === 'lifeline-udp')) if (plain) tables.push(transportCostLine(other, plain));
  if (tables.length === 0) return undefined;
  const out = tables.join('\n\n');
  // The CPU target assumes batching a slot's writes helps; rawsweep is that technique alone.
  const sweep = median(roundRatios(result, 'rawsweep', 'cpuPerRoundTripMicros'));
  if (sweep === undefined) return out;
  const where = result.rounds && result.rounds.length > 1 ? `as the median of ${result.rounds.length} rounds` : 'in this run';
  return `${out}\nFor the CPU target: a bare server-led sweep with one write pass per slot (rawsweep) measured ${sweep.toFixed(2)}× raw ${where}.`;
}

/**
 * Issue 14's targets for lifeline over WebSocket, against `ws` (README pattern) in the same run:
 * heap per connection and CPU per heartbeat ≤ ws's, loop-delay p99 < 5 ms, 0 false drops, bytes
 * per heartbeat reported beside ws's.
 */
function wsTargetTable(result: BenchResult, ll: MeasuredRow): string {
  const ws = measured(result.results).find((r) => r.system === 'ws');
  const d = ll.derived;
  const check = (ok: boolean | undefined) => (ok === undefined ? '?' : ok ? 'met' : 'MISSED');
  // With --rounds: the median of the per-round ratios (each round runs both back to back).
  const rounds = result.rounds !== undefined && result.rounds.length > 1 ? result.rounds.length : 0;
  const ratio = (key: 'heapPerConnection' | 'cpuPerRoundTripMicros') => {
    if (rounds > 0) return median(roundRatios(result, 'lifeline-ws', key, 'ws'));
    const mine = d[key];
    const theirs = ws?.derived[key];
    return mine === undefined || theirs === undefined || theirs === 0 ? undefined : mine / theirs;
  };
  const ofRounds = rounds > 0 ? ` (median of ${rounds} rounds)` : '';
  const heap = ratio('heapPerConnection');
  const cpu = ratio('cpuPerRoundTripMicros');
  const p99 = ll.server?.loopDelayP99Ms;
  const lines: string[][] = [
    [`heap per connection ≤ ws${ofRounds}`, heap === undefined ? dash : `${heap.toFixed(3)}× ws`, check(heap === undefined ? undefined : heap <= 1)],
    [`CPU per heartbeat ≤ ws${ofRounds}`, cpu === undefined ? dash : `${cpu.toFixed(3)}× ws`, check(cpu === undefined ? undefined : cpu <= 1)],
    [`loop-delay p99 < 5 ms (target at 19,000 conns; this run ${ll.server?.connectionsAtStart ?? '?'})`, fixed(p99, 1, ' ms'), check(p99 === undefined ? undefined : p99 < 5)],
    ['bytes per heartbeat (ws: 2 × 6-byte ping/pong frames)', `${fixed(d.bytesPerRoundTrip, 2)} (ws ${fixed(ws?.derived.bytesPerRoundTrip, 2)})`, ''],
    ['zero live connections dropped', String(d.dropped), check(d.dropped === 0)],
  ];
  return `${SYSTEMS[ll.system].label} against issue 14's targets (ratios to ws in this run):\n${renderTable(['target', 'measured', ''], lines)}`;
}

/** Issue 14: what TLS (or UDP) costs per idle connection against plain TCP, measured in the same run. */
function transportCostLine(other: MeasuredRow, plain: MeasuredRow): string {
  const ratio = (key: 'heapPerConnection' | 'rssPerConnection' | 'cpuPerRoundTripMicros' | 'bytesPerRoundTrip') => {
    const a = other.derived[key];
    const b = plain.derived[key];
    return a === undefined || b === undefined || b === 0 ? dash : `${(a / b).toFixed(2)}×`;
  };
  const bytes = other.system === 'lifeline-udp' ? `, bytes per heartbeat ${fixed(other.derived.bytesPerRoundTrip, 2)} (UDP payload; TCP ${fixed(plain.derived.bytesPerRoundTrip, 2)})` : '';
  return `${SYSTEMS[other.system].label} against lifeline over TCP (same run): heap per connection ${ratio('heapPerConnection')}, RSS ${ratio('rssPerConnection')}, CPU per heartbeat ${ratio('cpuPerRoundTripMicros')}${bytes}.`;
}

function targetTable(result: BenchResult, ll: MeasuredRow): string {
  const d = ll.derived;
  const check = (ok: boolean | undefined) => (ok === undefined ? '?' : ok ? 'met' : 'MISSED');
  const heapRatio = median(roundRatios(result, ll.system, 'heapPerConnection'));
  const cpuRatio = median(roundRatios(result, ll.system, 'cpuPerRoundTripMicros'));
  const rounds = result.rounds && result.rounds.length > 1 ? ` (median of ${result.rounds.length} rounds)` : '';
  const p99 = ll.server?.loopDelayP99Ms;
  const lines: string[][] = [
    // Three decimals: a ratio of 0.801 must not read "0.80× MISSED".
    [`heap per connection ≤ 1.2× raw${rounds}`, heapRatio === undefined ? dash : `${heapRatio.toFixed(3)}×`, check(heapRatio === undefined ? undefined : heapRatio <= 1.2)],
    [`CPU per heartbeat ≤ 0.8× raw${rounds}`, cpuRatio === undefined ? dash : `${cpuRatio.toFixed(3)}×`, check(cpuRatio === undefined ? undefined : cpuRatio <= 0.8)],
    [
      `loop-delay p99 < 5 ms (target at 19,000 conns; this run ${ll.server?.connectionsAtStart ?? '?'})`,
      fixed(p99, 1, ' ms'),
      check(p99 === undefined ? undefined : p99 < 5),
    ],
    ['≤ 4 bytes per ping + pong, status included', fixed(d.bytesPerRoundTrip, 2), check(d.bytesPerRoundTrip === undefined ? undefined : d.bytesPerRoundTrip <= 4)],
    ['zero live connections dropped', String(d.dropped), check(d.dropped === 0)],
  ];
  return `${SYSTEMS[ll.system].label} against the issue's targets:\n${renderTable(['target', 'measured', ''], lines)}`;
}

/**
 * `--metrics` (issue 13 §1): lifeline with lifelineMetrics() attached and scraped every second
 * against lifeline without, run back to back in each round: CPU per heartbeat and heap per
 * connection as ratios, per round and their median.
 */
export function renderMetricsCost(result: BenchResult): string | undefined {
  const cpu = roundRatios(result, 'lifeline-metrics', 'cpuPerRoundTripMicros', 'lifeline');
  const heap = roundRatios(result, 'lifeline-metrics', 'heapPerConnection', 'lifeline');
  if (cpu.length === 0 && heap.length === 0) return undefined;
  const list = (xs: number[]) => xs.map((v) => `${v.toFixed(3)}×`).join(' ');
  const of = cpu.length > 1 ? ` (median of ${cpu.length} rounds)` : '';
  const cpuMedian = median(cpu);
  const heapMedian = median(heap);
  return [
    `Metrics on vs off (lifeline with lifelineMetrics() scraped every second ÷ lifeline without, same run)${of}:`,
    `  CPU per heartbeat ${cpuMedian === undefined ? dash : `${cpuMedian.toFixed(3)}×`}${cpu.length > 1 ? ` (rounds: ${list(cpu)})` : ''}; ` +
      `heap per connection ${heapMedian === undefined ? dash : `${heapMedian.toFixed(3)}×`}${heap.length > 1 ? ` (rounds: ${list(heap)})` : ''}.`,
  ].join('\n');
}
