/**
 * Integration: a tiny `lifeline bench` run (200 connections, 500 ms heartbeat, 2 s measured;
 * raw + lifeline + ws when installed) must produce sane, measured numbers: round trips at the
 * heartbeat rate, no live connection dropped, and the bytes per heartbeat each protocol puts on
 * the wire, counted on the server's sockets (raw 2, lifeline 3, ws 8, lifeline over UDP 17). No performance ratio is
 * asserted: the machine is shared and noisy; the real runs are `lifeline bench`.
 * The same for `--native` (the C load generator, independent server processes), skipped when
 * gcc is missing, and the connection plan of a million-connection native run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planNativeSegments, runBench } from '../../src/bench/harness.js';
import { nativeGeneratorBinary } from '../../src/bench/native-generator.js';
import { renderBenchReport } from '../../src/bench/report.js';
import { killAllChildren } from '../../src/lab/processes.js';
import type { SystemId } from '../../src/bench/types.js';

const CONNECTIONS = 200;
// The bench's timeout is 3 × the interval: at 200 ms a CI box at load 13 starved the generators
// for longer than 600 ms and every server-led connection was (rightly) declared dead. 500 ms
// keeps the smoke about the harness and the bytes, not about how starved the machine is.
const INTERVAL_MS = 500;
const DURATION_MS = 2000;
/** Bytes per round trip from the protocols (PROTOCOL.md §12; RFC 6455 ping + masked pong). */
const EXPECTED_BYTES: Partial<Record<SystemId, number>> = { raw: 2, rawsweep: 2, lifeline: 3, 'lifeline-sl': 3, ws: 8, 'lifeline-udp': 17 };

/**
 * Bytes per heartbeat must be the protocol's, measured on the server's sockets. A server that
 * leads (spec 0010) also pushes a 2-byte status PONG in front of a PING when its status or load
 * moved — how often depends on how loaded this machine is, not on the protocol — and at most
 * once per beat: between 3 and 5 bytes. Everything else has one exact figure.
 */
/**
 * Heartbeats flow at about the configured rate. How close to it depends on how busy the machine
 * is (a loaded CI box ran the server-led schedule at 54 %): the bound only says the heartbeat
 * keeps going and never runs faster than configured; the rate itself is a `lifeline bench` figure.
 */
function assertBeatRate(roundTrips: number, expected: number, where: string): void {
  assert.ok(roundTrips > 0.35 * expected && roundTrips < 1.3 * expected, `${where}${roundTrips} round trips, expected ~${Math.round(expected)}`);
}

function assertBytesPerBeat(system: SystemId, bytes: number, where: string, roundTrips: number, connections = CONNECTIONS): void {
  const exact = EXPECTED_BYTES[system]!;
  // Window edges: each connection may have one beat whose bytes fall half inside the measured
  // window (a PING counted, its PONG after the end, or the reverse), more of them the busier the
  // machine. That is at most one beat's bytes per connection over all the round trips counted —
  // still far below a one-byte change of the protocol at these sizes.
  const edge = (connections * exact) / Math.max(1, roundTrips);
  // UDP (spec 0012 §Datagrams): a 12-byte SHORT with the PING, a 5-byte one with the PONG, UDP
  // payload; each packet number grows to 2 varint bytes after 127 datagrams, and the window's
  // first beats may carry an ACK of the handshake's stream: up to 4 bytes more.
  const most = system === 'lifeline-sl' ? exact + 2 : system === 'lifeline-udp' ? exact + 4 : exact;
  const slack = Math.max(0.2, edge);
  assert.ok(bytes > exact - slack && bytes < most + slack, `${where}${bytes.toFixed(3)} bytes per heartbeat, expected ${exact === most ? exact : `${exact}..${most}`} ± ${slack.toFixed(2)} (window edges over ${roundTrips} round trips)`);
}

