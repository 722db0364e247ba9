/**
 * Availability (docs/spec/0004-availability.md) on real sockets: a server that says busy, a
 * frozen server process that keepalive still calls alive, and the default event-loop health hook.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { connect, createServer, createEventLoopHealth, type CloseReason, type HealthReport, type UnavailableInfo } from '../../src/index.js';
import { applySocketTuning, loadNetKeepalive } from '../../src/transport/socket-tuning.js';
import { freezeServer, nextEvent, spawnCliServer } from './helpers.js';
import diagnostics from 'node:diagnostics_channel';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('availability - busy PONGs make the client report unavailable (busy), ok PONGs make it available again', async (t) => {
  let report: HealthReport = { status: 'ok', load: 10 };
  const server = createServer({ minHeartbeatInterval: 50, minHeartbeatTimeout: 100, health: () => report });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const client = connect({ reconnect: false, port, heartbeatInterval: 100, heartbeatTimeout: 1000, availabilityBudget: 300, busyPongs: 2 });
  t.after(() => client.close());
  await nextEvent(client, 'open', 3000);
  const unavailable: UnavailableInfo[] = [];
  client.on('unavailable', (info: UnavailableInfo) => unavailable.push(info));
  // Metrics count it: the client publishes on a diagnostics channel that a metrics layer reads.
  const counted: string[] = [];
  const onUnavailable = (message: unknown) => {
    if ((message as { client?: unknown }).client === client) counted.push((message as { reason: string }).reason);
  };
  diagnostics.subscribe('lifeline:client:unavailable', onUnavailable);
  t.after(() => diagnostics.unsubscribe('lifeline:client:unavailable', onUnavailable));
  await sleep(300);
  assert.deepEqual(unavailable, [], 'healthy server: no verdict');
  assert.equal(client.available, true);

  const busyAt = performance.now();
  report = { status: 'busy', load: 240 };
  const [info] = await nextEvent<[UnavailableInfo]>(client, 'unavailable', 2000);
  const afterMs = performance.now() - busyAt;
  assert.equal(info.reason, 'busy');
  assert.equal(info.status, 'busy');
  assert.equal(info.load, 240);
  // Two busy PONGs: at most ~2 intervals (+ jitter and scheduling) after the switch.
  assert.ok(afterMs < 2 * 100 * 1.1 + 150, `reported after ${Math.round(afterMs)} ms`);
  assert.equal(client.available, false);
  assert.deepEqual(counted, ['busy']);

  report = { status: 'ok', load: 20 };
  await nextEvent(client, 'available', 2000);
  assert.equal(client.available, true);
  assert.equal(client.state, 'open', 'unavailable is a report, not a disconnect');
});

test('availability - a frozen server: heartbeat says unavailable within interval + budget, keepalive still says alive', { timeout: 30_000 }, async (t: TestContext) => {
  const INTERVAL_MS = 300;
  const TIMEOUT_MS = 2000;
  const BUDGET_MS = 400;
  const { child, port } = await spawnCliServer(t);

  // A plain TCP socket with tuned keepalive (probe after 1 s idle, every 1 s, 2 probes).
  const nk = await loadNetKeepalive();
  const raw = net.connect({ host: '127.0.0.1', port });
  t.after(() => void raw.destroy());
  await nextEvent(raw, 'connect', 3000);
  applySocketTuning(raw, { tcpKeepalive: { idle: 1000, interval: 1000, count: 2 } }, nk);
  let rawClosedAt: number | undefined;
  raw.on('error', () => {});
  raw.on('close', () => (rawClosedAt = performance.now()));

  const client = connect({ reconnect: false, port, heartbeatInterval: INTERVAL_MS, heartbeatTimeout: TIMEOUT_MS, availabilityBudget: BUDGET_MS });
  t.after(() => client.close());
  await nextEvent(client, 'open', 5000);
  await nextEvent(client, 'pong', 3000); // a fresh round trip just completed

  const frozenAt = performance.now();
  const { unavailable: info, unavailableMs, closed: reason, deadMs } = await freezeServer<UnavailableInfo, CloseReason>(child, client);
  assert.equal(info.reason, 'no-answer');
  assert.ok(unavailableMs <= (INTERVAL_MS * 1.1 + BUDGET_MS) * 1.3 + 100, `unavailable after ${Math.round(unavailableMs)} ms`);
  assert.ok(unavailableMs < TIMEOUT_MS, 'long before the heartbeat timeout');

  assert.equal(reason.code, 'heartbeat-timeout');
  t.diagnostic(`unavailable after ${Math.round(unavailableMs)} ms, dead after ${Math.round(deadMs)} ms`);
  // Keepalive probes are ACKed by the frozen process's kernel: the raw socket is still open,
  // although its keepalive would have given up after 1 s + 2 × 1 s on a dead host.
  await sleep(Math.max(0, 3500 - (performance.now() - frozenAt)));
  assert.equal(rawClosedAt, undefined, 'keepalive never noticed the frozen server');
  child.kill('SIGCONT');
});

test('availability - the default health hook reports busy and load while the event loop is blocked', async () => {
  const sampler = createEventLoopHealth({ sampleMs: 100, busyDelayMs: 30 });
  try {
    assert.deepEqual(sampler.health(), { status: 'ok', load: 0 });
    // Block the loop for 60 ms out of every ~65 ms, for 500 ms.
    const until = performance.now() + 500;
    while (performance.now() < until) {
      const end = performance.now() + 60;
      while (performance.now() < end) {
        /* CPU-bound work */
      }
      await sleep(5);
    }
    const busy = sampler.health();
    assert.equal(busy.status, 'busy', `last sample: ${JSON.stringify(sampler.last)}`);
    assert.ok(busy.load > 128, `load ${busy.load}`);
    await sleep(350);
    assert.equal(sampler.health().status, 'ok', `after idling: ${JSON.stringify(sampler.last)}`);
  } finally {
    sampler.stop();
  }
});
