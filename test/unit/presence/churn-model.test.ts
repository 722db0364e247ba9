/**
 * Unit, model-based (fast-check): presence churn over 10,000 simulated sessions on three nodes
 * sharing one MemoryPresenceStore agrees with a plain model (docs/spec/0014-presence.md §States):
 * an identity is online while any device is open, away while none is but one is detached, else
 * offline. Checked against the model: every node's `get()`, every node's 'change' stream (one
 * event per state change, consistent previous → state), and what PRESENCE subscribers on each
 * node were sent (presence-subscriptions.ts: snapshot + changes, batched per turn). No sockets:
 * fake sessions and fake subscriber connections.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryPresenceStore, Presence, type PresenceChange, type PresenceState } from '../../../src/index.js';
import { FakeSession } from '../../fixtures/fake-presence-session.js';
import { PresenceSubscriptions, type PresenceSubscriber } from '../../../src/server/presence-subscriptions.js';
import type { PresenceFrame } from '../../../src/protocol/frames.js';

const SESSIONS = 10_000;
const IDENTITIES = 400;
const NODES = 3;
const OPS = 30_000;

/** A subscriber connection: what it was sent, per id, in order. */
class FakeSubscriber implements PresenceSubscriber {
  readonly session = { identity: { id: 'watcher' } };
  readonly peerMaxFrameSize = 4096;
  readonly last = new Map<string, string>();
  frames = 0;
  readonly connection = {
    sendPresence: (frame: PresenceFrame): boolean => {
      assert.equal(frame.kind, 'state');
      if (frame.kind === 'state') for (const { id, state } of frame.states) this.last.set(id, state);
      this.frames++;
      return true;
    },
    refuse: (_code: string, message: string): void => assert.fail(`refused: ${message}`),
  };
}

type Op = readonly [kind: number, session: number, identity: number, node: number];

function modelState(devices: Map<string, 'online' | 'away'> | undefined): PresenceState {
  if (devices === undefined || devices.size === 0) return 'offline';
  for (const s of devices.values()) if (s === 'online') return 'online';
  return 'away';
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

async function run(ops: readonly Op[]): Promise<void> {
  const store = new MemoryPresenceStore();
  const nodes = Array.from({ length: NODES }, (_, n) => {
    const presence = new Presence({ nodeId: `n${n}`, store });
    const subscriptions = new PresenceSubscriptions(presence, { maxSubscriptions: IDENTITIES });
    const changes = new Map<string, PresenceChange[]>();
    presence.on('change', (c) => {
      let list = changes.get(c.id);
      if (list === undefined) changes.set(c.id, (list = []));
      list.push(c);
    });
    return { presence, subscriptions, changes, watcher: new FakeSubscriber() };
  });
  await Promise.all(nodes.map((n) => n.presence.ready));
  // Each node's watcher follows every identity from the start (snapshot: all offline).
  const allIds = Array.from({ length: IDENTITIES }, (_, i) => `user-${i}`);
  for (const n of nodes) n.subscriptions.frame(n.watcher, { type: 'presence', kind: 'subscribe', ids: allIds });
  await turn();
  await turn();

  const sessions = new Map<number, { session: FakeSession<{ id: string }>; node: number }>();
  let opened = 0;
  const model = new Map<string, Map<string, 'online' | 'away'>>();
  const transitions = new Map<string, PresenceState[]>();
  const setDevice = (identity: string, sessionId: string, state: 'online' | 'away' | undefined) => {
    const before = modelState(model.get(identity));
    let devices = model.get(identity);
    if (devices === undefined) model.set(identity, (devices = new Map()));
    if (state === undefined) devices.delete(sessionId);
    else devices.set(sessionId, state);
    const after = modelState(devices);
    if (after !== before) {
      let list = transitions.get(identity);
      if (list === undefined) transitions.set(identity, (list = []));
      list.push(after);
    }
  };

  for (const [kind, s, i, n] of ops) {
    const entry = sessions.get(s % SESSIONS);
    if (entry === undefined || entry.session.state === 'closed') {
      // Open a new session (a fresh id: sessions are never reused).
      const session = new FakeSession(`s${opened}`, { id: `user-${i % IDENTITIES}` }, false);
      const node = n % NODES;
      sessions.set(s % SESSIONS, { session, node });
      opened++;
      nodes[node]!.presence.opened(session);
      setDevice(session.identity.id, session.id, 'online');
      continue;
    }
    const { session, node } = entry;
    const presence = nodes[node]!.presence;
    switch (kind % 4) {
      case 0: // transport lost, resumable: away
        if (session.state !== 'open') break;
        session.state = 'detached';
        presence.detached(session, 10);
        setDevice(session.identity.id, session.id, 'away');
        break;
      case 1: // the client came back
        if (session.state !== 'detached') break;
        session.state = 'open';
        presence.resumed(session);
        setDevice(session.identity.id, session.id, 'online');
        break;
      default: // closed (graceful, heartbeat death of a non-resumable one, window over)
        session.state = 'closed';
        presence.closed(session);
        setDevice(session.identity.id, session.id, undefined);
    }
  }
  await turn();
  await turn();
  assert.ok(opened >= SESSIONS, `${opened} sessions opened`);

  for (const id of allIds) {
    const expected = modelState(model.get(id));
    const want = transitions.get(id) ?? [];
    for (const [n, node] of nodes.entries()) {
      const info = await node.presence.get(id);
      assert.equal(info.state, expected, `node ${n}: ${id}`);
      const devices = model.get(id);
      assert.equal(info.devices.length, devices?.size ?? 0, `node ${n}: ${id} devices`);
      const seen = node.changes.get(id) ?? [];
      assert.deepEqual(seen.map((c) => c.state), want, `node ${n}: ${id} change stream`);
      for (const [k, c] of seen.entries()) assert.equal(c.previous, k === 0 ? 'offline' : seen[k - 1]!.state, `node ${n}: ${id} previous`);
      assert.equal(node.watcher.last.get(id), expected, `node ${n}: the PRESENCE subscriber's last word on ${id}`);
    }
  }
  for (const n of nodes) await n.presence.close();
}

test('presence churn - 10,000 sessions on 3 nodes: get(), change events and PRESENCE subscribers agree with the model', async () => {
  // noBias: uniform draws, so the 30,000 operations spread over all 10,000 session slots.
  const op = fc.tuple(fc.nat(7), fc.noBias(fc.nat(SESSIONS - 1)), fc.noBias(fc.nat(IDENTITIES - 1)), fc.nat(NODES - 1));
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: OPS, maxLength: OPS }), async (ops) => run(ops)),
    // No shrinking: a 30,000-step counterexample would take minutes to shrink; the assertion names the id.
    { numRuns: 4, endOnFailure: true, includeErrorInReport: true },
  );
});
