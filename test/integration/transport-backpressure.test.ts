/**
 * The Transport backpressure contract, per adapter, on real loopback sockets (types.ts: write()
 * returns false once the bytes waiting reach the high-water mark; onDrain() follows once the peer
 * took them): net.Socket (tcp.ts), the lean libuv handle (tcp-handle.ts), TLS (tcp.ts, kind
 * 'tls'), the lean WebSocket server (ws-server.ts, corked and plain writes, on both inner
 * transports) and UDP (udp/udp-transport.ts over two dgram sockets). The peer stops reading, we
 * write until write() says false and the bytes stay queued (the kernel buffers are full), no
 * drain comes while it does not read, and exactly one drain comes once it reads again, with
 * every byte delivered. docs/spec/0011-transports.md §Backpressure.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { TcpTransport } from '../../src/transport/tcp.js';
import { HandleTransport, handleBindings, takeOverConnections } from '../../src/transport/tcp-handle.js';
import { WsServerTransport } from '../../src/transport/ws-server.js';
import { UdpTransport } from '../../src/transport/udp/udp-transport.js';
import { decodePacket, type NumberedPacket } from '../../src/transport/udp/packet.js';
import type { Transport, TransportCloseCause, TransportHandlers } from '../../src/transport/types.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import { systemClock } from '../../src/time/clock.js';
import { testCertificates } from '../fixtures/certs.js';

class Recorder implements TransportHandlers {
  drains = 0;
  readonly chunks: Uint8Array[] = [];
  cause: TransportCloseCause | undefined;
  onData(chunk: Uint8Array): void {
    this.chunks.push(chunk.slice());
  }
  onDrain(): void {
    this.drains++;
  }
  onTransportClose(cause: TransportCloseCause): void {
    this.cause = cause;
  }
  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.byteLength, 0);
  }
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A server-side transport, the client socket at the other end, what the client received. */
interface StreamPair {
  transport: Transport;
  recorder: Recorder;
  peer: net.Socket;
  received(): number;
}

/** The peer's side: count what arrives; `pause()` stops reading (its kernel buffers fill). */
function countBytes(peer: net.Socket): () => number {
  let n = 0;
  peer.on('data', (c: Buffer) => (n += c.byteLength));
  return () => n;
}

async function netSocketPair(t: TestContext): Promise<StreamPair> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const peer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  peer.on('error', () => {});
  const [socket] = await accepted;
  const transport = new TcpTransport(socket, { sharedReadBuffer: true });
  const recorder = new Recorder();
  transport.setHandlers(recorder);
  t.after(() => {
    transport.destroy();
    peer.destroy();
    server.close();
  });
  return { transport, recorder, peer, received: countBytes(peer) };
}

