/**
 * Chaos (issue 5): a fault proxy cuts the connection (RST both ways) at random, over and over,
 * while numbered messages flow both ways. With resume, every message must arrive exactly once
 * and in order, however many reconnects happen. Counts are reported with t.diagnostic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FaultProxy } from '../../src/lab/fault-proxy.js';
import { connect, createServer, type Session } from '../../src/index.js';
import { seededRandom } from '../../src/time/rng.js';

const MESSAGES = 100_000; // each way
const MIN_CUTS = 1000;
const BATCH = 25; // per 1 ms tick, each way: ~25,000 messages/s

test('chaos - ≥ 1,000 random cuts while 100,000 messages flow each way: exactly once, in order', { timeout: 120_000 }, async (t) => {
  const server = createServer({ minHeartbeatInterval: 50, minHeartbeatTimeout: 100, resumeWindow: 60_000, tcpKeepalive: false, tcpUserTimeout: 0 });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const proxy = new FaultProxy({ host: '127.0.0.1', port });
  t.after(() => proxy.close());
  const { port: proxyPort } = await proxy.listen(0, '127.0.0.1');

  const errors: string[] = [];
  let serverExpected = 0;
  let clientExpected = 0;
  let sessions = 0;
  let session: Session | undefined;
  server.on('session', (s: Session) => {
    sessions++;
    if (session) errors.push(`a second session was created (${s.id}): resume failed`);
    session = s;
    s.on('message', (buf: Buffer) => {
      const n = Number(buf.toString());
      if (n !== serverExpected) errors.push(`server got ${n}, expected ${serverExpected}`);
      serverExpected = n + 1;
    });
  });

  const client = connect({
    servers: [`127.0.0.1:${proxyPort}`],
    reconnect: { initialDelay: 5, maxDelay: 20, stableAfter: 0 },
    heartbeatInterval: 200,
    heartbeatTimeout: 1000,
    tcpKeepalive: false,
    tcpUserTimeout: 0,
  });
  t.after(() => client.close());
  let resumes = 0;
  let opens = 0;
  client.on('open', (info) => {
    opens++;
    if (info.resumed) resumes++;
  });
  client.on('undelivered', (msgs: Buffer[]) => errors.push(`${msgs.length} messages reported undelivered`));
  client.on('message', (buf: Buffer) => {
    const n = Number(buf.toString());
    if (n !== clientExpected) errors.push(`client got ${n}, expected ${clientExpected}`);
    clientExpected = n + 1;
  });
  await new Promise((resolve) => client.once('open', resolve));

  // Traffic: batches both ways on every turn, as a well-behaved application sends: until send()
  // says the buffers are full (backpressure), then on the next turn.
  let clientSent = 0;
  let serverSent = 0;
  const pump = setInterval(() => {
    for (let i = 0; i < BATCH && clientSent < MESSAGES; i++) if (!client.send(String(clientSent++))) break;
    for (let i = 0; i < BATCH && serverSent < MESSAGES && session; i++) if (!session.send(String(serverSent++))) break;
  }, 1);

  // Chaos: cut (RST both ways) at random moments, 5–25 ms apart, until there were enough cuts
  // and every message was sent; then let the last ones arrive. A cut waits until the resumed
  // session has delivered something both ways since the previous one: cutting every few ms
  // regardless livelocks a loaded machine (each resume replays what is unacknowledged, a cut in
  // the middle of the replay makes the next one as long; seen: 68 cuts in 100 s on a busy box).
  // Cuts then still land mid-replay and mid-traffic, but every one is followed by progress.
  const rng = seededRandom(42);
  let cuts = 0;
  let cutsInTraffic = 0;
  let progressMark = { server: -1, client: -1 };
  const startedAt = performance.now();
  const done = () => serverExpected >= MESSAGES && clientExpected >= MESSAGES;
  // Once everything has arrived there is nothing left to make progress with: cut whenever open.
  const progressed = () => done() || (serverExpected > progressMark.server && clientExpected > progressMark.client);
  while ((cuts < MIN_CUTS || !done()) && performance.now() - startedAt < 100_000) {
    await new Promise((resolve) => setTimeout(resolve, 5 + rng() * 20));
    if (cuts < MIN_CUTS && client.state === 'open' && progressed()) {
      if (!done()) cutsInTraffic++;
      proxy.setMode('reset');
      proxy.setMode('forward');
      cuts++;
      progressMark = { server: serverExpected, client: clientExpected };
    }
  }
  clearInterval(pump);
  // The last cut's resume.
  for (const until = performance.now() + 5000; resumes < cuts && performance.now() < until; ) await new Promise((resolve) => setTimeout(resolve, 10));
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  t.diagnostic(`${cuts} cuts (${cutsInTraffic} while messages were flowing), ${opens} opens (${resumes} resumed), ${sessions} server session(s) in ${seconds} s`);
  t.diagnostic(`server received ${serverExpected} / ${MESSAGES}, client received ${clientExpected} / ${MESSAGES}`);
  assert.deepEqual(errors.slice(0, 5), []);
  assert.ok(cuts >= MIN_CUTS, `only ${cuts} cuts`);
  assert.ok(cutsInTraffic >= 100, `only ${cutsInTraffic} cuts while messages were flowing`);
  assert.equal(serverExpected, MESSAGES);
  assert.equal(clientExpected, MESSAGES);
  assert.equal(sessions, 1, 'one session, resumed every time');
  assert.ok(resumes >= cuts, `${resumes} resumes for ${cuts} cuts: every cut is followed by a resume`);
});
