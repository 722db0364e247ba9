/**
 * Integration: reconnect with backoff (docs/spec/0005-reconnect.md) on real loopback sockets.
 * A server restarted on the same port is found again after delays that follow the backoff;
 * close() during a backoff wait stops the client for good; maxAttempts ends in one final
 * 'close'; non-retryable refusals do not loop; messages sent while reconnecting are delivered
 * on the next connection.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { encodeFrame } from '../../src/protocol/encode.js';
import {
  connect,
  createServer,
  type Client,
  type ClientOptions,
  type CloseReason,
  type LifelineServer,
  type OpenInfo,
  type ReconnectingInfo,
  type Session,
} from '../../src/index.js';
import { eventually, nextEvent } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startServer(t: TestContext, port = 0): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer();
  t.after(() => server.close());
  const address = await server.listen(port, '127.0.0.1');
  return { server, port: address.port };
}

/** A port nothing listens on (bound once, then released). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

interface Recorder {
  client: Client;
  events: { name: string; atMs: number; arg: unknown }[];
  reconnecting(): ReconnectingInfo[];
  disconnects(): CloseReason[];
  closes(): CloseReason[];
}

function dial(t: TestContext, options: ClientOptions): Recorder {
  const client = connect(options);
  t.after(() => client.close());
  const events: Recorder['events'] = [];
  for (const name of ['open', 'disconnect', 'reconnecting', 'close', 'undelivered'] as const) {
    client.on(name as 'open', (arg: unknown) => events.push({ name, atMs: performance.now(), arg }));
  }
  const of = <T>(name: string) => events.filter((e) => e.name === name).map((e) => e.arg as T);
  return { client, events, reconnecting: () => of('reconnecting'), disconnects: () => of('disconnect'), closes: () => of('close') };
}

test('reconnect - on by default, with resume: a lost connection is followed by reconnecting, not close', async (t) => {
  const { server, port } = await startServer(t);
  const r = dial(t, { port, rng: () => 0.5 });
  assert.notEqual(r.client.options.reconnect, false);
  assert.equal(r.client.options.resume, true);
  await nextEvent<[OpenInfo]>(r.client, 'open', 3000);
  const reconnecting = nextEvent<[ReconnectingInfo]>(r.client, 'reconnecting', 3000);
  await server.close();
  const [info] = await reconnecting;
  assert.equal(info.attempt, 1);
  assert.deepEqual(r.events.map((e) => e.name), ['open', 'disconnect', 'reconnecting']);
  assert.equal(r.disconnects()[0]!.code, 'server-shutdown');
  assert.equal(r.client.state, 'reconnecting');
});

test('reconnect - reconnect: false makes the first loss the final close', async (t) => {
  const { server, port } = await startServer(t);
  const r = dial(t, { port, reconnect: false });
  assert.equal(r.client.options.resume, false, 'no resume without reconnect');
  await nextEvent<[OpenInfo]>(r.client, 'open', 3000);
  const closed = nextEvent<[CloseReason]>(r.client, 'close', 3000);
  await server.close();
  assert.equal((await closed)[0].code, 'server-shutdown');
  await sleep(100);
  assert.deepEqual(r.events.map((e) => e.name), ['open', 'close']);
});

test('reconnect - a server restarted on the same port: reconnecting events with the backoff delays, then open again', async (t) => {
  const first = await startServer(t);
  const port = first.port;
  // rng 0.5 puts every delay on its base: full jitter 25, then 50 × 1.6^n.
  const r = dial(t, { port, reconnect: { initialDelay: 50, maxDelay: 400 }, rng: () => 0.5 });
  const [open1] = await nextEvent<[OpenInfo]>(r.client, 'open', 3000);
  assert.equal(open1.server, `127.0.0.1:${port}`);
  assert.equal(open1.resumed, false);

  const downAt = performance.now();
  await first.server.close();
  // Down for ~600 ms: the client keeps trying, each time after a longer delay.
  assert.ok(await eventually(() => performance.now() - downAt > 600 && r.client.state === 'reconnecting', 3000));
  const second = await startServer(t, port);
  const sessionP = nextEvent<[Session]>(second.server, 'session', 3000);
  const [open2] = await nextEvent<[OpenInfo]>(r.client, 'open', 3000);
  const [session] = await sessionP;
  assert.notEqual(open2.sessionId, open1.sessionId);
  assert.equal(open2.server, `127.0.0.1:${port}`);
  assert.equal(r.client.state, 'open');

  const delays = r.reconnecting().map((i) => i.delayMs);
  const expected = [25, 50, 80, 128, 204.8, 327.68, 400, 400, 400, 400];
  assert.ok(delays.length >= 5, `only ${delays.length} attempts: ${JSON.stringify(delays)}`);
  assert.deepEqual(delays.map((d) => Math.round(d * 100) / 100), expected.slice(0, delays.length));
  assert.deepEqual(r.reconnecting().map((i) => i.attempt), delays.map((_, i) => i + 1));
  assert.ok(r.reconnecting().every((i) => i.server === `127.0.0.1:${port}`));
  const codes = r.disconnects().map((d) => d.code);
  assert.equal(codes[0], 'server-shutdown');
  assert.ok(codes.slice(1).every((c) => c === 'connect-failed'), codes.join(' '));
  // Each wait really lasted its delay: from 'reconnecting' to the next dial's outcome.
  const seq = r.events.filter((e) => e.name === 'reconnecting' || e.name === 'disconnect' || e.name === 'open');
  const waits: string[] = [];
  for (let i = 0; i + 1 < seq.length; i++) {
    if (seq[i]!.name !== 'reconnecting') continue;
    const planned = (seq[i]!.arg as ReconnectingInfo).delayMs;
    const took = seq[i + 1]!.atMs - seq[i]!.atMs;
    waits.push(`${Math.round(planned)}→${Math.round(took)}`);
    assert.ok(took >= planned - 2 && took < planned + 150, `planned ${planned} ms, took ${took} ms`);
  }
  t.diagnostic(`delay planned→observed (ms): ${waits.join(', ')}`);

  // The new connection carries data both ways.
  const got = nextEvent<[Buffer]>(session, 'message', 2000);
  r.client.send('after restart');
  assert.equal(String((await got)[0]), 'after restart');
  const back = nextEvent<[Buffer]>(r.client, 'message', 2000);
  session.send('welcome back');
  assert.equal(String((await back)[0]), 'welcome back');
  assert.equal(r.closes().length, 0);
});

test('reconnect - close() during the backoff wait stops for good: one close, no further dial', async (t) => {
  const port = await freePort();
  const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
  const timersBefore = timers();
  const r = dial(t, { port, reconnect: { initialDelay: 300 }, rng: () => 0.99 });
  await nextEvent(r.client, 'reconnecting', 3000); // the first dial failed; waiting ~297 ms
  assert.equal(r.client.state, 'reconnecting');
  // The wait keeps the process alive (a client about to reconnect is live work)…
  assert.ok(timers() > timersBefore, 'a ref\'d handle while waiting');
  r.client.send('never sent');
  const undelivered = nextEvent<[Buffer[], Error]>(r.client, 'undelivered', 1000);
  r.client.close('bye');
  const [messages] = await undelivered;
  assert.deepEqual(messages.map(String), ['never sent']);
  assert.equal(r.client.state, 'closed');
  assert.equal(r.closes().length, 1);
  assert.equal(r.closes()[0]!.code, 'local-close');
  // …and close() releases it.
  assert.ok(await eventually(() => timers() <= timersBefore, 1000), `${timers()} timers, ${timersBefore} before`);

  // A server appears where the client was going: nobody comes.
  const { server } = await startServer(t, port);
  let sessions = 0;
  server.on('session', () => sessions++);
  await sleep(800);
  assert.equal(sessions, 0);
  assert.equal(server.connectionCount, 0);
  assert.deepEqual(r.events.map((e) => e.name), ['disconnect', 'reconnecting', 'undelivered', 'close']);
  r.client.close(); // idempotent
  assert.equal(r.closes().length, 1);
});

test('reconnect - close() while connected ends with local-close and no reconnect', async (t) => {
  const { port } = await startServer(t);
  const r = dial(t, { port, reconnect: { initialDelay: 20 } });
  await nextEvent(r.client, 'open', 3000);
  const closed = nextEvent<[CloseReason]>(r.client, 'close', 3000);
  r.client.close();
  assert.equal((await closed)[0].code, 'local-close');
  await sleep(200);
  assert.deepEqual(r.events.map((e) => e.name), ['open', 'close']);
});

test('reconnect - maxAttempts: after the last failed attempt one final close, queued messages reported', async (t) => {
  const port = await freePort();
  const r = dial(t, { port, reconnect: { initialDelay: 20, maxAttempts: 3 } });
  r.client.send('q1');
  const [reason] = await nextEvent<[CloseReason]>(r.client, 'close', 5000);
  assert.equal(reason.code, 'connect-failed');
  assert.match(reason.message, /gave up after 3 reconnect attempts/);
  assert.deepEqual(r.reconnecting().map((i) => i.attempt), [1, 2, 3]);
  assert.equal(r.disconnects().length, 3, 'the first dial and two retries; the third retry is the final close');
  const undelivered = r.events.find((e) => e.name === 'undelivered')!.arg as Buffer[];
  assert.deepEqual(undelivered.map(String), ['q1']);
  assert.equal(r.events.at(-1)!.name, 'close');
  await sleep(150);
  assert.equal(r.closes().length, 1);
  assert.throws(() => r.client.send('late'), /LL_ERR_NOT_OPEN|cannot send/);
});

/** A raw TCP server that answers each connection with `reply` and counts connections. */
async function fakeServer(t: TestContext, reply: Uint8Array): Promise<{ port: number; connections: () => number }> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('data', () => socket.write(reply));
    socket.on('close', () => sockets.delete(socket));
  });
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, connections: () => count };
}