async function handlePair(t: TestContext): Promise<StreamPair> {
  if (handleBindings() === null) t.skip('this Node lacks the stream bindings HandleTransport needs');
  const server = net.createServer(() => assert.fail('taken-over connections never reach net.Server'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = new Promise<HandleTransport>((resolve) => {
    assert.ok(takeOverConnections(server, (handle) => resolve(new HandleTransport(handle))));
  });
  const peer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  peer.on('error', () => {});
  const transport = await accepted;
  const recorder = new Recorder();
  transport.setHandlers(recorder);
  t.after(() => {
    transport.destroy();
    peer.destroy();
    server.close();
  });
  return { transport, recorder, peer, received: countBytes(peer) };
}

async function tlsPair(t: TestContext): Promise<StreamPair> {
  const certs = testCertificates();
  const server = tls.createServer({ key: certs.key, cert: certs.cert });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'secureConnection') as Promise<[tls.TLSSocket]>;
  const peer = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', ca: certs.ca, servername: 'localhost' });
  peer.on('error', () => {});
  const secured = once(peer, 'secureConnect');
  const [[socket]] = await Promise.all([accepted, secured]);
  const transport = new TcpTransport(socket, { kind: 'tls' });
  const recorder = new Recorder();
  transport.setHandlers(recorder);
  t.after(() => {
    transport.destroy();
    peer.destroy();
    server.close();
  });
  return { transport, recorder, peer, received: countBytes(peer) };
}

/** The lean WebSocket server transport over `inner` (the upgrade itself is not this test's). */
async function wsPair(t: TestContext, inner: (t: TestContext) => Promise<StreamPair>): Promise<StreamPair> {
  const base = await inner(t);
  const transport = new WsServerTransport(base.transport, { maxMessageBytes: 64 * 1024 });
  const recorder = new Recorder();
  transport.setHandlers(recorder);
  return { transport, recorder, peer: base.peer, received: base.received };
}

type Write = (transport: Transport, chunk: Uint8Array) => boolean;
const plainWrite: Write = (transport, chunk) => transport.write(chunk);
/** As delivery.ts writes a DATA frame over 1 KiB: a small header and the payload under cork. */
const corkedWrite: Write = (transport, chunk) => {
  transport.cork();
  transport.write(chunk.subarray(0, 3));
  const ok = transport.write(chunk.subarray(3));
  transport.uncork();
  return ok;
};

const streamRows: Array<[string, (t: TestContext) => Promise<StreamPair>, Write]> = [
  ['tcp on net.Socket', netSocketPair, plainWrite],
  ['tcp on net.Socket, corked', netSocketPair, corkedWrite],
  ['tcp on the lean handle', handlePair, plainWrite],
  ['tcp on the lean handle, corked', handlePair, corkedWrite],
  ['tls', tlsPair, plainWrite],
  ['tls, corked', tlsPair, corkedWrite],
  ['ws on the lean handle', (t) => wsPair(t, handlePair), plainWrite],
  ['ws on the lean handle, corked', (t) => wsPair(t, handlePair), corkedWrite],
  ['ws on net.Socket', (t) => wsPair(t, netSocketPair), plainWrite],
  ['ws on net.Socket, corked', (t) => wsPair(t, netSocketPair), corkedWrite],
];

for (const [label, makePair, write] of streamRows) {
  test(`backpressure - ${label}: write() is false while the peer does not read, one drain once it does, every byte delivered`, async (t) => {
    const { transport, recorder, peer, received } = await makePair(t);
    peer.pause();
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    let written = 0;
    let stuck = false;
    let drainsAtLastFalse = 0;
    // Bounded in count and time: loopback's kernel buffers hold a few MiB at most.
    const startedAt = performance.now();
    for (let i = 0; i < 2000 && !stuck && performance.now() - startedAt < 10_000; i++) {
      const ok = write(transport, chunk);
      written += chunk.byteLength;
      if (ok) continue;
      drainsAtLastFalse = recorder.drains;
      // False: either the kernel takes it soon (a drain comes; write on) or the peer's not
      // reading holds it (nothing comes: the state under test).
      await sleep(50);
      stuck = recorder.drains === drainsAtLastFalse;
    }
    assert.ok(stuck, `${label}: write() never stayed false (${written} B written)`);
    assert.ok(transport.bufferedBytes > 0, 'bytes wait in user space');
    await sleep(200);
    assert.equal(recorder.drains, drainsAtLastFalse, 'no drain while the peer does not read');
    peer.resume();
    assert.ok(await until(() => recorder.drains > drainsAtLastFalse, 5000), 'a drain once the peer reads');
    assert.ok(await until(() => received() >= written && transport.bufferedBytes === 0, 5000), `received ${received()} of ${written} B`);
    if (!label.startsWith('ws')) assert.equal(received(), written, 'exactly the bytes written');
    await sleep(50);
    assert.equal(recorder.drains, drainsAtLastFalse + 1, 'exactly one drain for the last false');
    assert.equal(recorder.cause, undefined, 'still open');
  });
}

const CID = Uint8Array.from([8, 7, 6, 5, 4, 3, 2, 1]);

/**
 * Two UdpTransports over two dgram sockets on loopback: `a` the client (its SHORT headers carry
 * the cid), `b` the server. `b` not reading is `b` dropping what arrives, as a full socket
 * receive buffer does.
 */
async function udpPair(t: TestContext) {
  const sockets = [dgram.createSocket('udp4'), dgram.createSocket('udp4')] as const;
  await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))));
  const ports = sockets.map((s) => s.address().port);
  const state = { bReads: true, closed: false };
  const path = (from: 0 | 1) => ({
    send: (datagram: Uint8Array) => void (state.closed || sockets[from].send(datagram, ports[1 - from], '127.0.0.1')),
    remoteAddress: '127.0.0.1',
    remotePort: ports[1 - from],
  });
  const a = new UdpTransport(path(0), { clock: systemClock, maxFrameSize: 1024 * 1024, header: { kind: 'short', cid: CID } });
  const b = new UdpTransport(path(1), { clock: systemClock, maxFrameSize: 1024 * 1024, header: { kind: 'short', cid: undefined } });
  sockets[0].on('message', (msg) => a.receive(decodePacket(msg, 'client') as NumberedPacket, msg.byteLength));
  sockets[1].on('message', (msg) => {
    if (state.bReads) b.receive(decodePacket(msg, 'server') as NumberedPacket, msg.byteLength);
  });
  const ra = new Recorder();
  const rb = new Recorder();
  a.setHandlers(ra);
  b.setHandlers(rb);
  t.after(() => {
    state.closed = true;
    a.destroy();
    b.destroy();
    for (const s of sockets) s.close();
  });
  return { a, b, ra, rb, state };
}

test('backpressure - udp: write() is false above the high-water mark of unacknowledged bytes, no drain while the peer takes nothing, one drain once it does, the stream delivered in order', async (t) => {
  const { a, ra, rb, state } = await udpPair(t);
  state.bReads = false;
  // DATA frames (the splitter reads frames: PING / PONG take the side path, the rest the stream).
  const frames = Array.from({ length: 4 }, (_, i) => encodeFrame({ type: 'data', seq: i + 1, payload: Buffer.alloc(32 * 1024, i + 1) }));
  const answers = frames.map((f) => a.write(f));
  const total = frames.reduce((n, f) => n + f.byteLength, 0);
  assert.equal(answers[0], true, 'below the mark');
  assert.equal(answers.at(-1), false, `above the mark: ${a.bufferedBytes} B unacknowledged`);
  await sleep(300);
  assert.equal(ra.drains, 0, 'no drain while the peer takes nothing');
  assert.equal(a.bufferedBytes, total, 'nothing acknowledged');
  state.bReads = true;
  // The flight sent meanwhile was lost: the probe timeout resends it (about 1 s before any RTT sample).
  assert.ok(await until(() => ra.drains > 0, 15_000), 'a drain once the peer takes the bytes');
  assert.ok(await until(() => rb.bytes === total && a.bufferedBytes === 0, 15_000), `delivered ${rb.bytes} of ${total} B`);
  assert.deepEqual(Buffer.concat(rb.chunks), Buffer.concat(frames), 'the stream, in order, once');
  assert.equal(ra.drains, 1, 'exactly one drain');
});
