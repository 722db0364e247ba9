import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferOverflowError } from '../../../../src/errors.js';
import { FakeClock } from '../../../../src/time/fake-clock.js';
import { ReliableChannel } from '../../../../src/transport/udp/channel.js';
import { MAX_DATAGRAM_BYTES, type NumberedPacket } from '../../../../src/transport/udp/packet.js';
import { channelPair, concat, pattern, type Pair } from './helpers.js';

const fromA = (p: Pair) => p.sent.filter((r) => r.from === 'a');
const fromB = (p: Pair) => p.sent.filter((r) => r.from === 'b');

test('channel - lossless: 100 KB arrive once, in order, nothing resent, backpressure then one drain', () => {
  const p = channelPair();
  const data = pattern(100_000);
  const results: boolean[] = [];
  for (let i = 0; i < data.length; i += 10_000) results.push(p.a.channel.write(data.subarray(i, i + 10_000)));
  assert.deepEqual(results.slice(0, 6), [true, true, true, true, true, true]);
  assert.equal(results[7], false); // above 64 KiB unacknowledged
  p.clock.advance(5_000);
  assert.deepEqual(concat(p.b.received), data);
  assert.equal(p.a.drains, 1);
  assert.equal(p.a.channel.bufferedBytes, 0);
  assert.equal(p.a.channel.bytesInFlight, 0);
  assert.equal(p.a.channel.senderStats.retransmittedBytes, 0);
  assert.ok(p.sent.every((r) => r.bytes.length <= MAX_DATAGRAM_BYTES), 'datagram size');
  assert.equal(p.clock.pendingTimers, 0, 'an idle channel holds no timer');
});

test('channel - idle says nothing: 10 minutes without writes send no datagram and raise no event', () => {
  const p = channelPair();
  p.a.channel.write(pattern(3000));
  p.clock.advance(1_000);
  const before = p.sent.length;
  p.clock.advance(600_000);
  assert.equal(p.sent.length, before);
  assert.equal(p.a.channel.isDestroyed, false);
  assert.equal(p.b.peerEnded + p.a.endAcknowledged, 0);
});

test('channel - a turn of writes is packed together; datagrams carry at most maxDatagramBytes', () => {
  const p = channelPair();
  for (let i = 0; i < 50; i++) p.a.channel.write(pattern(20, i * 20));
  p.clock.advance(0);
  assert.equal(fromA(p).length, 1);
  assert.equal(fromA(p)[0]!.packet.stream!.bytes.length, 1000);
});

test('channel - ACK within 50 ms for one datagram, at once after two or on a gap', () => {
  const one = channelPair();
  one.a.channel.write(pattern(500));
  one.clock.advance(1_000);
  assert.deepEqual(fromB(one).map((r) => [r.atMs, r.packet.ack?.cumulative]), [[60, 500]]);

  const two = channelPair();
  two.a.channel.write(pattern(2_000));
  two.clock.advance(1_000);
  assert.deepEqual(fromB(two).map((r) => [r.atMs, r.packet.ack?.cumulative]), [[10, 2_000]]);

  const gap = channelPair();
  gap.drop = (r) => r.from === 'a' && r.packet.pn === 0;
  gap.a.channel.write(pattern(1_100));
  gap.clock.advance(0);
  gap.a.channel.write(pattern(100, 1_100)); // a second datagram, after the first (lost) one
  gap.clock.advance(10);
  const ack = fromB(gap)[0]!;
  assert.equal(ack.atMs, 10);
  assert.deepEqual(ack.packet.ack!.cumulative, 0);
  assert.deepEqual(ack.packet.ack!.ranges, [{ start: 1_100, end: 1_200 }]);
});