test('reconnect - non-retryable refusals end the client at once instead of looping', async (t) => {
  const cases: { name: string; reply: Uint8Array; code: string }[] = [
    {
      name: 'unsupported version',
      reply: encodeFrame({ type: 'welcome', version: 99, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 3000 }),
      code: 'unsupported-version',
    },
    { name: 'protocol error (not a lifeline server)', reply: new TextEncoder().encode('HTTP/1.1 400 Bad Request\r\n\r\n'), code: 'protocol-error' },
    { name: 'server refuses the credentials', reply: encodeFrame({ type: 'close', code: 'auth-failed', message: 'bad token' }), code: 'remote-close' },
  ];
  for (const c of cases) {
    const fake = await fakeServer(t, c.reply);
    const r = dial(t, { servers: [`127.0.0.1:${fake.port}`], reconnect: { initialDelay: 10 } });
    const [reason] = await nextEvent<[CloseReason]>(r.client, 'close', 3000);
    assert.equal(reason.code, c.code, c.name);
    await sleep(200);
    assert.equal(fake.connections(), 1, `${c.name}: dialled ${fake.connections()} times`);
    assert.deepEqual(r.events.map((e) => e.name), ['close'], c.name);
  }
});

test('reconnect - the server application closing the session (CLOSE normal) is final', async (t) => {
  const { server, port } = await startServer(t);
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const r = dial(t, { port, reconnect: { initialDelay: 10 } });
  const [session] = await sessionP;
  await nextEvent(r.client, 'open', 3000);
  const closed = nextEvent<[CloseReason]>(r.client, 'close', 3000);
  session.close('kicked');
  const [reason] = await closed;
  assert.equal(reason.code, 'remote-close');
  assert.equal(reason.remoteCode, 'normal');
  await sleep(200);
  assert.equal(server.sessionCount, 0);
  assert.deepEqual(r.events.map((e) => e.name), ['open', 'close']);
});

