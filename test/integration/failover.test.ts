/**
 * Integration: failover across a server list (docs/spec/0005-reconnect.md §Failover) on real
 * loopback sockets. Server A goes away — closed, SIGKILLed as a separate process, drained with a
 * GOAWAY redirect, or busy — and the client ends up on server B within the backoff delay plus a
 * handshake, with data flowing there.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnCli } from '../../src/lab/processes.js';
import {
  connect,
  createServer,
  type Client,
  type ClientOptions,
  type CloseReason,
  type HealthReport,
  type LifelineServer,
  type OpenInfo,
  type ReconnectingInfo,
  type ServerOptions,
  type Session,
  type UnavailableInfo,
} from '../../src/index.js';
import { eventually, nextEvent } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const STARTUP_MS = 20_000; // tsx compiles the CLI on first run

interface Started {
  server: LifelineServer;
  port: number;
  address: string;
  sessions: Session[];
}

/** An in-process server whose sessions echo every message. */
async function startServer(t: TestContext, options: ServerOptions = {}): Promise<Started> {
  const server = createServer(options);
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const sessions: Session[] = [];
  server.on('session', (s: Session) => {
    sessions.push(s);
    s.on('message', (data: Buffer) => s.send(data));
  });
  return { server, port, address: `127.0.0.1:${port}`, sessions };
}

function dial(t: TestContext, options: ClientOptions): { client: Client; log: { name: string; atMs: number; arg: unknown }[] } {
  const client = connect(options);
  t.after(() => client.close());
  const log: { name: string; atMs: number; arg: unknown }[] = [];
  for (const name of ['open', 'disconnect', 'reconnecting', 'close', 'goaway', 'unavailable', 'available'] as const) {
    client.on(name as 'open', (arg: unknown) => log.push({ name, atMs: performance.now(), arg }));
  }
  return { client, log };
}

async function echo(client: Client, text: string): Promise<string> {
  const back = nextEvent<[Buffer]>(client, 'message', 3000);
  client.send(text);
  return String((await back)[0]);
}

test('failover - server A closed: the client is on B within the backoff delay plus a handshake; data flows on B', async (t) => {
  const a = await startServer(t);
  const b = await startServer(t);
  const INITIAL_MS = 200;
  const { client, log } = dial(t, { servers: [a.address, b.address], reconnect: { initialDelay: INITIAL_MS } });
  const [first] = await nextEvent<[OpenInfo]>(client, 'open', 3000);
  assert.equal(first.server, a.address);
  assert.equal(await echo(client, 'on A'), 'on A');

  const reopened = nextEvent<[OpenInfo]>(client, 'open', 3000);
  const downAt = performance.now();
  await a.server.close();
  const [second] = await reopened;
  const tookMs = performance.now() - downAt;
  t.diagnostic(`on B ${Math.round(tookMs)} ms after A closed (first delay < ${INITIAL_MS} ms)`);
  assert.equal(second.server, b.address);
  assert.equal(client.server, b.address);
  assert.ok(tookMs < INITIAL_MS + 300, `took ${Math.round(tookMs)} ms`);
  const disconnect = log.find((e) => e.name === 'disconnect')!.arg as CloseReason;
  assert.equal(disconnect.code, 'server-shutdown');
  const plan = log.find((e) => e.name === 'reconnecting')!.arg as ReconnectingInfo;
  assert.equal(plan.attempt, 1);
  assert.equal(plan.server, b.address);
  assert.ok(plan.delayMs >= 0 && plan.delayMs < INITIAL_MS, `first delay ${plan.delayMs}`);
  assert.equal(await echo(client, 'on B'), 'on B');
  assert.equal(b.server.sessionCount, 1);
});

test('failover - server A SIGKILLed (a separate process): the client moves to B', { timeout: 40_000 }, async (t) => {
  const child = spawnCli('server-a', ['server', '--port', '0', '--host', '127.0.0.1', '--echo']);
  t.after(async () => {
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
    await child.exited;
  });
  const listening = await child.waitFor((l) => l.event === 'listening', STARTUP_MS, "'listening'");
  const aAddress = `127.0.0.1:${String(listening.port)}`;
  const b = await startServer(t);
  const INITIAL_MS = 200;
  const { client, log } = dial(t, { servers: [aAddress, b.address], reconnect: { initialDelay: INITIAL_MS } });
  const [first] = await nextEvent<[OpenInfo]>(client, 'open', 5000);
  assert.equal(first.server, aAddress);
  assert.equal(await echo(client, 'on A'), 'on A');

  const reopened = nextEvent<[OpenInfo]>(client, 'open', 5000);
  const killedAt = performance.now();
  child.process.kill('SIGKILL');
  const [second] = await reopened;
  const tookMs = performance.now() - killedAt;
  t.diagnostic(`on B ${Math.round(tookMs)} ms after SIGKILL of A`);
  assert.equal(second.server, b.address);
  assert.ok(tookMs < INITIAL_MS + 500, `took ${Math.round(tookMs)} ms`);
  const disconnect = log.find((e) => e.name === 'disconnect')!.arg as CloseReason;
  assert.ok(['transport-closed', 'transport-error'].includes(disconnect.code), disconnect.code);
  assert.equal(await echo(client, 'on B'), 'on B');
});

