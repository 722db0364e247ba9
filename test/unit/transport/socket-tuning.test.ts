import { kernelKeepaliveDefaults } from '../../../src/transport/kernel-defaults.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  RECOMMENDED_SOCKET_TUNING,
  applySocketTuning,
  keepaliveDropAfterMs,
  keepaliveIdleForHeartbeat,
  loadNetKeepalive,
  tuningForHeartbeat,
  readSocketOptions,
  validateSocketTuning,
  type NetKeepaliveApi,
  type SocketTuningOptions,
  type TcpKeepaliveOptions,
} from '../../../src/transport/socket-tuning.js';
import { LifelineError } from '../../../src/errors.js';
import { SERVER_DEFAULTS } from '../../../src/server/options.js';

/**
 * An unconnected net.Socket (no fd, nothing reaches the kernel) whose setKeepAlive is recorded.
 * net-keepalive's calls are recorded by FakeNetKeepalive into the same log, so order is visible.
 */
function recordingSocket(log: string[]): net.Socket {
  const socket = new net.Socket();
  socket.setKeepAlive = (enable?: boolean, initialDelay?: number) => {
    log.push(`setKeepAlive(${String(enable)}, ${String(initialDelay)})`);
    return socket;
  };
  return socket;
}

class FakeNetKeepalive implements NetKeepaliveApi {
  fail = new Set<string>();
  constructor(private readonly log: string[]) {}
  private call(name: string, value: number): boolean {
    this.log.push(`${name}(${value})`);
    if (this.fail.has(name)) throw new Error(`setsockopt EPERM (${name})`);
    return true;
  }
  setKeepAliveInterval(_s: net.Socket, ms: number) {
    return this.call('setKeepAliveInterval', ms);
  }
  setKeepAliveProbes(_s: net.Socket, n: number) {
    return this.call('setKeepAliveProbes', n);
  }
  setUserTimeout(_s: net.Socket, ms: number) {
    return this.call('setUserTimeout', ms);
  }
  getKeepAliveInterval(): number {
    if (this.fail.has('get')) throw new Error('Unable to get socket fd');
    return 5000;
  }
  getKeepAliveProbes(): number {
    return 3;
  }
  getUserTimeout(): number {
    return 30000;
  }
}

function assertInvalid(options: unknown, name: string, prefix?: string): void {
  assert.throws(
    () => validateSocketTuning(options as SocketTuningOptions, prefix),
    (err: unknown) => {
      assert.ok(LifelineError.is(err));
      assert.equal(err.code, 'LL_ERR_INVALID_OPTION');
      assert.match(err.message, new RegExp(`invalid option ${name.replace(/\./g, '\\.')}:`));
      return true;
    },
  );
}

const ka = (o: Partial<TcpKeepaliveOptions>): TcpKeepaliveOptions => ({ idle: 7000, interval: 5000, count: 3, ...o });

test('socket-tuning - validation names the offending option', () => {
  assertInvalid({ tcpKeepalive: ka({ count: 0 }) }, 'tcpKeepalive.count');
  assertInvalid({ tcpKeepalive: ka({ count: 128 }) }, 'tcpKeepalive.count');
  assertInvalid({ tcpKeepalive: ka({ count: 2.5 }) }, 'tcpKeepalive.count');
  assertInvalid({ tcpKeepalive: ka({ idle: 0 }) }, 'tcpKeepalive.idle');
  assertInvalid({ tcpKeepalive: ka({ idle: Number.NaN }) }, 'tcpKeepalive.idle');
  assertInvalid({ tcpKeepalive: ka({ idle: 32_768_000 }) }, 'tcpKeepalive.idle');
  assertInvalid({ tcpKeepalive: ka({ interval: -1 }) }, 'tcpKeepalive.interval');
  assertInvalid({ tcpKeepalive: { idle: 1000, count: 3 } }, 'tcpKeepalive.interval');
  assertInvalid({ tcpKeepalive: 'yes' }, 'tcpKeepalive');
  assertInvalid({ tcpKeepalive: null }, 'tcpKeepalive');
  assertInvalid({ tcpUserTimeout: -1 }, 'tcpUserTimeout');
  assertInvalid({ tcpUserTimeout: 1.5 }, 'tcpUserTimeout');
  assertInvalid({ tcpUserTimeout: 2 ** 31 }, 'tcpUserTimeout');
  assertInvalid(null, 'socketTuning');
});

