/**
 * Integration: a real client and server on loopback exchange messages, and close cleanly.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import {
  connect,
  createServer,
  type Client,
  type ClientOptions,
  type CloseReason,
  type LifelineServer,
  type ServerOptions,
  type Session,
} from '../../src/index.js';
import { nextEvent } from './helpers.js';

const INTERVAL_MS = 200;
const TIMEOUT_MS = 600;

async function startServer(t: TestContext, options: ServerOptions = {}): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({ minHeartbeatInterval: 50, minHeartbeatTimeout: 100, ...options });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port };
}

function dial(t: TestContext, port: number, options: Partial<ClientOptions> = {}): Client {
  const client = connect({ reconnect: false, host: '127.0.0.1', port, heartbeatInterval: INTERVAL_MS, heartbeatTimeout: TIMEOUT_MS, ...options });
  t.after(() => client.close());
  return client;
}

/** Open a client and return it with its server-side session. */
async function openPair(t: TestContext, server: LifelineServer, port: number, options: Partial<ClientOptions> = {}) {
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const client = dial(t, port, options);
  const [[info], [session]] = await Promise.all([nextEvent<[NonNullable<Client['info']>]>(client, 'open', 3000), sessionP]);
  return { client, session, info };
}

/** Collect `count` messages from `emitter`. */
function collect(emitter: EventEmitter, count: number, timeoutMs: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    const listener = (data: Buffer) => {
      got.push(data);
      if (got.length === count) {
        clearTimeout(timer);
        emitter.off('message', listener);
        resolve(got);
      }
    };
    const timer = setTimeout(() => {
      emitter.off('message', listener);
      reject(new Error(`received ${got.length} of ${count} messages within ${timeoutMs} ms`));
    }, timeoutMs);
    emitter.on('message', listener);
  });
}

function hasCode(code: string) {
  return (err: unknown): boolean => {
    assert.equal((err as { code?: unknown }).code, code, `expected ${code}, got ${String(err)}`);
    return true;
  };
}

test('echo - open reports the negotiated heartbeat and a 128-bit session id shared with the server', async (t) => {
  const { server, port } = await startServer(t);
  const { client, session, info } = await openPair(t, server, port);
  assert.equal(info.heartbeatInterval, INTERVAL_MS);
  assert.equal(info.heartbeatTimeout, TIMEOUT_MS);
  assert.match(info.sessionId, /^[0-9a-f]{32}$/);
  assert.equal(info.resumed, false);
  assert.equal(session.id, info.sessionId);
  assert.equal(session.heartbeatInterval, INTERVAL_MS);
  assert.equal(session.heartbeatTimeout, TIMEOUT_MS);
  assert.deepEqual(client.info, info);
  assert.equal(client.state, 'open');
  assert.equal(session.isOpen, true);
  assert.equal(session.remoteAddress, '127.0.0.1');
  assert.equal(server.sessionCount, 1);
  assert.equal(server.connectionCount, 1);
});

test('echo - two sessions get different ids', async (t) => {
  const { server, port } = await startServer(t);
  const a = await openPair(t, server, port);
  const b = await openPair(t, server, port);
  assert.notEqual(a.info.sessionId, b.info.sessionId);
  assert.equal(server.sessionCount, 2);
});

test('echo - strings, binary and empty messages round trip both ways', async (t) => {
  const { server, port } = await startServer(t);
  const { client, session } = await openPair(t, server, port);
  session.on('message', (data) => session.send(data));

  const text = 'héllo ✓ 🌍 lifeline';
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i)); // not valid UTF-8
  const replies = collect(client, 4, 3000);
  client.send(text);
  client.send(binary);
  client.send(new Uint8Array(0));
  client.send(new Uint8Array([0x40, 0x80, 0x00, 0x05])); // bytes that look like PING / PONG / CLOSE frames
  const [r1, r2, r3, r4] = await replies;
  assert.equal(r1!.toString('utf8'), text);
  assert.ok(Buffer.isBuffer(r2));
  assert.deepEqual([...r2!], [...binary]);
  assert.equal(r3!.length, 0);
  assert.deepEqual([...r4!], [0x40, 0x80, 0x00, 0x05]);

  // Server → client, initiated by the server.
  const toServer = collect(session, 1, 3000);
  const fromServer = collect(client, 2, 3000);
  session.send('pushed');
  session.send(binary.subarray(10, 20));
  client.send('after');
  const [p1, p2] = await fromServer;
  assert.equal(p1!.toString(), 'pushed');
  assert.deepEqual([...p2!], [...binary.subarray(10, 20)]);
  assert.equal((await toServer)[0]!.toString(), 'after');
});

