/**
 * A reduced lab on real namespaces: asserts the ordering the problem statement claims, not
 * absolute numbers (the machine is shared and noisy).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLab } from '../../../src/lab/runner.js';
import { probeNetnsSupport } from '../../../src/lab/netns.js';
import type { CellMeasurement, LabResult, SideOutcome } from '../../../src/lab/results.js';

const support = await probeNetnsSupport();
const skip = support.ok ? false : `network namespaces unavailable: ${support.reason}`;
// lifeline heartbeat row: interval 1 s, timeout 3 s. Detection must come within timeout + slack
// after the fault (the last frame arrived at most one interval before it).
const HEARTBEAT_BOUND_MS = (1000 + 3000) * 1.2;
// ...and not before it could: the peer's last frame came at most one beat before the fault (the
// WebSocket row's leading server pings after the interval + up to 10 % jitter), so silence
// reaches the 3 s timeout no sooner than 3 s − 1.1 s after it.
const HEARTBEAT_EARLIEST_MS = 3000 - 1000 * 1.1;

/** A heartbeat row's detection: the heartbeat's own verdict, inside its window. */
function assertHeartbeatDetected(o: SideOutcome, what: string): void {
  assert.equal(o.detected, true, `${what}: not detected`);
  assert.equal(o.how, 'heartbeat-timeout', what);
  assert.ok(o.afterMs! >= HEARTBEAT_EARLIEST_MS && o.afterMs! <= HEARTBEAT_BOUND_MS, `${what}: ${o.afterMs} ms`);
}

function cell(result: LabResult, fault: string, mechanism: string): CellMeasurement {
  const c = result.measurements.find((m) => m.fault === fault && m.mechanism === mechanism);
  assert.ok(c, `no cell ${fault} × ${mechanism}; errors: ${result.errors.join('; ')}`);
  return c;
}

test('lab - frozen server fools keepalive, cable cut with data in flight starves it; the heartbeat sees both', { skip, timeout: 120_000 }, async () => {
  const result = await runLab({
    mode: 'quick',
    faults: ['frozen-server', 'cable-cut-idle', 'cable-cut-data'],
    mechanisms: ['keepalive-tuned', 'heartbeat', 'heartbeat-ws', 'heartbeat-udp'],
    windowScale: 0.45, // 9 s windows: enough for tuned keepalive (~5 s), not for retransmissions (12.6 s)
  });
  assert.deepEqual(result.errors, []);
  assert.equal(result.environment.kind, 'netns');

  // Frozen peer: its kernel ACKs keepalive probes, so keepalive never fires; the heartbeat does.
  const frozenKa = cell(result, 'frozen-server', 'keepalive-tuned');
  const frozenHb = cell(result, 'frozen-server', 'heartbeat');
  assert.equal(frozenKa.client.detected, false, 'keepalive must be fooled by a frozen process');
  assert.equal(frozenHb.client.detected, true);
  assert.equal(frozenHb.client.how, 'heartbeat-timeout');
  assert.ok(frozenHb.client.afterMs! <= HEARTBEAT_BOUND_MS, `heartbeat took ${frozenHb.client.afterMs} ms`);

  // Idle cable cut: tuned keepalive works (both sides), the heartbeat is faster.
  const idleKa = cell(result, 'cable-cut-idle', 'keepalive-tuned');
  const idleHb = cell(result, 'cable-cut-idle', 'heartbeat');
  for (const side of ['client', 'server'] as const) {
    assert.equal(idleKa[side].detected, true, `idle keepalive on the ${side}`);
    assert.equal(idleKa[side].how, 'ETIMEDOUT');
    assert.equal(idleHb[side].detected, true, `heartbeat on the ${side}`);
    assert.ok(idleHb[side].afterMs! <= HEARTBEAT_BOUND_MS);
    assert.ok(idleHb[side].afterMs! < idleKa[side].afterMs!, 'heartbeat (3 s) before keepalive (2 s + 3 × 1 s)');
  }

  // Cable cut with data in flight: retransmissions suspend keepalive on the writing client.
  const dataKa = cell(result, 'cable-cut-data', 'keepalive-tuned');
  const dataHb = cell(result, 'cable-cut-data', 'heartbeat');
  assert.equal(dataKa.client.detected, false, 'keepalive is starved while data is unacknowledged');
  assert.equal(dataHb.client.detected, true);
  assert.ok(dataHb.client.afterMs! <= HEARTBEAT_BOUND_MS);

  // The same heartbeat over WebSocket (the server leads there) sees all three the same way.
  assert.equal(result.mechanisms.find((m) => m.id === 'heartbeat-ws')?.transport, 'ws');
  assertHeartbeatDetected(cell(result, 'frozen-server', 'heartbeat-ws').client, 'ws frozen client');
  for (const side of ['client', 'server'] as const) {
    assertHeartbeatDetected(cell(result, 'cable-cut-idle', 'heartbeat-ws')[side], `ws idle cut ${side}`);
    assertHeartbeatDetected(cell(result, 'cable-cut-data', 'heartbeat-ws')[side], `ws data cut ${side}`);
  }
  // And over UDP (spec 0012), where no kernel mechanism exists at all.
  assert.equal(result.mechanisms.find((m) => m.id === 'heartbeat-udp')?.transport, 'udp');
  assertHeartbeatDetected(cell(result, 'frozen-server', 'heartbeat-udp').client, 'udp frozen client');
  for (const side of ['client', 'server'] as const) {
    assertHeartbeatDetected(cell(result, 'cable-cut-idle', 'heartbeat-udp')[side], `udp idle cut ${side}`);
    assertHeartbeatDetected(cell(result, 'cable-cut-data', 'heartbeat-udp')[side], `udp data cut ${side}`);
  }

  // No false alarms anywhere.
  for (const m of result.measurements) {
    assert.equal(m.client.falseAlarm, false);
    assert.equal(m.server.falseAlarm, false);
  }
});

