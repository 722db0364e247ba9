/**
 * Unit: the reconnect decisions (src/client/reconnect.ts) and the server-list parsing
 * (src/client/servers.ts) — no sockets, no timers: reasons in, plans out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReconnectPlanner, retryable } from '../../../src/client/reconnect.js';
import { formatServer, parseServer } from '../../../src/client/servers.js';
import { RECONNECT_DEFAULTS, resolveClientOptions, type ResolvedReconnectOptions } from '../../../src/client/options.js';
import type { CloseReason, CloseReasonCode } from '../../../src/connection/close-reason.js';
import type { CloseCode } from '../../../src/protocol/frames.js';
import { InvalidOptionError } from '../../../src/errors.js';

const reason = (code: CloseReasonCode, extra: Partial<CloseReason> = {}): CloseReason => ({
  code,
  message: code,
  initiator: 'transport',
  detectedBy: 'transport',
  sinceLastSeenMs: 0,
  ...extra,
});

const A = { host: '10.0.0.1', port: 7400 };
const B = { host: '10.0.0.2', port: 7400 };
const C = { host: '::1', port: 7401 };
const options = (o: Partial<ResolvedReconnectOptions> = {}): ResolvedReconnectOptions => ({ ...RECONNECT_DEFAULTS, initialDelay: 100, ...o });

test('reconnect - which losses are retried', () => {
  const retried: CloseReasonCode[] = [
    'heartbeat-timeout', 'handshake-timeout', 'goaway', 'transport-closed', 'transport-error',
    'connect-failed', 'server-full', 'server-shutdown', 'too-many-pings',
  ];
  for (const code of retried) assert.equal(retryable(reason(code)), true, code);
  for (const code of ['local-close', 'protocol-error', 'unsupported-version'] as const) assert.equal(retryable(reason(code)), false, code);
  const remote = (remoteCode: CloseCode) => retryable(reason('remote-close', { remoteCode }));
  assert.equal(remote('normal'), false, 'the server application ended the session on purpose');
  assert.equal(remote('auth-failed'), false, 'the same credentials would be refused again');
  assert.equal(remote('internal-error'), true);
  assert.equal(remote('heartbeat-timeout'), true);
});

test('reconnect - servers rotate after each loss; the first delay is full jitter, then the backoff grows', () => {
  const planner = new ReconnectPlanner([A, B, C], options(), () => 0.5);
  assert.deepEqual(planner.current, A);
  const plans = [1, 2, 3, 4].map(() => planner.afterLoss(reason('connect-failed')));
  assert.deepEqual(
    plans.map((p) => (p.kind === 'retry' ? [p.attempt, Math.round(p.delayMs), formatServer(p.server)] : p)),
    [
      [1, 50, '10.0.0.2:7400'],
      [2, 100, '[::1]:7401'],
      [3, 160, '10.0.0.1:7400'],
      [4, 256, '10.0.0.2:7400'],
    ],
  );
});

test('reconnect - a stable connection resets the backoff and the attempt count', () => {
  const planner = new ReconnectPlanner([A], options(), () => 0.5);
  for (let i = 0; i < 5; i++) planner.afterLoss(reason('transport-closed'));
  assert.equal(planner.attempt, 5);
  planner.stable();
  const plan = planner.afterLoss(reason('heartbeat-timeout'));
  assert.deepEqual(plan, { kind: 'retry', attempt: 1, delayMs: 50, server: A, redirected: false });
});

test('reconnect - maxAttempts: the attempt after the last one gives up', () => {
  const planner = new ReconnectPlanner([A, B], options({ maxAttempts: 2 }), () => 0.5);
  assert.equal(planner.afterLoss(reason('connect-failed')).kind, 'retry');
  assert.equal(planner.afterLoss(reason('connect-failed')).kind, 'retry');
  assert.deepEqual(planner.afterLoss(reason('connect-failed')), { kind: 'give-up', why: 'max-attempts' });
});

test('reconnect - non-retryable reasons give up unless the client itself is leaving (force)', () => {
  const planner = new ReconnectPlanner([A, B], options(), () => 0.5);
  assert.deepEqual(planner.afterLoss(reason('protocol-error')), { kind: 'give-up', why: 'not-retryable' });
  assert.equal(planner.attempt, 0, 'a refusal draws no delay');
  const plan = planner.afterLoss(reason('local-close'), true);
  assert.equal(plan.kind, 'retry');
});

test('reconnect - GOAWAY: the redirect is dialled next, then the rotation resumes; retry-after is a minimum', () => {
  const planner = new ReconnectPlanner([A, B], options(), () => 0.5);
  const goaway = reason('goaway', { goaway: { code: 'draining', redirect: '[::1]:9000', retryAfterMs: 2000 } });
  const plan = planner.afterLoss(goaway);
  assert.equal(plan.kind, 'retry');
  if (plan.kind !== 'retry') return;
  assert.deepEqual(plan.server, { host: '::1', port: 9000 });
  assert.equal(plan.redirected, true);
  assert.equal(plan.delayMs, 2200, 'retryAfter × (1 + jitter × 0.5)');
  // The redirect target failed: back to the list, after the server that redirected us.
  const next = planner.afterLoss(reason('connect-failed'));
  assert.equal(next.kind === 'retry' && formatServer(next.server), '10.0.0.2:7400');
  // An unusable redirect is ignored (rotation), retry-after 0 means no minimum.
  const bad = planner.afterLoss(reason('goaway', { goaway: { code: 'draining', redirect: 'not an address', retryAfterMs: 0 } }));
  assert.ok(bad.kind === 'retry' && !bad.redirected && formatServer(bad.server) === '10.0.0.1:7400' && bad.delayMs < 1000);
});

test('reconnect - GOAWAY: a redirect keeps our transport, may name another one, but never drops TLS', () => {
  const TLS = { host: 'a.example', port: 7400, transport: 'tls' as const };
  const WSS = { host: 'a.example', port: 443, transport: 'wss' as const, path: '/ll' };
  const go = (redirect: string) => reason('goaway', { goaway: { code: 'draining', redirect, retryAfterMs: 0 } });
  const served = (from: typeof TLS | typeof WSS, redirect: string) => {
    const plan = new ReconnectPlanner([from, B], options(), () => 0.5).afterLoss(go(redirect));
    assert.equal(plan.kind, 'retry');
    return plan.kind === 'retry' ? { to: formatServer(plan.server), redirected: plan.redirected } : undefined;
  };
  // host:port keeps the transport (and the path).
  assert.deepEqual(served(TLS, 'b.example:7401'), { to: 'tls://b.example:7401', redirected: true });
  assert.deepEqual(served(WSS, 'b.example:8443'), { to: 'wss://b.example:8443/ll', redirected: true });
  // Another encrypted transport is followed; an unencrypted one is refused (rotation instead).
  assert.deepEqual(served(TLS, 'wss://b.example/ll'), { to: 'wss://b.example:443/ll', redirected: true });
  for (const downgrade of ['tcp://b.example:7400', 'ws://b.example:80/', 'udp://b.example:7403']) {
    assert.deepEqual(served(TLS, downgrade), { to: formatServer(B), redirected: false }, downgrade);
    assert.deepEqual(served(WSS, downgrade), { to: formatServer(B), redirected: false }, downgrade);
  }
});

test('servers - host:port parsing and formatting, IPv6 in brackets', () => {
  assert.deepEqual(parseServer('127.0.0.1:7400'), { host: '127.0.0.1', port: 7400 });
  assert.deepEqual(parseServer(' example.com:80 '), { host: 'example.com', port: 80 });
  assert.deepEqual(parseServer('[::1]:7400'), { host: '::1', port: 7400 });
  for (const bad of ['::1:7400', 'host', 'host:', ':7400', 'host:0', 'host:70000', '[::1]', 'a:b:1']) {
    assert.equal(parseServer(bad), undefined, bad);
  }
  assert.equal(formatServer({ host: 'fe80::1', port: 1 }), '[fe80::1]:1');
  assert.equal(formatServer({ host: 'h', port: 2 }), 'h:2');
});

test('client options - reconnect is on by default (host/port or servers), reconnect: false turns it off; bad input names the option', () => {
  assert.deepEqual(resolveClientOptions({ port: 1 }).reconnect, RECONNECT_DEFAULTS);
  assert.equal(resolveClientOptions({ port: 1, reconnect: false }).reconnect, false);
  assert.deepEqual(resolveClientOptions({ port: 1, reconnect: true }).reconnect, RECONNECT_DEFAULTS);
  const listed = resolveClientOptions({ servers: ['a:1', { host: 'b', port: 2 }] });
  assert.deepEqual(listed.reconnect, RECONNECT_DEFAULTS);
  assert.deepEqual(listed.servers, [{ host: 'a', port: 1 }, { host: 'b', port: 2 }]);
  assert.deepEqual([listed.host, listed.port], ['a', 1]);
  assert.equal(resolveClientOptions({ servers: ['a:1'], reconnect: false }).reconnect, false);
  assert.deepEqual(resolveClientOptions({ port: 1, reconnect: { initialDelay: 50, maxAttempts: 3 } }).reconnect, {
    ...RECONNECT_DEFAULTS,
    initialDelay: 50,
    maxAttempts: 3,
  });
  const bad: [object, RegExp][] = [
    [{}, /option port/],
    [{ port: 1, servers: ['a:1'] }, /option servers: give either/],
    [{ servers: [] }, /option servers/],
    [{ servers: ['nope'] }, /option servers\[0\]/],
    [{ servers: ['a:1', { host: 'b', port: 0 }] }, /option servers\[1\]\.port/],
    [{ port: 1, reconnect: 'yes' }, /option reconnect:/],
    [{ port: 1, reconnect: { maxAttempts: 0 } }, /reconnect\.maxAttempts/],
    [{ port: 1, reconnect: { stableAfter: -1 } }, /reconnect\.stableAfter/],
    [{ port: 1, reconnect: { jitter: 2 } }, /reconnect\.jitter/],
  ];
  for (const [o, message] of bad) {
    assert.throws(() => resolveClientOptions(o as never), (err: unknown) => err instanceof InvalidOptionError && message.test(err.message), JSON.stringify(o));
  }
});
