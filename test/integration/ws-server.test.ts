/**
 * Integration: the lean WebSocket server (transport/ws-server.ts over the bare handle or the
 * socket; docs/spec/0011-transports.md §Lean WebSocket server) against hand-made RFC 6455
 * frames on a real loopback socket, as a user's client would send them: the 101 answer, a
 * HELLO fragmented and written a byte at a time, pings answered inside a fragmented message,
 * the closing handshake both ways, and bad frames closed with their code and reason. Also a
 * `ws` client sending fragmented messages.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { WebSocket } from 'ws';
import { createServer, type CloseReason, type LifelineServer, type Session } from '../../src/index.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import type { Frame } from '../../src/protocol/frames.js';
import { WS_OP_BINARY, WS_OP_CLOSE, WS_OP_CONTINUATION, WS_OP_PING, WS_OP_PONG, WS_OP_TEXT } from '../../src/transport/ws-codec.js';
import { clientFrame, closePayload, parseServerFrames, type ServerFrame } from '../fixtures/ws-frames.js';
import { eventually, nextEvent } from './helpers.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const HELLO = encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 3000 });

async function wsServer(t: TestContext, leanSockets = true): Promise<{ server: LifelineServer; port: number }> {
  const server = createServer({ handshakeTimeout: 2000, leanSockets, maxFrameSize: 64 * 1024 });
  t.after(() => server.close());
  const { port } = await server.listen({ transport: 'ws', port: 0, host: '127.0.0.1', path: '/ll' });
  return { server, port };
}

/** A WebSocket client made of a bare socket: it writes the bytes it is given and parses what comes back. */
class RawClient {
  readonly socket: net.Socket;
  response = '';
  frames: ServerFrame[] = [];
  lifeline: Frame[] = [];
  closed: Promise<void>;
  private buffered = Buffer.alloc(0);
  private upgraded = false;
  private readonly decoder = new FrameDecoder();

