/**
 * Integration: the server leads the heartbeat (docs/spec/0010-server-leads.md). With
 * `heartbeatLeader: 'server'` and a client that offers to follow, the server pings and the
 * client only answers; the server's status reaches the client in a PONG pushed with a PING when
 * it changes; a client that does not offer keeps leading; and a frozen server is still reported
 * unavailable and then dead by the client.
 */
import { test, type TestContext } from 'node:test';
import net from 'node:net';
import assert from 'node:assert/strict';
import { connect, createServer, type CloseReason, type HealthReport, type PongInfo, type Session, type UnavailableInfo } from '../../src/index.js';
import { freezeServer, nextEvent, silenceSampler, spawnCliServer } from './helpers.js';
import { MemoryNatStore } from '../../src/liveness/nat-store.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame, encodePong } from '../../src/protocol/encode.js';
import type { Frame } from '../../src/protocol/frames.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const INTERVAL_MS = 200;
const TIMEOUT_MS = 600;

async function pair(t: TestContext, clientOptions: Partial<Parameters<typeof connect>[0]> = {}, health?: () => HealthReport) {
  const server = createServer({
    heartbeatLeader: 'server',
    minHeartbeatInterval: 50,
    minHeartbeatTimeout: 100,
    timerResolution: 10,
    ...(health ? { health } : {}),
  });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const client = connect({ reconnect: false, host: '127.0.0.1', port, heartbeatInterval: INTERVAL_MS, heartbeatTimeout: TIMEOUT_MS, ...clientOptions });
  t.after(() => client.close());
  const [, [session]] = await Promise.all([nextEvent(client, 'open', 3000), sessionP]);
  return { server, client, session };
}

test('server leads - the server pings, the client only answers; nobody is declared dead', async (t) => {
  const { server, client, session } = await pair(t);
  assert.equal(client.heartbeatLeader, 'server');
  assert.equal(session.heartbeatLeader, 'server');
  const closes: string[] = [];
  client.on('close', (r: CloseReason) => closes.push(`client: ${r.code}`));
  server.on('sessionClose', (_s: Session, r: CloseReason) => closes.push(`server: ${r.code}`));
  let pingsAtClient = 0;
  let pingsAtServer = 0;
  const serverRtts: number[] = [];
  client.on('ping', () => pingsAtClient++);
  session.on('ping', () => pingsAtServer++);
  session.on('pong', (info: PongInfo) => info.rttMs !== undefined && serverRtts.push(info.rttMs));
  const silence = silenceSampler(t, client, session);
  const periodMs = 5 * TIMEOUT_MS;
  await sleep(periodMs);
  silence.stop();
  const { clientMs: maxClientSilenceMs, serverMs: maxServerSilenceMs } = silence.max;

  const expected = periodMs / INTERVAL_MS; // 15
  t.diagnostic(`server pings answered ${serverRtts.length}, client pings ${pingsAtServer}; max silence client ${Math.round(maxClientSilenceMs)} ms, server ${Math.round(maxServerSilenceMs)} ms`);
  assert.deepEqual(closes, []);
  assert.ok(pingsAtClient >= expected / 2, `the client saw only ${pingsAtClient} server PINGs`);
  assert.ok(serverRtts.length >= expected / 2, `the server timed only ${serverRtts.length} round trips`);
  assert.ok(pingsAtServer <= expected / 4, `the client should only answer while the server leads (it pinged ${pingsAtServer} times)`);
  assert.ok(pingsAtClient + pingsAtServer <= 1.5 * expected, 'one exchange per interval, not two');
  assert.ok(maxClientSilenceMs < TIMEOUT_MS * 0.75, `client went ${Math.round(maxClientSilenceMs)} ms without hearing the server`);
  assert.ok(maxServerSilenceMs < TIMEOUT_MS * 0.75, `server went ${Math.round(maxServerSilenceMs)} ms without hearing the client`);
});

test('server leads - the status reaches the client when it changes, not with every PING', async (t) => {
  let report: HealthReport = { status: 'ok', load: 10 };
  const { client } = await pair(t, {}, () => report);
  const pongs: PongInfo[] = [];
  client.on('pong', (info: PongInfo) => pongs.push(info));
  // The first server PING carried the status (the client had none yet); then nothing changes.
  await sleep(3 * INTERVAL_MS);
  assert.equal(client.serverStatus, 'ok');
  const quiet = pongs.length;
  assert.ok(quiet <= 1, `${quiet} status PONGs while nothing changed`);

  report = { status: 'ok', load: 30 }; // load moved by less than the push step: not worth a byte
  await sleep(3 * INTERVAL_MS);
  assert.equal(pongs.length, quiet, 'a small load change is not pushed');

  const busyAt = performance.now();
  report = { status: 'busy', load: 240 };
  const unavailableP = nextEvent<[UnavailableInfo]>(client, 'unavailable', 3000);
  const [info] = await unavailableP;
  t.diagnostic(`busy reported after ${Math.round(performance.now() - busyAt)} ms`);
  assert.equal(info.reason, 'busy');
  assert.equal(client.serverStatus, 'busy');
  assert.equal(pongs.at(-1)!.load, 240);
  // Each pushed PONG echoes a PING id the client already had answered: no false RTT sample.
  assert.ok(pongs.every((p) => p.rttMs === undefined), 'a pushed status PONG is not a round trip');

  report = { status: 'ok', load: 20 };
  await nextEvent(client, 'available', 3000);
  assert.equal(client.state, 'open');
});

