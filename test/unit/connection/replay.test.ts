/**
 * Replay in slices (src/connection/replay.ts, docs/spec/0006-resume.md §Replay in slices): a
 * resumed session's retained DATA goes out in bounded slices per event-loop turn, in order,
 * exactly once, with send()s made meanwhile after it, backpressure respected, and a close or a
 * second transport loss stopping it cleanly. In-memory transports and a FakeClock: no sleeping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, type ConnectionOwner } from '../../../src/connection/connection.js';
import type { CloseReason } from '../../../src/connection/close-reason.js';
import { ResumeState } from '../../../src/connection/resume.js';
import { SLICE_MESSAGES, TURN_MESSAGES } from '../../../src/connection/replay.js';
import { createMemoryPair, type MemoryTransport } from '../../../src/transport/memory.js';
import type { Transport, TransportHandlers } from '../../../src/transport/types.js';
import { FakeClock } from '../../../src/time/fake-clock.js';
import type { Clock } from '../../../src/time/clock.js';
import { TimerScheduler } from '../../../src/time/scheduler.js';
import { FrameDecoder } from '../../../src/protocol/decoder.js';
import type { Frame } from '../../../src/protocol/frames.js';

const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

class Owner implements ConnectionOwner {
  seqs: number[] = [];
  texts: string[] = [];
  reasons: CloseReason[] = [];
  drains = 0;
  handshakeFrame() {}
  message(payload: Uint8Array, seq: number) {
    this.seqs.push(seq);
    this.texts.push(new TextDecoder().decode(payload));
  }
  ping() {}
  pingSent() {}
  pong() {}
  goaway() {}
  drain() {
    this.drains++;
  }
  closed(reason: CloseReason) {
    this.reasons.push(reason);
  }
}

/** A transport whose write() says "full" once `room` writes are used, until drain(). */
class ThrottledTransport implements Transport {
  readonly kind = 'memory' as const;
  readonly remoteAddress = 'memory';
  readonly remotePort = 0;
  room = Infinity;
  writes = 0;
  private handlers: TransportHandlers | undefined;
  constructor(readonly inner: MemoryTransport) {}
  get bufferedBytes() {
    return 0;
  }
  setHandlers(handlers: TransportHandlers) {
    this.handlers = handlers;
    this.inner.setHandlers(handlers);
  }
  write(bytes: Uint8Array) {
    this.writes++;
    const ok = this.inner.write(bytes);
    return ok && --this.room > 0;
  }
  cork() {}
  uncork() {}
  end() {
    this.inner.end();
  }
  destroy() {
    this.inner.destroy();
  }
  drain(room: number) {
    this.room = room;
    this.handlers?.onDrain();
  }
}

const text = (n: number) => `m${n}`.padEnd(32, '.');
const retaining = () => new ResumeState({ retain: true, maxBytes: 64 * 1024 * 1024, highWaterBytes: 16 * 1024 * 1024 });

/** A resume state holding seqs 1..n, unacknowledged (as if sent on an earlier connection). */
function retained(n: number): ResumeState {
  const state = retaining();
  for (let i = 1; i <= n; i++) state.record(new TextEncoder().encode(text(i)));
  state.writtenSeq = n;
  return state;
}

const turnClocks = new WeakMap<FakeClock, Clock>();
/**
 * Node's setTimeout(fn, 0) waits ≥ 1 ms: so does this clock's, so one advance(1) is one turn.
 * One per FakeClock: replays share their budget per Clock object.
 */
function turnClock(clock: FakeClock): Clock {
  let c = turnClocks.get(clock);
  if (c === undefined) turnClocks.set(clock, (c = { now: () => clock.now(), setTimer: (fn, ms) => clock.setTimer(fn, Math.max(1, ms)) }));
  return c;
}