test('bench smoke - raw, rawsweep, lifeline (both leaders, and over UDP) and ws hold 200 heartbeating connections with measured bytes and no drops', { timeout: 50_000 }, async (t) => {
  t.after(() => killAllChildren());
  const result = await runBench({
    connections: CONNECTIONS,
    intervalMs: INTERVAL_MS,
    durationMs: DURATION_MS,
    systems: ['raw', 'rawsweep', 'lifeline', 'lifeline-sl', 'lifeline-udp', 'ws'],
    scale: false,
    freeze: false,
  });
  const report = renderBenchReport(result);
  for (const line of report.split('\n')) t.diagnostic(line);

  for (const r of result.results) {
    if (r.skipped) {
      // Only an optional peer may be skipped, and it must say why.
      assert.equal(r.system, 'ws', `${r.system} must not be skipped: ${r.skipped}`);
      assert.match(r.skipped, /not installed/);
      continue;
    }
    const where = `${r.system}: `;
    assert.equal(r.error, undefined, where + String(r.error));
    assert.equal(r.connectionsOpen, CONNECTIONS, `${where}connections opened`);
    const d = r.derived!;
    const s = r.server!;
    assert.equal(s.connectionsAtStart, CONNECTIONS, `${where}server saw every connection`);
    assert.equal(d.dropped, 0, `${where}live connections dropped`);
    // Every connection beats once per interval: allow for window-edge and scheduling slop.
    const expected = CONNECTIONS * (s.windowMs / INTERVAL_MS);
    assertBeatRate(d.roundTrips, expected, where);
    assert.ok(d.missed <= 0.5 * d.roundTrips, `${where}${d.missed} missed beats of ${d.roundTrips}`); // as the rate: load-dependent
    // Measured on the server's sockets, not taken from the spec: a protocol change shows here.
    assert.equal(r.bytesSource, 'server');
    const bytes = d.bytesPerRoundTrip!;
    assertBytesPerBeat(r.system, bytes, where, d.roundTrips);
    assert.ok(d.cpuPerRoundTripMicros! > 0 && d.cpuPerRoundTripMicros! < 10_000, `${where}CPU per heartbeat ${d.cpuPerRoundTripMicros} µs`);
    assert.ok(d.heapPerConnection! > 0 && d.heapPerConnection! < 1_000_000, `${where}heap per connection ${d.heapPerConnection}`);
    assert.ok(Number.isFinite(d.rssPerConnection), `${where}RSS per connection`);
    assert.ok(s.loopDelayP99Ms! >= s.loopDelayP50Ms! && s.loopDelayP50Ms! >= 0, `${where}loop delay p50 ${s.loopDelayP50Ms} p99 ${s.loopDelayP99Ms}`);
    assert.match(report, new RegExp(r.label.replace(/[()]/g, '\\$&')));
  }
  assert.ok(result.results.find((r) => r.system === 'lifeline')?.derived, 'lifeline ran');
  assert.ok(result.results.find((r) => r.system === 'raw')?.derived, 'raw ran');
  assert.ok(result.results.find((r) => r.system === 'rawsweep')?.derived, 'rawsweep ran');
  assert.ok(result.results.find((r) => r.system === 'lifeline-sl')?.derived, 'lifeline with the server leading ran');
  assert.ok(result.results.find((r) => r.system === 'lifeline-udp')?.derived, 'lifeline over UDP ran');
  assert.match(report, /lifeline over UDP against lifeline over TCP \(same run\)/);
  assert.match(report, /lifeline, server leads against the issue's targets/);
  assert.match(report, /a bare server-led sweep with one write pass per slot \(rawsweep\) measured \d+\.\d\d× raw in this run/);
});

test('bench smoke - native C generator (--native) holds raw and lifeline (both leaders) connections on independent servers; lifeline detects a frozen generator', { timeout: 60_000 }, async (t) => {
  t.after(() => killAllChildren());
  const binary = await nativeGeneratorBinary();
  if ('unavailable' in binary) {
    t.skip(binary.unavailable);
    return;
  }
  const result = await runBench({
    connections: CONNECTIONS,
    intervalMs: INTERVAL_MS,
    durationMs: DURATION_MS,
    systems: ['raw', 'lifeline', 'lifeline-sl'],
    scale: true,
    freeze: true,
    native: true,
  });
  for (const line of renderBenchReport(result).split('\n')) t.diagnostic(line);
  for (const system of ['raw', 'lifeline', 'lifeline-sl'] as const) {
    const r = result.results.find((x) => x.system === system)!;
    const where = `${system} (native): `;
    assert.equal(r.error, undefined, where + String(r.error));
    assert.equal(r.connectionsOpen, CONNECTIONS, `${where}connections opened`);
    const d = r.derived!;
    assert.equal(d.dropped, 0, `${where}live connections dropped`);
    const expected = CONNECTIONS * (r.server!.windowMs / INTERVAL_MS);
    assertBeatRate(d.roundTrips, expected, where);
    assert.ok(d.missed <= 0.5 * d.roundTrips, `${where}${d.missed} missed beats of ${d.roundTrips}`); // as the rate: load-dependent
    // Same bytes on the wire as the Node lean clients: the C generator sends the encoder's bytes.
    assertBytesPerBeat(system, d.bytesPerRoundTrip!, where, d.roundTrips);
    // The generator times its own PINGs; when the server leads it sends none.
    if (system !== 'lifeline-sl') assert.ok(r.generators!.rttP99Ms! > 0, `${where}client RTT measured`);
    else assert.equal(r.generators!.rttP99Ms, undefined, `${where}no client RTT: the client sent no PING`);
  }
  // One C generator holds all 200 here, so freezing "the first ~10 % of generators" freezes it.
  for (const system of ['lifeline', 'lifeline-sl'] as const) {
    const detection = result.results.find((x) => x.system === system)!.detection!;
    assert.equal(detection.frozen, CONNECTIONS, system);
    assert.equal(detection.detected, CONNECTIONS, `${system}: every frozen connection declared dead`);
    // Timeout 3T = 600 ms counts from the last frame heard, which came at most one interval (+ 10 %
    // jitter when the server leads) before the freeze: never sooner than 3T - 1.1T; judged by a
    // 50 ms wheel, with a generous upper bound for a shared box.
    assert.ok(detection.p99Ms! >= 3 * INTERVAL_MS - 1.1 * INTERVAL_MS && detection.p99Ms! < 3 * INTERVAL_MS + 2000, `${system}: detection p99 ${detection.p99Ms} ms`);
  }
  assert.equal(result.results.find((x) => x.system === 'raw')!.detection, undefined, 'raw never detects: not frozen');
});

test('bench planNativeSegments - every connection gets a source (≤ 4,000 each) and a server port, ≤ 18,000 per generator', () => {
  const ports = Array.from({ length: 63 }, (_, i) => 40_000 + i);
  const plans = planNativeSegments(1_000_000, ports);
  const perSource = new Map<string, number>();
  const perPort = new Map<number, number>();
  let total = 0;
  for (const plan of plans) {
    let inGenerator = 0;
    for (const part of plan.split(',')) {
      const [source, port, count] = part.split(':');
      const n = Number(count);
      assert.match(source!, /^127\./);
      perSource.set(source!, (perSource.get(source!) ?? 0) + n);
      perPort.set(Number(port), (perPort.get(Number(port)) ?? 0) + n);
      inGenerator += n;
    }
    assert.ok(inGenerator <= 18_000, `generator holds ${inGenerator}`);
    total += inGenerator;
  }
  assert.equal(total, 1_000_000);
  assert.ok(Math.max(...perSource.values()) <= 4000);
  assert.equal(perPort.size, 63);
  assert.ok(Math.max(...perPort.values()) <= Math.ceil(1_000_000 / 63));
});