test('echo - a 512 KiB payload round trips intact', async (t) => {
  const { server, port } = await startServer(t);
  const { client, session } = await openPair(t, server, port);
  const payload = randomBytes(512 * 1024);
  const atServer = collect(session, 1, 5000);
  const back = collect(client, 1, 5000);
  session.on('message', (data) => session.send(data));
  client.send(payload);
  const [received] = await atServer;
  assert.equal(received!.length, payload.length);
  assert.ok(received!.equals(payload), 'server received different bytes');
  const [echoed] = await back;
  assert.equal(echoed!.length, payload.length);
  assert.ok(echoed!.equals(payload), 'client received different bytes');
});

test('echo - many small messages arrive complete and in order in both directions', async (t) => {
  const { server, port } = await startServer(t);
  const { client, session } = await openPair(t, server, port);
  const count = 2000;
  const expected = Array.from({ length: count }, (_, i) => `m${i}`);
  const atServer = collect(session, count, 5000);
  const atClient = collect(client, count, 5000);
  for (const m of expected) client.send(m);
  for (const m of expected) session.send(`s-${m}`);
  assert.deepEqual((await atServer).map(String), expected);
  assert.deepEqual((await atClient).map(String), expected.map((m) => `s-${m}`));
});

test('echo - client.close() ends the session: remote-close on the server, local-close on the client', async (t) => {
  const { server, port } = await startServer(t);
  const { client, session } = await openPair(t, server, port);
  assert.equal(server.sessionCount, 1);
  const serverSide = nextEvent<[Session, CloseReason]>(server, 'sessionClose', 3000);
  const sessionSide = nextEvent<[CloseReason]>(session, 'close', 3000);
  const clientSide = nextEvent<[CloseReason]>(client, 'close', 3000);
  client.close('bye');
  // While closing, send() already refuses.
  assert.throws(() => client.send('too late'), hasCode('LL_ERR_NOT_OPEN'));

  const [[closedSession, serverReason], [sessionReason], [clientReason]] = await Promise.all([serverSide, sessionSide, clientSide]);
  assert.equal(closedSession, session);
  assert.equal(sessionReason, serverReason);
  assert.equal(serverReason.code, 'remote-close');
  assert.equal(serverReason.remoteCode, 'normal');
  assert.equal(serverReason.initiator, 'peer');
  assert.equal(serverReason.message, 'bye');
  assert.equal(clientReason.code, 'local-close');
  assert.equal(clientReason.initiator, 'local');
  assert.equal(client.state, 'closed');
  assert.equal(client.closeReason, clientReason);
  assert.equal(session.closeReason, serverReason);
  assert.equal(session.isOpen, false);
  assert.equal(server.sessionCount, 0);
  assert.equal(server.connectionCount, 0);

  assert.throws(() => client.send('after close'), hasCode('LL_ERR_NOT_OPEN'));
  assert.throws(() => session.send('after close'), hasCode('LL_ERR_NOT_OPEN'));
});

