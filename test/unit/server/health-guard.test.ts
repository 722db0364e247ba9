/**
 * The `health` hook runs inside a socket read (every PONG): a bad answer must not throw there.
 * guardedHealth corrects it, keeps the last good report when the hook throws, and warns once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guardedHealth } from '../../../src/server/health.js';
import { connect, createServer, type HealthReport } from '../../../src/index.js';

test('health guard - good reports pass through untouched; bad ones are corrected and warned about once', () => {
  const warnings: string[] = [];
  let next: unknown = { status: 'busy', load: 200 };
  const health = guardedHealth(() => next as HealthReport, (m) => warnings.push(m));
  assert.deepEqual(health(), { status: 'busy', load: 200 });
  next = { status: 'ok', load: 0.25 };
  assert.deepEqual(health(), { status: 'ok', load: 0 });
  next = { status: 'down', load: 300 };
  assert.deepEqual(health(), { status: 'ok', load: 255 });
  next = { status: 'draining', load: Number.NaN };
  assert.deepEqual(health(), { status: 'draining', load: 0 });
  next = undefined;
  assert.deepEqual(health(), { status: 'ok', load: 0 });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /load an integer 0\.\.255/);
});

test('health guard - a hook that throws: the last good report, one warning', () => {
  const warnings: string[] = [];
  let fail = false;
  const health = guardedHealth(() => {
    if (fail) throw new Error('db down');
    return { status: 'busy', load: 7 };
  }, (m) => warnings.push(m));
  assert.deepEqual(health(), { status: 'busy', load: 7 });
  fail = true;
  assert.deepEqual(health(), { status: 'busy', load: 7 });
  assert.deepEqual(health(), { status: 'busy', load: 7 });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /threw \(db down\)/);
});

test('health guard - a server whose hook answers a fractional load keeps serving PINGs (was an uncaught exception in the read)', async (t) => {
  const server = createServer({ health: () => ({ status: 'ok', load: 0.5 }), heartbeatInterval: 100, heartbeatTimeout: 1000, minHeartbeatInterval: 50 });
  const warnings: string[] = [];
  server.on('warning', (m: string) => warnings.push(m));
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const client = connect({ host: '127.0.0.1', port, reconnect: false, heartbeatInterval: 100, heartbeatTimeout: 1000 });
  t.after(() => client.close());
  const pongs: HealthReport[] = [];
  client.on('pong', (info: HealthReport) => pongs.push({ status: info.status, load: info.load }));
  const deadline = Date.now() + 5000;
  while (pongs.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(pongs.length >= 3, `${pongs.length} PONGs`);
  assert.deepEqual(pongs[0], { status: 'ok', load: 1 });
  assert.equal(warnings.filter((w) => w.includes('health hook')).length, 1);
});

test('health sampler - takeLoopDelay gives the worst window since the last call, then nothing until the next window', async () => {
  const { createEventLoopHealth } = await import('../../../src/server/health.js');
  const sampler = createEventLoopHealth({ sampleMs: 100 });
  try {
    await new Promise((r) => setTimeout(r, 30)); // the monitor's timer is running
    const blockUntil = performance.now() + 60;
    while (performance.now() < blockUntil) {
      /* a 60 ms stall of this loop */
    }
    await new Promise((r) => setTimeout(r, 300));
    const w = sampler.takeLoopDelay();
    assert.ok(w, 'a window was sampled');
    assert.ok(w.maxNs >= 40e6, `the 60 ms stall shows as the max: ${(w.maxNs / 1e6).toFixed(1)} ms`);
    assert.ok(w.p50Ns <= w.p99Ns && w.p99Ns <= w.maxNs);
    assert.equal(sampler.takeLoopDelay(), undefined, 'taken: nothing until the next window');
  } finally {
    sampler.stop();
  }
});
