/**
 * Integration: the SUBSCRIBE rate (docs/spec/0014-presence.md §Subscriptions, rate;
 * src/presence/subscribe-rate.ts) over real sockets, on a real redis-server: entries above a
 * connection's token bucket wait and are answered as tokens come (never more than the bucket
 * allowed, none lost); a connection that keeps sending SUBSCRIBE over the rate is closed with
 * CLOSE protocol-error and a message that says why; a lifeline client that subscribes its whole
 * contact list on connect, even one id per call, is never struck.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { connect, createServer, RedisPresenceStore, type LifelineServer, type PresenceUpdate } from '../../src/index.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import type { Frame } from '../../src/protocol/frames.js';
import { haveRedisServer, RedisProcess } from '../fixtures/redis-server.js';
import { eventually, nextEvent } from './helpers.js';

const skip = haveRedisServer() ? false : 'redis-server is not installed (.ci/run installs it)';
const utf8 = new TextEncoder();
const RATE = 50;
const LIMIT = 100;

async function startServer(t: TestContext, redis: RedisProcess): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({
    tcpKeepalive: false,
    tcpUserTimeout: 0,
    authenticate: (token) => (token ? new TextDecoder().decode(token) : undefined),
    // burst: the default, maxSubscriptions
    presence: { nodeId: 'rate', store: new RedisPresenceStore({ redis: redis.url }), maxSubscriptions: LIMIT, subscribeRate: RATE, subscribeStrikes: 2 },
  });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port };
}

interface Raw {
  socket: net.Socket;
  frames: Array<{ frame: Frame; atMs: number }>;
  /** STATE entries received, with when. */
  states: Array<{ id: string; state: string; atMs: number }>;
}

async function rawPeer(t: TestContext, port: number, id: string): Promise<Raw> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  t.after(() => void socket.destroy());
  const raw: Raw = { socket, frames: [], states: [] };
  const decoder = new FrameDecoder();
  socket.on('data', (chunk: Buffer) =>
    decoder.push(chunk, (frame) => {
      const atMs = performance.now();
      raw.frames.push({ frame, atMs });
      if (frame.type === 'presence' && frame.kind === 'state') for (const s of frame.states) raw.states.push({ ...s, atMs });
    }),
  );
  await nextEvent(socket, 'connect', 3000);
  socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 5000, heartbeatTimeoutMs: 20_000, token: utf8.encode(id) }));
  assert.ok(await eventually(() => raw.frames.some((f) => f.frame.type === 'welcome'), 3000), 'WELCOME');
  return raw;
}

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const subscribe = (list: string[]) => encodeFrame({ type: 'presence', kind: 'subscribe', ids: list });
const unsubscribe = (list: string[]) => encodeFrame({ type: 'presence', kind: 'unsubscribe', ids: list });