test('reconnect - messages sent while reconnecting are queued and delivered in order on the next connection', async (t) => {
  const first = await startServer(t);
  const port = first.port;
  const r = dial(t, { port, reconnect: { initialDelay: 100 } });
  await nextEvent(r.client, 'open', 3000);
  const reconnecting = nextEvent(r.client, 'reconnecting', 3000);
  await first.server.close();
  await reconnecting;
  assert.equal(r.client.state, 'reconnecting');
  const sent = Array.from({ length: 50 }, (_, i) => `gap-${i}`);
  for (const m of sent) assert.equal(r.client.send(m), false, 'queued: not on the wire yet');
  assert.ok(r.client.bufferedAmount >= sent.join('').length);

  const second = await startServer(t, port);
  const received: string[] = [];
  second.server.on('session', (s: Session) => s.on('message', (b: Buffer) => received.push(String(b))));
  await nextEvent(r.client, 'open', 5000);
  r.client.send('after open');
  assert.ok(await eventually(() => received.length === sent.length + 1, 3000), `received ${received.length}`);
  assert.deepEqual(received, [...sent, 'after open']);
  assert.equal(r.events.some((e) => e.name === 'undelivered'), false);
});

test('reconnect - maxQueuedBytes bounds the queue while reconnecting', async (t) => {
  const port = await freePort();
  const r = dial(t, { port, maxQueuedBytes: 100, reconnect: { initialDelay: 1000 } });
  await nextEvent(r.client, 'reconnecting', 3000);
  r.client.send(Buffer.alloc(60));
  assert.throws(() => r.client.send(Buffer.alloc(60)), (err: unknown) => (err as { code?: string }).code === 'LL_ERR_BUFFER_OVERFLOW');
  r.client.send(Buffer.alloc(40)); // exactly at the limit
});
