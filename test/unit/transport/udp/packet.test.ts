import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  COOKIE_BYTES,
  decodePacket,
  encodePacket,
  INITIAL_BYTES,
  MalformedDatagramError,
  MAX_DATAGRAM_BYTES,
  type AckSection,
  type Packet,
  type Receiver,
} from '../../../../src/transport/udp/packet.js';
import { fromHex, toHex } from './helpers.js';

const CID = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
const ID = (n: number) => new Uint8Array(8).fill(n);

function malformed(bytes: Uint8Array, receiver: Receiver, reason?: string): void {
  assert.throws(
    () => decodePacket(bytes, receiver),
    (e: unknown) => e instanceof MalformedDatagramError && e.code === 'LL_ERR_MALFORMED_FRAME' && (reason === undefined || e.reason === reason),
  );
}

// ---- vectors (docs/spec/0012-udp.md §Datagrams) -------------------------------------------------

test('packet - spec vector: client PING 3, cid 01…08, pn 5 is 12 bytes', () => {
  const bytes = encodePacket({ kind: 'short', cid: CID, pn: 5, side: Uint8Array.of(0x43) });
  assert.equal(toHex(bytes), '44 01 02 03 04 05 06 07 08 05 01 43');
  assert.deepEqual(decodePacket(bytes, 'server'), { kind: 'short', cid: CID, pn: 5, side: Uint8Array.of(0x43) });
});

test('packet - spec vector: server PONG 3 (ok, load 0), pn 7 is 5 bytes', () => {
  const bytes = encodePacket({ kind: 'short', cid: undefined, pn: 7, side: Uint8Array.of(0x83, 0x00) });
  assert.equal(toHex(bytes), '44 07 02 83 00');
  assert.deepEqual(decodePacket(bytes, 'client'), { kind: 'short', cid: undefined, pn: 7, side: Uint8Array.of(0x83, 0) });
});

test('packet - sizes: RESET 9, RETRY 29, INITIAL exactly 1200, CHALLENGE 9, RESPONSE 17', () => {
  const reset = encodePacket({ kind: 'reset', token: ID(9) });
  assert.equal(reset.length, 9);
  assert.equal(reset[0], 0x50);
  assert.equal(encodePacket({ kind: 'retry', nonce: ID(1), token: new Uint8Array(COOKIE_BYTES) }).length, 29);
  assert.equal(encodePacket({ kind: 'challenge', data: ID(3) }).length, 9);
  assert.equal(encodePacket({ kind: 'response', cid: CID, data: ID(3) }).length, 17);
  const initial = encodePacket({
    kind: 'initial',
    nonce: ID(2),
    token: undefined,
    pn: 0,
    stream: { offset: 0, bytes: Uint8Array.of(1, 2, 3), fin: false },
  });
  assert.equal(initial.length, INITIAL_BYTES);
  assert.equal(toHex(initial.subarray(0, 17)), '12 01 02 02 02 02 02 02 02 02 00 00 00 03 01 02 03');
  assert.ok(initial.subarray(17).every((b) => b === 0), 'zero padding');
});

test('packet - ACK ranges are encoded as gaps above cumulative', () => {
  const ack: AckSection = { largestPn: 9, ackDelayMs: 3, cumulative: 100, ranges: [{ start: 110, end: 120 }, { start: 200, end: 201 }] };
  const bytes = encodePacket({ kind: 'short', cid: undefined, pn: 1, ack });
  // 0x48 = SHORT | A; pn 1; largest 9; delay 3; cumulative 100; 2 ranges: (gap 10, len 10), (gap 80, len 1)
  assert.equal(toHex(bytes), '48 01 09 03 64 02 0a 0a 50 01');
  assert.deepEqual(decodePacket(bytes, 'client'), { kind: 'short', cid: undefined, pn: 1, ack });
});

test('packet - F with an empty S marks the end', () => {
  const bytes = encodePacket({ kind: 'short', cid: undefined, pn: 3, stream: { offset: 42, bytes: new Uint8Array(0), fin: true } });
  assert.equal(toHex(bytes), '43 03 2a 00');
});

test('packet - the encoder refuses packets we must never send', () => {
  assert.throws(() => encodePacket({ kind: 'short', cid: undefined, pn: 0 }), RangeError);
  assert.throws(() => encodePacket({ kind: 'short', cid: Uint8Array.of(1), pn: 0, side: Uint8Array.of(1) }), RangeError);
  assert.throws(
    () => encodePacket({ kind: 'short', cid: undefined, pn: 0, stream: { offset: 0, bytes: new Uint8Array(MAX_DATAGRAM_BYTES), fin: false } }),
    RangeError,
  );
  const ranges = [1, 2, 3, 4, 5].map((i) => ({ start: i * 10, end: i * 10 + 1 }));
  assert.throws(() => encodePacket({ kind: 'short', cid: undefined, pn: 0, ack: { largestPn: 0, ackDelayMs: 0, cumulative: 0, ranges } }), RangeError);
});

