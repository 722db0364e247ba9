/**
 * Logging (docs/spec/0016-logging.md): a real server and clients on loopback with a pino logger
 * writing into memory. Lines for open / close carry the session's tag (not its id), the remote
 * address and the transport; a peer that goes silent gives a warn detection line with the
 * reason; no token, session id or payload ever reaches the output; without a logger (or with
 * every level off) nothing is built per connection.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { FaultProxy } from '../../src/lab/fault-proxy.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import { connect, createServer, createToken, sessionTag, tokenAuthenticator, type LifelineServer, type Logger, type OpenInfo, type ServerOptions, type Session } from '../../src/index.js';
import { eventually, nextEvent } from './helpers.js';

type Line = Record<string, unknown> & { level: number; msg: string };

/** A pino logger at `level` whose lines land in `raw` (the exact text) and `lines` (parsed). */
function memoryLogger(level: string): { log: pino.Logger; raw: string[]; lines: Line[] } {
  const raw: string[] = [];
  const lines: Line[] = [];
  const log = pino({ level, base: null }, {
    write(chunk: string) {
      raw.push(chunk);
      lines.push(JSON.parse(chunk) as Line);
    },
  });
  return { log, raw, lines };
}

const WARN = 40;
const INFO = 30;

async function serverWith(t: TestContext, options: ServerOptions): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({ minHeartbeatInterval: 50, minHeartbeatTimeout: 100, tcpKeepalive: false, tcpUserTimeout: 0, ...options });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port };
}

test('logging - session open / close lines carry the session tag (not the id), remote address and transport', async (t) => {
  const { log, raw, lines } = memoryLogger('info');
  const { server, port } = await serverWith(t, { logger: log });
  const sessionP = nextEvent<[Session]>(server, 'session', 5000);
  const client = connect({ host: '127.0.0.1', port, reconnect: false, tcpKeepalive: false, tcpUserTimeout: 0 });
  t.after(() => client.close());
  await nextEvent<[OpenInfo]>(client, 'open', 5000);
  const [session] = await sessionP;
  const closed = nextEvent(session, 'close', 5000);
  client.close();
  await closed;

  const remote = `${session.remoteAddress}:${session.remotePort}`;
  const open = lines.find((l) => l.event === 'session-open');
  const close = lines.find((l) => l.event === 'session-close');
  assert.ok(open && close, JSON.stringify(lines));
  for (const line of [open, close]) {
    assert.equal(line.level, INFO);
    assert.equal(line.session, sessionTag(session.id));
    assert.equal(line.remote, remote);
    assert.equal(line.transport, 'tcp');
  }
  assert.equal(close.code, 'remote-close');
  assert.equal(close.initiator, 'peer');
  // Duration for people: "12 ms" / "1.2 s", never a raw float.
  assert.match(close.msg, /after \d+(\.\d)? (ms|s)\b/);
  assert.equal(typeof close.durationMs, 'number');
  assert.ok(Number.isInteger(close.durationMs));
  assert.ok(!raw.join('').includes(session.id), 'the session id (a resume credential) is never logged');
});

test('logging - a peer that goes silent after HELLO: one warn detection line, heartbeat-timeout, with how long it was silent', async (t) => {
  const { log, lines } = memoryLogger('info');
  const { server, port } = await serverWith(t, { logger: log });
  const closeP = nextEvent<[Session]>(server, 'sessionClose', 10_000);
  // A raw socket that handshakes and then answers nothing: the kernel keeps the TCP connection
  // up, only the heartbeat can tell (as with a SIGSTOPped client).
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 100, heartbeatTimeoutMs: 300 }));
  const [session] = await closeP;

  const detections = lines.filter((l) => l.event === 'detection');
  assert.equal(detections.length, 1, JSON.stringify(lines));
  const d = detections[0]!;
  assert.equal(d.level, WARN);
  assert.equal(d.code, 'heartbeat-timeout');
  assert.equal(d.detectedBy, 'heartbeat');
  assert.equal(d.session, sessionTag(session.id));
  assert.equal(d.remote, `127.0.0.1:${socket.localPort}`);
  assert.ok(typeof d.sinceLastSeenMs === 'number' && Number.isInteger(d.sinceLastSeenMs) && d.sinceLastSeenMs >= 300, JSON.stringify(d));
  assert.match(d.msg, /nothing heard for \d+(\.\d)? (ms|s)/);
  const close = lines.find((l) => l.event === 'session-close');
  assert.equal(close?.code, 'heartbeat-timeout');
});

