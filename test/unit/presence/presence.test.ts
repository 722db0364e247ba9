/**
 * Unit: the presence state machine (docs/spec/0014-presence.md §States, §Routing) on the memory
 * store — devices from the server's lifecycle calls, identity states and their 'change' events,
 * sendTo counts, and several nodes sharing one MemoryPresenceStore. No sockets, no sleeping: fake
 * sessions and a fake wall clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryPresenceStore, Presence, type PresenceChange } from '../../../src/index.js';
import { FakeSession } from '../../fixtures/fake-presence-session.js';

function node(nodeId: string, store = new MemoryPresenceStore(), clock = { t: 1000 }) {
  const presence = new Presence({ nodeId, store, now: () => clock.t });
  const changes: PresenceChange[] = [];
  presence.on('change', (c) => changes.push(c));
  return { presence, changes, clock, store };
}

test('presence - a device online, a second one, away only when none is online, then offline', async () => {
  const { presence, changes, clock } = node('n1');
  await presence.ready;
  const phone = new FakeSession('s1', { id: 'alice' });
  const laptop = new FakeSession('s2', { id: 'alice' });
  presence.opened(phone);
  assert.deepEqual(changes.map((c) => [c.id, c.previous, c.state, c.nodeId]), [['alice', 'offline', 'online', 'n1']]);
  assert.deepEqual(changes[0]!.devices, [{ sessionId: 's1', nodeId: 'n1', state: 'online', since: 1000 }]);
  clock.t = 2000;
  presence.opened(laptop);
  assert.equal(changes.length, 1, 'a second device does not change the identity state');
  let info = await presence.get('alice');
  assert.equal(info.state, 'online');
  assert.equal(info.devices.length, 2);
  assert.equal(info.degraded, false);

  clock.t = 3000;
  presence.detached(phone, 400);
  assert.equal(changes.length, 1, 'still online: the laptop is');
  presence.closed(laptop);
  assert.deepEqual(changes.map((c) => c.state), ['online', 'away']);
  info = await presence.get('alice');
  assert.deepEqual(info.devices, [{ sessionId: 's1', nodeId: 'n1', state: 'away', since: 3000, lastSeen: 2600 }]);

  clock.t = 4000;
  presence.resumed(phone);
  assert.deepEqual(changes.map((c) => c.state), ['online', 'away', 'online']);
  assert.deepEqual((await presence.get('alice')).devices, [{ sessionId: 's1', nodeId: 'n1', state: 'online', since: 4000 }]);
  presence.closed(phone);
  assert.deepEqual(changes.map((c) => `${c.previous}>${c.state}`), ['offline>online', 'online>away', 'away>online', 'online>offline']);
  const closedAt = Date.now(); // the store's own clock (not given the fake one here) times the last device's removal
  const { lastSeen, ...gone } = await presence.get('alice');
  assert.deepEqual(gone, { id: 'alice', state: 'offline', devices: [], degraded: false });
  assert.ok(lastSeen !== undefined && Math.abs(lastSeen - closedAt) < 1000, `offline with a last-seen time: ${lastSeen}`);
  assert.equal(presence.localDeviceCount, 0);
});

test('presence - sessions without an identity are not devices; repeated calls are idempotent', async () => {
  const { presence, changes } = node('n1');
  const anonymous = new FakeSession('s0', undefined);
  presence.opened(anonymous);
  presence.detached(anonymous, 0);
  presence.closed(anonymous);
  assert.equal(changes.length, 0);
  const bob = new FakeSession('s1', { id: 'bob' });
  presence.opened(bob);
  presence.opened(bob);
  presence.resumed(bob);
  presence.closed(bob);
  presence.closed(bob);
  assert.deepEqual(changes.map((c) => c.state), ['online', 'offline']);
});

test('presence - sendTo: every local device once, away ones counted apart, a throwing one not counted, offline said', async () => {
  const { presence } = node('n1');
  const a = new FakeSession('a', { id: 'alice' });
  const b = new FakeSession('b', { id: 'alice' });
  const c = new FakeSession('c', { id: 'alice' });
  for (const s of [a, b, c]) presence.opened(s);
  presence.detached(b, 0);
  c.throws = true;
  const result = await presence.sendTo('alice', 'hi');
  assert.deepEqual(result, { delivered: 2, away: 1, offline: false, unconfirmed: 0, degraded: false });
  assert.equal(a.received.length, 1);
  assert.equal(b.received.length, 1);
  assert.deepEqual(await presence.sendTo('nobody', 'hi'), { delivered: 0, away: 0, offline: true, unconfirmed: 0, degraded: false });
});

test('presence - nodes sharing a MemoryPresenceStore: one order of changes everywhere, sendTo across nodes exactly once', async () => {
  const store = new MemoryPresenceStore();
  const clock = { t: 1000 };
  const n1 = node('n1', store, clock);
  const n2 = node('n2', store, clock);
  // A node hears changes from the time it is attached (the server: listen()).
  await Promise.all([n1.presence.ready, n2.presence.ready]);
  const onN1 = new FakeSession('x1', { id: 'alice' });
  const onN2 = new FakeSession('x2', { id: 'alice' });
  n1.presence.opened(onN1);
  n2.presence.opened(onN2);
  assert.deepEqual(n2.changes.map((c) => [c.state, c.nodeId]), [['online', 'n1']]);
  assert.deepEqual(n1.changes, n2.changes);
  const info = await n2.presence.get('alice');
  assert.deepEqual(info.devices.map((d) => d.nodeId).sort(), ['n1', 'n2']);

  const result = await n1.presence.sendTo('alice', new Uint8Array([1, 2, 3]));
  assert.deepEqual(result, { delivered: 2, away: 0, offline: false, unconfirmed: 0, degraded: false });
  assert.equal(onN1.received.length, 1);
  assert.equal(onN2.received.length, 1);
  assert.deepEqual([...onN2.received[0]!], [1, 2, 3]);

  // A node that closes takes its devices with it, at once.
  n1.presence.closed(onN1);
  assert.equal(n2.changes.length, 1, 'alice is still online on n2');
  await n2.presence.close();
  assert.deepEqual(n1.changes.map((c) => [c.state, c.nodeId]), [['online', 'n1'], ['offline', 'n2']]);
  assert.equal((await n1.presence.sendTo('alice', 'x')).offline, true);
});

test('presence - options are checked: nodeId shape, one node per nodeId on a store', () => {
  assert.throws(() => new Presence({ nodeId: '' }), /nodeId/);
  assert.throws(() => new Presence({ nodeId: 'a/b' }), /nodeId/);
  assert.throws(() => new Presence({ store: {} as never }), /store/);
  assert.match(new Presence().nodeId, /^[0-9a-f]{16}$/);
  const store = new MemoryPresenceStore();
  void new Presence({ nodeId: 'same', store }).ready;
  assert.throws(() => new Presence({ nodeId: 'same', store }).ready, /already attached/);
});
