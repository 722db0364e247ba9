/**
 * The channel between two ends over a seeded lossy network (drops up to 30 %, duplicates,
 * reorders by jitter), on a FakeClock: whatever the write schedule and loss pattern, each side
 * delivers the other's stream exactly once and in order, nothing acknowledged is ever resent,
 * side bytes are never resent nor delivered twice, the window and the buffers stay in bounds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ChannelOptions, ReliableChannel } from '../../../../src/transport/udp/channel.js';
import { channelPair, concat, pattern, streamRange, type NetConfig, type Side } from './helpers.js';

interface WriteOp {
  at: number;
  size: number;
  side: boolean;
}

interface Scenario {
  seed: number;
  net: NetConfig;
  options: Partial<ChannelOptions>;
  writes: Record<Side, WriteOp[]>;
  ends: Record<Side, boolean>;
}

const plain = { noNullPrototype: true } as const;

function scenarioArb(maxWrites: number, maxSize: number, maxLossPercent: number): fc.Arbitrary<Scenario> {
  const writes = fc.array(fc.record({ at: fc.nat(5_000), size: fc.integer({ min: 1, max: maxSize }), side: fc.boolean() }, plain), {
    maxLength: maxWrites,
  });
  return fc.record(
    {
      seed: fc.integer(),
      net: fc.record(
        {
          // Whole percents: fc.double favours extremes (5e-324) and would mostly test no loss.
          loss: fc.integer({ min: 0, max: maxLossPercent }).map((n) => n / 100),
          duplicate: fc.integer({ min: 0, max: 10 }).map((n) => n / 100),
          minDelayMs: fc.integer({ min: 1, max: 80 }),
          jitterMs: fc.integer({ min: 0, max: 60 }),
        },
        plain,
      ),
      options: fc.record(
        {
          maxDatagramBytes: fc.constantFrom(1200, 400, 150),
          maxInFlightBytes: fc.constantFrom(256 * 1024, 16_000, 4_000),
          reorderWindowBytes: fc.constantFrom(256 * 1024, 8_000),
          highWaterBytes: fc.constantFrom(64 * 1024, 2_000),
        },
        plain,
      ),
      writes: fc.record({ a: writes, b: writes }, plain),
      ends: fc.record({ a: fc.boolean(), b: fc.boolean() }, plain),
    },
    plain,
  );
}

const RUN_MS = 30 * 60_000;

function run(s: Scenario): void {
  const p = channelPair(s.options, s.net, s.seed);
  const maxInFlight = p.a.channel.options.maxInFlightBytes;
  const written: Record<Side, Uint8Array[]> = { a: [], b: [] };
  let sideId = 0;
  const sideWritten = new Set<number>();
  const lastProbes = new Map<ReliableChannel, number>();

  for (const side of ['a', 'b'] as const) {
    const ch = p[side].channel;
    let offset = side === 'a' ? 0 : 1 << 20;
    let last = 0;
    for (const w of s.writes[side]) {
      const bytes = pattern(w.size, offset);
      offset += w.size;
      last = Math.max(last, w.at);
      const id = w.side ? ++sideId : 0;
      p.clock.setTimer(() => {
        ch.write(bytes);
        written[side].push(bytes);
        if (id > 0 && ch.writeSide(Uint8Array.of(id & 0xff, id >> 8))) sideWritten.add(id);
      }, w.at);
    }
    if (s.ends[side]) p.clock.setTimer(() => ch.end(), last + 1);
  }

  p.onSend = (record, sender) => {
    assert.ok(record.bytes.length <= sender.options.maxDatagramBytes, 'datagram size');
    assert.ok(sender.bytesInFlight <= maxInFlight, `in flight ${sender.bytesInFlight} > bound ${maxInFlight}`);
    const probes = sender.stats.probesSent;
    const range = streamRange(record.packet);
    if (range) {
      if (probes === (lastProbes.get(sender) ?? 0)) {
        const window = Math.min(sender.congestionWindow, maxInFlight);
        assert.ok(sender.bytesInFlight <= window, `in flight ${sender.bytesInFlight} > window ${window}`);
      }
      assert.ok(!sender.overlapsAcknowledged(range.start, range.end), `resent acknowledged [${range.start}, ${range.end})`);
    }
    lastProbes.set(sender, probes);
  };
  p.onReceive = (_record, receiver) => {
    assert.ok(receiver.heldBytes <= receiver.options.reorderWindowBytes, `held ${receiver.heldBytes}`);
  };

  p.clock.advance(RUN_MS);

  for (const [from, to] of [['a', 'b'], ['b', 'a']] as const) {
    const sent = concat(written[from]);
    const got = concat(p[to].received);
    assert.equal(got.length, sent.length, `${from} → ${to}: ${got.length} of ${sent.length} bytes delivered`);
    assert.ok(Buffer.from(got).equals(Buffer.from(sent)), `${from} → ${to}: bytes differ`);
    assert.equal(p[to].peerEnded, s.ends[from] ? 1 : 0, `${to} saw ${from}'s end`);
    assert.equal(p[from].endAcknowledged, s.ends[from] ? 1 : 0, `${from}'s end acknowledged`);
    assert.equal(p[from].channel.bufferedBytes, 0, `${from} holds nothing unacknowledged`);
  }

  // Side bytes: on the wire at most once each (never resent), delivered at most once each.
  const onWire = new Map<number, number>();
  for (const r of p.sent) {
    const side = r.packet.side;
    for (let i = 0; side && i < side.length; i += 2) {
      const id = side[i]! | (side[i + 1]! << 8);
      onWire.set(id, (onWire.get(id) ?? 0) + 1);
    }
  }
  for (const [id, n] of onWire) assert.equal(n, 1, `side ${id} sent ${n} times`);
  const delivered = [...p.a.side, ...p.b.side].flatMap((c) => [...c]);
  const ids = new Set<number>();
  for (let i = 0; i < delivered.length; i += 2) {
    const id = delivered[i]! | (delivered[i + 1]! << 8);
    assert.ok(!ids.has(id) && sideWritten.has(id), `side ${id} delivered twice or never written`);
    ids.add(id);
  }
  assert.equal(p.clock.pendingTimers, 0, 'idle at the end: no timer left');
}

test('channel property - any write schedule, up to 30 % loss: exactly once, in order, in bounds', () => {
  fc.assert(
    fc.property(scenarioArb(20, 4_000, 30), (s) => run(s)),
    { numRuns: 150 },
  );
});

test('channel property - many small schedules, up to 10 % loss', () => {
  fc.assert(
    fc.property(scenarioArb(6, 600, 10), (s) => run(s)),
    { numRuns: 1_000 },
  );
});

test('channel property - 30 % loss, 10 % duplication, heavy reordering, every run', () => {
  const heavy = scenarioArb(12, 8_000, 30).map((s) => ({ ...s, net: { loss: 0.3, duplicate: 0.1, minDelayMs: 5, jitterMs: 120 } }));
  fc.assert(
    fc.property(heavy, (s) => run(s)),
    { numRuns: 60 },
  );
});
