/**
 * Integration: clients following contacts' presence over the wire (PRESENCE frame, PROTOCOL.md
 * §6.11; docs/spec/0014-presence.md §Subscriptions), on loopback, with in-process stores. The
 * Redis and many-process cases are in presence-cluster.test.ts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { connect, createServer, MemoryPresenceStore, type Client, type LifelineServer, type PresenceUpdate, type ServerOptions } from '../../src/index.js';
import { FaultProxy } from '../../src/lab/fault-proxy.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import type { Frame } from '../../src/protocol/frames.js';
import { eventually, nextEvent } from './helpers.js';

const utf8 = new TextEncoder();
const decoder = new TextDecoder();

async function startServer(t: TestContext, options: ServerOptions = {}): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({ tcpKeepalive: false, tcpUserTimeout: 0, authenticate: (token) => (token ? decoder.decode(token) : undefined), ...options });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port };
}

type Watcher = Client & { updates: PresenceUpdate[]; warnings: string[] };

function client(t: TestContext, port: number, id: string, extra: Record<string, unknown> = {}): Watcher {
  const c = Object.assign(connect({ ...(extra.servers ? {} : { host: '127.0.0.1', port }), reconnect: false, token: id, ...extra } as Parameters<typeof connect>[0]), { updates: [] as PresenceUpdate[], warnings: [] as string[] });
  c.on('presence', (u) => c.updates.push(u));
  c.on('warning', (w) => c.warnings.push(w));
  t.after(() => c.close());
  return c;
}

const seen = (c: Watcher) => c.updates.map((u) => `${u.id}:${u.state}`);

async function sees(c: Watcher, expected: string[], timeoutMs = 2000): Promise<void> {
  assert.ok(await eventually(() => seen(c).join() === expected.join(), timeoutMs), `expected ${expected.join()}, saw ${seen(c).join()}`);
}

test('presence-subscribe - a snapshot on subscribe, then online / away / offline as the contact comes and goes', async (t) => {
  const { server, port } = await startServer(t, { resumeWindow: 300 });
  const alice = client(t, port, 'alice');
  alice.subscribePresence(['bob', 'carol']); // before 'open': sent once connected
  await nextEvent(alice, 'open', 3000);
  await sees(alice, ['bob:offline', 'carol:offline']);
  assert.deepEqual(alice.presenceSubscriptions, ['bob', 'carol']);

  const bob = client(t, port, 'bob');
  await sees(alice, ['bob:offline', 'carol:offline', 'bob:online']);
  assert.equal(alice.presenceOf('bob'), 'online');
  bob.close();
  await sees(alice, ['bob:offline', 'carol:offline', 'bob:online', 'bob:offline']);

  // A resumable device whose transport is lost is away until its window ends.
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await nextEvent(socket, 'connect', 2000);
  socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 5000, token: utf8.encode('carol'), resumable: true }));
  await sees(alice, ['bob:offline', 'carol:offline', 'bob:online', 'bob:offline', 'carol:online']);
  socket.destroy();
  await sees(alice, ['bob:offline', 'carol:offline', 'bob:online', 'bob:offline', 'carol:online', 'carol:away', 'carol:offline']);

  alice.unsubscribePresence('bob');
  assert.ok(await eventually(() => server.presenceSubscriptions.counts.subscriptions === 1, 1000));
  const bob2 = client(t, port, 'bob');
  await nextEvent(bob2, 'open', 2000);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(seen(alice).filter((s) => s === 'bob:online').length, 1, 'no update after unsubscribe');
  alice.close();
  assert.ok(await eventually(() => server.presenceSubscriptions.counts.connections === 0, 1000), 'a closed connection leaves no subscription');
});

test('presence-subscribe - two servers sharing a store: a contact on the other node is seen', async (t) => {
  const store = new MemoryPresenceStore();
  const a = await startServer(t, { presence: { store, nodeId: 'a' } });
  const b = await startServer(t, { presence: { store, nodeId: 'b' } });
  const alice = client(t, a.port, 'alice');
  alice.subscribePresence('bob');
  await sees(alice, ['bob:offline']);
  const bob = client(t, b.port, 'bob');
  await sees(alice, ['bob:offline', 'bob:online']);
  bob.close();
  await sees(alice, ['bob:offline', 'bob:online', 'bob:offline']);
});

test('presence-subscribe - canSubscribe: a refused id is denied and dropped; the hook may be async', async (t) => {
  const asked: string[] = [];
  const { port } = await startServer(t, {
    presence: {
      canSubscribe: async (identity, target) => {
        asked.push(`${identity?.id}->${target}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
        return target !== 'secret';
      },
    },
  });
  const alice = client(t, port, 'alice');
  alice.subscribePresence(['bob', 'secret']);
  assert.ok(await eventually(() => seen(alice).length === 2, 2000), seen(alice).join());
  assert.deepEqual(seen(alice).sort(), ['bob:offline', 'secret:denied']);
  assert.deepEqual(alice.presenceSubscriptions, ['bob']);
  assert.deepEqual(asked.sort(), ['alice->bob', 'alice->secret']);
  const secret = client(t, port, 'secret');
  await nextEvent(secret, 'open', 2000);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(seen(alice).sort(), ['bob:offline', 'secret:denied'], 'nothing about a denied id');
});

test('presence-subscribe - limits: the client refuses above WELCOME presence; a raw peer above it is closed with the reason', async (t) => {
  const { port } = await startServer(t, { presence: { maxSubscriptions: 3 } });
  const alice = client(t, port, 'alice');
  await nextEvent(alice, 'open', 2000);
  alice.subscribePresence(['a', 'b']);
  assert.throws(() => alice.subscribePresence(['c', 'd']), /allows 3 presence subscriptions per connection/);
  assert.throws(() => alice.subscribePresence(''), RangeError);
  assert.throws(() => alice.subscribePresence('x'.repeat(257)), RangeError);
  assert.throws(() => alice.subscribePresence([5 as unknown as string]), TypeError);

  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  t.after(() => void socket.destroy());
  const frames: Frame[] = [];
  const d = new FrameDecoder();
  socket.on('data', (chunk: Buffer) => d.push(chunk, (f) => frames.push(f)));
  await nextEvent(socket, 'connect', 2000);
  socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 5000, token: utf8.encode('mallory') }));
  assert.ok(await eventually(() => frames.some((f) => f.type === 'welcome'), 2000));
  assert.equal((frames.find((f) => f.type === 'welcome') as { presence?: number }).presence, 3);
  socket.write(encodeFrame({ type: 'presence', kind: 'subscribe', ids: ['1', '2', '3', '4'] }));
  assert.ok(await eventually(() => frames.some((f) => f.type === 'close'), 2000));
  const close = frames.find((f) => f.type === 'close') as { code: string; message: string };
  assert.equal(close.code, 'protocol-error');
  assert.match(close.message, /would make 4 subscriptions on this connection, over the 3 this server announced in WELCOME/);
});

test('presence-subscribe - a server that does not announce PRESENCE gets none: the client warns and keeps its subscriptions', async (t) => {
  const { port } = await startServer(t, { presence: { maxSubscriptions: 0 } });
  const alice = client(t, port, 'alice');
  alice.subscribePresence('bob');
  await nextEvent(alice, 'open', 2000);
  assert.ok(await eventually(() => alice.warnings.some((w) => /does not announce PRESENCE/.test(w)), 1000), alice.warnings.join());
  const bob = client(t, port, 'bob');
  await nextEvent(bob, 'open', 2000);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(alice.state, 'open', 'nothing was sent that would make the server close');
  assert.deepEqual(alice.updates, []);
  assert.deepEqual(alice.presenceSubscriptions, ['bob']);
});

test('presence-subscribe - after a resume the subscriptions are sent again; only changes missed meanwhile are reported', async (t) => {
  const { server, port } = await startServer(t, { resumeWindow: 5000 });
  const proxy = new FaultProxy({ host: '127.0.0.1', port });
  t.after(() => proxy.close());
  const { port: proxyPort } = await proxy.listen();
  const alice = client(t, proxyPort, 'alice', { servers: [`127.0.0.1:${proxyPort}`], reconnect: { initialDelay: 20 }, resume: true });
  alice.subscribePresence(['bob', 'carol']);
  await sees(alice, ['bob:offline', 'carol:offline']);
  const carol = client(t, port, 'carol');
  await sees(alice, ['bob:offline', 'carol:offline', 'carol:online']);

  proxy.setMode('reset'); // alice's transport dies; her session waits for her
  await nextEvent(alice, 'disconnect', 2000);
  const bob = client(t, port, 'bob'); // comes online while alice is away
  await nextEvent(bob, 'open', 2000);
  proxy.setMode('forward');
  const [info] = await nextEvent<[{ resumed: boolean }]>(alice, 'open', 3000);
  assert.equal(info.resumed, true);
  await sees(alice, ['bob:offline', 'carol:offline', 'carol:online', 'bob:online']);
  assert.ok(await eventually(() => server.presenceSubscriptions.counts.subscriptions === 2, 1000), JSON.stringify(server.presenceSubscriptions.counts));
  carol.close();
  await sees(alice, ['bob:offline', 'carol:offline', 'carol:online', 'bob:online', 'carol:offline']);
});
