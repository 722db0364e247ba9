/**
 * Socket tuning on real loopback sockets: what applySocketTuning reports must match what the
 * kernel has — read back through net-keepalive's getsockopt AND through `ss` (iproute2), whose
 * `timer:(keepalive,<left>,<probes>)` shows that SO_KEEPALIVE is on and when the next probe is due.
 */
import { kernelKeepaliveDefaults } from '../../src/transport/kernel-defaults.js';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import {
  RECOMMENDED_SOCKET_TUNING,
  applySocketTuning,
  loadNetKeepalive,
  readSocketOptions,
  type NetKeepaliveApi,
} from '../../src/transport/socket-tuning.js';

interface Pair {
  client: net.Socket;
  accepted: net.Socket;
  serverPort: number;
}

async function connectedPair(t: TestContext): Promise<Pair> {
  const server = net.createServer();
  const sockets: net.Socket[] = [];
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const serverPort = (server.address() as net.AddressInfo).port;
  const client = net.connect(serverPort, '127.0.0.1');
  sockets.push(client);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  const acceptedSocket = await accepted;
  sockets.push(acceptedSocket);
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    assert.ok(sockets.every((s) => s.destroyed), 'a socket leaked');
  });
  return { client, accepted: acceptedSocket, serverPort };
}

let ssChecked: boolean | undefined;
function ssAvailable(): boolean {
  if (ssChecked === undefined) {
    try {
      execFileSync('ss', ['-V'], { stdio: 'ignore' });
      ssChecked = true;
    } catch {
      ssChecked = false;
    }
  }
  return ssChecked;
}
const SS_MISSING = 'ss (iproute2) is not installed: skipping the kernel keepalive-timer check';

/**
 * ss prints timers with print_ms_timer(): "119min", "1min5sec", "12sec", "6.868ms" (6 s 868 ms —
 * the "ms" suffix applies to the fraction only), "500ms".
 */
