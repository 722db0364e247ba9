import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, type ConnectionOwner, type PongInfo } from '../../../src/connection/connection.js';
import type { CloseReason } from '../../../src/connection/close-reason.js';
import { createMemoryPair, type MemoryTransport } from '../../../src/transport/memory.js';
import { FakeClock } from '../../../src/time/fake-clock.js';
import { TimerScheduler } from '../../../src/time/scheduler.js';
import { FrameDecoder } from '../../../src/protocol/decoder.js';
import { encodeDataHeader, encodeFrame } from '../../../src/protocol/encode.js';
import type { Frame } from '../../../src/protocol/frames.js';

/** Let queued microtasks (MemoryTransport deliveries) run. */
const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

class RecordingOwner implements ConnectionOwner {
  handshakes: Frame[] = [];
  messages: string[] = [];
  pongs: PongInfo[] = [];
  reasons: CloseReason[] = [];
  handshakeFrame(frame: Frame) {
    this.handshakes.push(frame);
  }
  message(payload: Uint8Array) {
    this.messages.push(new TextDecoder().decode(payload));
  }
  ping() {}
  pingSent() {}
  pong(info: PongInfo) {
    this.pongs.push(info);
  }
  goaway() {}
  drain() {}
  closed(reason: CloseReason) {
    this.reasons.push(reason);
  }
}

function framesWritten(t: MemoryTransport): Frame[] {
  const d = new FrameDecoder();
  const out: Frame[] = [];
  for (const chunk of t.written) d.push(chunk, (f) => out.push(f));
  return out;
}

function openPair(opts: { pingAfterMs?: number; timeoutMs?: number } = {}) {
  const clock = new FakeClock(1000);
  const scheduler = new TimerScheduler(clock);
  const [ta, tb] = createMemoryPair();
  const ownerA = new RecordingOwner();
  const ownerB = new RecordingOwner();
  const health = () => ({ status: 'busy' as const, load: 77 });
  const a = new Connection({ transport: ta, owner: ownerA, clock, scheduler, maxFrameSize: 4096, health });
  const b = new Connection({ transport: tb, owner: ownerB, clock, scheduler, maxFrameSize: 4096, health });
  const params = { pingAfterMs: opts.pingAfterMs ?? 100, timeoutMs: opts.timeoutMs ?? 300, jitterMs: 0, peerMaxFrameSize: 4096 };
  a.open(params);
  b.open({ ...params, pingAfterMs: params.pingAfterMs + 50 });
  return { clock, ta, tb, a, b, ownerA, ownerB };
}

test('connection - pre-open frames go to the owner, and a CLOSE there ends the connection', async () => {
  const clock = new FakeClock();
  const [ta, tb] = createMemoryPair();
  const owner = new RecordingOwner();
  new Connection({ transport: ta, owner, clock, scheduler: new TimerScheduler(clock), maxFrameSize: 4096, health: () => ({ status: 'ok', load: 0 }) });
  tb.setHandlers({ onData() {}, onDrain() {}, onTransportClose() {} });
  tb.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 100, heartbeatTimeoutMs: 300 }));
  await flush();
  assert.equal(owner.handshakes.length, 1);
  assert.equal(owner.handshakes[0]!.type, 'hello');
  tb.write(encodeFrame({ type: 'close', code: 'server-full', message: 'full' }));
  await flush();
  assert.equal(owner.reasons.length, 1);
  assert.equal(owner.reasons[0]!.code, 'server-full');
  assert.equal(owner.reasons[0]!.initiator, 'peer');
});