// ---- malformed datagrams -------------------------------------------------------------------------

test('packet - table: each malformed datagram fails with its reason', () => {
  const rows: Array<[string, string, Receiver, string]> = [
    ['', 'empty', 'server', 'empty'],
    ['04 00 01 41', 'kind 0', 'client', 'unknown-kind'],
    ['84 00 01 41', 'kind 8', 'client', 'unknown-kind'],
    ['50 01 02 03 04 05 06 07 08', 'RESET to a server', 'server', 'wrong-direction'],
    ['12', 'INITIAL to a client', 'client', 'wrong-direction'],
    ['40 07', 'SHORT without sections', 'client', 'bad-flags'],
    ['41 07 00 00', 'F without S', 'client', 'bad-flags'],
    ['58 01 02 03 04 05 06 07 08', 'RESET with flags', 'client', 'bad-flags'],
    ['50 01 02 03 04 05 06 07', 'RESET of 8 bytes', 'client', 'bad-size'],
    ['50 01 02 03 04 05 06 07 08 09', 'RESET of 10 bytes', 'client', 'bad-size'],
    ['44 07 02 83', 'side bytes past the end', 'client', 'truncated'],
    ['44 07 00', 'empty side section', 'client', 'bad-field'],
    ['42 07 00 00', 'empty S without F', 'client', 'bad-field'],
    ['44 07 01 43 00', 'a trailing byte', 'client', 'trailing-bytes'],
    ['44 80 00 01 43', 'non-minimal pn varint', 'client', 'bad-field'],
    ['44 80', 'pn varint cut short', 'client', 'bad-field'],
    ['48 01 09 03 64 05', 'five ACK ranges', 'client', 'bad-field'],
    ['48 01 09 03 64 01 00 0a', 'zero ACK gap', 'client', 'bad-field'],
    ['48 01 09 03 64 01 0a 00', 'zero ACK length', 'client', 'bad-field'],
    ['48 01 09 03', 'ACK cut short', 'client', 'truncated'],
    ['44 01 02 03 04 05 06 07 08', 'client SHORT with no pn', 'server', 'truncated'],
  ];
  for (const [hex, what, receiver, reason] of rows) {
    assert.doesNotThrow(() => {
      malformed(fromHex(hex), receiver, reason);
    }, what);
  }
});

test('packet - INITIAL: exactly 1200 bytes, version 1, token 0 or 20 bytes, zero padding', () => {
  const good = encodePacket({ kind: 'initial', nonce: ID(2), token: undefined, pn: 0, side: Uint8Array.of(0x41) });
  assert.equal(decodePacket(good, 'server').kind, 'initial');
  malformed(good.subarray(0, 1199), 'server', 'bad-size');
  const v2 = good.slice();
  v2[1] = 2;
  malformed(v2, 'server', 'bad-version');
  const tok = good.slice();
  tok[10] = 5;
  malformed(tok, 'server', 'bad-field');
  const pad = good.slice();
  pad[1199] = 1;
  malformed(pad, 'server', 'trailing-bytes');
  const withToken = encodePacket({ kind: 'initial', nonce: ID(2), token: new Uint8Array(COOKIE_BYTES).fill(7), pn: 0, side: Uint8Array.of(1) });
  const decoded = decodePacket(withToken, 'server');
  assert.ok(decoded.kind === 'initial' && decoded.token?.length === COOKIE_BYTES, 'token kept');
});

test('packet - a stream end past 2^53 is refused', () => {
  // offset 2^53 − 1 (ff ff ff ff ff ff ff 0f), length 0, F: its end mark would not be a safe integer.
  malformed(fromHex('43 07 ff ff ff ff ff ff ff 0f 00'), 'client', 'bad-field');
});

test('packet - datagrams above the bound are refused before reading them', () => {
  malformed(new Uint8Array(MAX_DATAGRAM_BYTES + 1).fill(0x44), 'client', 'too-large');
});

// ---- properties ----------------------------------------------------------------------------------

const plain = { noNullPrototype: true } as const;
const id8 = fc.uint8Array({ minLength: 8, maxLength: 8 });
const small = fc.oneof(fc.nat(300), fc.nat(2 ** 40));

const ackArb: fc.Arbitrary<AckSection> = fc
  .record(
    {
      largestPn: small,
      ackDelayMs: fc.nat(100_000),
      cumulative: small,
      steps: fc.array(fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 5000 })), { maxLength: 4 }),
    },
    plain,
  )
  .map(({ largestPn, ackDelayMs, cumulative, steps }) => {
    let prev = cumulative;
    const ranges = steps.map(([gap, length]) => {
      const start = prev + gap;
      prev = start + length;
      return { start, end: prev };
    });
    return { largestPn, ackDelayMs, cumulative, ranges };
  });