function pair(opts: { state: ResumeState; receiver?: ResumeState; clock?: FakeClock; throttle?: boolean; pingAfterMs?: number }) {
  const fake = opts.clock ?? new FakeClock(1000);
  const clock = turnClock(fake);
  const scheduler = new TimerScheduler(clock);
  const [ta, tb] = createMemoryPair();
  const transportA = opts.throttle ? new ThrottledTransport(ta) : ta;
  const ownerA = new Owner();
  const ownerB = new Owner();
  const health = () => ({ status: 'ok' as const, load: 0 });
  const env = { clock, scheduler, maxFrameSize: 4096, health };
  const a = new Connection({ transport: transportA, owner: ownerA, env });
  const b = new Connection({ transport: tb, owner: ownerB, env });
  const params = { pingAfterMs: opts.pingAfterMs ?? 10_000, timeoutMs: 30_000, jitterMs: 0, peerMaxFrameSize: 4096 };
  a.open({ ...params, resume: opts.state });
  b.open({ ...params, resume: opts.receiver ?? retaining() });
  return { fake, ta, tb, transportA, a, b, ownerA, ownerB };
}

function framesWritten(t: MemoryTransport): Frame[] {
  const d = new FrameDecoder();
  const out: Frame[] = [];
  for (const chunk of t.written) d.push(chunk, (f) => out.push(f));
  return out;
}

const dataSeqs = (t: MemoryTransport) => framesWritten(t).flatMap((f) => (f.type === 'data' ? [f.seq] : []));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Run turns (1 ms each) and deliveries until `until` holds. */
async function turns(fake: FakeClock, until: () => boolean, max = 10_000): Promise<number> {
  let n = 0;
  while (!until() && n < max) {
    fake.advance(1);
    await flush();
    n++;
  }
  return n;
}

test('replay - a long replay goes out in bounded turns, in order, each message exactly once', async () => {
  const n = 5000;
  const { fake, ta, a, ownerB } = pair({ state: retained(n) });
  a.replayAfter(0);
  // The first turn's budget is written at once (the WELCOME turn), the rest on later turns.
  assert.equal(dataSeqs(ta).length, TURN_MESSAGES);
  await flush();
  fake.advance(1);
  assert.equal(dataSeqs(ta).length, 2 * TURN_MESSAGES, 'one more turn, one more budget');
  const used = await turns(fake, () => ownerB.seqs.length === n);
  assert.ok(used <= Math.ceil(n / TURN_MESSAGES) + 2, `${used} turns`);
  assert.deepEqual(ownerB.seqs, range(1, n));
  assert.deepEqual(dataSeqs(ta), range(1, n), 'nothing written twice');
  assert.equal(ownerB.texts[n - 1], text(n));
});

test('replay - replays sharing a clock share one budget per turn, round-robin', async () => {
  const fake = new FakeClock(1000);
  const one = pair({ state: retained(3000), clock: fake });
  const two = pair({ state: retained(3000), clock: fake });
  one.a.replayAfter(0);
  two.a.replayAfter(0);
  // The first took this turn's budget (it came first); the second waits for the next turn.
  assert.equal(dataSeqs(one.ta).length + dataSeqs(two.ta).length, TURN_MESSAGES, 'the turn budget is for both together');
  await flush();
  fake.advance(1);
  assert.equal(dataSeqs(one.ta).length + dataSeqs(two.ta).length, 2 * TURN_MESSAGES);
  assert.equal(dataSeqs(two.ta).length, TURN_MESSAGES / 2, 'next turn: slices of SLICE_MESSAGES, taking turns');
  assert.equal(TURN_MESSAGES / 2 % SLICE_MESSAGES, 0);
  await turns(fake, () => one.ownerB.seqs.length === 3000 && two.ownerB.seqs.length === 3000);
  assert.deepEqual(one.ownerB.seqs, range(1, 3000));
  assert.deepEqual(two.ownerB.seqs, range(1, 3000));
});

