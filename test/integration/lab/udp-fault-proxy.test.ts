/**
 * Integration: UdpFaultProxy (src/lab/udp-fault-proxy.ts) between real dgram sockets on
 * 127.0.0.1: forwarding, loss, seeded determinism, duplication, reordering, blackhole, NAT
 * rebinding, idle-timeout forgetting, bounds, and a close() that leaves no socket or timer.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { UdpFaultProxy, udpClientKey, type UdpFaultProxyOptions } from '../../../src/lab/udp-fault-proxy.js';
import { systemClock, type Clock } from '../../../src/time/clock.js';
import { eventually } from '../helpers.js';

const HOST = '127.0.0.1';

interface Received {
  text: string;
  port: number;
}

interface Peer {
  socket: dgram.Socket;
  port: number;
  got: Received[];
  send(text: string, port: number): void;
}

/** A bound udp4 socket on loopback that records what it receives; closed after the test. */
async function peer(t: TestContext): Promise<Peer> {
  const socket = dgram.createSocket('udp4');
  const got: Received[] = [];
  socket.on('message', (msg, rinfo) => got.push({ text: msg.toString(), port: rinfo.port }));
  await new Promise<void>((resolve) => socket.bind(0, HOST, () => resolve()));
  t.after(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { socket, port: socket.address().port, got, send: (text, port) => socket.send(text, port, HOST) };
}

/** A server peer and a proxy in front of it (closed after the test). */
async function setup(t: TestContext, options: UdpFaultProxyOptions = {}) {
  const server = await peer(t);
  const proxy = new UdpFaultProxy({ host: HOST, port: server.port }, options);
  t.after(() => proxy.close());
  const { port: proxyPort } = await proxy.listen();
  return { server, proxy, proxyPort };
}

const settle = (ms = 30) => new Promise((resolve) => setTimeout(resolve, ms));

async function must(condition: () => boolean, what: string, timeoutMs = 1000): Promise<void> {
  assert.ok(await eventually(condition, timeoutMs), what);
}

/** A Clock over the system clock that counts the timers still pending. */
function countingClock(): { clock: Clock; live: () => number } {
  let live = 0;
  const clock: Clock = {
    now: systemClock.now,
    setTimer(fn, ms) {
      let done = false;
      const finish = () => {
        if (!done) live--;
        done = true;
      };
      live++;
      const cancel = systemClock.setTimer(() => {
        finish();
        fn();
      }, ms);
      return () => {
        finish();
        cancel();
      };
    },
  };
  return { clock, live: () => live };
}

test('udp fault proxy - forwards both ways, one upstream port per client', async (t) => {
  const { server, proxy, proxyPort } = await setup(t);
  const [a, b] = [await peer(t), await peer(t)];
  a.send('a1', proxyPort);
  b.send('b1', proxyPort);
  await must(() => server.got.length === 2, 'the server got both datagrams');
  const from = new Map(server.got.map((r) => [r.text, r.port]));
  const [portA, portB] = [from.get('a1')!, from.get('b1')!];
  assert.notEqual(portA, portB, 'a distinct source port per client');
  for (const p of [portA, portB]) assert.ok(![proxyPort, a.port, b.port].includes(p), 'the server sees the upstream sockets');
  server.send('to-a', portA);
  server.send('to-b', portB);
  await must(() => a.got.length === 1 && b.got.length === 1, 'both replies arrived');
  assert.deepEqual(a.got, [{ text: 'to-a', port: proxyPort }]);
  assert.deepEqual(b.got, [{ text: 'to-b', port: proxyPort }]);
  assert.equal(proxy.mappingCount, 2);
  assert.deepEqual(
    proxy.mappings().map((m) => [m.clientKey, m.upstreamPort]).sort(),
    [[udpClientKey(HOST, a.port), portA], [udpClientKey(HOST, b.port), portB]].sort(),
  );
  assert.equal(proxy.stats.up.datagrams, 2);
  assert.equal(proxy.stats.up.bytes, 4);
  assert.equal(proxy.stats.down.datagrams, 2);
  assert.equal(proxy.stats.down.bytes, 8);
  assert.equal(proxy.stats.mappingsCreated, 2);
});

test('udp fault proxy - loss 1 drops everything, per direction', async (t) => {
  const { server, proxy, proxyPort } = await setup(t, { loss: 1 });
  const client = await peer(t);
  for (let i = 0; i < 20; i++) client.send(`m${i}`, proxyPort);
  await must(() => proxy.stats.up.dropped.loss === 20, 'all 20 counted as lost');
  await settle();
  assert.equal(server.got.length, 0);
  assert.equal(proxy.mappingCount, 0, 'a datagram lost on the path makes no mapping');
  proxy.setFaults({ loss: 0 }, 'up');
  assert.deepEqual(proxy.faults.down.loss, 1);
  client.send('through', proxyPort);
  await must(() => server.got.length === 1, 'up is healed');
  server.send('back', server.got[0]!.port);
  await must(() => proxy.stats.down.dropped.loss === 1, 'down still loses');
  await settle();
  assert.equal(client.got.length, 0);
});

/** Which of 200 numbered datagrams cross a proxy at 30 % loss with this seed. */
async function survivors(t: TestContext, seed: number): Promise<number[]> {
  const { server, proxy, proxyPort } = await setup(t, { loss: 0.3, seed });
  const client = await peer(t);
  const up = proxy.stats.up;
  // Batches, each taken in by the proxy before the next: no kernel buffer overflows.
  for (let batch = 0; batch < 8; batch++) {
    for (let i = batch * 25; i < (batch + 1) * 25; i++) client.send(String(i), proxyPort);
    await must(() => up.datagrams + up.dropped.loss === (batch + 1) * 25, 'the proxy took the batch in');
  }
  await must(() => server.got.length === up.datagrams, 'every forwarded datagram arrived');
  await proxy.close();
  return server.got.map((r) => Number(r.text)).sort((x, y) => x - y);
}

test('udp fault proxy - seeded loss is deterministic: same seed, same drops', async (t) => {
  const first = await survivors(t, 7);
  const again = await survivors(t, 7);
  const other = await survivors(t, 8);
  assert.deepEqual(again, first);
  assert.notDeepEqual(other, first);
  assert.ok(first.length > 110 && first.length < 170, `about 70 % survive (${first.length} of 200)`);
});

test('udp fault proxy - duplicate 1 delivers every datagram twice', async (t) => {
  const { server, proxy, proxyPort } = await setup(t, { duplicate: 1 });
  const client = await peer(t);
  for (let i = 0; i < 10; i++) client.send(String(i), proxyPort);
  await must(() => server.got.length === 20, 'twenty copies');
  await settle();
  assert.equal(server.got.length, 20);
  const counts = new Map<string, number>();
  for (const r of server.got) counts.set(r.text, (counts.get(r.text) ?? 0) + 1);
  assert.deepEqual([...counts.values()], Array(10).fill(2));
  assert.equal(proxy.stats.up.duplicated, 10);
  assert.equal(proxy.stats.up.datagrams, 20);
});

test('udp fault proxy - jitter reorders, delayMs delays', async (t) => {
  const { server, proxy, proxyPort } = await setup(t, { jitterMs: 40, seed: 3 });
  const client = await peer(t);
  for (let i = 0; i < 30; i++) client.send(String(i), proxyPort);
  await must(() => server.got.length === 30, 'all 30 arrived');
  const order = server.got.map((r) => Number(r.text));
  assert.notDeepEqual(order, [...order].sort((x, y) => x - y), 'not in sending order');
  assert.deepEqual([...order].sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i), 'each exactly once');
  assert.equal(proxy.pendingCount, 0);

  proxy.setFaults({ jitterMs: 0, delayMs: 40 });
  const start = performance.now();
  client.send('ping', proxyPort);
  await must(() => server.got.length === 31, 'delayed datagram arrived');
  server.send('pong', server.got[30]!.port);
  await must(() => client.got.length === 1, 'delayed reply arrived');
  assert.ok(performance.now() - start >= 78, `a round trip takes 2 × delayMs (${(performance.now() - start).toFixed(1)} ms)`);
});