test('connection - handshake timer closes with handshake-timeout and sends CLOSE', async () => {
  const clock = new FakeClock();
  const [ta, tb] = createMemoryPair();
  const owner = new RecordingOwner();
  const conn = new Connection({ transport: ta, owner, clock, scheduler: new TimerScheduler(clock), maxFrameSize: 4096, health: () => ({ status: 'ok', load: 0 }) });
  tb.setHandlers({ onData() {}, onDrain() {}, onTransportClose() {} });
  conn.startHandshakeTimer(500);
  clock.advance(499);
  await flush();
  assert.equal(owner.reasons.length, 0);
  clock.advance(1);
  await flush();
  assert.equal(owner.reasons[0]?.code, 'handshake-timeout');
  const sent = framesWritten(ta);
  assert.deepEqual(sent.at(-1), { type: 'close', code: 'handshake-timeout', message: 'no handshake within 500 ms' });
});

test('connection - messages flow in order and PING is answered with our status and load', async () => {
  const { a, b, ownerA, ownerB, clock, ta, tb } = openPair();
  a.send(new TextEncoder().encode('one'));
  a.send(new TextEncoder().encode('two'));
  b.send(new Uint8Array(3000).fill(65)); // above the coalescing limit: header and payload written apart
  await flush();
  assert.deepEqual(ownerB.messages, ['one', 'two']);
  assert.equal(ownerA.messages[0]!.length, 3000);
  // a pings first (100 ms idle) and b answers; the PONG proves life and gives an RTT.
  clock.advance(100);
  await flush();
  assert.equal(framesWritten(ta).filter((f) => f.type === 'ping').length, 1);
  assert.deepEqual(
    framesWritten(tb).filter((f) => f.type === 'pong'),
    [{ type: 'pong', id: 0, status: 'busy', load: 77 }],
  );
  assert.equal(ownerA.pongs.length, 1);
  assert.equal(ownerA.pongs[0]!.rttMs, 0);
  assert.equal(ownerA.pongs[0]!.status, 'busy');
  assert.equal(a.peerStatus, 'busy');
});

test('connection - outbound traffic does not prove liveness: a black-holed peer dies at the timeout', async () => {
  const { a, ownerA, clock, ta } = openPair({ pingAfterMs: 100, timeoutMs: 300 });
  ta.forwarding = false; // nothing we send arrives, so nothing comes back either
  ta.peer!.forwarding = false;
  for (let t = 0; t < 290; t += 10) {
    a.send(new Uint8Array([1])); // we keep writing: must not count
    clock.advance(10);
    await flush();
  }
  assert.equal(ownerA.reasons.length, 0, 'not dead before the timeout');
  clock.advance(10);
  await flush();
  const reason = ownerA.reasons[0];
  assert.equal(reason?.code, 'heartbeat-timeout');
  assert.equal(reason?.detectedBy, 'heartbeat');
  assert.equal(reason?.sinceLastSeenMs, 300);
  assert.equal(a.state, 'closed');
});

test('connection - inbound traffic postpones pings', async () => {
  const { b, clock, ta } = openPair({ pingAfterMs: 100, timeoutMs: 300 });
  for (let i = 0; i < 20; i++) {
    b.send(new Uint8Array([i]));
    clock.advance(50);
    await flush();
  }
  assert.equal(framesWritten(ta).filter((f) => f.type === 'ping').length, 0);
});

test('connection - out-of-sequence DATA is a protocol error', async () => {
  const { ownerA, ta, tb } = openPair();
  const header = encodeDataHeader(5, 1);
  tb.write(new Uint8Array([...header, 9]));
  await flush();
  assert.equal(ownerA.reasons[0]?.code, 'protocol-error');
  assert.match(ownerA.reasons[0]!.message, /expected 1, got 5/);
  assert.equal(framesWritten(ta).at(-1)?.type, 'close');
});

test('connection - malformed bytes close with protocol-error and the decoder error', async () => {
  const { ownerA, ta, tb } = openPair();
  tb.write(new Uint8Array([0x3f, 0x00])); // long frame type 63: unknown
  await flush();
  const reason = ownerA.reasons[0];
  assert.equal(reason?.code, 'protocol-error');
  assert.equal((reason?.error as { code?: string } | undefined)?.code, 'LL_ERR_UNKNOWN_FRAME_TYPE');
  const close = framesWritten(ta).at(-1);
  assert.equal(close?.type === 'close' && close.code, 'protocol-error');
});