const sectionsArb = fc
  .record(
    {
      ack: fc.option(ackArb, { nil: undefined }),
      side: fc.option(fc.uint8Array({ minLength: 1, maxLength: 20 }), { nil: undefined }),
      stream: fc.option(
        fc
          .record({ offset: small, bytes: fc.uint8Array({ maxLength: 900 }), fin: fc.boolean() }, plain)
          .map((s) => (s.bytes.length === 0 ? { ...s, fin: true } : s)),
        { nil: undefined },
      ),
    },
    { ...plain, requiredKeys: [] },
  )
  .filter((s) => s.ack !== undefined || s.side !== undefined || s.stream !== undefined);

function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const pr = (packet: Packet, receiver: Receiver): [Packet, Receiver] => [packet, receiver];

const packetArb: fc.Arbitrary<[Packet, Receiver]> = fc.oneof(
  fc.tuple(fc.record({ pn: small, cid: id8 }, plain), sectionsArb).map(([h, s]) => pr(clean({ kind: 'short' as const, ...h, ...s }), 'server')),
  fc.tuple(fc.record({ pn: small }, plain), sectionsArb).map(([h, s]) => pr({ kind: 'short' as const, cid: undefined, ...clean({ ...h, ...s }) }, 'client')),
  fc
    .tuple(fc.record({ pn: small, nonce: id8, cid: id8, resetToken: id8 }, plain), sectionsArb)
    .map(([h, s]) => pr(clean({ kind: 'accept' as const, ...h, ...s }), 'client')),
  fc
    .tuple(fc.record({ pn: small, nonce: id8, token: fc.option(fc.uint8Array({ minLength: 20, maxLength: 20 }), { nil: undefined }) }, plain), sectionsArb)
    .map(([h, s]) => pr({ kind: 'initial' as const, token: h.token, ...clean({ pn: h.pn, nonce: h.nonce, ...s }) }, 'server')),
  fc.record({ nonce: id8, token: fc.uint8Array({ minLength: 20, maxLength: 20 }) }, plain).map((p) => pr({ kind: 'retry' as const, ...p }, 'client')),
  fc.record({ token: id8 }, plain).map((p) => pr({ kind: 'reset' as const, ...p }, 'client')),
  fc.record({ data: id8 }, plain).map((p) => pr({ kind: 'challenge' as const, ...p }, 'client')),
  fc.record({ cid: id8, data: id8 }, plain).map((p) => pr({ kind: 'response' as const, ...p }, 'server')),
);

test('packet - property: encode → decode round-trips every packet that fits', () => {
  fc.assert(
    fc.property(packetArb, ([packet, receiver]) => {
      let bytes: Uint8Array;
      try {
        bytes = encodePacket(packet);
      } catch (e) {
        // Only a packet too large for one datagram may be refused.
        assert.ok(e instanceof RangeError && /exceeds/.test(e.message), String(e));
        return;
      }
      assert.ok(bytes.length <= MAX_DATAGRAM_BYTES, 'datagram size');
      assert.deepEqual(decodePacket(bytes, receiver), packet);
    }),
    { numRuns: 2000 },
  );
});

test('packet - property: random bytes fail only with MalformedDatagramError', () => {
  const lead = fc.constantFrom(0x12, 0x20, 0x30, 0x44, 0x48, 0x4a, 0x4b, 0x4e, 0x4f, 0x50, 0x60, 0x70, 0x43);
  fc.assert(
    fc.property(lead, fc.uint8Array({ maxLength: 1300 }), fc.constantFrom<Receiver>('server', 'client'), (b0, rest, receiver) => {
      for (const bytes of [rest, Uint8Array.of(b0, ...rest)]) {
        try {
          decodePacket(bytes, receiver);
        } catch (e) {
          assert.ok(e instanceof MalformedDatagramError, String(e));
        }
      }
    }),
    { numRuns: 3000 },
  );
});

test('packet - property: every truncation and every flipped byte of a valid datagram is handled', () => {
  fc.assert(
    fc.property(packetArb, fc.nat(), fc.nat(255), ([packet, receiver], at, value) => {
      let bytes: Uint8Array;
      try {
        bytes = encodePacket(packet);
      } catch {
        return;
      }
      const cut = bytes.subarray(0, at % (bytes.length + 1));
      const flipped = bytes.slice();
      flipped[at % bytes.length] = value;
      for (const b of [cut, flipped]) {
        try {
          const decoded = decodePacket(b, receiver);
          assert.ok(encodePacket(decoded).length === b.length, 'a decodable datagram re-encodes to its size');
        } catch (e) {
          assert.ok(e instanceof MalformedDatagramError, String(e));
        }
      }
    }),
    { numRuns: 1500 },
  );
});
