/**
 * HandleTransport (transport/tcp-handle.ts) on real loopback sockets: the server side of each
 * test is a net.Server whose accepted connections are taken over before Node builds a
 * net.Socket, exactly as LifelineServer does with `leanSockets`.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { HandleTransport, handleBindings, takeOverConnections } from '../../src/transport/tcp-handle.js';
import type { TransportCloseCause, TransportHandlers } from '../../src/transport/types.js';
import { eventually } from './helpers.js';

class Recorder implements TransportHandlers {
  readonly chunks: Buffer[] = [];
  drains = 0;
  cause: TransportCloseCause | undefined;
  closes = 0;
  onData(chunk: Uint8Array): void {
    this.chunks.push(Buffer.from(chunk));
  }
  onDrain(): void {
    this.drains++;
  }
  onTransportClose(cause: TransportCloseCause): void {
    this.closes++;
    this.cause = cause;
  }
  get received(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

interface Pair {
  transport: HandleTransport;
  recorder: Recorder;
  client: net.Socket;
  clientReceived: () => Buffer;
  clientClosed: Promise<void>;
}

async function pair(t: TestContext): Promise<Pair> {
  if (handleBindings() === null) t.skip('this Node lacks the stream bindings HandleTransport needs');
  const server = net.createServer(() => assert.fail('net.Server must not see taken-over connections'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<HandleTransport>((resolve) => {
    assert.ok(takeOverConnections(server, (handle) => resolve(new HandleTransport(handle))), 'take-over');
  });
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  const clientChunks: Buffer[] = [];
  client.on('data', (c: Buffer) => clientChunks.push(c));
  const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const transport = await accepted;
  const recorder = new Recorder();
  transport.setHandlers(recorder);
  t.after(async () => {
    transport.destroy();
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { transport, recorder, client, clientReceived: () => Buffer.concat(clientChunks), clientClosed };
}

test('tcp-handle - bytes both ways, peer address, byte counters', async (t) => {
  const { transport, recorder, client, clientReceived } = await pair(t);
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  assert.equal(transport.kind, 'tcp');
  assert.equal(transport.remoteAddress, '127.0.0.1');
  assert.equal(transport.remotePort, client.localPort);
  client.write('hello');
  assert.ok(await eventually(() => recorder.received.toString() === 'hello', 2000), 'server read');
  assert.equal(transport.write(Buffer.from('world')), true);
  assert.ok(await eventually(() => clientReceived().toString() === 'world', 2000), 'client read');
  // A read larger than the small-copy path, and chunks are copies (the shared buffer is reused).
  const big = Buffer.alloc(40_000, 7);
  client.write(big);
  assert.ok(await eventually(() => recorder.received.length === 5 + big.length, 2000));
  assert.ok(recorder.received.subarray(5).equals(big));
  assert.equal(recorder.chunks[0]!.toString(), 'hello');
  assert.equal(transport.bytesRead, 5 + big.length);
  assert.equal(transport.bytesWritten, 5);
  assert.equal(transport.tunable.destroyed, false);
});

test('tcp-handle - the peer closing cleanly is cause end; counters survive the close', async (t) => {
  const { transport, recorder, client } = await pair(t);
  client.end('bye');
  assert.ok(await eventually(() => recorder.closes === 1, 2000), 'closed');
  assert.deepEqual(recorder.cause, { kind: 'end' });
  assert.equal(recorder.received.toString(), 'bye', 'data before the FIN is delivered');
  assert.equal(transport.bytesRead, 3);
  assert.equal(transport.write(Buffer.from('x')), false, 'no writes after close');
  assert.equal(transport.tunable.destroyed, true);
  assert.equal(transport.bufferedBytes, 0);
});

test('tcp-handle - a reset is cause error with the errno name; destroy() is cause local, once', async (t) => {
  const a = await pair(t);
  a.client.resetAndDestroy();
  assert.ok(await eventually(() => a.recorder.closes === 1, 2000));
  assert.equal(a.recorder.cause?.kind, 'error');
  assert.equal((a.recorder.cause?.error as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');

  const b = await pair(t);
  b.transport.destroy();
  b.transport.destroy();
  await b.clientClosed;
  assert.ok(await eventually(() => b.recorder.closes === 1, 2000));
  assert.deepEqual(b.recorder.cause, { kind: 'local' });
});

test('tcp-handle - end() flushes, sends FIN and still delivers what the peer sends until its FIN', async (t) => {
  const { transport, recorder, client, clientReceived, clientClosed } = await pair(t);
  // The client half-closes only after it has seen our FIN, and writes once more before it.
  client.on('end', () => {
    client.write('late');
    client.end();
  });
  (client as net.Socket & { allowHalfOpen: boolean }).allowHalfOpen = true;
  transport.cork();
  transport.write(Buffer.from('a'));
  transport.write(Buffer.from('b'));
  transport.end();
  await clientClosed;
  assert.equal(clientReceived().toString(), 'ab');
  assert.ok(await eventually(() => recorder.closes === 1, 2000));
  assert.equal(recorder.received.toString(), 'late');
  assert.deepEqual(recorder.cause, { kind: 'local' });
});

test('tcp-handle - a peer that stops reading: write() says full, drain follows once it reads', async (t) => {
  const { transport, recorder, client } = await pair(t);
  client.pause();
  const chunk = Buffer.alloc(256 * 1024, 1);
  let writes = 0;
  let full = false;
  // Bounded: the kernel buffers of a loopback pair hold a few MiB at most.
  while (!full && writes < 200) {
    full = !transport.write(chunk);
    writes++;
  }
  assert.ok(full, `write() never reported a full buffer after ${writes} writes`);
  assert.ok(transport.bufferedBytes > 0);
  assert.equal(recorder.drains, 0);
  let received = 0;
  client.on('data', (c: Buffer) => (received += c.length));
  client.resume();
  assert.ok(await eventually(() => recorder.drains === 1, 5000), 'drain');
  assert.ok(await eventually(() => received === writes * chunk.length, 5000), `received ${received} of ${writes * chunk.length}`);
  assert.equal(transport.bufferedBytes, 0);
  assert.equal(transport.bytesWritten, writes * chunk.length);
});

test('tcp-handle - corked batches go out as one writev of their parts, uncopied: byte-exact and in order when the kernel takes only part of them', async (t) => {
  const { transport, recorder, client, clientReceived } = await pair(t);
  assert.equal(typeof (transport as unknown as { handle: { writev?: unknown } }).handle.writev, 'function', 'this Node\'s handle has writev');
  client.pause();
  // Batches of three parts (a small header, a large payload, a small trailer), each batch its own
  // bytes: a part lost, doubled or reordered across a partial writev shows in the comparison.
  const batches: Buffer[][] = [];
  let stuck = false;
  for (let i = 0; i < 400 && !stuck; i++) {
    const parts = [Buffer.from([i & 0xff, 0xaa]), Buffer.alloc(48 * 1024 + i, (i * 7) & 0xff), Buffer.from([0xbb, i & 0xff, 0xcc])];
    batches.push(parts);
    transport.cork();
    for (const p of parts) transport.write(p);
    transport.uncork();
    if (transport.bufferedBytes > 0) {
      // Let the kernel take what it can; still queued afterwards means the peer's not reading holds it.
      await new Promise((resolve) => setTimeout(resolve, 20));
      stuck = transport.bufferedBytes > 0;
    }
  }
  assert.ok(stuck, 'some batches wait in the write queue (async writev)');
  const expected = Buffer.concat(batches.flat());
  client.resume();
  assert.ok(await eventually(() => clientReceived().length >= expected.length, 5000), `received ${clientReceived().length} of ${expected.length}`);
  assert.ok(clientReceived().equals(expected), 'byte-exact, batches in order');
  assert.ok(await eventually(() => recorder.drains >= 1, 2000), 'drain once the queue emptied');
  assert.equal(transport.bytesWritten, expected.length);
});

test('tcp-handle - handlers set after the peer already left still hear the close', async (t) => {
  if (handleBindings() === null) return t.skip('no stream bindings');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const accepted = new Promise<HandleTransport>((resolve) => takeOverConnections(server, (h) => resolve(new HandleTransport(h))));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const transport = await accepted;
  transport.destroy();
  client.destroy();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const recorder = new Recorder();
  transport.setHandlers(recorder);
  assert.ok(await eventually(() => recorder.closes === 1, 2000));
  assert.deepEqual(recorder.cause, { kind: 'local' });
});

test('tcp-handle - the peer half-closes while our writes are still queued: they are delivered, then cause end', async (t) => {
  const { transport, recorder, client } = await pair(t);
  (client as net.Socket & { allowHalfOpen: boolean }).allowHalfOpen = true;
  client.pause();
  const chunk = Buffer.alloc(256 * 1024, 2);
  let writes = 0;
  while (transport.write(chunk) && writes < 200) writes++;
  writes++;
  assert.ok(transport.bufferedBytes > 0, 'some bytes wait in the write queue');
  client.end();
  let received = 0;
  client.on('data', (c: Buffer) => (received += c.length));
  // Our FIN reaches the client only after the queue is written.
  const clientEnded = new Promise<void>((resolve) => client.once('end', () => resolve()));
  await new Promise((resolve) => setTimeout(resolve, 100));
  client.resume();
  await clientEnded;
  assert.equal(received, writes * chunk.length, 'every queued byte arrived before our FIN');
  assert.ok(await eventually(() => recorder.closes === 1, 3000));
  assert.deepEqual(recorder.cause, { kind: 'end' });
});

test('tcp-handle - takeOverConnections hands accept errors and unusable handles to net.Server as before', (t) => {
  if (handleBindings() === null) return t.skip('no stream bindings');
  const seenByNet: [number, unknown][] = [];
  const listening = {
    onconnection(status: number, handle: unknown) {
      seenByNet.push([status, handle]);
    },
  };
  const taken: unknown[] = [];
  assert.equal(takeOverConnections({ _handle: listening } as unknown as net.Server, (h) => taken.push(h)), true);
  const notAHandle = { readStart() {} };
  listening.onconnection(-24, undefined); // EMFILE: net.Server reports it
  listening.onconnection(0, notAHandle);
  assert.deepEqual(seenByNet, [[-24, undefined], [0, notAHandle]]);
  assert.deepEqual(taken, []);
  // Not listening (no handle): nothing to take over.
  assert.equal(takeOverConnections({ _handle: null } as unknown as net.Server, () => {}), false);
});
