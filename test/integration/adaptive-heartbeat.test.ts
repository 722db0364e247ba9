/**
 * Integration: `heartbeat: 'adaptive'` (docs/spec/0007) on real loopback sockets, through a
 * user-space NAT (FaultProxy idleTimeoutMs: a flow silent for longer is forgotten and blackholed,
 * new connections get new mappings). Time is scaled down ~50×: a 1.2 s NAT instead of 60 s,
 * a learner whose minimum is 200 ms. The client must learn the NAT's timeout (settle just under
 * it, after a few deaths), renegotiate longer intervals by resuming its session, lose no
 * message on the way, and then keep the flow alive with no further deaths.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { connect, createServer, type Client, type OpenInfo, type Session } from '../../src/index.js';
import { MemoryNatStore } from '../../src/liveness/nat-store.js';
import { FaultProxy } from '../../src/lab/fault-proxy.js';
import type { AdaptiveEvent } from '../../src/client/adaptive.js';
import { eventually } from './helpers.js';

const NAT_IDLE_MS = 1200;
const LEARNER = {
  minIntervalMs: 200,
  maxIntervalMs: 5000,
  stepMs: 300,
  resolutionMs: 150,
  successesToStepUp: 2,
  safetyMarginMs: 150,
  reprobeAfterMs: 3_600_000,
};

async function setup(t: TestContext) {
  const server = createServer({ heartbeatInterval: 500, heartbeatTimeout: 1000 });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const received: number[] = [];
  server.on('session', (s: Session) => s.on('message', (b: Buffer) => received.push(Number(b.toString()))));
  const proxy = new FaultProxy({ host: '127.0.0.1', port }, { idleTimeoutMs: NAT_IDLE_MS });
  t.after(() => proxy.close());
  const { port: natPort } = await proxy.listen();
  return { server, proxy, natPort, received };
}

function events(t: TestContext, client: Client): AdaptiveEvent[] {
  const seen: AdaptiveEvent[] = [];
  const listener = (message: unknown) => {
    const m = message as AdaptiveEvent & { client: Client };
    if (m.client === client) seen.push(m);
  };
  diagnostics.subscribe('lifeline:client:adaptive', listener);
  t.after(() => diagnostics.unsubscribe('lifeline:client:adaptive', listener));
  return seen;
}

test('adaptive heartbeat - learns a 1.2 s NAT idle timeout, settles below it, resumes across renegotiations, loses nothing; a restarted client starts where it left off', async (t) => {
  const { proxy, natPort, received } = await setup(t);
  const store = new MemoryNatStore();
  const clientOptions = {
    port: natPort,
    heartbeat: 'adaptive' as const,
    adaptiveHeartbeat: LEARNER,
    natStore: store,
    heartbeatTimeout: 1000,
    reconnect: { initialDelay: 50, maxDelay: 200, stableAfter: 100 },
  };
  const client = connect(clientOptions);
  t.after(() => client.close());
  const seen = events(t, client);
  const opens: OpenInfo[] = [];
  client.on('open', (info) => opens.push(info));
  const disconnects: string[] = [];
  client.on('disconnect', (r) => disconnects.push(r.code));

  // A message now and then (after each open): all must arrive exactly once, in order.
  let sent = 0;
  client.on('open', () => client.send(String(++sent)));

  const settled = await eventually(() => seen.some((e) => e.event === 'settled'), 60_000);
  const died = seen.filter((e) => e.event === 'died');
  const summary = `events: ${seen.map((e) => `${e.event}@${Math.round(e.idleMs)}→${e.intervalMs}`).join(' ')}`;
  assert.ok(settled, `the learner settled within 60 s (${summary})`);
  const snap = client.adaptiveHeartbeat!;
  assert.equal(snap.phase, 'settled');
  // It learned the timeout: longest survived idle just under 1.2 s, the killing idle just above.
  assert.ok(snap.goodMs < NAT_IDLE_MS && snap.goodMs > NAT_IDLE_MS - 3 * LEARNER.stepMs, `goodMs ${snap.goodMs} (${summary})`);
  assert.ok(died.length >= 1, `at least one idle period died on the way (${summary})`);
  // The client measures silence at its own end, the proxy at its end: the proxy's clock starts a
  // loopback hop earlier, so an idle the proxy judged ≥ 1200 ms can read a fraction of a ms less here.
  const PATH_SLACK_MS = 5;
  for (const d of died) assert.ok(d.idleMs > NAT_IDLE_MS - PATH_SLACK_MS, `a death is only ever recorded past the NAT timeout: ${d.idleMs} ms`);
  // Interval well above the safe start, and the worst jittered idle below the NAT's timeout.
  assert.ok(snap.intervalMs >= 3 * LEARNER.minIntervalMs, `interval ${snap.intervalMs} ms`);
  assert.ok(snap.intervalMs * 1.1 < NAT_IDLE_MS, `interval ${snap.intervalMs} ms × 1.1 stays under the NAT timeout`);
  // Longer intervals were obtained by reconnecting and resuming the same session.
  assert.ok(opens.some((o) => o.resumed), `a renegotiation resumed the session (${opens.map((o) => o.resumed).join(',')})`);
  assert.ok(opens.every((o) => o.sessionId === opens[0]!.sessionId), 'one session throughout');
  assert.ok(!disconnects.includes('renegotiate'), "planned reconnects are not reported as 'disconnect'");

  // Settled: the flow now lives through many idle periods with no death.
  const deathsBefore = died.length;
  const forgottenBefore = proxy.stats.forgottenFlows;
  await new Promise((r) => setTimeout(r, 5 * NAT_IDLE_MS));
  assert.equal(seen.filter((e) => e.event === 'died').length, deathsBefore, 'no death once settled');
  assert.equal(proxy.stats.forgottenFlows, forgottenBefore, 'the NAT forgot no flow once settled');
  assert.equal(client.state, 'open');

  assert.ok(await eventually(() => received.length === sent, 3000), `server received ${received.length} of ${sent}`);
  assert.deepEqual(received, Array.from({ length: sent }, (_, i) => i + 1), 'every message once, in order');
  // What was learned is in the store, under this network's key.
  const stored = store.load(snap.key);
  assert.ok(stored && stored.phase === 'settled', 'the settled state was saved');
  t.diagnostic(`learned: interval ${snap.intervalMs} ms, good ${snap.goodMs} ms, bad ${snap.badMs} ms; ${died.length} deaths, ${opens.length} opens; ${summary}`);

  // A client restarting on the same network (same store, same key) starts at the learned
  // interval at once: no learning, no death.
  client.close();
  const again = connect(clientOptions);
  t.after(() => again.close());
  const againEvents = events(t, again);
  const forgottenAtRestart = proxy.stats.forgottenFlows;
  const open = await new Promise<OpenInfo>((resolve) => again.once('open', resolve));
  assert.equal(again.adaptiveHeartbeat!.key, snap.key, 'same network key');
  assert.equal(again.adaptiveHeartbeat!.phase, 'settled');
  assert.ok(open.heartbeatInterval >= snap.intervalMs, `HELLO proposed the learned interval: negotiated ${open.heartbeatInterval} ≥ ${snap.intervalMs}`);
  await new Promise((r) => setTimeout(r, 5 * NAT_IDLE_MS));
  assert.ok(againEvents.filter((e) => e.event === 'survived').length >= 3, 'idle periods survived');
  assert.equal(againEvents.filter((e) => e.event === 'died').length, 0, 'no death after the restart');
  assert.equal(proxy.stats.forgottenFlows, forgottenAtRestart, 'no flow forgotten after the restart');
});

test("adaptive heartbeat - options: 'adaptive' excludes heartbeatInterval; learner settings are checked by name; keepalive off by default", () => {
  assert.throws(() => connect({ reconnect: false, port: 1, heartbeat: 'adaptive', heartbeatInterval: 1000 }), /invalid option heartbeat/);
  assert.throws(() => connect({ reconnect: false, port: 1, heartbeat: 'adaptive', adaptiveHeartbeat: { stepMs: -1 } }), /adaptiveHeartbeat\.stepMs/);
  assert.throws(() => connect({ reconnect: false, port: 1, heartbeat: 'adaptive', adaptiveHeartbeat: { stepMS: 1 } as never }), /adaptiveHeartbeat\.stepMS/);
  assert.throws(() => connect({ reconnect: false, port: 1, adaptiveHeartbeat: {} }), /need heartbeat: 'adaptive'/);
  assert.throws(() => connect({ reconnect: false, port: 1, heartbeat: 'smart' as never }), /invalid option heartbeat/);
  assert.throws(() => connect({ reconnect: false, port: 1, heartbeat: 'adaptive', natStore: {} as never }), /invalid option natStore/);
  // Kernel keepalive probes would keep the NAT alive for the learner: off by default, on if asked.
  const adaptive = connect({ reconnect: false, port: 1, heartbeat: 'adaptive', natStore: false });
  const explicit = connect({ reconnect: false, port: 1, heartbeat: 'adaptive', natStore: false, tcpKeepalive: { idle: 60_000, interval: 5000, count: 3 } });
  const fixed = connect({ reconnect: false, port: 1 });
  for (const c of [adaptive, explicit, fixed]) c.on('close', () => {});
  assert.equal(adaptive.options.socketTuning.tcpKeepalive, false);
  assert.deepEqual(explicit.options.socketTuning.tcpKeepalive, { idle: 60_000, interval: 5000, count: 3 });
  assert.notEqual(fixed.options.socketTuning.tcpKeepalive, false);
  for (const c of [adaptive, explicit, fixed]) c.close();
});

test('FaultProxy - bad targets and idle timeouts are refused with a clear error', () => {
  assert.throws(() => new FaultProxy({ host: '', port: 1 }), /target\.host/);
  assert.throws(() => new FaultProxy({ host: '127.0.0.1', port: 0 }), /target\.port/);
  assert.throws(() => new FaultProxy({ host: '127.0.0.1', port: 1 }, { idleTimeoutMs: 0 }), /idleTimeoutMs/);
  assert.throws(() => new FaultProxy({ host: '127.0.0.1', port: 1 }, { idleTimeoutMs: 'soon' as never }), /idleTimeoutMs/);
});