test('logging - no token, session id or payload reaches the output: auth success, auth failure, careless hook, resume (every level on)', async (t) => {
  const { log, raw, lines } = memoryLogger('trace');
  const secret = randomBytes(32);
  const good = createToken({ secret, id: 'alice', ttlMs: 60_000 });
  const forged = createToken({ secret: randomBytes(32), id: 'alice', ttlMs: 60_000 });
  const { server, port } = await serverWith(t, { logger: log, authenticate: tokenAuthenticator(secret) });
  const payloadMarker = `PAYLOAD-${randomBytes(8).toString('hex')}`;

  // Success, then a resume through a proxy that cuts the connection.
  const proxy = new FaultProxy({ host: '127.0.0.1', port });
  t.after(() => proxy.close());
  const { port: proxyPort } = await proxy.listen();
  const sessionP = nextEvent<[Session]>(server, 'session', 5000);
  const client = connect({ servers: [`127.0.0.1:${proxyPort}`], token: good, reconnect: { initialDelay: 20 }, tcpKeepalive: false, tcpUserTimeout: 0 });
  t.after(() => client.close());
  await nextEvent(client, 'open', 5000);
  const [session] = await sessionP;
  const echoed: string[] = [];
  session.on('message', (data: Buffer) => session.send(data));
  client.on('message', (data: Buffer) => echoed.push(data.toString()));
  client.send(`${payloadMarker}-1`);
  assert.ok(await eventually(() => echoed.length === 1, 3000));
  const resumed = nextEvent<[OpenInfo]>(client, 'open', 5000);
  proxy.setMode('reset');
  proxy.setMode('forward');
  client.send(`${payloadMarker}-2`);
  const [info] = await resumed;
  assert.equal(info.resumed, true);
  assert.ok(await eventually(() => echoed.length === 2, 3000));

  // Failure: a token signed with another secret.
  const refused = connect({ host: '127.0.0.1', port, token: forged, reconnect: false });
  t.after(() => refused.close());
  await nextEvent(refused, 'close', 5000);
  assert.ok(await eventually(() => lines.some((l) => l.event === 'auth-failure'), 2000));

  const out = raw.join('');
  assert.ok(lines.some((l) => l.event === 'session-resume' && l.session === sessionTag(session.id)), 'the resume was logged');
  assert.ok(lines.some((l) => l.event === 'hello' && l.token === true), 'HELLO lines say a token came, as a boolean');
  for (const [what, secretText] of [
    ['good token', good],
    ['good token signature', good.split('.')[1]!],
    ['forged token', forged],
    ['forged token signature', forged.split('.')[1]!],
    ['session id', session.id],
    ['payload', payloadMarker],
  ] as const) {
    assert.ok(!out.includes(secretText), `${what} appears in the log output`);
  }
  const failure = lines.find((l) => l.event === 'auth-failure')!;
  assert.equal(failure.level, WARN);
  assert.equal(failure.code, 'error');
  assert.equal(failure.tokenReason, 'bad-signature');
});

test('logging - a hook whose error quotes the token: warn carries the code only (the message waits for debug)', async (t) => {
  const { log, raw, lines } = memoryLogger('info');
  const marker = `TOKEN-${randomBytes(8).toString('hex')}`;
  const { port } = await serverWith(t, {
    logger: log,
    authenticate: (token) => {
      throw new Error(`no user for token ${new TextDecoder().decode(token)}`);
    },
  });
  const client = connect({ host: '127.0.0.1', port, token: marker, reconnect: false });
  t.after(() => client.close());
  await nextEvent(client, 'close', 5000);
  assert.ok(await eventually(() => lines.some((l) => l.event === 'auth-failure'), 2000), JSON.stringify(lines));
  assert.equal(lines.find((l) => l.event === 'auth-failure')!.code, 'error');
  assert.ok(!raw.join('').includes(marker), 'the token quoted by the hook reached an info-level log');
});

/** A logger that counts what the library asks of it; `enabled` answers isLevelEnabled. */
function countingLogger(enabled: boolean): { logger: Logger; counts: { child: number; lines: number } } {
  const counts = { child: 0, lines: 0 };
  const line = () => void counts.lines++;
  const logger: Logger = {
    child: () => (counts.child++, logger),
    trace: line,
    debug: line,
    info: line,
    warn: line,
    error: line,
    isLevelEnabled: () => enabled,
  };
  return { logger, counts };
}

test('logging - with every level off nothing is built per connection (no child logger, no line); on, the same run builds them', async (t) => {
  for (const enabled of [false, true]) {
    const { logger, counts } = countingLogger(enabled);
    const { server, port } = await serverWith(t, { logger });
    const clients = Array.from({ length: 5 }, () => connect({ host: '127.0.0.1', port, reconnect: false, tcpKeepalive: false, tcpUserTimeout: 0 }));
    await Promise.all(clients.map((c) => nextEvent(c, 'open', 5000)));
    const closes = Array.from(server.sessions(), (s) => nextEvent(s, 'close', 5000));
    for (const c of clients) c.close();
    await Promise.all(closes);
    if (enabled) {
      assert.ok(counts.child >= 10 && counts.lines >= 10, `open + close for 5 sessions: ${JSON.stringify(counts)}`);
    } else {
      assert.deepEqual(counts, { child: 0, lines: 0 });
    }
  }
});

test('logging - the client logs its connection with the same session tag as the server, and its close', async (t) => {
  const serverLog = memoryLogger('info');
  const clientLog = memoryLogger('info');
  const { server, port } = await serverWith(t, { logger: serverLog.log });
  const sessionP = nextEvent<[Session]>(server, 'session', 5000);
  const client = connect({ host: '127.0.0.1', port, reconnect: false, logger: clientLog.log, tcpKeepalive: false, tcpUserTimeout: 0 });
  await nextEvent(client, 'open', 5000);
  const [session] = await sessionP;
  const closed = nextEvent(client, 'close', 5000);
  session.close('bye');
  await closed;
  const open = clientLog.lines.find((l) => l.event === 'open');
  assert.equal(open?.session, sessionTag(session.id));
  assert.equal(open?.remote, `127.0.0.1:${port}`);
  assert.equal(serverLog.lines.find((l) => l.event === 'session-open')?.session, open?.session);
  const close = clientLog.lines.find((l) => l.event === 'close');
  assert.equal(close?.code, 'remote-close');
  assert.ok(!clientLog.raw.join('').includes(session.id));
});