test('replay - only what the peer lacks, and the ACK / seq bookkeeping as before slicing', async () => {
  const state = retained(100);
  const { fake, ta, a, b, ownerB } = pair({ state, receiver: Object.assign(retaining(), { receivedSeq: 40, ackSentSeq: 40 }) });
  a.replayAfter(40);
  assert.equal(state.ackedSeq, 40, "the peer's resumeLastSeq counts as an ACK");
  assert.equal(state.unackedCount, 60);
  await turns(fake, () => ownerB.seqs.length === 60);
  assert.deepEqual(ownerB.seqs, range(41, 100));
  assert.deepEqual(dataSeqs(ta), range(41, 100));
  assert.equal(b.lastReceivedSeq, 100);
  // The receiver's cumulative ACK frees everything; the sender's counters are as they were.
  fake.advance(60);
  await flush();
  assert.equal(state.ackedSeq, 100);
  assert.equal(state.unackedCount, 0);
  assert.equal(state.unackedBytes, 0);
  assert.equal(state.sentSeq, 100);
  assert.equal(state.writtenSeq, 100);
});

test('replay - send() during a replay goes out after it, never in between; afterwards directly', async () => {
  const n = 3000;
  const state = retained(n);
  const { fake, ta, a, ownerB } = pair({ state });
  a.replayAfter(0);
  assert.equal(a.send(new TextEncoder().encode('new-1')), true, 'retained, within bounds: no backpressure');
  assert.equal(state.sentSeq, n + 1);
  assert.ok(!dataSeqs(ta).includes(n + 1), 'not written ahead of the replay');
  fake.advance(1);
  a.send(new TextEncoder().encode('new-2'));
  await turns(fake, () => ownerB.seqs.length === n + 2);
  assert.deepEqual(ownerB.seqs, range(1, n + 2));
  assert.deepEqual(ownerB.texts.slice(-2), ['new-1', 'new-2']);
  // The replay is over: a send is written at once again.
  const before = ta.written.length;
  a.send(new TextEncoder().encode('new-3'));
  assert.equal(ta.written.length, before + 1);
  await flush();
  assert.deepEqual(ownerB.seqs, range(1, n + 3));
  assert.deepEqual(dataSeqs(ta), range(1, n + 3), 'each once');
});

test('replay - a write that returns false stops the slice until the transport drains', async () => {
  const { fake, ta, transportA, a, ownerA, ownerB } = pair({ state: retained(600), throttle: true });
  const throttled = transportA as ThrottledTransport;
  throttled.room = 10;
  a.replayAfter(0);
  assert.equal(throttled.writes, 10, 'the slice ends at the write that said full');
  await turns(fake, () => false, 20);
  assert.equal(throttled.writes, 10, 'no more writes while waiting for drain, however many turns');
  assert.equal(a.send(new TextEncoder().encode('x')), false, 'send() reports backpressure meanwhile');
  throttled.drain(100);
  assert.equal(ownerA.drains, 1, 'the owner still hears drain');
  assert.equal(throttled.writes, 110);
  throttled.drain(Infinity);
  await turns(fake, () => ownerB.seqs.length === 601);
  assert.deepEqual(ownerB.seqs, range(1, 601));
  assert.deepEqual(dataSeqs(ta), range(1, 601));
});

test('replay - a second transport loss mid-replay stops it; the next resume replays what is still unacknowledged', async () => {
  const n = 5000;
  const state = retained(n);
  const received = retaining();
  const fake = new FakeClock(1000);
  const first = pair({ state, receiver: received, clock: fake });
  first.a.replayAfter(0);
  await flush();
  fake.advance(1);
  await flush();
  const got = first.ownerB.seqs.length;
  assert.ok(got > 0 && got < n);
  // Cut: both ends see the transport go (no CLOSE).
  first.ta.destroy();
  await flush();
  assert.equal(first.a.state, 'closed');
  const writesAtCut = first.ta.written.length;
  await turns(fake, () => false, 10);
  assert.equal(first.ta.written.length, writesAtCut, 'no writes after the transport closed');
  assert.equal(fake.pendingTimers, 0, 'no timer left behind (heartbeat, ACK or replay)');
  assert.equal(state.unackedCount + state.ackedSeq, n, 'nothing lost from the replay buffer');

  // Resume on a new connection: the peer says what it has; the rest comes exactly once.
  const second = pair({ state, receiver: received, clock: fake });
  second.a.replayAfter(received.receivedSeq);
  await turns(fake, () => received.receivedSeq === n);
  const all = [...first.ownerB.seqs, ...second.ownerB.seqs];
  assert.deepEqual(all, range(1, n));
  assert.deepEqual(dataSeqs(second.ta), range(got + 1, n), 'only the rest replayed');
});

