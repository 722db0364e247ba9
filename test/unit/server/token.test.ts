/**
 * Unit: lifeline's signed tokens (src/server/token.ts, docs/spec/0013-identity.md §Signed
 * tokens) — round trip, expiry, tampering, wrong secret, garbage — and that every bad input
 * fails with TokenError alone. Wall time is injected (`now`), nothing sleeps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createToken, MAX_TOKEN_LENGTH, tokenAuthenticator, TokenError, verifyToken, type TokenErrorReason } from '../../../src/server/token.js';
import { InvalidOptionError, LifelineError } from '../../../src/errors.js';

const SECRET = 'a-test-secret-of-32-bytes-length';
const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const at = (ms: number) => () => ms;

function refused(reason: TokenErrorReason) {
  return (err: unknown) => {
    assert.ok(err instanceof TokenError, `expected a TokenError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    assert.equal(err.code, 'LL_ERR_INVALID_TOKEN');
    assert.ok(LifelineError.is(err));
    return true;
  };
}

/** The token with one character of `part` (0 payload, 1 signature) changed, staying base64url. */
function tamper(token: string, part: 0 | 1, index = 3): string {
  const parts = token.split('.');
  const s = parts[part]!;
  const c = s[index]!;
  parts[part] = s.slice(0, index) + (c === 'A' ? 'B' : 'A') + s.slice(index + 1);
  return parts.join('.');
}

test('token - round trip: the id and expiry come back, from a string or from HELLO bytes', () => {
  const token = createToken({ secret: SECRET, id: 'alice', ttlMs: 3_600_000, now: at(T0) });
  assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/, 'compact: base64url payload "." 32-byte signature');
  assert.deepEqual(verifyToken(token, { secret: SECRET, now: at(T0 + 1000) }), { id: 'alice', expiresAt: T0 + 3_600_000 });
  assert.deepEqual(verifyToken(new TextEncoder().encode(token), { secret: Buffer.from(SECRET), now: at(T0) }), { id: 'alice', expiresAt: T0 + 3_600_000 });
  const unicode = createToken({ secret: SECRET, id: 'zoë 🚀', ttlMs: 1000, now: at(T0) });
  assert.equal(verifyToken(unicode, { secret: SECRET, now: at(T0) }).id, 'zoë 🚀');
});

test('token - expired at exactly its expiry, not a millisecond before', () => {
  const token = createToken({ secret: SECRET, id: 'alice', ttlMs: 60_000, now: at(T0) });
  assert.equal(verifyToken(token, { secret: SECRET, now: at(T0 + 59_999) }).id, 'alice');
  assert.throws(() => verifyToken(token, { secret: SECRET, now: at(T0 + 60_000) }), refused('expired'));
  assert.throws(() => verifyToken(token, { secret: SECRET, now: at(T0 + 86_400_000) }), refused('expired'));
});

test('token - a tampered payload or signature, or another secret, is a bad signature', () => {
  const token = createToken({ secret: SECRET, id: 'alice', ttlMs: 60_000, now: at(T0) });
  assert.throws(() => verifyToken(tamper(token, 0), { secret: SECRET, now: at(T0) }), refused('bad-signature'));
  assert.throws(() => verifyToken(tamper(token, 1), { secret: SECRET, now: at(T0) }), refused('bad-signature'));
  assert.throws(() => verifyToken(token, { secret: 'another-secret-of-enough-bytes!!', now: at(T0) }), refused('bad-signature'));
  // Someone re-signing a payload of their own (id "mallory", far expiry) without the secret.
  const forged = Buffer.from(JSON.stringify({ v: 1, id: 'mallory', exp: T0 * 2 })).toString('base64url');
  assert.throws(() => verifyToken(`${forged}.${token.split('.')[1]}`, { secret: SECRET, now: at(T0) }), refused('bad-signature'));
  // The signature of one token does not fit another token's payload (same secret).
  const bob = createToken({ secret: SECRET, id: 'bob', ttlMs: 60_000, now: at(T0) });
  assert.throws(() => verifyToken(`${bob.split('.')[0]}.${token.split('.')[1]}`, { secret: SECRET, now: at(T0) }), refused('bad-signature'));
});