test('connection - send() after close throws LL_ERR_NOT_OPEN; oversize throws LL_ERR_FRAME_TOO_LARGE', async () => {
  const { a } = openPair();
  assert.throws(() => a.send(new Uint8Array(5000)), { code: 'LL_ERR_FRAME_TOO_LARGE' });
  a.close();
  await flush();
  assert.throws(() => a.send(new Uint8Array(1)), { code: 'LL_ERR_NOT_OPEN' });
});

test('connection - close reasons: local-close here, remote-close there, exactly once each', async () => {
  const { a, ownerA, ownerB } = openPair();
  a.close('normal', 'bye');
  a.close('normal', 'again');
  await flush();
  assert.equal(ownerA.reasons.length, 1);
  assert.equal(ownerA.reasons[0]!.code, 'local-close');
  assert.equal(ownerB.reasons.length, 1);
  assert.equal(ownerB.reasons[0]!.code, 'remote-close');
  assert.equal(ownerB.reasons[0]!.remoteCode, 'normal');
  assert.equal(ownerB.reasons[0]!.message, 'bye');
});

test('connection - DATA the peer sent before it saw our CLOSE is still delivered', async () => {
  const { a, b, ownerA } = openPair();
  // Both write at the same time: a closes while b's messages are already on the wire.
  b.send(new TextEncoder().encode('late-1'));
  b.send(new TextEncoder().encode('late-2'));
  a.close('normal', 'bye');
  await flush();
  assert.deepEqual(ownerA.messages, ['late-1', 'late-2']);
  assert.equal(ownerA.reasons[0]?.code, 'local-close');
});

test('connection - pushStatus: a PING carries a PONG with our status only when the peer has not heard it yet', async () => {
  const clock = new FakeClock(1000);
  const scheduler = new TimerScheduler(clock);
  const [ta, tb] = createMemoryPair();
  let report = { status: 'ok' as 'ok' | 'busy' | 'draining', load: 10 };
  const leader = new Connection({ transport: ta, owner: new RecordingOwner(), clock, scheduler, maxFrameSize: 4096, health: () => report });
  const follower = new RecordingOwner();
  const b = new Connection({ transport: tb, owner: follower, clock, scheduler, maxFrameSize: 4096, health: () => ({ status: 'ok', load: 0 }) });
  leader.open({ pingAfterMs: 100, timeoutMs: 400, jitterMs: 0, peerMaxFrameSize: 4096, pushStatus: true });
  b.open({ pingAfterMs: 150, timeoutMs: 400, jitterMs: 0, peerMaxFrameSize: 4096 });
  const beat = async () => {
    const before = ta.written.length;
    clock.advance(100);
    await flush();
    return ta.written.slice(before).map((c) => Buffer.from(c).toString('hex'));
  };
  // First beat: the follower knows nothing of us yet: PONG(id 0, ok, load 10) + PING 0, one write.
  assert.deepEqual(await beat(), ['800a40']);
  assert.deepEqual(follower.pongs.map((p) => [p.status, p.load, p.rttMs]), [['ok', 10, undefined]]);
  // Unchanged, or a load change below LOAD_PUSH_STEP: a bare 1-byte PING.
  assert.deepEqual(await beat(), ['41']);
  report = { status: 'ok', load: 41 };
  assert.deepEqual(await beat(), ['42']);
  // The status changed: pushed with the PING.
  report = { status: 'busy', load: 41 };
  assert.deepEqual(await beat(), ['a02943']);
  assert.equal(b.peerStatus, 'busy');
  // The load moved by a full step: pushed.
  report = { status: 'busy', load: 73 };
  assert.deepEqual(await beat(), ['a04944']);
  assert.deepEqual(await beat(), ['45']);
  assert.equal(leader.state, 'open');
  assert.equal(b.state, 'open');
});