test('replay - destroy() mid-replay stops it: no DATA after, nothing pending', async () => {
  const { fake, ta, a } = pair({ state: retained(5000) });
  a.replayAfter(0);
  a.destroy({ code: 'transport-error', message: 'test', initiator: 'local', detectedBy: 'application' });
  const written = ta.written.length;
  await turns(fake, () => false, 10);
  assert.equal(ta.written.length, written);
  assert.equal(fake.pendingTimers, 0);
});

test('replay - a graceful close mid-replay writes the rest first: CLOSE is the last frame', async () => {
  const n = 5000;
  const { fake, ta, a, ownerB } = pair({ state: retained(n) });
  a.replayAfter(0);
  a.send(new TextEncoder().encode('last'));
  a.close('normal', 'bye');
  const frames = framesWritten(ta);
  assert.equal(frames.at(-1)?.type, 'close');
  assert.deepEqual(dataSeqs(ta), range(1, n + 1));
  await turns(fake, () => ownerB.seqs.length === n + 1, 20);
  assert.deepEqual(ownerB.seqs, range(1, n + 1));
  await turns(fake, () => false, 10);
  assert.equal(framesWritten(ta).at(-1)?.type, 'close', 'nothing written after CLOSE');
});

test('replay - the heartbeat keeps running during a long replay', async () => {
  const n = 40_000; // ≈ 40 turns of 1 ms
  // A receiver that does not acknowledge (not retaining): the sender hears nothing, so it pings.
  const silent = new ResumeState({ retain: false, maxBytes: Infinity, highWaterBytes: Infinity });
  const { fake, ta, a, b, ownerB } = pair({ state: retained(n), receiver: silent, pingAfterMs: 5 });
  a.replayAfter(0);
  await turns(fake, () => ownerB.seqs.length === n);
  const frames = framesWritten(ta);
  const firstPing = frames.findIndex((f) => f.type === 'ping');
  const lastData = frames.map((f) => f.type).lastIndexOf('data');
  assert.ok(firstPing > 0 && firstPing < lastData, `a PING went out between replay slices (at frame ${firstPing} of ${frames.length})`);
  assert.ok(framesWritten(ta as MemoryTransport).filter((f) => f.type === 'ping').length >= 2);
  assert.equal(a.state, 'open');
  assert.equal(b.state, 'open');
  assert.deepEqual(ownerB.seqs, range(1, n));
});

test('replay - an ACK beyond the cursor (the peer had them) skips what it covers', async () => {
  const state = retained(3000);
  const { fake, ta, a } = pair({ state });
  a.replayAfter(0);
  const written = dataSeqs(ta).length;
  state.ack(2500); // as an ACK frame would
  await turns(fake, () => dataSeqs(ta).at(-1) === 3000);
  assert.deepEqual(dataSeqs(ta), [...range(1, written), ...range(2501, 3000)]);
});

test('replay - nothing to replay: no replay, send() writes directly', async () => {
  const state = retained(10);
  const { ta, a } = pair({ state });
  a.replayAfter(10);
  assert.equal(ta.written.length, 0);
  a.send(new TextEncoder().encode('x'));
  assert.deepEqual(dataSeqs(ta), [11]);
});