function parseSsTimer(text: string): number {
  const m = /^(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?$/.exec(text);
  if (!m || text === '') throw new Error(`unrecognised ss timer ${JSON.stringify(text)}`);
  return Number(m[1] ?? 0) * 60_000 + Number(m[2] ?? 0) * 1000 + Number(m[3] ?? 0);
}

/** The keepalive timer of the one established socket with this local port, ms left; undefined when none runs. */
function keepaliveTimerMs(localPort: number): number | undefined {
  const out = execFileSync('ss', ['-tieo', 'state', 'established', `( sport = :${localPort} )`], { encoding: 'utf8' });
  assert.match(out, new RegExp(`:${localPort}\\b`), `ss does not list the socket:\n${out}`);
  const timer = /timer:\((\w+),([^,]*),(\d+)\)/.exec(out);
  if (!timer || timer[1] !== 'keepalive') return undefined;
  return parseSsTimer(timer[2]!);
}

async function realNetKeepalive(t: TestContext): Promise<NetKeepaliveApi | undefined> {
  const nk = await loadNetKeepalive();
  if (!nk) t.skip('net-keepalive (optional dependency) could not be loaded on this platform');
  return nk;
}

test('socket-tuning (integration) - ss timer parser understands print_ms_timer formats', () => {
  assert.equal(parseSsTimer('6.868ms'), 6868);
  assert.equal(parseSsTimer('119min'), 7_140_000);
  assert.equal(parseSsTimer('1min5sec'), 65_000);
  assert.equal(parseSsTimer('12sec'), 12_000);
  assert.equal(parseSsTimer('500ms'), 500);
  assert.throws(() => parseSsTimer(''));
});

test('socket-tuning (integration) - tuned options via net-keepalive are what the kernel reports', async (t) => {
  const nk = await realNetKeepalive(t);
  if (!nk) return;
  const { client, accepted, serverPort } = await connectedPair(t);
  const options = { tcpKeepalive: { idle: 7000, interval: 3000, count: 4 }, tcpUserTimeout: 19000 };

  for (const socket of [client, accepted]) {
    const applied = applySocketTuning(socket, options, nk);
    assert.deepEqual(applied, {
      keepalive: { enabled: true, idleMs: 7000, intervalMs: 3000, count: 4 },
      userTimeoutMs: 19000,
      via: 'net-keepalive',
      warnings: [],
    });
    assert.deepEqual(readSocketOptions(socket, nk), { keepaliveIntervalMs: 3000, keepaliveCount: 4, userTimeoutMs: 19000 });
  }

  if (!ssAvailable()) return t.skip(SS_MISSING);
  for (const port of [client.localPort!, serverPort]) {
    const left = keepaliveTimerMs(port);
    assert.ok(left !== undefined, `no keepalive timer on :${port}`);
    assert.ok(left <= 7000 && left > 5000, `keepalive timer on :${port} is ${left} ms, expected (5000, 7000]`);
  }
});

test('socket-tuning (integration) - fallback without net-keepalive: report matches libuv, ss timer ≤ idle', async (t) => {
  const { client } = await connectedPair(t);
  const applied = applySocketTuning(client, { tcpKeepalive: { idle: 7000, interval: 5000, count: 3 }, tcpUserTimeout: 30000 }, undefined);
  assert.deepEqual(applied.keepalive, { enabled: true, idleMs: 7000, intervalMs: 1000, count: 10 });
  assert.equal(applied.userTimeoutMs, 'kernel-default');
  assert.equal(applied.via, 'node');
  assert.equal(applied.warnings.length, 3, applied.warnings.join('\n'));

  // The report claims libuv's 1 s × 10 and the kernel's default user timeout: check that claim.
  const nk = await loadNetKeepalive();
  if (nk) {
    assert.deepEqual(readSocketOptions(client, nk), { keepaliveIntervalMs: 1000, keepaliveCount: 10, userTimeoutMs: 0 });
  }

  if (!ssAvailable()) return t.skip(SS_MISSING);
  const left = keepaliveTimerMs(client.localPort!);
  assert.ok(left !== undefined, 'no keepalive timer');
  assert.ok(left <= 7000 && left > 5000, `keepalive timer is ${left} ms, expected (5000, 7000]`);
});

test('socket-tuning (integration) - tcpKeepalive true leaves the sysctl defaults in force', async (t) => {
  const { client } = await connectedPair(t);
  const applied = applySocketTuning(client, { tcpKeepalive: true }, undefined);
  assert.deepEqual(applied.keepalive, { enabled: true, idleMs: 'kernel-default', intervalMs: 'kernel-default', count: 'kernel-default' });
  const defaults = kernelKeepaliveDefaults();
  if (!defaults) return t.skip('no /proc/sys/net/ipv4 keepalive sysctls here');

  const nk = await loadNetKeepalive();
  if (nk) {
    const read = readSocketOptions(client, nk);
    assert.equal(read.keepaliveIntervalMs, defaults.intvlSec * 1000);
    assert.equal(read.keepaliveCount, defaults.probes);
  }
  if (!ssAvailable()) return t.skip(SS_MISSING);
  const left = keepaliveTimerMs(client.localPort!);
  assert.ok(left !== undefined, 'no keepalive timer');
  // ss drops seconds once a timer exceeds 10 min ("119min"), so allow a minute of slack.
  assert.ok(left <= defaults.timeSec * 1000 && left > defaults.timeSec * 1000 - 61_000, `keepalive timer is ${left} ms`);
});

test('socket-tuning (integration) - tcpKeepalive false: no keepalive timer', async (t) => {
  const { client } = await connectedPair(t);
  client.setKeepAlive(true, 5000);
  const applied = applySocketTuning(client, { tcpKeepalive: false }, undefined);
  assert.equal(applied.keepalive.enabled, false);
  if (!ssAvailable()) return t.skip(SS_MISSING);
  assert.equal(keepaliveTimerMs(client.localPort!), undefined);
});

test('socket-tuning (integration) - RECOMMENDED_SOCKET_TUNING applies exactly', async (t) => {
  const nk = await realNetKeepalive(t);
  if (!nk) return;
  const { client } = await connectedPair(t);
  const applied = applySocketTuning(client, RECOMMENDED_SOCKET_TUNING, nk);
  assert.deepEqual(applied.warnings, []);
  assert.deepEqual(readSocketOptions(client, nk), { keepaliveIntervalMs: 5000, keepaliveCount: 3, userTimeoutMs: 30000 });
  if (!ssAvailable()) return t.skip(SS_MISSING);
  const left = keepaliveTimerMs(client.localPort!);
  assert.ok(left !== undefined && left <= 15000 && left > 13000, `keepalive timer is ${String(left)} ms`);
});

test('socket-tuning (integration) - calling socket.setKeepAlive after tuning resets interval and count (why the order matters)', async (t) => {
  const nk = await realNetKeepalive(t);
  if (!nk) return;
  const { client } = await connectedPair(t);
  applySocketTuning(client, { tcpKeepalive: { idle: 7000, interval: 3000, count: 4 } }, nk);
  client.setKeepAlive(true, 9000);
  assert.deepEqual(readSocketOptions(client, nk), { keepaliveIntervalMs: 1000, keepaliveCount: 10, userTimeoutMs: 0 });
});

test('socket-tuning (integration) - a lifeline session and client expose what is in force, and the kernel agrees', async (t) => {
  const nk = await realNetKeepalive(t);
  if (!nk) return;
  const tuning = { tcpKeepalive: { idle: 7000, interval: 3000, count: 4 }, tcpUserTimeout: 19_000 };
  const { session, client, port } = await lifelinePair(t, tuning, tuning);
  const expected = { enabled: true, idleMs: 7000, intervalMs: 3000, count: 4 };
  for (const applied of [session.socketOptions, client.socketOptions]) {
    assert.deepEqual(applied?.keepalive, expected);
    assert.equal(applied?.userTimeoutMs, 19_000);
    assert.equal(applied?.via, 'net-keepalive');
  }
  // Read back from the kernel for the server's socket…
  assert.deepEqual(await session.readKernelSocketOptions(), { keepaliveIntervalMs: 3000, keepaliveCount: 4, userTimeoutMs: 19_000 });
  // …and the keepalive timers of both ends run (ss lists both sockets of the loopback pair).
  if (!ssAvailable()) return t.diagnostic(SS_MISSING);
  for (const localPort of [port, session.remotePort!]) {
    const left = keepaliveTimerMs(localPort);
    assert.ok(left !== undefined && left <= 7000 && left > 5000, `keepalive timer on :${localPort}: ${left} ms`);
  }
});

/** A server + client pair with these options on both sides; resolves once both ends are open. */
async function lifelinePair(
  t: TestContext,
  serverOptions: import('../../src/index.js').ServerOptions,
  clientOptions: Omit<import('../../src/index.js').ClientOptions, 'port'>,
): Promise<{ session: import('../../src/index.js').Session; client: import('../../src/index.js').Client; port: number }> {
  const { createServer, connect } = await import('../../src/index.js');
  const server = createServer(serverOptions);
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const sessionP = new Promise<import('../../src/index.js').Session>((resolve) => server.once('session', resolve));
  const client = connect({ reconnect: false, port, ...clientOptions });
  t.after(() => client.close());
  await new Promise((resolve) => client.once('open', resolve));
  return { session: await sessionP, client, port };
}

test('socket-tuning (integration) - default keepalive follows the negotiated heartbeat on both ends (spec 0008)', async (t) => {
  const nk = await realNetKeepalive(t);
  if (!nk) return;
  // 20 s / 30 s negotiated: with the 15 s default idle every interval would end in probes.
  const { session, client, port } = await lifelinePair(t, {}, { heartbeatInterval: 20_000, heartbeatTimeout: 30_000 });
  assert.equal(session.heartbeatInterval, 20_000);
  const expected = { enabled: true, idleMs: 50_000, intervalMs: 5000, count: 3 };
  for (const applied of [session.socketOptions, client.socketOptions]) {
    assert.deepEqual(applied?.keepalive, expected);
    // The default user timeout follows too: idle + interval × count, so 3 probes still decide.
    assert.equal(applied?.userTimeoutMs, 65_000);
    assert.deepEqual(applied?.warnings, []);
  }
  // Read back from the kernel: libuv resets interval and count whenever the idle is set, so this
  // also proves they were set after it.
  assert.deepEqual(await session.readKernelSocketOptions(), { keepaliveIntervalMs: 5000, keepaliveCount: 3, userTimeoutMs: 65_000 });
  if (!ssAvailable()) return t.diagnostic(SS_MISSING);
  // The kernel's own keepalive timer: due in ≤ 50 s on both sockets (it would be ≤ 15 s without spec 0008).
  for (const localPort of [port, session.remotePort!]) {
    const left = keepaliveTimerMs(localPort);
    assert.ok(left !== undefined && left <= 50_000 && left > 45_000, `keepalive timer on :${localPort}: ${left} ms`);
  }
});

test('socket-tuning (integration) - an explicit keepalive is applied as given whatever the heartbeat', async (t) => {
  const nk = await realNetKeepalive(t);
  if (!nk) return;
  const tcpKeepalive = { idle: 15_000, interval: 5000, count: 3 };
  const { session, client, port } = await lifelinePair(
    t,
    { tcpKeepalive },
    { tcpKeepalive, heartbeatInterval: 20_000, heartbeatTimeout: 30_000 },
  );
  for (const applied of [session.socketOptions, client.socketOptions]) {
    assert.deepEqual(applied?.keepalive, { enabled: true, idleMs: 15_000, intervalMs: 5000, count: 3 });
  }
  if (!ssAvailable()) return t.diagnostic(SS_MISSING);
  for (const localPort of [port, session.remotePort!]) {
    const left = keepaliveTimerMs(localPort);
    assert.ok(left !== undefined && left <= 15_000 && left > 10_000, `keepalive timer on :${localPort}: ${left} ms`);
  }
});