test('socket-tuning - validation prefixes the option name', () => {
  assertInvalid({ tcpKeepalive: ka({ count: 0 }) }, 'server.tcpKeepalive.count', 'server');
  assertInvalid({ tcpUserTimeout: -5 }, 'client.tcpUserTimeout', 'client.');
});

test('socket-tuning - valid options pass validation', () => {
  for (const o of [{}, { tcpKeepalive: false }, { tcpKeepalive: true }, { tcpKeepalive: ka({}), tcpUserTimeout: 0 }, RECOMMENDED_SOCKET_TUNING]) {
    validateSocketTuning(o);
  }
});

test('socket-tuning - fallback without net-keepalive reports what libuv sets, one warning per missing setting', () => {
  const log: string[] = [];
  const applied = applySocketTuning(recordingSocket(log), { tcpKeepalive: ka({}), tcpUserTimeout: 30000 }, undefined);
  assert.deepEqual(log, ['setKeepAlive(true, 7000)']);
  assert.deepEqual(applied.keepalive, { enabled: true, idleMs: 7000, intervalMs: 1000, count: 10 });
  assert.equal(applied.userTimeoutMs, 'kernel-default');
  assert.equal(applied.via, 'node');
  assert.equal(applied.warnings.length, 3, applied.warnings.join('\n'));
  assert.match(applied.warnings[0]!, /^tcpKeepalive\.interval 5000 ms not applied: net-keepalive unavailable \(.+\); libuv's 1000 ms is in force$/);
  assert.match(applied.warnings[1]!, /^tcpKeepalive\.count 3 not applied: net-keepalive unavailable .*; libuv's 10 is in force$/);
  assert.match(applied.warnings[2]!, /^tcpUserTimeout 30000 ms not applied: net-keepalive unavailable .*kernel default is in force/);
});

test('socket-tuning - fallback asking exactly for libuv values has nothing to warn about', () => {
  const log: string[] = [];
  const applied = applySocketTuning(recordingSocket(log), { tcpKeepalive: { idle: 3000, interval: 1000, count: 10 } }, undefined);
  assert.deepEqual(applied.keepalive, { enabled: true, idleMs: 3000, intervalMs: 1000, count: 10 });
  assert.deepEqual(applied.warnings, []);
  assert.equal(applied.via, 'node');
});

test('socket-tuning - tcpKeepalive true keeps the kernel defaults and says so', () => {
  const log: string[] = [];
  const applied = applySocketTuning(recordingSocket(log), { tcpKeepalive: true }, undefined);
  assert.deepEqual(log, ['setKeepAlive(true, 0)']);
  assert.deepEqual(applied.keepalive, { enabled: true, idleMs: 'kernel-default', intervalMs: 'kernel-default', count: 'kernel-default' });
  assert.deepEqual(applied.warnings, []);
});

test('socket-tuning - tcpKeepalive false or absent turns SO_KEEPALIVE off', () => {
  for (const options of [{ tcpKeepalive: false }, {}]) {
    const log: string[] = [];
    const applied = applySocketTuning(recordingSocket(log), options, undefined);
    assert.deepEqual(log, ['setKeepAlive(false, undefined)']);
    assert.equal(applied.keepalive.enabled, false);
    assert.equal(applied.userTimeoutMs, 'kernel-default');
    assert.deepEqual(applied.warnings, []);
  }
});

test('socket-tuning - sub-second and fractional durations are rounded up to whole seconds, with a warning', () => {
  const log: string[] = [];
  const nk = new FakeNetKeepalive(log);
  const applied = applySocketTuning(recordingSocket(log), { tcpKeepalive: { idle: 7500, interval: 200, count: 3 } }, nk);
  assert.deepEqual(log, ['setKeepAlive(true, 8000)', 'setKeepAliveInterval(1000)', 'setKeepAliveProbes(3)']);
  assert.deepEqual(applied.keepalive, { enabled: true, idleMs: 8000, intervalMs: 1000, count: 3 });
  assert.equal(applied.warnings.length, 2);
  assert.match(applied.warnings[0]!, /^tcpKeepalive\.idle 7500 ms rounded up to 8000 ms/);
  assert.match(applied.warnings[1]!, /^tcpKeepalive\.interval 200 ms rounded up to 1000 ms/);
});

test('socket-tuning - with net-keepalive everything is applied after setKeepAlive (libuv would overwrite it)', () => {
  const log: string[] = [];
  const applied = applySocketTuning(recordingSocket(log), RECOMMENDED_SOCKET_TUNING, new FakeNetKeepalive(log));
  assert.deepEqual(log, ['setKeepAlive(true, 15000)', 'setKeepAliveInterval(5000)', 'setKeepAliveProbes(3)', 'setUserTimeout(30000)']);
  assert.deepEqual(applied, {
    keepalive: { enabled: true, idleMs: 15000, intervalMs: 5000, count: 3 },
    userTimeoutMs: 30000,
    via: 'net-keepalive',
    warnings: [],
  });
});

test('socket-tuning - a setting the platform refuses becomes a warning; the rest still applies', () => {
  const log: string[] = [];
  const nk = new FakeNetKeepalive(log);
  nk.fail.add('setUserTimeout');
  const applied = applySocketTuning(recordingSocket(log), { tcpKeepalive: ka({}), tcpUserTimeout: 19000 }, nk);
  assert.deepEqual(applied.keepalive, { enabled: true, idleMs: 7000, intervalMs: 5000, count: 3 });
  assert.equal(applied.userTimeoutMs, 'kernel-default');
  assert.equal(applied.via, 'net-keepalive');
  assert.deepEqual(applied.warnings.length, 1);
  assert.match(applied.warnings[0]!, /^tcpUserTimeout 19000 ms not applied: setsockopt EPERM \(setUserTimeout\); the kernel default/);
});

test('socket-tuning - a user timeout that overrides the keepalive count is reported with the real drop time', () => {
  const log: string[] = [];
  const applied = applySocketTuning(
    recordingSocket(log),
    { tcpKeepalive: { idle: 30000, interval: 5000, count: 3 }, tcpUserTimeout: 30000 },
    new FakeNetKeepalive(log),
  );
  assert.equal(applied.userTimeoutMs, 30000);
  assert.equal(applied.warnings.length, 1);
  assert.match(applied.warnings[0]!, /tcpKeepalive\.count 3 overridden by tcpUserTimeout 30000 ms: .* dropped 35000 ms .* not idle \+ interval × count = 45000 ms/);
});

test('socket-tuning - keepaliveDropAfterMs follows tcp_keepalive_timer', () => {
  const cases: [idle: number, interval: number, count: number, userTimeout: number, expected: number][] = [
    [2000, 3000, 3, 0, 11000],
    // Measured on Linux 6.18 (see keepaliveDropAfterMs).
    [2000, 3000, 3, 4000, 5000],
    [2000, 3000, 3, 9000, 11000],
    [2000, 3000, 3, 15000, 17000],
    // Cloudflare, "When TCP sockets refuse to die": idle 1 s, interval 11 s; user timeout 5 s and 12.5 s.
    [1000, 11000, 3, 5000, 12000],
    [1000, 11000, 3, 12500, 23000],
    // User timeout shorter than idle: the first probe still goes out, the next tick drops.
    [30000, 5000, 3, 10000, 35000],
  ];
  for (const [idleMs, intervalMs, count, ut, expected] of cases) {
    assert.equal(keepaliveDropAfterMs({ idleMs, intervalMs, count }, ut), expected, `${idleMs}/${intervalMs}/${count} ut=${ut}`);
  }
});

test('socket-tuning - RECOMMENDED values are valid and consistent with each other and the heartbeat', () => {
  validateSocketTuning(RECOMMENDED_SOCKET_TUNING);
  const k = RECOMMENDED_SOCKET_TUNING.tcpKeepalive;
  assert.ok(typeof k === 'object');
  const ut = RECOMMENDED_SOCKET_TUNING.tcpUserTimeout;
  assert.ok(typeof ut === 'number' && ut > 0);
  // Whole seconds: applied exactly, no rounding.
  for (const ms of [k.idle, k.interval]) assert.equal(ms % 1000, 0);
  // TCP_USER_TIMEOUT = idle + interval × count, so the count is not silently overridden.
  assert.equal(ut, k.idle + k.interval * k.count);
  assert.equal(keepaliveDropAfterMs({ idleMs: k.idle, intervalMs: k.interval, count: k.count }, ut), ut);
  // More than one probe: a single lost probe is not fatal (RFC 1122 §4.2.3.6).
  assert.ok(k.count >= 2);
  // The application heartbeat normally wins: it sees a frozen peer process too.
  assert.ok(ut > SERVER_DEFAULTS.heartbeatTimeout, 'tcpUserTimeout must exceed the default heartbeat timeout');
  // With the heartbeat running the connection is never idle long enough for a probe.
  assert.ok(k.idle > SERVER_DEFAULTS.heartbeatInterval);
  assert.ok(Object.isFrozen(RECOMMENDED_SOCKET_TUNING) && Object.isFrozen(k));
});

test('socket-tuning - a destroyed socket gets nothing, and the report says so', () => {
  const log: string[] = [];
  const socket = recordingSocket(log);
  socket.destroy();
  const applied = applySocketTuning(socket, RECOMMENDED_SOCKET_TUNING, new FakeNetKeepalive(log));
  assert.deepEqual(log, []);
  assert.equal(applied.keepalive.enabled, false);
  assert.equal(applied.userTimeoutMs, 'kernel-default');
  assert.match(applied.warnings.join('\n'), /already destroyed/);
});

test('socket-tuning - readSocketOptions leaves out what cannot be read', () => {
  const log: string[] = [];
  const socket = recordingSocket(log);
  assert.deepEqual(readSocketOptions(socket, undefined), {});
  const nk = new FakeNetKeepalive(log);
  assert.deepEqual(readSocketOptions(socket, nk), { keepaliveIntervalMs: 5000, keepaliveCount: 3, userTimeoutMs: 30000 });
  nk.fail.add('get');
  assert.deepEqual(readSocketOptions(socket, nk), { keepaliveCount: 3, userTimeoutMs: 30000 });
});

test('socket-tuning - loadNetKeepalive caches its outcome', async () => {
  const [a, b] = await Promise.all([loadNetKeepalive(), loadNetKeepalive()]);
  assert.equal(a, b);
  assert.equal(await loadNetKeepalive(), a);
});

test('socket-tuning - kernelKeepaliveDefaults reads the sysctls on Linux', (t) => {
  const d = kernelKeepaliveDefaults();
  if (process.platform !== 'linux') {
    assert.equal(d, undefined);
    return;
  }
  if (!d) return t.skip('/proc/sys/net/ipv4 not readable here');
  for (const v of Object.values(d)) assert.ok(Number.isInteger(v) && v >= 0);
});

test('socket-tuning - keepaliveIdleForHeartbeat: idle moves past interval + timeout, whole seconds, never down', () => {
  const tuned = { tcpKeepalive: ka({ idle: 15000 }) };
  assert.equal(keepaliveIdleForHeartbeat(tuned, { intervalMs: 20_000, timeoutMs: 30_000 }), 50_000);
  assert.equal(keepaliveIdleForHeartbeat(tuned, { intervalMs: 60_000, timeoutMs: 90_500 }), 151_000);
  // Already waiting at least that long: nothing to do.
  assert.equal(keepaliveIdleForHeartbeat(tuned, { intervalMs: 5000, timeoutMs: 10_000 }), undefined);
  assert.equal(keepaliveIdleForHeartbeat({ tcpKeepalive: ka({ idle: 14_200 }) }, { intervalMs: 5000, timeoutMs: 9900 }), undefined);
  // Off, or left to the kernel's defaults (2 h): not ours to change.
  assert.equal(keepaliveIdleForHeartbeat({ tcpKeepalive: false }, { intervalMs: 60_000, timeoutMs: 90_000 }), undefined);
  assert.equal(keepaliveIdleForHeartbeat({ tcpKeepalive: true }, { intervalMs: 60_000, timeoutMs: 90_000 }), undefined);
  assert.equal(keepaliveIdleForHeartbeat({}, { intervalMs: 60_000, timeoutMs: 90_000 }), undefined);
  // Linux caps TCP_KEEPIDLE at 32767 s.
  assert.equal(keepaliveIdleForHeartbeat(tuned, { intervalMs: 30_000_000, timeoutMs: 40_000_000 }), 32_767_000);
});

test('socket-tuning - tuningForHeartbeat: defaults follow the heartbeat, explicit settings stay', () => {
  const hb = { intervalMs: 20_000, timeoutMs: 30_000 };
  const all = { keepalive: true, userTimeout: true };
  // Both defaults: idle 50 s, and the user timeout keeps "count 3" true: 50 + 3 × 5 = 65 s.
  assert.deepEqual(tuningForHeartbeat(RECOMMENDED_SOCKET_TUNING, hb, all), {
    tcpKeepalive: { idle: 50_000, interval: 5000, count: 3 },
    tcpUserTimeout: 65_000,
  });
  // An explicit user timeout is kept (applySocketTuning will then say the count is overridden).
  assert.deepEqual(tuningForHeartbeat(RECOMMENDED_SOCKET_TUNING, hb, { keepalive: true, userTimeout: false }), {
    tcpKeepalive: { idle: 50_000, interval: 5000, count: 3 },
    tcpUserTimeout: 30_000,
  });
  // An explicit keepalive: nothing follows, the very same object comes back.
  assert.equal(tuningForHeartbeat(RECOMMENDED_SOCKET_TUNING, hb, { keepalive: false, userTimeout: true }), RECOMMENDED_SOCKET_TUNING);
  // A heartbeat short enough for the default idle: unchanged.
  assert.equal(tuningForHeartbeat(RECOMMENDED_SOCKET_TUNING, { intervalMs: 4000, timeoutMs: 10_000 }, all), RECOMMENDED_SOCKET_TUNING);
  // The default heartbeat (5 s / 15 s): idle 20 s, user timeout 35 s.
  assert.deepEqual(tuningForHeartbeat(RECOMMENDED_SOCKET_TUNING, { intervalMs: 5000, timeoutMs: 15_000 }, all), {
    tcpKeepalive: { idle: 20_000, interval: 5000, count: 3 },
    tcpUserTimeout: 35_000,
  });
  // A user timeout of 0 (kernel default) stays 0.
  const noUt = { ...RECOMMENDED_SOCKET_TUNING, tcpUserTimeout: 0 };
  assert.equal(tuningForHeartbeat(noUt, hb, all).tcpUserTimeout, 0);
  // Whatever it returns is valid and, applied, reports no warning: count and user timeout agree.
  for (const interval of [1000, 5000, 60_000, 600_000]) {
    const tuning = tuningForHeartbeat(RECOMMENDED_SOCKET_TUNING, { intervalMs: interval, timeoutMs: 3 * interval }, all);
    validateSocketTuning(tuning);
    const log: string[] = [];
    assert.deepEqual(applySocketTuning(recordingSocket(log), tuning, new FakeNetKeepalive(log)).warnings, [], `interval ${interval}`);
  }
});