test('echo - session.close() ends the client with remote-close', async (t) => {
  const { server, port } = await startServer(t);
  const { client, session } = await openPair(t, server, port);
  const serverSide = nextEvent<[Session, CloseReason]>(server, 'sessionClose', 3000);
  const clientSide = nextEvent<[CloseReason]>(client, 'close', 3000);
  session.close('server says bye');
  const [[, serverReason], [clientReason]] = await Promise.all([serverSide, clientSide]);
  assert.equal(serverReason.code, 'local-close');
  assert.equal(clientReason.code, 'remote-close');
  assert.equal(clientReason.remoteCode, 'normal');
  assert.equal(clientReason.message, 'server says bye');
  assert.equal(server.sessionCount, 0);
});

test('echo - send() before open is queued and delivered in order after the handshake', async (t) => {
  const { server, port } = await startServer(t);
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const client = dial(t, port);
  assert.equal(client.state, 'connecting');
  assert.equal(client.send('early-1'), false, 'a queued message reports backpressure');
  client.send(Buffer.from('early-2'));
  assert.ok(client.bufferedAmount >= 'early-1early-2'.length);
  const [session] = await sessionP;
  const got = await collect(session, 2, 3000);
  assert.deepEqual(got.map(String), ['early-1', 'early-2']);
  assert.equal(client.state, 'open');
});

test('echo - a message above the server maxFrameSize throws LL_ERR_FRAME_TOO_LARGE and the connection stays usable', async (t) => {
  const maxFrameSize = 4096;
  const { server, port } = await startServer(t, { maxFrameSize });
  const { client, session } = await openPair(t, server, port);
  // DATA frame = type byte + 2-byte length varint + 1-byte seq + payload.
  const largest = maxFrameSize - 4;
  assert.throws(() => client.send(Buffer.alloc(largest + 1)), hasCode('LL_ERR_FRAME_TOO_LARGE'));
  assert.throws(() => client.send(Buffer.alloc(64 * 1024)), hasCode('LL_ERR_FRAME_TOO_LARGE'));
  const atServer = collect(session, 2, 3000);
  client.send(Buffer.alloc(largest, 7)); // exactly at the limit: accepted by both sides
  client.send('still open');
  const [big, small] = await atServer;
  assert.equal(big!.length, largest);
  assert.equal(small!.toString(), 'still open');
  assert.equal(client.state, 'open');
  assert.equal(session.isOpen, true);
});

test('echo - an oversized message queued before open is reported as undelivered; the rest are sent', async (t) => {
  const { server, port } = await startServer(t, { maxFrameSize: 4096 });
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  // Registered first so the test can observe such an error (node:test would see it as well).
  process.prependListener('uncaughtException', onUncaught);
  t.after(() => process.off('uncaughtException', onUncaught));
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const client = dial(t, port);
  const undelivered = nextEvent<[Buffer[], Error]>(client, 'undelivered', 3000);
  client.send('before');
  client.send(Buffer.alloc(10_000, 1)); // the client cannot know the server's limit yet
  client.send('after');
  const [session] = await sessionP;
  const got = await collect(session, 2, 3000);
  assert.deepEqual(got.map(String), ['before', 'after']);
  const [messages, error] = await undelivered;
  assert.equal(messages.length, 1);
  assert.equal(messages[0]!.length, 10_000);
  assert.equal((error as { code?: string }).code, 'LL_ERR_FRAME_TOO_LARGE');
  assert.deepEqual(uncaught, [], 'no exception escaped from a socket callback');
  assert.equal(client.state, 'open');
});

test('echo - messages queued before a failed connect are reported as undelivered', async (t) => {
  const { server, port } = await startServer(t);
  await server.close(); // nothing listens on `port` any more
  const client = dial(t, port);
  const undelivered = nextEvent<[Buffer[], Error]>(client, 'undelivered', 3000);
  const closed = nextEvent<[CloseReason]>(client, 'close', 3000);
  client.send('lost-1');
  client.send('lost-2');
  const [messages, error] = await undelivered;
  assert.deepEqual(messages.map(String), ['lost-1', 'lost-2']);
  assert.equal((error as { code?: string }).code, 'LL_ERR_NOT_OPEN');
  assert.equal((await closed)[0].code, 'connect-failed');
});
