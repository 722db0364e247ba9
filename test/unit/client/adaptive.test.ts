/** AdaptiveHeartbeat (src/client/adaptive.ts): the rules that turn link events into learner evidence. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptiveHeartbeat, type AdaptiveEvent } from '../../../src/client/adaptive.js';
import { defaultNatStatePath } from '../../../src/client/nat-file-store.js';
import { resolveNatLearnerOptions, type NatLearnerState } from '../../../src/liveness/nat-learner.js';
import { MemoryNatStore } from '../../../src/liveness/nat-store.js';

const learner = resolveNatLearnerOptions({ minIntervalMs: 1000, stepMs: 1000, successesToStepUp: 2, safetyMarginMs: 200, resolutionMs: 200 });

function make() {
  let wall = 1_000_000;
  const saves: { key: string; state: NatLearnerState }[] = [];
  const store = new MemoryNatStore();
  const save = store.save.bind(store);
  store.save = (key, state) => {
    saves.push({ key, state });
    save(key, state);
  };
  const events: AdaptiveEvent[] = [];
  const adaptive = new AdaptiveHeartbeat({ learner, store, rng: () => 0.5, wallNow: () => wall, onEvent: (e) => events.push(e) });
  return { adaptive, store, saves, events, advance: (ms: number) => (wall += ms) };
}

/** Survive `n` full cycles at the current interval. */
function surviveCycles(a: AdaptiveHeartbeat, key: string, n: number): void {
  for (let i = 0; i < n; i++) a.survived(key, a.snapshot(key).intervalMs * 1.05);
}

test('AdaptiveHeartbeat - a death is fed only when the next connect succeeds on the same key', () => {
  const { adaptive, events } = make();
  const key = 'srv:1|10.0.0.1';
  adaptive.connected(key);
  adaptive.opened(key);
  surviveCycles(adaptive, key, 2); // steps up: target ~2.1 s
  const probing = adaptive.snapshot(key).intervalMs;
  assert.ok(probing > 1000);
  // The link dies after an idle of 2.2 s with its PING unanswered.
  adaptive.linkClosed(key, 2200, 'heartbeat-timeout');
  assert.equal(events.filter((e) => e.event === 'died').length, 0, 'not fed yet');
  // Next attempt fails: the network was down, not a NAT. Nothing learned.
  adaptive.connectFailed();
  adaptive.connected(key);
  assert.equal(events.filter((e) => e.event === 'died').length, 0, 'a failed connect drops the pending death');
  assert.equal(adaptive.snapshot(key).badMs, null);

  // Again, and this time the reconnect lands on the same key: fed before HELLO.
  adaptive.linkClosed(key, 2200, 'transport-error');
  const hello = adaptive.connected(key);
  assert.equal(events.filter((e) => e.event === 'died').length, 1);
  assert.equal(adaptive.snapshot(key).badMs, 2200);
  assert.ok(hello < probing * 1.6 + 1 && adaptive.snapshot(key).intervalMs < probing, 'fell back below the dying interval');
});

test('AdaptiveHeartbeat - a death on another key, or a deliberate close, teaches nothing', () => {
  const { adaptive, events } = make();
  adaptive.connected('a|1');
  adaptive.linkClosed('a|1', 5000, 'heartbeat-timeout');
  adaptive.connected('b|1'); // switched network / server
  adaptive.linkClosed('a|1', 5000, 'goaway');
  adaptive.connected('a|1');
  adaptive.linkClosed('a|1', undefined, 'heartbeat-timeout'); // no idle cycle open
  adaptive.connected('a|1');
  adaptive.linkClosed('a|1', 5000, 'local-close');
  adaptive.connected('a|1');
  assert.equal(events.filter((e) => e.event === 'died').length, 0);
});

test('AdaptiveHeartbeat - ping schedule: learner interval capped by the negotiated one, never under negotiated / 1.6, jitter inside the timeout', () => {
  const { adaptive } = make();
  const key = 'k|1';
  adaptive.connected(key);
  // Learner wants 1000; negotiated 5000 (server raised it): floor 5000 / 1.6 = 3125.
  assert.deepEqual(adaptive.pingSchedule(key, { intervalMs: 5000, timeoutMs: 7500 }), { pingAfterMs: 3125, jitterMs: 312 });
  // Negotiated lower than the learner's wish: the negotiated one.
  surviveCycles(adaptive, key, 2);
  const s = adaptive.pingSchedule(key, { intervalMs: 1200, timeoutMs: 1800 });
  assert.equal(s.pingAfterMs, 1200);
  assert.ok(s.pingAfterMs + s.jitterMs < 1800);
});

test('AdaptiveHeartbeat - renegotiate only when granted, the learner wants more, and not twice within the spacing', () => {
  const { adaptive } = make();
  const key = 'k|1';
  adaptive.connected(key);
  assert.equal(adaptive.renegotiateEveryMs, 40_000);
  assert.equal(adaptive.wantsRenegotiate(key, 1600, true, 0), false, 'learner is within the negotiated interval');
  surviveCycles(adaptive, key, 2);
  const wanted = adaptive.snapshot(key).intervalMs;
  assert.ok(wanted > 1000);
  assert.equal(adaptive.wantsRenegotiate(key, 1000, false, 0), false, 'the server clamped: it would clamp again');
  assert.equal(adaptive.wantsRenegotiate(key, 1000, true, 0), true);
  assert.equal(adaptive.wantsRenegotiate(key, 1000, true, 39_999), false, 'too soon');
  assert.equal(adaptive.wantsRenegotiate(key, 1000, true, 40_000), true);
});

test('AdaptiveHeartbeat - saves at once on what matters, routine survivals at most once a minute, everything on saveAll', () => {
  const { adaptive, saves, advance } = make();
  const key = 'k|1';
  adaptive.connected(key);
  adaptive.survived(key, 1050); // first: nothing saved before → saved
  assert.equal(saves.length, 1);
  adaptive.survived(key, 1060); // 2nd full cycle → step up (target +1 s): saved
  assert.equal(saves.length, 2);
  adaptive.survived(key, 1070); // a short cycle, goodMs +10 ms: routine, not saved
  adaptive.survived(key, 1075);
  assert.equal(saves.length, 2);
  advance(61_000);
  adaptive.survived(key, 1075);
  assert.equal(saves.length, 3, 'a minute later, routine progress is saved');
  adaptive.saveAll();
  assert.equal(saves.length, 4);
  assert.equal(saves.at(-1)!.state.survivedCount, 5);
});

test('defaultNatStatePath - XDG_STATE_HOME when absolute, else ~/.local/state', () => {
  assert.equal(defaultNatStatePath({ XDG_STATE_HOME: '/var/st' }), '/var/st/lifeline/nat.json');
  assert.match(defaultNatStatePath({ XDG_STATE_HOME: 'relative' }), /\/\.local\/state\/lifeline\/nat\.json$/);
  assert.match(defaultNatStatePath({}), /\/\.local\/state\/lifeline\/nat\.json$/);
});