test('lab - loopback mode runs what it can honestly and says what it skipped', { timeout: 60_000 }, async () => {
  const result = await runLab({
    mode: 'quick',
    loopback: true,
    faults: ['frozen-server', 'overloaded-server', 'cable-cut-idle', 'proxy-blackhole'],
    mechanisms: ['keepalive-tuned', 'heartbeat', 'heartbeat-ws', 'heartbeat-udp'],
    windowScale: 0.25,
  });
  assert.deepEqual(result.errors, []);
  assert.equal(result.environment.kind, 'loopback');
  // The kernel fault is skipped with its reason; its proxy stand-in runs, for the heartbeats only;
  // the WebSocket row skips the overloaded server (on the wire, the frozen one again).
  assert.deepEqual(
    result.skipped.map((s) => `${s.fault}${s.mechanism ? ` × ${s.mechanism}` : ''}`),
    ['cable-cut-idle', 'overloaded-server × heartbeat-ws', 'overloaded-server × heartbeat-udp', 'proxy-blackhole × keepalive-tuned'],
  );
  assert.match(result.skipped[0]!.reason, /namespaces/);
  assert.match(result.skipped[1]!.reason, /frozen server/);
  assert.match(result.skipped[3]!.reason, /proxy ACKs/);
  const proxied = cell(result, 'proxy-blackhole', 'heartbeat');
  for (const side of ['client', 'server'] as const) {
    assert.equal(proxied[side].how, 'heartbeat-timeout', side);
    assert.ok(proxied[side].afterMs! <= HEARTBEAT_BOUND_MS, `${side}: ${proxied[side].afterMs} ms`);
    assertHeartbeatDetected(cell(result, 'proxy-blackhole', 'heartbeat-ws')[side], `ws black hole ${side}`);
    // UDP through the user-space UDP proxy (udp-fault-proxy.ts) dropping every datagram.
    assertHeartbeatDetected(cell(result, 'proxy-blackhole', 'heartbeat-udp')[side], `udp black hole ${side}`);
  }
  // WebSocket, frozen server: the leading server stops pinging, so the client pings itself after
  // interval + margin (250 ms) and reports no-answer after the 1 s budget: later than over TCP.
  const wsFrozen = cell(result, 'frozen-server', 'heartbeat-ws').client;
  assertHeartbeatDetected(wsFrozen, 'ws frozen client');
  assert.equal(wsFrozen.unavailableReason, 'no-answer');
  assert.ok(wsFrozen.unavailableAfterMs! <= (1000 + 250 + 1000) * 1.2, `ws unavailable after ${wsFrozen.unavailableAfterMs} ms`);
  assert.ok(wsFrozen.unavailableAfterMs! < wsFrozen.afterMs!, 'unavailable before dead');
  assert.equal(result.measurements.some((m) => m.fault === 'proxy-blackhole' && m.mechanism === 'keepalive-tuned'), false);
  for (const fault of ['frozen-server', 'overloaded-server']) {
    // Alive but not serving: the kernel keeps ACKing keepalive probes...
    const ka = cell(result, fault, 'keepalive-tuned');
    assert.equal(ka.client.detected, false, `${fault}: keepalive must not notice`);
    assert.equal(ka.client.unavailableAfterMs, undefined);
    // ...while the heartbeat reports the server unavailable within interval + budget (1 s + 1 s),
    // and dead at the timeout.
    const hb = cell(result, fault, 'heartbeat');
    assert.equal(hb.client.unavailableReason, 'no-answer', fault);
    assert.ok(hb.client.unavailableAfterMs! <= 2000 * 1.2, `${fault}: unavailable after ${hb.client.unavailableAfterMs} ms`);
    assert.equal(hb.client.how, 'heartbeat-timeout');
    assert.ok(hb.client.afterMs! <= HEARTBEAT_BOUND_MS);
    assert.ok(hb.client.unavailableAfterMs! < hb.client.afterMs!, 'unavailable before dead');
  }
});