test('failover - GOAWAY draining with a redirect: the client goes to the redirect, not the next server, after retry-after', async (t) => {
  const a = await startServer(t);
  const b = await startServer(t); // only reachable through the redirect
  const c = await startServer(t); // next in the client's list
  const RETRY_AFTER_MS = 300;
  const { client, log } = dial(t, { servers: [a.address, c.address], reconnect: { initialDelay: 50 } });
  await nextEvent(client, 'open', 3000);

  const reopened = nextEvent<[OpenInfo]>(client, 'open', 3000);
  const drainedAt = performance.now();
  const drained = a.server.drain({ redirect: b.address, retryAfterMs: RETRY_AFTER_MS, deadlineMs: 5000 });
  const [second] = await reopened;
  const tookMs = performance.now() - drainedAt;
  t.diagnostic(`on the redirect target ${Math.round(tookMs)} ms after drain() (retry-after ${RETRY_AFTER_MS} ms)`);
  assert.equal(second.server, b.address);
  assert.ok(tookMs >= RETRY_AFTER_MS, `reconnected after ${Math.round(tookMs)} ms, before retry-after`);
  assert.ok(tookMs < RETRY_AFTER_MS * 1.2 + 300, `took ${Math.round(tookMs)} ms`);
  const disconnect = log.find((e) => e.name === 'disconnect')!.arg as CloseReason;
  assert.equal(disconnect.code, 'goaway');
  assert.deepEqual(disconnect.goaway, { code: 'draining', redirect: b.address, retryAfterMs: RETRY_AFTER_MS });
  const plan = log.find((e) => e.name === 'reconnecting')!.arg as ReconnectingInfo;
  assert.equal(plan.server, b.address);
  assert.ok(plan.delayMs >= RETRY_AFTER_MS && plan.delayMs < RETRY_AFTER_MS * 1.2, `delay ${plan.delayMs}`);
  await drained; // the client left on its own, long before the deadline
  assert.ok(performance.now() - drainedAt < 2000);
  assert.equal(c.server.connectionCount, 0, 'the next server of the list was not dialled');
  assert.equal(await echo(client, 'on B'), 'on B');
});

test('failover - a busy server with a second one available: the client moves once busy has lasted a heartbeat round', async (t) => {
  let aHealth: HealthReport = { status: 'ok', load: 0 };
  const a = await startServer(t, { health: () => aHealth });
  const b = await startServer(t);
  const INTERVAL_MS = 250;
  const TIMEOUT_MS = 1500; // availability budget: min(1000, 1500 / 2) = 750 ms
  const { client, log } = dial(t, {
    servers: [a.address, b.address],
    heartbeatInterval: INTERVAL_MS,
    heartbeatTimeout: TIMEOUT_MS,
    reconnect: { initialDelay: 50 },
  });
  await nextEvent(client, 'open', 3000);

  // A blip: busy long enough to be reported, then ok again before the round is over → stays.
  aHealth = { status: 'busy', load: 250 };
  const [blip] = await nextEvent<[UnavailableInfo]>(client, 'unavailable', 3000);
  assert.equal(blip.reason, 'busy');
  aHealth = { status: 'ok', load: 10 };
  await nextEvent(client, 'available', 2000);
  await sleep(INTERVAL_MS + 750 + 300);
  assert.equal(client.info?.server, a.address, 'a blip does not move the client');
  assert.equal(log.filter((e) => e.name === 'disconnect').length, 0);

  // Busy for good → the client leaves for B.
  aHealth = { status: 'busy', load: 255 };
  const reopened = nextEvent<[OpenInfo]>(client, 'open', 5000);
  const [busy] = await nextEvent<[UnavailableInfo]>(client, 'unavailable', 3000);
  const unavailableAt = performance.now();
  assert.equal(busy.reason, 'busy');
  const [second] = await reopened;
  const movedAfterMs = performance.now() - unavailableAt;
  t.diagnostic(`moved to B ${Math.round(movedAfterMs)} ms after 'unavailable' (busy)`);
  assert.equal(second.server, b.address);
  assert.ok(movedAfterMs >= INTERVAL_MS + 750 - 20, `moved after only ${Math.round(movedAfterMs)} ms`);
  const disconnect = log.filter((e) => e.name === 'disconnect').at(-1)!.arg as CloseReason;
  assert.equal(disconnect.code, 'failover');
  assert.match(disconnect.message, /failover: .* unavailable \(busy\)/);
  assert.ok(await eventually(() => a.server.sessionCount === 0, 2000), 'A saw the client leave');
  assert.equal(await echo(client, 'on B'), 'on B');
});
