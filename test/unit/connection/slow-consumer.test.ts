/**
 * The slow-consumer policy (docs/spec/0003-enforcement-and-drain.md §Slow consumers) on a fake
 * transport whose peer reads only when the test says so, with a FakeClock: a peer that takes none
 * of the bytes waiting for it for the heartbeat timeout is closed with `slow-consumer`; one that
 * takes some, or drains, is not; anything above the ceiling (2 × maxBufferedBytes) is closed at
 * once; send()'s own false → BufferOverflowError stays below it; a peer that sends nothing
 * either is the heartbeat's (heartbeat-timeout), not a slow consumer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, type ConnectionOwner } from '../../../src/connection/connection.js';
import type { CloseReason } from '../../../src/connection/close-reason.js';
import { ResumeState } from '../../../src/connection/resume.js';
import { slowConsumerCeiling } from '../../../src/connection/slow-consumer.js';
import { FakeClock } from '../../../src/time/fake-clock.js';
import { TimerScheduler } from '../../../src/time/scheduler.js';
import { FrameDecoder } from '../../../src/protocol/decoder.js';
import { encodeFrame } from '../../../src/protocol/encode.js';
import type { Frame } from '../../../src/protocol/frames.js';
import { BufferOverflowError } from '../../../src/errors.js';
import type { Transport, TransportCloseCause, TransportHandlers } from '../../../src/transport/types.js';

/** A transport whose "kernel" takes nothing until take(n): bytes wait in `queued`. */
class StalledTransport implements Transport {
  readonly kind = 'memory' as const;
  readonly remoteAddress = 'fake';
  readonly remotePort = 0;
  handlers: TransportHandlers | undefined;
  bufferedBytes = 0;
  bytesWritten = 0;
  destroyed = false;
  ended = false;
  readonly written: Uint8Array[] = [];
  constructor(private readonly highWaterBytes: number) {}
  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }
  write(bytes: Uint8Array): boolean {
    if (this.destroyed || this.ended) return false;
    this.written.push(bytes.slice());
    this.bufferedBytes += bytes.byteLength;
    this.bytesWritten += bytes.byteLength;
    return this.bufferedBytes < this.highWaterBytes;
  }
  /** The peer read n bytes; drain once nothing waits. */
  take(n: number): void {
    this.bufferedBytes = Math.max(0, this.bufferedBytes - n);
    if (this.bufferedBytes === 0) this.handlers?.onDrain();
  }
  cork(): void {}
  uncork(): void {}
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const cause: TransportCloseCause = { kind: 'local' };
    queueMicrotask(() => this.handlers?.onTransportClose(cause));
  }
}

class Owner implements ConnectionOwner {
  reasons: CloseReason[] = [];
  drains = 0;
  handshakeFrame() {}
  message() {}
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

const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

const TIMEOUT_MS = 1000;
const MAX_BUFFERED = 64 * 1024;

function open(opts: { resume?: ResumeState } = {}) {
  const clock = new FakeClock(1000);
  const transport = new StalledTransport(16 * 1024);
  const owner = new Owner();
  const conn = new Connection({ transport, owner, clock, scheduler: new TimerScheduler(clock), maxFrameSize: 1 << 20, maxBufferedBytes: MAX_BUFFERED, health: () => ({ status: 'ok', load: 0 }) });
  // The peer "keeps pinging" (below), so the heartbeat stays out of the way.
  conn.open({ pingAfterMs: TIMEOUT_MS - 100, timeoutMs: TIMEOUT_MS, jitterMs: 0, peerMaxFrameSize: 1 << 20, ...(opts.resume ? { resume: opts.resume } : {}) });
  /** The peer proves it is alive (a PING), as a reader that stopped reading but still writes. */
  const peerPings = () => conn.onData(encodeFrame({ type: 'ping', id: 1 }));
  /** Time passes in 100 ms steps, the peer pinging at each. */
  const advance = async (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      clock.advance(100);
      peerPings();
      await flush();
    }
  };
  return { clock, transport, owner, conn, peerPings, advance };
}

/** send() until it refuses (BufferOverflowError) or returns false `falses` times; the count is bounded. */
function fill(conn: Connection, size: number, untilOverflow: boolean): { sent: number; overflow: unknown } {
  const chunk = new Uint8Array(size);
  let sent = 0;
  for (let i = 0; i < 1000; i++) {
    try {
      const ok = conn.send(chunk);
      sent++;
      if (!ok && !untilOverflow) return { sent, overflow: undefined };
    } catch (err) {
      return { sent, overflow: err };
    }
  }
  return { sent, overflow: undefined };
}

function lastFrame(t: StalledTransport): Frame | undefined {
  const d = new FrameDecoder({ maxFrameSize: 1 << 20 });
  const out: Frame[] = [];
  for (const chunk of t.written) d.push(chunk, (f) => out.push(f));
  return out.at(-1);
}

