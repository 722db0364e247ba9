/**
 * Integration: the heartbeat the client proposes in HELLO versus what the server puts in force
 * (liveness/negotiate.ts rules), as seen in the client's 'open' info and the server's Session.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type ClientOptions, type OpenInfo, type ServerOptions, type Session } from '../../src/index.js';
import { nextEvent } from './helpers.js';

/** Start a server, connect one client with `proposal`, return both views of the result. */
async function negotiate(t: TestContext, serverOptions: ServerOptions, proposal: Partial<ClientOptions>) {
  const server = createServer(serverOptions);
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const client = connect({ reconnect: false, host: '127.0.0.1', port, ...proposal });
  t.after(() => client.close());
  const [[info], [session]] = await Promise.all([nextEvent<[OpenInfo]>(client, 'open', 3000), sessionP]);
  assert.equal(session.heartbeatInterval, info.heartbeatInterval, 'client and server agree on the interval');
  assert.equal(session.heartbeatTimeout, info.heartbeatTimeout, 'client and server agree on the timeout');
  return { server, client, session, info };
}

test('negotiation - a proposal inside the bounds is accepted as is', async (t) => {
  const { info } = await negotiate(t, { minHeartbeatInterval: 50, minHeartbeatTimeout: 100 }, { heartbeatInterval: 230, heartbeatTimeout: 770 });
  assert.equal(info.heartbeatInterval, 230);
  assert.equal(info.heartbeatTimeout, 770);
});

test('negotiation - a too-small interval is clamped to minHeartbeatInterval', async (t) => {
  const { info } = await negotiate(
    t,
    { minHeartbeatInterval: 150, minHeartbeatTimeout: 100 },
    { heartbeatInterval: 20, heartbeatTimeout: 900 },
  );
  assert.equal(info.heartbeatInterval, 150);
  assert.equal(info.heartbeatTimeout, 900);
});

test('negotiation - the clamped interval is the one in force, not the proposed one', async (t) => {
  // Proposed 20 ms, clamped to 150 ms: over 900 ms the client pings ~6 times, not ~45.
  const { session, info } = await negotiate(
    t,
    { minHeartbeatInterval: 150, minHeartbeatTimeout: 100, timerResolution: 10 },
    { heartbeatInterval: 20, heartbeatTimeout: 600 },
  );
  assert.equal(info.heartbeatInterval, 150);
  let pings = 0;
  session.on('ping', () => pings++);
  await new Promise((resolve) => setTimeout(resolve, 900));
  assert.ok(pings >= 2, `heartbeats flowed (${pings} pings)`);
  assert.ok(pings <= 900 / 150 + 1, `at most one ping per clamped interval, got ${pings} pings in 900 ms`);
});

test('negotiation - a too-large interval and timeout are clamped to the maxima', async (t) => {
  const { info } = await negotiate(
    t,
    { minHeartbeatInterval: 50, minHeartbeatTimeout: 100, maxHeartbeatInterval: 1000, maxHeartbeatTimeout: 4000 },
    { heartbeatInterval: 60_000, heartbeatTimeout: 120_000 },
  );
  assert.equal(info.heartbeatInterval, 1000);
  assert.equal(info.heartbeatTimeout, 4000);
});

test('negotiation - a too-small timeout is clamped to minHeartbeatTimeout', async (t) => {
  const { info } = await negotiate(
    t,
    { minHeartbeatInterval: 50, minHeartbeatTimeout: 800 },
    { heartbeatInterval: 100, heartbeatTimeout: 200 },
  );
  assert.equal(info.heartbeatInterval, 100);
  assert.equal(info.heartbeatTimeout, 800);
});

test('negotiation - a client proposing nothing gets the server defaults', async (t) => {
  const { info, session } = await negotiate(
    t,
    { heartbeatInterval: 321, heartbeatTimeout: 987, minHeartbeatInterval: 50, minHeartbeatTimeout: 100 },
    {},
  );
  assert.equal(info.heartbeatInterval, 321);
  assert.equal(info.heartbeatTimeout, 987);
  assert.equal(session.heartbeatInterval, 321);
});

test('negotiation - a client proposing only an interval gets the default timeout', async (t) => {
  const { info } = await negotiate(
    t,
    { heartbeatInterval: 321, heartbeatTimeout: 987, minHeartbeatInterval: 50, minHeartbeatTimeout: 100 },
    { heartbeatInterval: 250 },
  );
  assert.equal(info.heartbeatInterval, 250);
  assert.equal(info.heartbeatTimeout, 987);
});

test('negotiation - the timeout is raised to at least 1.5 × the interval', async (t) => {
  const { info } = await negotiate(
    t,
    { minHeartbeatInterval: 50, minHeartbeatTimeout: 100 },
    { heartbeatInterval: 400, heartbeatTimeout: 450 },
  );
  assert.equal(info.heartbeatInterval, 400);
  assert.equal(info.heartbeatTimeout, 600);
  assert.ok(info.heartbeatTimeout >= 1.5 * info.heartbeatInterval);
});

test('negotiation - raising the timeout rounds up (never below 1.5 × interval)', async (t) => {
  const { info } = await negotiate(
    t,
    { minHeartbeatInterval: 50, minHeartbeatTimeout: 100 },
    { heartbeatInterval: 333, heartbeatTimeout: 334 },
  );
  assert.equal(info.heartbeatInterval, 333);
  assert.equal(info.heartbeatTimeout, 500); // ceil(499.5)
});

test('negotiation - the ratio also applies after clamping the interval up', async (t) => {
  // Interval 10 → clamped to 300; proposed timeout 350 is then raised to 450.
  const { info } = await negotiate(
    t,
    { minHeartbeatInterval: 300, minHeartbeatTimeout: 100 },
    { heartbeatInterval: 10, heartbeatTimeout: 350 },
  );
  assert.equal(info.heartbeatInterval, 300);
  assert.equal(info.heartbeatTimeout, 450);
});