  constructor(port: number, extra: Uint8Array = Buffer.alloc(0)) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.socket.setNoDelay(true);
    this.socket.on('error', () => {});
    this.closed = new Promise((resolve) => this.socket.on('close', () => resolve()));
    const request = `GET /ll HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    this.socket.write(Buffer.concat([Buffer.from(request), extra]));
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  private onData(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    if (!this.upgraded) {
      const end = this.buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.response = this.buffered.subarray(0, end).toString('latin1');
      this.buffered = this.buffered.subarray(end + 4);
      this.upgraded = true;
    }
    const { frames, rest } = parseServerFrames(this.buffered);
    this.buffered = Buffer.from(rest);
    for (const f of frames) {
      this.frames.push(f);
      if (f.opcode === WS_OP_BINARY) this.decoder.push(f.payload, (frame) => this.lifeline.push(frame));
    }
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Write `bytes` one at a time, each its own segment (Nagle off, a pause between). */
  async writeByteByByte(bytes: Uint8Array): Promise<void> {
    for (const b of bytes) {
      this.socket.write(Uint8Array.of(b));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  closeFrame(): { code: number | undefined; reason: string } | undefined {
    const f = this.frames.find((x) => x.opcode === WS_OP_CLOSE);
    if (f === undefined) return undefined;
    return { code: f.payload.byteLength >= 2 ? f.payload.readUInt16BE(0) : undefined, reason: f.payload.subarray(2).toString() };
  }
}

/** A raw WebSocket client whose HELLO rides behind its upgrade request (http's `head`), and its open session. */
async function rawSession(t: TestContext): Promise<{ server: LifelineServer; port: number; client: RawClient; session: Session }> {
  const { server, port } = await wsServer(t);
  const sessionP = nextEvent<[Session]>(server, 'session', 5000);
  const client = new RawClient(port, clientFrame(WS_OP_BINARY, HELLO));
  t.after(() => client.socket.destroy());
  const [session] = await sessionP;
  return { server, port, client, session };
}

for (const leanSockets of [true, false]) {
  test(`ws server (leanSockets ${leanSockets}) - 101 with the right accept key; a HELLO fragmented and written byte by byte opens a session`, async (t) => {
    const { server, port } = await wsServer(t, leanSockets);
    assert.equal(server.leanSockets, leanSockets);
    const sessionP = nextEvent<[Session]>(server, 'session', 5000);
    const client = new RawClient(port);
    t.after(() => client.socket.destroy());
    assert.ok(await eventually(() => client.response !== '', 3000), 'upgrade answered');
    assert.match(client.response, /^HTTP\/1\.1 101 Switching Protocols/);
    const accept = createHash('sha1').update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    assert.match(client.response, new RegExp(`Sec-WebSocket-Accept: ${accept.replace(/[+/]/g, '\\$&')}`));
    // HELLO in three fragments with a ping between them, every byte its own write.
    await client.writeByteByByte(
      Buffer.concat([
        clientFrame(WS_OP_BINARY, HELLO.subarray(0, 2), { fin: false }),
        clientFrame(WS_OP_PING, Buffer.from('p1')),
        clientFrame(WS_OP_CONTINUATION, HELLO.subarray(2, 4), { fin: false }),
        clientFrame(WS_OP_CONTINUATION, HELLO.subarray(4)),
      ]),
    );
    const [session] = await sessionP;
    assert.equal(session.transport, 'ws');
    assert.ok(await eventually(() => client.lifeline.some((f) => f.type === 'welcome'), 3000), 'WELCOME received');
    const pong = client.frames.find((f) => f.opcode === WS_OP_PONG);
    assert.deepEqual(pong?.payload, Buffer.from('p1'), 'the ping was answered with its payload');
    assert.ok(client.frames.every((f) => !f.masked && f.fin), 'server frames are unmasked, unfragmented');
    // DATA in a message cut into a 16-bit-length fragment and a 7-bit one; a pong between them is ignored.
    const data = encodeFrame({ type: 'data', seq: 1, payload: Buffer.alloc(300, 7) });
    const got = nextEvent<[Buffer]>(session, 'message', 3000);
    client.write(Buffer.concat([clientFrame(WS_OP_BINARY, data.subarray(0, 200), { fin: false }), clientFrame(WS_OP_PONG, Buffer.alloc(0)), clientFrame(WS_OP_CONTINUATION, data.subarray(200))]));
    assert.deepEqual((await got)[0], Buffer.alloc(300, 7));
    const stats = server.stats();
    assert.ok(stats.bytesRead > 300 && stats.bytesWritten > 0, 'bytes counted');
  });
}

test('ws server - messages on every write path (coalesced, framed into one buffer, gathered uncopied across 64 KiB messages) arrive byte-exact and in order, as unmasked binary frames of at most 64 KiB', async (t) => {
  for (const leanSockets of [true, false]) {
    const { server, port } = await wsServer(t, leanSockets);
    const sessionP = nextEvent<[Session]>(server, 'session', 5000);
    // The client takes frames up to 1 MiB (HELLO maxFrameSize), so one DATA frame spans messages.
    const hello = encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 3000, maxFrameSize: 1024 * 1024 });
    const client = new RawClient(port, clientFrame(WS_OP_BINARY, hello));
    t.after(() => client.socket.destroy());
    const [session] = await sessionP;
    // Sizes around each path's edges: coalesced (≤ 1 KiB), corked and framed into one buffer
    // (≤ 2 KiB), corked and gathered, several 64 KiB messages with a remainder.
    const sizes = [5, 1024, 1500, 2100, 64 * 1024 - 3, 64 * 1024, 200 * 1024 + 7, 3];
    const payloads = sizes.map((n, i) => Buffer.alloc(n, i + 1).fill(0xee, 0, Math.min(n, 2)));
    for (const p of payloads) session.send(p);
    const expected = payloads.reduce((n, p) => n + p.byteLength, 0);
    const got = () => client.lifeline.filter((f) => f.type === 'data').map((f) => Buffer.from((f as { payload: Uint8Array }).payload));
    assert.ok(await eventually(() => got().reduce((n, p) => n + p.byteLength, 0) >= expected, 5000), `leanSockets ${leanSockets}: every message arrived`);
    assert.deepEqual(got(), payloads, `leanSockets ${leanSockets}: byte-exact, in order`);
    const binary = client.frames.filter((f) => f.opcode === WS_OP_BINARY);
    assert.ok(binary.every((f) => f.fin && !f.masked && f.payload.byteLength <= 64 * 1024), 'unfragmented, unmasked, ≤ 64 KiB each');
    assert.ok(binary.length >= sizes.length + 3, `the 200 KiB message went as several (${binary.length} binary frames)`);
    await server.close();
  }
});

test('ws server - the client closes with 1000: the close is echoed, the TCP connection ends, the session sees the peer leave', async (t) => {
  // HELLO pipelined behind the upgrade request: it arrives as http's `head`.
  const { server, client, session } = await rawSession(t);
  const closed = nextEvent<[CloseReason]>(session, 'close', 5000);
  client.write(clientFrame(WS_OP_CLOSE, closePayload(1000, 'done')));
  await client.closed;
  assert.equal(client.closeFrame()?.code, 1000, 'echoed');
  const [reason] = await closed;
  assert.equal(reason.code, 'transport-closed');
  assert.ok(await eventually(() => server.connectionCount === 0, 3000));
});

test('ws server - a close code other than 1000 / 1001 is reported with LL_ERR_WS_CLOSED, code and reason', async (t) => {
  const { client, session } = await rawSession(t);
  const closed = nextEvent<[CloseReason]>(session, 'close', 5000);
  client.write(clientFrame(WS_OP_CLOSE, closePayload(4001, 'app says no')));
  const [reason] = await closed;
  assert.equal(reason.code, 'transport-error');
  assert.equal((reason.error as { code?: string }).code, 'LL_ERR_WS_CLOSED');
  assert.match(reason.message, /4001: app says no/);
  await client.closed;
  assert.equal(client.closeFrame()?.code, 4001, 'echoed with the same code');
});

test('ws server - the server ends: lifeline CLOSE in a binary message, then close 1000, then FIN', async (t) => {
  const { client, session } = await rawSession(t);
  session.close('bye now');
  await client.closed;
  assert.ok(client.lifeline.some((f) => f.type === 'close'), 'lifeline CLOSE delivered');
  const last = client.frames.at(-1)!;
  assert.equal(last.opcode, WS_OP_CLOSE);
  assert.equal(client.closeFrame()?.code, 1000);
});

const refusals: [string, Buffer, number, string, RegExp][] = [
  ['an unmasked frame', clientFrame(WS_OP_BINARY, Buffer.from([1, 2]), { unmasked: true }), 1002, 'LL_ERR_WS_PROTOCOL', /masked/],
  ['reserved bits', clientFrame(WS_OP_BINARY, Buffer.from([1, 2]), { rsv: 0x40 }), 1002, 'LL_ERR_WS_PROTOCOL', /reserved bits/],
  ['a bad opcode', clientFrame(5, Buffer.from([1, 2])), 1002, 'LL_ERR_WS_PROTOCOL', /invalid opcode 5/],
  ['a text message', clientFrame(WS_OP_TEXT, Buffer.from('hi')), 1003, 'LL_ERR_WS_TEXT_MESSAGE', /binary/],
  ['a continuation without a message', clientFrame(WS_OP_CONTINUATION, Buffer.from([1])), 1002, 'LL_ERR_WS_PROTOCOL', /continuation/],
  ['a message over the limit (header only)', clientFrame(WS_OP_BINARY, Buffer.alloc(200_000)).subarray(0, 14), 1009, 'LL_ERR_WS_MESSAGE_TOO_LARGE', /payload/],
  ['a close frame with an invalid code', clientFrame(WS_OP_CLOSE, closePayload(1005)), 1002, 'LL_ERR_WS_PROTOCOL', /invalid close code 1005/],
];

for (const [what, frame, closeCode, code, message] of refusals) {
  test(`ws server - ${what} is refused: close ${closeCode} with a reason, the session closed with ${code}`, async (t) => {
    const { server, port } = await wsServer(t);
    const sessionP = nextEvent<[Session]>(server, 'session', 5000);
    const client = new RawClient(port, clientFrame(WS_OP_BINARY, HELLO));
    t.after(() => client.socket.destroy());
    const [session] = await sessionP;
    const closed = nextEvent<[CloseReason]>(session, 'close', 5000);
    client.write(frame);
    const [reason] = await closed;
    assert.equal(reason.code, 'transport-error');
    assert.equal((reason.error as { code?: string }).code, code);
    assert.match(reason.message, message);
    // The server sent FIN after its close frame; we never answered, so the close came from it.
    await client.closed;
    const sent = client.closeFrame();
    assert.equal(sent?.code, closeCode);
    assert.match(sent!.reason, message);
  });
}

test('ws server - a `ws` client sending fragmented binary messages reaches the session as one byte stream', async (t) => {
  const { server, port } = await wsServer(t);
  const sessionP = nextEvent<[Session]>(server, 'session', 5000);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ll`);
  t.after(() => ws.terminate());
  await nextEvent(ws, 'open', 3000);
  ws.send(HELLO.subarray(0, 3), { binary: true, fin: false });
  ws.send(HELLO.subarray(3), { binary: true, fin: true });
  const [session] = await sessionP;
  const messages: Buffer[] = [];
  session.on('message', (m: Buffer) => messages.push(Buffer.from(m)));
  const a = encodeFrame({ type: 'data', seq: 1, payload: Buffer.from('first') });
  const b = encodeFrame({ type: 'data', seq: 2, payload: Buffer.from('second') });
  const both = Buffer.concat([a, b]);
  // One lifeline frame split across three fragments, the next one inside the last.
  ws.send(both.subarray(0, 2), { binary: true, fin: false });
  ws.ping('between');
  ws.send(both.subarray(2, 5), { binary: true, fin: false });
  ws.send(both.subarray(5), { binary: true, fin: true });
  assert.ok(await eventually(() => messages.length === 2, 3000));
  assert.deepEqual(messages.map((m) => m.toString()), ['first', 'second']);
  const closed = nextEvent<[number]>(ws, 'close', 3000);
  await server.close();
  assert.equal((await closed)[0], 1000);
});

test('ws server - a client that pings and never reads cannot grow the server\'s buffer: pongs wait for the backlog to clear (RFC 6455 §5.5.3)', async (t) => {
  const { client, session } = await rawSession(t);
  client.socket.pause(); // never read again
  const ping = clientFrame(WS_OP_PING, Buffer.alloc(125, 7));
  // 120,000 pings (≈ 16 MiB of pongs if all were answered): more than loopback's socket buffers hold.
  const batch = Buffer.concat(Array.from({ length: 1000 }, () => ping));
  for (let i = 0; i < 120; i++) {
    if (!client.socket.write(batch)) await new Promise((resolve) => client.socket.once('drain', resolve));
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  const transport = (session as unknown as { connection: { transport: { bufferedBytes: number } } }).connection.transport;
  assert.ok(transport.bufferedBytes < 64 * 1024, `${transport.bufferedBytes} bytes wait in the server for a peer that never reads`);
  assert.equal(session.state, 'open');
});