test('slow consumer - a peer that takes nothing for the heartbeat timeout is closed with slow-consumer (it kept pinging)', async () => {
  const { transport, owner, conn, advance } = open();
  const { overflow } = fill(conn, 4096, true);
  assert.ok(overflow instanceof BufferOverflowError, "the application's own bound comes first");
  assert.ok(transport.bufferedBytes <= MAX_BUFFERED);
  await advance(TIMEOUT_MS - 100);
  assert.equal(owner.reasons.length, 0, 'not before the timeout');
  await advance(100);
  const reason = owner.reasons[0];
  assert.equal(reason?.code, 'slow-consumer');
  assert.equal(reason?.detectedBy, 'send-buffer');
  assert.equal(reason?.initiator, 'local');
  assert.equal(reason?.bufferedBytes, transport.bufferedBytes - 4, 'what waited before the 4-byte CLOSE');
  assert.match(reason!.message, /took none of \d+ waiting bytes for 1000 ms/);
  assert.equal(transport.destroyed, true, 'dropped at once, not ended (end would wait for a reader that is not there)');
  assert.deepEqual(lastFrame(transport), { type: 'close', code: 'slow-consumer', message: '' }, 'CLOSE queued best effort');
  assert.equal(owner.reasons.length, 1, 'exactly one close');
  assert.equal(conn.state, 'closed');
});

test('slow consumer - a peer that reads, however slowly, is watched again; once it stops it is closed one timeout later', async () => {
  const { transport, owner, conn, advance } = open();
  fill(conn, 4096, true);
  for (let period = 0; period < 5; period++) {
    await advance(TIMEOUT_MS / 2);
    transport.take(1); // one byte per half timeout: progress
    await advance(TIMEOUT_MS / 2);
    assert.equal(owner.reasons.length, 0, `still open after ${period + 1} timeouts of slow reading`);
  }
  // It stops reading: the watch, re-armed at the last check, fires one timeout later.
  await advance(TIMEOUT_MS);
  assert.equal(owner.reasons[0]?.code, 'slow-consumer');
});

test('slow consumer - a peer that neither reads nor sends is left to the heartbeat: heartbeat-timeout (a dead path, which a resumable session survives), never slow-consumer', async () => {
  const { clock, owner, conn } = open();
  fill(conn, 4096, true);
  for (let t = 0; t < 3 * TIMEOUT_MS && owner.reasons.length === 0; t += 100) {
    clock.advance(100);
    await flush();
  }
  assert.equal(owner.reasons.length, 1);
  assert.equal(owner.reasons[0]!.code, 'heartbeat-timeout');
  assert.equal(conn.state, 'closed');
});

test('slow consumer - a drain ends the watch; send() false and BufferOverflowError are unchanged for the application', async () => {
  const { transport, owner, conn, advance } = open();
  const first = fill(conn, 4096, false);
  assert.ok(first.sent >= 1);
  const { overflow } = fill(conn, 4096, true);
  assert.ok(overflow instanceof BufferOverflowError);
  assert.equal(owner.reasons.length, 0, 'refusing a send does not close');
  await advance(TIMEOUT_MS / 2);
  transport.take(transport.bufferedBytes); // the peer reads everything: drain
  assert.equal(owner.drains, 1);
  await advance(10 * TIMEOUT_MS);
  assert.equal(owner.reasons.length, 0, 'no close after a drain');
  assert.equal(conn.state, 'open');
  assert.equal(conn.send(new Uint8Array(10)), true);
});

test('slow consumer - above the ceiling (2 × maxBufferedBytes) the connection closes at once: a resumable session, bounded only by its replay buffer', async () => {
  const resume = new ResumeState({ retain: true, highWaterBytes: 1 << 30, maxBytes: 1 << 30 });
  const { transport, owner, conn } = open({ resume });
  const ceiling = slowConsumerCeiling(MAX_BUFFERED);
  let sends = 0;
  while (conn.state === 'open' && sends < 1000) {
    conn.send(new Uint8Array(8192));
    sends++;
  }
  assert.equal(conn.state, 'closing', 'closed by the ceiling, not by the loop bound');
  assert.ok(transport.bufferedBytes <= ceiling + 8192 + 64, `buffered ${transport.bufferedBytes}, ceiling ${ceiling}`);
  await flush();
  assert.equal(owner.reasons[0]?.code, 'slow-consumer');
  assert.match(owner.reasons[0]!.message, /above the ceiling of 131072/);
  assert.throws(() => conn.send(new Uint8Array(1)), /connection is closed/);
  assert.equal(resume.unackedCount, sends, 'every message the application handed over stays retained (the server decides what the session keeps)');
});

test('slow consumer - the wire code: CLOSE slow-consumer is code 10 (PROTOCOL.md §7.1, §11)', () => {
  assert.equal(Buffer.from(encodeFrame({ type: 'close', code: 'slow-consumer', message: '' })).toString('hex'), '05020a00');
  const out: Frame[] = [];
  new FrameDecoder().push(Uint8Array.from([0x05, 0x02, 0x0a, 0x00]), (f) => out.push(f));
  assert.deepEqual(out, [{ type: 'close', code: 'slow-consumer', message: '' }]);
});