test('channel - PTO backs off 1, 2, 4 … s up to 60 s under 100 % loss, and recovers when the path heals', () => {
  const p = channelPair();
  let blackhole = true;
  p.drop = () => blackhole;
  p.a.channel.write(pattern(500));
  p.clock.advance(250_000);
  const times = fromA(p).map((r) => r.atMs);
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  assert.deepEqual(gaps, [1049, 2098, 4196, 8392, 16784, 33568, 60000, 60000, 60000]);
  assert.equal(p.a.channel.stats.probesSent, 9);
  assert.equal(p.a.channel.isDestroyed, false, 'the channel never gives up by itself');
  blackhole = false;
  p.clock.advance(60_000);
  assert.deepEqual(concat(p.b.received), pattern(500));
  assert.equal(p.a.channel.bufferedBytes, 0);
  assert.ok(p.a.channel.ptoMs < 1049, `backoff reset, PTO ${p.a.channel.ptoMs}`);
  assert.equal(p.clock.pendingTimers, 0);
});

test('channel - a heartbeat round trip feeds the PTO (spec 0012 §Stream 7)', () => {
  const p = channelPair();
  p.a.channel.sampleRtt(20);
  assert.equal(p.a.channel.ptoMs, 20 + 40 + 50);
});

test('channel - side bytes go through a stream hole at once, as their own chunk', () => {
  const p = channelPair();
  p.drop = (r) => r.from === 'a' && r.packet.pn === 0;
  p.a.channel.write(pattern(3_000));
  p.clock.advance(0);
  p.a.channel.writeSide(Uint8Array.of(0x41));
  p.clock.advance(15);
  assert.deepEqual(p.b.side, [Uint8Array.of(0x41)]);
  assert.equal(p.b.received.length, 0, 'the stream still waits for its first datagram');
  p.clock.advance(5_000);
  assert.deepEqual(concat(p.b.received), pattern(3_000));
  assert.deepEqual(p.b.side, [Uint8Array.of(0x41)]);
});

test('channel - a lost heartbeat byte is never resent; a duplicated one is delivered once', () => {
  const lost = channelPair();
  lost.drop = (r) => r.packet.side !== undefined;
  lost.a.channel.write(pattern(100));
  lost.a.channel.writeSide(Uint8Array.of(0x42));
  lost.clock.advance(120_000);
  assert.equal(lost.sent.filter((r) => r.packet.side).length, 1);
  assert.deepEqual(lost.b.side, []);
  assert.deepEqual(concat(lost.b.received), pattern(100), 'the stream part of the datagram is resent');
  assert.ok(lost.a.channel.senderStats.retransmittedBytes >= 100, 'stream bytes resent');

  const doubled = channelPair({}, { loss: 0, duplicate: 1, minDelayMs: 10, jitterMs: 5 });
  doubled.a.channel.writeSide(Uint8Array.of(0x43));
  doubled.clock.advance(1_000);
  assert.deepEqual(doubled.b.side, [Uint8Array.of(0x43)]);
  assert.equal(doubled.b.channel.receiverStats.duplicatePackets, 1);
});

test('channel - side bytes never wait for the window, and a full side queue drops (a lost beat)', () => {
  const p = channelPair({ maxSideBytes: 4 });
  p.drop = (r) => r.from === 'a' && r.packet.stream !== undefined;
  p.a.channel.write(pattern(50_000)); // fills the window; nothing is acknowledged
  p.clock.advance(0);
  assert.ok(p.a.channel.bytesInFlight > 0, 'window in use');
  assert.equal(p.a.channel.writeSide(Uint8Array.of(1, 2, 3)), true);
  assert.equal(p.a.channel.writeSide(Uint8Array.of(4, 5)), false);
  p.clock.advance(20);
  assert.deepEqual(p.b.side, [Uint8Array.of(1, 2, 3)]);
  assert.equal(p.a.channel.stats.sideBytesDropped, 2);
});

test('channel - end(): F after the last byte; the peer reports its end, the sender its F acknowledged', () => {
  const p = channelPair();
  p.a.channel.write(pattern(5_000));
  p.a.channel.end();
  assert.equal(p.a.channel.write(pattern(1)), false);
  assert.equal(p.a.channel.stats.writesAfterEnd, 1);
  p.clock.advance(2_000);
  assert.deepEqual(concat(p.b.received), pattern(5_000));
  assert.equal(p.b.peerEnded, 1);
  assert.equal(p.a.endAcknowledged, 1);
  assert.equal(fromA(p).filter((r) => r.packet.stream?.fin).length, 1, 'F rides on the last data');
});

