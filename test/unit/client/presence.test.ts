/**
 * Unit: the client's presence subscriptions (src/client/presence.ts; docs/spec/0014-presence.md
 * §Subscriptions) against a fake connection: sent only when WELCOME announced PRESENCE, sent
 * again on each connection, cut to the server's frame limit, events only on a change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientPresence, type PresenceUpdate } from '../../../src/client/presence.js';
import type { PresenceFrame } from '../../../src/protocol/frames.js';
import { encodeFrame } from '../../../src/protocol/encode.js';

function setup() {
  const events: PresenceUpdate[] = [];
  const warnings: string[] = [];
  const presence = new ClientPresence({ emit: (event: string, arg: unknown) => (event === 'presence' ? events.push(arg as PresenceUpdate) : warnings.push(arg as string)) });
  const sent: PresenceFrame[] = [];
  const connection = { sendPresence: (frame: PresenceFrame) => (sent.push(frame), true) };
  return { presence, events, warnings, sent, connection };
}

test('client presence - kept before a connection, sent on one that announced PRESENCE, and again on the next', () => {
  const { presence, sent, connection, warnings } = setup();
  presence.subscribe(['bob', 'carol', 'bob']);
  assert.deepEqual(sent, []);
  presence.opened(connection, undefined, 1 << 20);
  assert.deepEqual(sent, [], 'a server without PRESENCE gets none');
  assert.equal(warnings.length, 1);
  presence.lost();
  presence.opened(connection, 10, 1 << 20);
  assert.deepEqual(sent, [{ type: 'presence', kind: 'subscribe', ids: ['bob', 'carol'] }]);
  presence.subscribe('dave');
  presence.unsubscribe(['carol', 'nobody']);
  assert.deepEqual(sent.slice(1), [
    { type: 'presence', kind: 'subscribe', ids: ['dave'] },
    { type: 'presence', kind: 'unsubscribe', ids: ['carol'] },
  ]);
  presence.lost();
  presence.subscribe('erin'); // while disconnected: kept
  presence.opened(connection, 10, 1 << 20);
  assert.deepEqual(sent.at(-1), { type: 'presence', kind: 'subscribe', ids: ['bob', 'dave', 'erin'] });
});

test('client presence - events only when a state changes; denied drops the id; late answers for unsubscribed ids are ignored', () => {
  const { presence, events, connection } = setup();
  presence.opened(connection, 10, 1 << 20);
  presence.subscribe(['bob', 'eve']);
  presence.received([{ id: 'bob', state: 'offline' }, { id: 'eve', state: 'denied' }, { id: 'stranger', state: 'online' }]);
  presence.received([{ id: 'bob', state: 'offline' }, { id: 'bob', state: 'online' }]);
  assert.deepEqual(events, [{ id: 'bob', state: 'offline' }, { id: 'eve', state: 'denied' }, { id: 'bob', state: 'online' }]);
  assert.deepEqual(presence.subscriptions, ['bob']);
  assert.equal(presence.stateOf('bob'), 'online');
  presence.unsubscribe('bob');
  presence.received([{ id: 'bob', state: 'offline' }]);
  assert.equal(events.length, 3);
});

test('client presence - the server limit: RangeError above it; a smaller limit on a new server sends the first ones and warns', () => {
  const { presence, sent, connection, warnings } = setup();
  presence.opened(connection, 3, 1 << 20);
  presence.subscribe(['a', 'b']);
  assert.throws(() => presence.subscribe(['c', 'd']), /allows 3 presence subscriptions per connection and 2 are in use/);
  presence.subscribe('c');
  presence.lost();
  presence.opened(connection, 2, 1 << 20);
  assert.deepEqual(sent.at(-1), { type: 'presence', kind: 'subscribe', ids: ['a', 'b'] });
  assert.match(warnings.at(-1)!, /allows 2 .* 1 of 3 are not sent/);
  assert.throws(() => presence.subscribe(''), RangeError);
  assert.throws(() => presence.subscribe(['ok', 'é'.repeat(129)]), RangeError);
  presence.close();
  assert.throws(() => presence.subscribe('x'), { code: 'LL_ERR_NOT_OPEN' });
});

test('client presence - SUBSCRIBE frames fit the server maxFrameSize and 1024 ids', () => {
  const { presence, sent, connection } = setup();
  presence.opened(connection, 5000, 600);
  presence.subscribe(Array.from({ length: 3000 }, (_, i) => `user-${i}`));
  assert.ok(sent.length > 1);
  for (const frame of sent) {
    assert.ok(encodeFrame(frame).length <= 600, `${encodeFrame(frame).length} bytes`);
    assert.ok(frame.kind === 'subscribe' && frame.ids.length <= 1024);
  }
  assert.equal(sent.flatMap((f) => (f.kind === 'subscribe' ? f.ids : [])).length, 3000);
});