test('udp fault proxy - blackhole drops both ways or one, restore heals', async (t) => {
  const { server, proxy, proxyPort } = await setup(t);
  const client = await peer(t);
  client.send('open', proxyPort);
  await must(() => server.got.length === 1, 'forwarding');
  const upstreamPort = server.got[0]!.port;
  proxy.blackhole();
  client.send('lost-up', proxyPort);
  server.send('lost-down', upstreamPort);
  await must(() => proxy.stats.up.dropped.blackhole === 1 && proxy.stats.down.dropped.blackhole === 1, 'both counted');
  proxy.restore('up');
  assert.equal(proxy.isBlackholed('up'), false);
  assert.equal(proxy.isBlackholed('down'), true);
  client.send('up-ok', proxyPort);
  server.send('lost-down-2', upstreamPort);
  await must(() => server.got.length === 2 && proxy.stats.down.dropped.blackhole === 2, 'up passes, down still dropped');
  proxy.restore();
  server.send('down-ok', upstreamPort);
  await must(() => client.got.length === 1, 'down passes again');
  assert.deepEqual(server.got.map((r) => r.text), ['open', 'up-ok']);
  assert.deepEqual(client.got.map((r) => r.text), ['down-ok']);
});

test('udp fault proxy - rebind: the server sees a new source port, the client keeps its socket', async (t) => {
  const { server, proxy, proxyPort } = await setup(t);
  const [client, other] = [await peer(t), await peer(t)];
  client.send('before', proxyPort);
  other.send('other-before', proxyPort);
  await must(() => server.got.length === 2, 'both mapped');
  const portOf = (text: string) => server.got.find((r) => r.text === text)!.port;
  const [oldPort, otherPort] = [portOf('before'), portOf('other-before')];

  assert.equal(proxy.rebind(udpClientKey(HOST, client.port)), 1);
  assert.equal(proxy.rebind('127.0.0.1:1'), 0, 'an unknown key rebinds nothing');
  client.send('after', proxyPort);
  other.send('other-after', proxyPort);
  await must(() => server.got.length === 4, 'both went on');
  const newPort = portOf('after');
  assert.notEqual(newPort, oldPort, 'a new source port');
  assert.equal(portOf('other-after'), otherPort, 'the other client kept its mapping');
  assert.equal(proxy.mappings().find((m) => m.clientPort === client.port)!.upstreamPort, newPort);

  server.send('to-new', newPort);
  server.send('to-old', oldPort);
  await must(() => client.got.length === 1 && proxy.stats.down.dropped.forgotten === 1, 'new mapping answers, old one drops');
  await settle();
  assert.deepEqual(client.got, [{ text: 'to-new', port: proxyPort }], 'still from the same proxy address');
  assert.equal(proxy.stats.rebinds, 1);
  assert.equal(proxy.mappingCount, 2);

  assert.equal(proxy.rebind(), 2, 'every mapping');
  client.send('third', proxyPort);
  await must(() => server.got.length === 5, 'forwarded after rebinding all');
  assert.ok(![oldPort, newPort].includes(portOf('third')));
});