test('channel - end() in both orders, with nothing written', () => {
  for (const [first, second] of [['a', 'b'], ['b', 'a']] as const) {
    const p = channelPair();
    p[first].channel.end();
    p.clock.advance(100);
    p[second].channel.end();
    p.clock.advance(2_000);
    for (const side of ['a', 'b'] as const) {
      assert.equal(p[side].peerEnded, 1, `${side} saw the peer's end`);
      assert.equal(p[side].endAcknowledged, 1, `${side}'s F was acknowledged`);
    }
    assert.equal(p.clock.pendingTimers, 0);
  }
});

test('channel - a lost F is resent; a lost last ACK brings the F back and an ACK at once', () => {
  const lostF = channelPair();
  let dropped = 0;
  lostF.drop = (r) => r.packet.stream?.fin === true && dropped++ === 0;
  lostF.a.channel.write(pattern(100));
  lostF.a.channel.end();
  lostF.clock.advance(5_000);
  assert.equal(lostF.b.peerEnded, 1);
  assert.equal(lostF.a.endAcknowledged, 1);
  assert.equal(fromA(lostF).filter((r) => r.packet.stream?.fin).length, 2);

  const lostAck = channelPair();
  let acks = 0;
  lostAck.drop = (r) => r.from === 'b' && (r.packet.ack?.cumulative ?? 0) > 100 && acks++ === 0;
  lostAck.a.channel.write(pattern(100));
  lostAck.a.channel.end();
  lostAck.clock.advance(5_000);
  assert.equal(lostAck.b.peerEnded, 1);
  assert.equal(lostAck.a.endAcknowledged, 1);
  const acksFromB = fromB(lostAck);
  assert.equal(acksFromB.length, 2);
  const resentF = fromA(lostAck).filter((r) => r.packet.stream?.fin)[1]!;
  assert.equal(acksFromB[1]!.atMs - resentF.atMs, 10, 'a duplicate is acknowledged at once');
});

test('channel - loss in one flight halves the window once; the rest is resent and delivered', () => {
  const p = channelPair();
  p.drop = (r) => r.from === 'a' && [1, 3, 5].includes(r.packet.pn);
  const data = pattern(30_000);
  p.a.channel.write(data);
  p.clock.advance(10_000);
  assert.deepEqual(concat(p.b.received), data);
  assert.equal(p.a.channel.windowEvents.reductions, 1);
  assert.ok(p.a.channel.senderStats.lostPackets >= 3, 'losses detected');
});

test('channel - a long blackout collapses the window (persistent congestion), probes stay within the bound', () => {
  const bound = 8_000;
  const p = channelPair({ maxInFlightBytes: bound });
  let blackhole = false;
  p.drop = () => blackhole;
  p.onSend = (_r, sender) => assert.ok(sender.bytesInFlight <= bound, `in flight ${sender.bytesInFlight}`);
  p.a.channel.write(pattern(1_000));
  p.clock.advance(1_000); // an RTT sample first
  blackhole = true;
  p.a.channel.write(pattern(60_000, 1_000));
  p.clock.advance(300_000);
  assert.ok(p.a.channel.senderStats.evicted > 0, 'probes pushed the oldest packets out of the count');
  blackhole = false;
  p.clock.advance(200_000);
  assert.deepEqual(concat(p.b.received), pattern(61_000));
  assert.ok(p.a.channel.windowEvents.collapses >= 1, 'window collapsed');
});

test('channel - write() past maxBufferedBytes throws BufferOverflowError and queues nothing', () => {
  const p = channelPair({ maxBufferedBytes: 10_000, highWaterBytes: 5_000 });
  assert.equal(p.a.channel.write(pattern(6_000)), false);
  assert.throws(() => p.a.channel.write(pattern(5_000)), BufferOverflowError);
  assert.equal(p.a.channel.bufferedBytes, 6_000);
  p.clock.advance(1_000);
  assert.equal(p.a.drains, 1);
});