test('presence-rate - entries over the bucket wait and are answered at the rate, each exactly once; the connection stays open', { skip, timeout: 30_000 }, async (t) => {
  const redis = await RedisProcess.start(t);
  const { server, port } = await startServer(t, redis);
  const peer = await rawPeer(t, port, 'mallory');
  const contacts = ids('c', LIMIT);
  const firstAt = performance.now();
  peer.socket.write(subscribe(contacts)); // the whole burst: answered at once
  assert.ok(await eventually(() => peer.states.length === LIMIT, 5000), `burst answered: ${peer.states.length}`);

  // Everything again: the bucket is (nearly) empty, so the answers are paced.
  const second = peer.states.length;
  peer.socket.write(Buffer.concat([unsubscribe(contacts), subscribe(contacts)]));
  const paceMs = (LIMIT / RATE) * 1000;
  assert.ok(await eventually(() => peer.states.length === second + LIMIT, paceMs + 10_000), `all answered in the end: ${peer.states.length - second}`);
  const answers = peer.states.slice(second);
  // Sound on any machine: the server cannot have answered more than its bucket held — the burst
  // (spent on the first round) plus RATE per second since the connection's first SUBSCRIBE, which
  // is no earlier than when we sent it.
  answers.forEach((a, j) => {
    const allowed = LIMIT + (RATE * (a.atMs - firstAt)) / 1000 + 1;
    assert.ok(LIMIT + j + 1 <= allowed, `answer ${j + 1} of the second round at ${(a.atMs - firstAt).toFixed(0)} ms: more than the bucket allows (${allowed.toFixed(1)})`);
  });
  assert.deepEqual(answers.map((a) => a.id).sort(), [...contacts].sort(), 'each id answered exactly once');
  assert.ok(answers.every((a) => a.state === 'offline'));
  const spreadMs = answers.at(-1)!.atMs - answers[0]!.atMs;
  t.diagnostic(`second round of ${LIMIT} at ${RATE}/s: answers spread over ${spreadMs.toFixed(0)} ms`);
  assert.ok(!peer.frames.some((f) => f.frame.type === 'close'), 'one strike is tolerated');
  assert.equal(server.presenceSubscriptions.counts.subscriptions, LIMIT);

  // A contact who comes online now is reported: the paced subscriptions are live ones.
  const bob = connect({ host: '127.0.0.1', port, reconnect: false, token: 'c7' });
  t.after(() => bob.close());
  assert.ok(await eventually(() => peer.states.some((s) => s.id === 'c7' && s.state === 'online'), 3000));
});

test('presence-rate - a SUBSCRIBE flood is closed with protocol-error saying why, having answered no more than the bucket allowed', { skip, timeout: 30_000 }, async (t) => {
  const redis = await RedisProcess.start(t);
  const { server, port } = await startServer(t, redis);
  const peer = await rawPeer(t, port, 'mallory');
  const contacts = ids('c', LIMIT);
  const firstAt = performance.now();
  peer.socket.write(subscribe(contacts));
  assert.ok(await eventually(() => peer.states.length === LIMIT, 5000));
  // In one write: the bucket covers at most the first re-subscribe; the ones after it arrive
  // while entries wait: strikes 1, 2, 3 > subscribeStrikes (2), whatever the machine's speed.
  peer.socket.write(Buffer.concat([unsubscribe(contacts), ...Array.from({ length: 5 }, () => subscribe(contacts))]));
  assert.ok(await eventually(() => peer.frames.some((f) => f.frame.type === 'close'), 5000), 'closed');
  const close = peer.frames.find((f) => f.frame.type === 'close')!;
  const frame = close.frame as { code: string; message: string };
  assert.equal(frame.code, 'protocol-error');
  assert.match(frame.message, /^PRESENCE SUBSCRIBE faster than this server allows \(50 ids\/s, bursts of 100\): 3 SUBSCRIBEs over the rate, 2 tolerated$/);
  const answeredBeforeClose = peer.states.filter((s) => s.atMs <= close.atMs).length;
  assert.ok(answeredBeforeClose <= LIMIT + (RATE * (close.atMs - firstAt)) / 1000 + 1, `answers before the close: ${answeredBeforeClose}`);
  assert.ok(await eventually(() => peer.socket.destroyed, 3000), 'the server closed the transport');
  assert.ok(await eventually(() => server.presenceSubscriptions.counts.subscriptions === 0, 2000), 'its subscriptions went with it');
});

test('presence-rate - the defaults never strike a client subscribing its contacts on connect, one id per call', { skip, timeout: 30_000 }, async (t) => {
  const redis = await RedisProcess.start(t);
  const { port } = await startServer(t, redis);
  const alice = connect({ host: '127.0.0.1', port, reconnect: false, token: 'alice' });
  const updates: PresenceUpdate[] = [];
  alice.on('presence', (u) => updates.push(u));
  t.after(() => alice.close());
  await nextEvent(alice, 'open', 3000);
  for (const id of ids('c', LIMIT)) alice.subscribePresence(id); // LIMIT frames of one id: within the burst
  assert.ok(await eventually(() => updates.length === LIMIT, 5000), `answered: ${updates.length}`);
  assert.equal(alice.state, 'open');
  assert.deepEqual(new Set(updates.map((u) => u.id)).size, LIMIT);
});