test('udp fault proxy - idle timeout forgets a mapping: server datagrams dropped, next client datagram from a new port', async (t) => {
  const { server, proxy, proxyPort } = await setup(t, { idleTimeoutMs: 120 });
  const client = await peer(t);
  for (let i = 0; i < 4; i++) {
    client.send(`keep${i}`, proxyPort);
    await settle(30);
  }
  await must(() => server.got.length === 4, 'all forwarded');
  assert.equal(new Set(server.got.map((r) => r.port)).size, 1, 'traffic within the timeout keeps the mapping');
  const oldPort = server.got[0]!.port;

  await settle(250);
  server.send('to-forgotten', oldPort);
  await must(() => proxy.stats.down.dropped.forgotten === 1, 'dropped as forgotten');
  await settle();
  assert.equal(client.got.length, 0);
  assert.equal(proxy.stats.mappingsForgotten, 1);
  assert.equal(proxy.mappingCount, 0);

  client.send('again', proxyPort);
  await must(() => server.got.length === 5, 'forwarded through a new mapping');
  const newPort = server.got[4]!.port;
  assert.notEqual(newPort, oldPort);
  server.send('to-new', newPort);
  await must(() => client.got.length === 1, 'the new mapping answers');
  assert.equal(proxy.stats.mappingsCreated, 2);
});