test('server leads - only with clients that offer it: followServerPings false keeps the client leading', async (t) => {
  const { client, session } = await pair(t, { followServerPings: false });
  assert.equal(client.heartbeatLeader, 'client');
  assert.equal(session.heartbeatLeader, 'client');
  let pingsAtServer = 0;
  let pingsAtClient = 0;
  session.on('ping', () => pingsAtServer++);
  client.on('ping', () => pingsAtClient++);
  await sleep(10 * INTERVAL_MS);
  t.diagnostic(`client pings ${pingsAtServer}, server pings ${pingsAtClient}`);
  assert.ok(pingsAtServer >= 5, `the client leads: it pinged ${pingsAtServer} times`);
  assert.ok(pingsAtClient <= pingsAtServer / 4, `the server should only answer (${pingsAtClient} server PINGs)`);
  assert.equal(typeof client.rtt, 'number');
});

test('server leads - never with an adaptive client: the learner times the idle itself', async (t) => {
  const { client, session } = await pair(t, { heartbeat: 'adaptive', natStore: new MemoryNatStore(), adaptiveHeartbeat: { minIntervalMs: 200 }, heartbeatInterval: undefined });
  assert.equal(client.heartbeatLeader, 'client');
  assert.equal(session.heartbeatLeader, 'client');
});

test('server leads - a frozen server: the client still reports unavailable, then dead', { timeout: 30_000 }, async (t) => {
  const interval = 300;
  const timeout = 2000;
  const budget = 400;
  const { child, port } = await spawnCliServer(t, ['--heartbeat-leader', 'server']);
  const client = connect({ reconnect: false, port, heartbeatInterval: interval, heartbeatTimeout: timeout, availabilityBudget: budget });
  t.after(() => client.close());
  await nextEvent(client, 'open', 5000);
  assert.equal(client.heartbeatLeader, 'server');
  await nextEvent(client, 'ping', 3000); // the server just pinged

  const { unavailable: info, unavailableMs, closed: reason, deadMs } = await freezeServer<UnavailableInfo, CloseReason>(child, client);
  assert.equal(info.reason, 'no-answer');
  // The client waits out the server's beat (interval + margin), pings, and gives it the budget.
  assert.ok(unavailableMs < timeout, `unavailable after ${Math.round(unavailableMs)} ms, not before the timeout`);
  t.diagnostic(`unavailable after ${Math.round(unavailableMs)} ms, dead after ${Math.round(deadMs)} ms`);
  assert.equal(reason.code, 'heartbeat-timeout');
  assert.ok(deadMs < timeout + 500, `dead after ${Math.round(deadMs)} ms`);
  child.kill('SIGCONT');
});

test('server leads - a WELCOME that says so unasked is ignored: the client keeps pinging', async (t) => {
  // A hand-written server that claims the lead although the client did not offer to follow.
  let hello: Frame | undefined;
  let clientPings = 0;
  const server = net.createServer((socket) => {
    const decoder = new FrameDecoder();
    socket.on('error', () => {});
    socket.on('data', (chunk) =>
      decoder.push(chunk, (frame) => {
        if (frame.type === 'hello') {
          hello = frame;
          socket.write(encodeFrame({ type: 'welcome', version: 1, heartbeatIntervalMs: INTERVAL_MS, heartbeatTimeoutMs: TIMEOUT_MS, serverPings: true }));
        } else if (frame.type === 'ping') {
          clientPings++;
          socket.write(encodePong(frame.id, 'ok', 0));
        }
      }),
    );
  });
  t.after(() => server.close());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const client = connect({ reconnect: false, host: '127.0.0.1', port, heartbeatInterval: INTERVAL_MS, heartbeatTimeout: TIMEOUT_MS, followServerPings: false });
  t.after(() => client.close());
  await nextEvent(client, 'open', 3000);
  assert.equal(hello?.type === 'hello' && hello.followServerPings, undefined, 'HELLO did not offer');
  assert.equal(client.heartbeatLeader, 'client');
  await sleep(5 * INTERVAL_MS);
  assert.ok(clientPings >= 3, `the client kept leading: ${clientPings} PINGs`);
  assert.equal(client.state, 'open');
});

test('server leads - bad option values are refused by name', () => {
  assert.throws(() => createServer({ heartbeatLeader: 'both' as unknown as 'server' }), /invalid option server\.heartbeatLeader: must be 'auto', 'client' or 'server'/);
  assert.throws(() => connect({ reconnect: false, port: 1, followServerPings: 'yes' as unknown as boolean }), /invalid option followServerPings: must be a boolean/);
});
