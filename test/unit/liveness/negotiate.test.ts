import { test } from 'node:test';
import assert from 'node:assert/strict';
import { negotiateHeartbeat, pingSchedule, MIN_TIMEOUT_RATIO, type HeartbeatBounds } from '../../../src/liveness/negotiate.js';

const bounds: HeartbeatBounds = {
  defaultIntervalMs: 5000,
  defaultTimeoutMs: 15000,
  minIntervalMs: 250,
  maxIntervalMs: 600_000,
  minTimeoutMs: 500,
  maxTimeoutMs: 1_800_000,
};

test('negotiate - 0 means the server default; values within bounds pass through', () => {
  assert.deepEqual(negotiateHeartbeat({ intervalMs: 0, timeoutMs: 0 }, bounds), { intervalMs: 5000, timeoutMs: 15000 });
  assert.deepEqual(negotiateHeartbeat({ intervalMs: 1000, timeoutMs: 3000 }, bounds), { intervalMs: 1000, timeoutMs: 3000 });
});

test('negotiate - clamps to the bounds, raises the timeout to 1.5 × interval, rounds to whole ms', () => {
  assert.deepEqual(negotiateHeartbeat({ intervalMs: 10, timeoutMs: 20 }, bounds), { intervalMs: 250, timeoutMs: 500 });
  assert.deepEqual(negotiateHeartbeat({ intervalMs: 1e9, timeoutMs: 1e10 }, bounds), { intervalMs: 600_000, timeoutMs: 1_800_000 });
  const r = negotiateHeartbeat({ intervalMs: 2000, timeoutMs: 2100 }, bounds);
  assert.equal(r.timeoutMs, 2000 * MIN_TIMEOUT_RATIO);
  assert.deepEqual(negotiateHeartbeat({ intervalMs: 1000.4, timeoutMs: 3000.6 }, bounds), { intervalMs: 1000, timeoutMs: 3001 });
});

test('pingSchedule - the client leads with jitter; the server waits past the client\'s latest ping', () => {
  for (const [intervalMs, timeoutMs] of [[1000, 3000], [200, 600], [5000, 15000], [1000, 1500], [60_000, 90_000]] as const) {
    const client = pingSchedule('client', { intervalMs, timeoutMs });
    const server = pingSchedule('server', { intervalMs, timeoutMs });
    assert.equal(client.pingAfterMs, intervalMs);
    assert.ok(client.jitterMs > 0 && client.jitterMs <= intervalMs * 0.1, `client jitter ${client.jitterMs}`);
    assert.equal(server.jitterMs, 0);
    // The server must not ping before the client's latest ping could have arrived...
    assert.ok(server.pingAfterMs > client.pingAfterMs + client.jitterMs, `${intervalMs}/${timeoutMs}: server ${server.pingAfterMs}`);
    // ...and both must still be able to get an answer before the timeout.
    assert.ok(server.pingAfterMs < timeoutMs && client.pingAfterMs + client.jitterMs < timeoutMs);
  }
});

test('pingSchedule - when the server leads the roles swap: it pings with jitter, the client waits past it', () => {
  for (const [intervalMs, timeoutMs] of [[1000, 3000], [200, 600], [5000, 15000], [1000, 1500], [60_000, 90_000]] as const) {
    const negotiated = { intervalMs, timeoutMs };
    const server = pingSchedule('server', negotiated, 'server');
    const client = pingSchedule('client', negotiated, 'server');
    assert.deepEqual(server, pingSchedule('client', negotiated, 'client'), 'the leader schedule is the same whoever leads');
    assert.deepEqual(client, pingSchedule('server', negotiated, 'client'), 'and so is the follower schedule');
    assert.ok(client.pingAfterMs > server.pingAfterMs + server.jitterMs, `${intervalMs}/${timeoutMs}: client ${client.pingAfterMs}`);
    assert.ok(client.pingAfterMs < timeoutMs && server.pingAfterMs + server.jitterMs < timeoutMs);
  }
});