test('udp fault proxy - bounds: mappings and pending delayed datagrams are capped', async (t) => {
  const { server, proxy, proxyPort } = await setup(t, { maxMappings: 2, maxPendingDatagrams: 3 });
  const clients = [await peer(t), await peer(t), await peer(t)];
  for (const c of clients) c.send('hi', proxyPort);
  await must(() => server.got.length === 2 && proxy.stats.up.dropped.limit === 1, 'the third client is refused');
  assert.equal(proxy.mappingCount, 2);

  proxy.setFaults({ delayMs: 10_000 }, 'up');
  for (let i = 0; i < 5; i++) clients[0]!.send(String(i), proxyPort);
  await must(() => proxy.stats.up.dropped.overflow + proxy.pendingCount === 5, 'all five taken in');
  assert.equal(proxy.pendingCount, 3);
  assert.equal(proxy.stats.up.dropped.overflow, 2);
});

test('udp fault proxy - close() releases every socket and timer', async (t) => {
  const server = await peer(t);
  const clients = [await peer(t), await peer(t)];
  // A closed handle stays listed until libuv's close callback: let earlier tests' handles go.
  const udpHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
  await settle(20);
  const before = udpHandles();
  const { clock, live } = countingClock();
  const proxy = new UdpFaultProxy({ host: HOST, port: server.port }, { idleTimeoutMs: 5000, clock });
  t.after(() => proxy.close());
  const { port: proxyPort } = await proxy.listen();
  for (const c of clients) c.send('map', proxyPort);
  await must(() => server.got.length === 2, 'mapped');
  proxy.rebind(); // two retired sockets lingering
  proxy.setFaults({ delayMs: 10_000 });
  for (const c of clients) c.send('held', proxyPort);
  await must(() => proxy.pendingCount === 2, 'two datagrams held');
  assert.equal(udpHandles(), before + 5, 'listening + 2 mappings + 2 retired');
  assert.ok(live() >= 3, 'held datagrams and the sweep have timers');

  await proxy.close();
  await must(() => udpHandles() === before, `every proxy socket closed (${udpHandles()} UDP handles, ${before} before)`);
  assert.equal(live(), 0, 'every timer cleared');
  assert.equal(proxy.pendingCount, 0);
  assert.equal(proxy.mappingCount, 0);
  await proxy.close(); // idempotent
  assert.equal(proxy.rebind(), 0);
  await assert.rejects(proxy.listen(), /listen\(\) once/);
});

test('udp fault proxy - bad settings fail fast, naming the option', () => {
  const target = { host: HOST, port: 9 };
  assert.throws(() => new UdpFaultProxy({ host: 'localhost', port: 9 }), /target.host must be an IP address/);
  assert.throws(() => new UdpFaultProxy({ host: HOST, port: 0 }), RangeError);
  assert.throws(() => new UdpFaultProxy(target, { loss: 1.5 }), /loss must be a probability/);
  assert.throws(() => new UdpFaultProxy(target, { duplicate: -0.1 }), /duplicate/);
  assert.throws(() => new UdpFaultProxy(target, { jitterMs: Infinity }), /jitterMs/);
  assert.throws(() => new UdpFaultProxy(target, { idleTimeoutMs: 0 }), /idleTimeoutMs/);
  assert.throws(() => new UdpFaultProxy(target, { maxMappings: 0 }), /maxMappings/);
  assert.throws(() => new UdpFaultProxy(target, { upstreamHost: '::1' }), /upstreamHost/);
  const proxy = new UdpFaultProxy(target);
  assert.throws(() => proxy.setFaults({ delayMs: -1 }), /delayMs/);
  assert.throws(() => proxy.blackhole('sideways' as 'up'), /direction/);
});
