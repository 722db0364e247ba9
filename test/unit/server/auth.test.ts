/**
 * Unit: runAuthenticate (src/server/auth.ts) — whatever the hook does (answers, throws,
 * resolves, rejects, answers nonsense), `done` gets exactly one outcome, synchronously when
 * the hook was synchronous.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runAuthenticate, sameIdentity, type AuthOutcome, type Authenticate } from '../../../src/server/auth.js';

const INFO = { remoteAddress: '127.0.0.1', remotePort: 4000, transport: 'tcp' as const };

function run(hook: Authenticate): { sync: AuthOutcome[]; all: Promise<AuthOutcome[]> } {
  const outcomes: AuthOutcome[] = [];
  runAuthenticate(hook, new Uint8Array([1]), INFO, (o) => outcomes.push(o));
  const sync = [...outcomes];
  return { sync, all: new Promise((resolve) => setTimeout(() => resolve(outcomes), 20)) };
}

test('auth - a synchronous answer is judged at once: a string or an object with an id', async () => {
  const a = run(() => 'alice');
  assert.deepEqual(a.sync, [{ ok: true, identity: { id: 'alice' } }]);
  const bob = { id: 'bob', role: 'admin' };
  const b = run(() => bob);
  assert.equal(b.sync.length, 1);
  assert.equal((b.sync[0] as { identity: unknown }).identity, bob, 'the object is kept as it is');
  assert.equal((await a.all).length, 1);
});

test('auth - no identity, a throw, a rejection and nonsense are each one failed outcome', async () => {
  for (const none of [undefined, null, false, ''] as const) {
    const r = run(() => none);
    assert.equal(r.sync.length, 1);
    assert.equal(r.sync[0]!.ok, false);
    assert.equal((r.sync[0] as { code: string }).code, 'rejected');
  }
  const thrown = new Error('db down');
  const t = run(() => {
    throw thrown;
  });
  assert.deepEqual(t.sync, [{ ok: false, code: 'error', message: 'authenticate threw: db down', error: thrown }]);
  const rejected = run(() => Promise.reject(new Error('nope')));
  assert.equal(rejected.sync.length, 0, 'a promise is waited for');
  const [outcome, ...more] = await rejected.all;
  assert.equal(more.length, 0);
  assert.equal(outcome!.ok, false);
  assert.equal((outcome as { code: string }).code, 'error');
  for (const nonsense of [42, { id: 7 }, { id: '' }, [], true]) {
    const r = run(() => nonsense as never);
    assert.equal((r.sync[0] as { code: string }).code, 'invalid-identity', JSON.stringify(nonsense));
  }
  const resolved = await run(async () => ({ id: 'carol' })).all;
  assert.deepEqual(resolved, [{ ok: true, identity: { id: 'carol' } }]);
});

test('auth - a thenable that settles twice, or whose then() throws, still gives one outcome', async () => {
  const twice = run(() => ({ then: (ok: (v: string) => void, fail: (e: unknown) => void) => (ok('a'), fail(new Error('x')), ok('b')) }) as never);
  assert.deepEqual(await twice.all, [{ ok: true, identity: { id: 'a' } }]);
  const broken = run(() => ({ then: () => { throw new Error('broken then'); } }) as never);
  assert.equal((await broken.all).length, 1);
  assert.equal((broken.sync[0] as { code: string }).code, 'error');
});

test('auth - sameIdentity compares ids (no authenticate: both undefined)', () => {
  assert.ok(sameIdentity(undefined, undefined));
  assert.ok(sameIdentity({ id: 'a' }, { id: 'a', extra: 1 } as never));
  assert.ok(!sameIdentity({ id: 'a' }, { id: 'b' }));
  assert.ok(!sameIdentity({ id: 'a' }, undefined));
});
