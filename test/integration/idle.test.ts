/**
 * Integration: an idle connection is kept alive by the heartbeat alone — no false alarm on either
 * side, and about one PING/PONG exchange per interval (the client leads, the server only answers;
 * see pingSchedule() in liveness/negotiate.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type CloseReason, type OpenInfo, type Session } from '../../src/index.js';
import { nextEvent, silenceSampler } from './helpers.js';

const INTERVAL_MS = 200;
const TIMEOUT_MS = 600;
const PERIOD_MS = 5 * TIMEOUT_MS;

test('idle - a silent connection stays up for 5 × the timeout on heartbeats alone, one exchange per interval', async (t) => {
  // timerResolution 10: keeps the server's own checks close to their deadlines, so this test
  // measures the ping schedule rather than the wheel's granularity.
  const server = createServer({ minHeartbeatInterval: 50, minHeartbeatTimeout: 100, timerResolution: 10 });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const client = connect({ reconnect: false, host: '127.0.0.1', port, heartbeatInterval: INTERVAL_MS, heartbeatTimeout: TIMEOUT_MS });
  t.after(() => client.close());
  const [[info], [session]] = await Promise.all([nextEvent<[OpenInfo]>(client, 'open', 3000), sessionP]);
  assert.equal(info.heartbeatInterval, INTERVAL_MS);
  assert.equal(info.heartbeatTimeout, TIMEOUT_MS);

  const closes: string[] = [];
  client.on('close', (r: CloseReason) => closes.push(`client: ${r.code} ${r.message}`));
  server.on('sessionClose', (_s: Session, r: CloseReason) => closes.push(`server: ${r.code} ${r.message}`));
  let serverPongs = 0; // PONGs answering the server's PINGs
  let clientPongs = 0; // PONGs answering the client's PINGs (each carries the server's status)
  let pingsAtServer = 0; // the client's PINGs, as the server received them
  session.on('pong', () => serverPongs++);
  client.on('pong', () => clientPongs++);
  session.on('ping', () => pingsAtServer++);
  // The longest silence each side saw, sampled: must stay well below the timeout.
  const silence = silenceSampler(t, client, session);

  await new Promise((resolve) => setTimeout(resolve, PERIOD_MS));
  silence.stop();
  const { clientMs: maxClientSilenceMs, serverMs: maxServerSilenceMs } = silence.max;

  assert.deepEqual(closes, [], 'no side declared the other dead');
  assert.equal(client.state, 'open');
  assert.equal(session.isOpen, true);
  assert.equal(server.sessionCount, 1);

  const expectedExchanges = PERIOD_MS / INTERVAL_MS; // 15
  const total = serverPongs + clientPongs;
  t.diagnostic(`pongs: server ${serverPongs}, client ${clientPongs}; pings received by the server ${pingsAtServer}; max silence: client ${Math.round(maxClientSilenceMs)} ms, server ${Math.round(maxServerSilenceMs)} ms`);
  // Heartbeats really flowed: the client's pings were answered regularly...
  assert.ok(clientPongs >= expectedExchanges / 2, `client saw only ${clientPongs} pongs in ${PERIOD_MS} ms`);
  assert.ok(pingsAtServer >= expectedExchanges / 2, `server saw only ${pingsAtServer} client pings in ${PERIOD_MS} ms`);
  // ...and only one side led: both sides pinging would give ~2 exchanges per interval.
  assert.ok(total <= 1.5 * expectedExchanges, `${total} pongs in ${PERIOD_MS} ms: more than one ping per interval`);
  assert.ok(serverPongs <= clientPongs / 4, `the server should only answer while the client leads (client ${clientPongs}, server ${serverPongs})`);
  // Neither side ever came near its timeout: the server heard the client's pings too.
  assert.ok(maxClientSilenceMs < TIMEOUT_MS * 0.75, `client went ${Math.round(maxClientSilenceMs)} ms without hearing the server`);
  assert.ok(maxServerSilenceMs < TIMEOUT_MS * 0.75, `server went ${Math.round(maxServerSilenceMs)} ms without hearing the client`);
  // The heartbeat measured a round trip on the client side, where the server's status arrives.
  assert.equal(typeof client.rtt, 'number');
});