test('token - garbage, empty and missing tokens are refused as such', () => {
  const opts = { secret: SECRET, now: at(T0) };
  assert.throws(() => verifyToken(undefined, opts), refused('missing'));
  for (const bad of ['', '.', 'abc', 'abc.', '.abc', 'a.b.c', 'a b.c', 'YWJj.ZGVm', 'YWJj===.ZGVm', 'x'.repeat(MAX_TOKEN_LENGTH + 1)]) {
    assert.throws(() => verifyToken(bad, opts), refused('malformed'), JSON.stringify(bad.slice(0, 20)));
  }
  assert.throws(() => verifyToken(new Uint8Array(0), opts), refused('malformed'));
  assert.throws(() => verifyToken(new Uint8Array([0xff, 0x2e, 0x00]), opts), refused('malformed'));
  assert.throws(() => verifyToken(42 as unknown as string, opts), refused('malformed'));
  // A non-canonical spelling of a valid signature (different unused low bits) is not accepted.
  const token = createToken({ secret: SECRET, id: 'alice', ttlMs: 60_000, now: at(T0) });
  const [payload, sig] = token.split('.') as [string, string];
  const last = sig.at(-1)!;
  const alias = 'AEIMQUYcgkosw048'.includes(last) ? String.fromCharCode(last.charCodeAt(0) + 1) : last;
  if (alias !== last) assert.throws(() => verifyToken(`${payload}.${sig.slice(0, -1)}${alias}`, opts), refused('malformed'));
});

test('token - any input fails with TokenError only, never with anything else (property)', () => {
  const opts = { secret: SECRET, now: at(T0) };
  const valid = createToken({ secret: SECRET, id: 'alice', ttlMs: 60_000, now: at(T0) });
  const input = fc.oneof(
    fc.string(),
    fc.string({ unit: fc.constantFrom(...'AZaz09-_.='.split('')) }),
    fc.uint8Array({ maxLength: 200 }),
    fc.integer({ min: 0, max: valid.length - 1 }).chain((i) => fc.constantFrom(...'A_-.x'.split('')).map((c) => valid.slice(0, i) + c + valid.slice(i + 1))),
  );
  fc.assert(
    fc.property(input, (token) => {
      try {
        const result = verifyToken(token, opts);
        // Only the valid token itself (or a no-op edit of it) may pass.
        assert.equal(result.id, 'alice');
      } catch (err) {
        assert.ok(err instanceof TokenError, `threw ${String(err)}`);
      }
    }),
    { numRuns: 2000 },
  );
});

test('token - unusable arguments are InvalidOptionError, naming the option', () => {
  assert.throws(() => createToken({ secret: 'short', id: 'a', ttlMs: 1 }), (e: Error) => e instanceof InvalidOptionError && /createToken\.secret.*at least 16 bytes/.test(e.message));
  assert.throws(() => createToken({ secret: SECRET, id: '', ttlMs: 1 }), /createToken\.id/);
  assert.throws(() => createToken({ secret: SECRET, id: 'a', ttlMs: 0 }), /createToken\.ttlMs/);
  assert.throws(() => createToken({ secret: SECRET, id: 'a', ttlMs: Number.NaN }), /createToken\.ttlMs/);
  assert.throws(() => createToken({ secret: SECRET, id: 'x'.repeat(1025), ttlMs: 1 }), /createToken\.id/);
  assert.throws(() => verifyToken('a.b', { secret: new Uint8Array(8) }), /verifyToken\.secret/);
  assert.throws(() => tokenAuthenticator(''), /tokenAuthenticator\.secret/);
});

test('token - tokenAuthenticator answers { id, expiresAt } and refuses what verifyToken refuses', async () => {
  const authenticate = tokenAuthenticator(SECRET, { now: at(T0) });
  const info = { remoteAddress: '127.0.0.1', remotePort: 1, transport: 'tcp' as const };
  const token = createToken({ secret: SECRET, id: 'alice', ttlMs: 1000, now: at(T0) });
  assert.deepEqual(await authenticate(new TextEncoder().encode(token), info), { id: 'alice', expiresAt: T0 + 1000 });
  assert.throws(() => authenticate(undefined, info), refused('missing'));
  assert.throws(() => authenticate(new TextEncoder().encode(tamper(token, 1)), info), refused('bad-signature'));
  const later = tokenAuthenticator(SECRET, { now: at(T0 + 1000) });
  assert.throws(() => later(new TextEncoder().encode(token), info), refused('expired'));
});