test('channel - destroy(): this turn goes out once, then nothing is sent, resent or timed', () => {
  const p = channelPair();
  p.drop = () => true;
  p.a.channel.write(pattern(100));
  p.a.channel.destroy();
  assert.equal(fromA(p).length, 1, 'sent synchronously, before the end of the turn');
  p.clock.advance(0); // the write's deferred flush finds the channel destroyed
  assert.equal(p.clock.pendingTimers, 0);
  p.clock.advance(120_000);
  assert.equal(fromA(p).length, 1);
  assert.equal(p.a.channel.write(pattern(1)), false);
});

// ---- a lone channel fed crafted datagrams --------------------------------------------------------

function lone(options = {}) {
  const clock = new FakeClock();
  const delivered: Uint8Array[] = [];
  const channel = new ReliableChannel(
    {
      clock,
      header: () => ({ kind: 'short', cid: undefined }),
      sendDatagram: () => {},
      deliver: (b) => void delivered.push(b.slice()),
      deliverSide: () => {},
      drain: () => {},
      peerEnded: () => {},
      endAcknowledged: () => {},
      defer: (fn) => void clock.setTimer(fn, 0),
    },
    options,
  );
  const seg = (pn: number, offset: number, length: number, fin = false): NumberedPacket => ({
    kind: 'short',
    cid: undefined,
    pn,
    stream: { offset, bytes: pattern(length, offset), fin },
  });
  return { clock, channel, delivered, seg };
}

test('channel - contradictory datagrams are dropped whole and counted', () => {
  const { channel, seg } = lone();
  const ackOfNothing: NumberedPacket = {
    kind: 'short',
    cid: undefined,
    pn: 0,
    ack: { largestPn: 0, ackDelayMs: 0, cumulative: 10, ranges: [] },
    side: Uint8Array.of(0x41),
  };
  assert.equal(channel.receive(ackOfNothing), false);
  assert.equal(channel.receive(seg(1, 0, 10, true)), true);
  assert.equal(channel.receive(seg(2, 5, 10)), false, 'bytes past the end');
  assert.equal(channel.receive(seg(3, 0, 5, true)), false, 'the end moved');
  assert.equal(channel.stats.invalidDatagrams, 3);
});

test('channel - reassembly is bounded by the window and the piece count; then the hole fills', () => {
  const { channel, delivered, seg } = lone({ reorderWindowBytes: 1_000, maxOutOfOrderPieces: 4 });
  let pn = 0;
  for (const offset of [100, 200, 300, 400, 500]) channel.receive(seg(pn++, offset, 10));
  channel.receive(seg(pn++, 990, 20));
  assert.equal(channel.receiverStats.overSegmentLimit, 2);
  assert.equal(channel.receiverStats.beyondWindowBytes, 10);
  assert.ok(channel.heldBytes <= 1_000, 'held within the window');
  assert.equal(channel.heldBytes, 40);
  channel.receive(seg(pn++, 0, 200));
  assert.deepEqual(concat(delivered), pattern(210));
  assert.equal(channel.heldBytes, 20);
});

test('channel - side bytes of a datagram older than the 64-packet window are dropped, its stream kept', () => {
  const sides: Uint8Array[] = [];
  const clock = new FakeClock();
  const channel = new ReliableChannel({
    clock,
    header: () => ({ kind: 'short', cid: undefined }),
    sendDatagram: () => {},
    deliver: () => {},
    deliverSide: (b) => void sides.push(b),
    drain: () => {},
    peerEnded: () => {},
    endAcknowledged: () => {},
    defer: (fn) => void clock.setTimer(fn, 0),
  });
  assert.equal(channel.receive({ kind: 'short', cid: undefined, pn: 100, side: Uint8Array.of(0x41) }), true);
  assert.equal(channel.receive({ kind: 'short', cid: undefined, pn: 100, side: Uint8Array.of(0x41) }), false, 'duplicate');
  assert.equal(channel.receive({ kind: 'short', cid: undefined, pn: 36, side: Uint8Array.of(0x42) }), true);
  assert.equal(channel.receive({ kind: 'short', cid: undefined, pn: 37, side: Uint8Array.of(0x43) }), true);
  assert.deepEqual(sides, [Uint8Array.of(0x41), Uint8Array.of(0x43)]);
});
