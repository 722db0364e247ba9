/**
 * The UDP adapter's frame scanners (src/transport/udp/frame-scanner.ts) over PROTOCOL.md §11's
 * vectors: outbound, compact frames at a boundary go to the side path and everything else stays
 * stream, in order, whatever the write boundaries; inbound, only whole frames pass, at every
 * split, and what the decoder must refuse passes at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InboundGate, OutboundSplitter } from '../../../../src/transport/udp/frame-scanner.js';
import { encodeDataHeader, encodeFrame, encodePing, encodePong } from '../../../../src/protocol/encode.js';
import type { Frame } from '../../../../src/protocol/frames.js';
import { FrameDecoder } from '../../../../src/protocol/decoder.js';
import { concatBytes } from '../../../../src/util/bytes.js';

const hexBytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/ /g, ''), 'hex'));

// PROTOCOL.md §11.
const VECTORS = {
  ping: hexBytes('45'),
  pong: hexBytes('a5 c8'),
  hello: hexBytes('01 08 4c 4c 01 90 4e b0 ea 01'),
  hello2: hexBytes('01 15 4c 4c 01 00 00 01 01 74 02 02 ab cd 03 02 ac 02 04 03 80 80 04'),
  welcome: hexBytes('02 06 01 90 4e b0 ea 01'),
  data: hexBytes('03 03 01 68 69'),
  goaway: hexBytes('04 08 00 e8 07 00 03 62 3a 31'),
  close: hexBytes('05 05 00 03 62 79 65'),
};
const COMPACT = new Set(['ping', 'pong']);

function split(writes: Uint8Array[]): { stream: Uint8Array; side: Uint8Array[] } {
  const s = new OutboundSplitter();
  const stream: Uint8Array[] = [];
  const side: Uint8Array[] = [];
  for (const w of writes) s.write(w, { stream: (b) => stream.push(b), side: (b) => side.push(b) });
  return { stream: concatBytes(stream), side };
}

test('frame scanner - outbound: PING and PONG at a boundary take the side path, long frames stay stream, in order', () => {
  const names = Object.keys(VECTORS) as (keyof typeof VECTORS)[];
  const sequence = [...names, ...names.reverse()];
  const frames = sequence.map((n) => VECTORS[n]);
  const { stream, side } = split(frames);
  assert.deepEqual(Buffer.from(stream), Buffer.from(concatBytes(sequence.filter((n) => !COMPACT.has(n)).map((n) => VECTORS[n]))));
  assert.deepEqual(side.map((b) => Buffer.from(b).toString('hex')), sequence.filter((n) => COMPACT.has(n)).map((n) => Buffer.from(VECTORS[n]).toString('hex')));
  // All in one write (as a cork batch), and a status PONG + PING written together (Connection does).
  const joined = split([concatBytes(frames)]);
  assert.deepEqual(Buffer.from(joined.stream), Buffer.from(stream));
  assert.equal(joined.side.length, side.length);
  const pongPing = split([concatBytes([encodePong(3, 'busy', 7), encodePing(4)])]);
  assert.equal(pongPing.stream.length, 0);
  assert.deepEqual(pongPing.side.map((b) => b.length), [2, 1]);
});

test('frame scanner - outbound: bytes inside a long frame are never taken for PINGs, even split at every byte', () => {
  // A DATA whose payload is full of PING / PONG bytes, its header and payload in separate writes.
  const payload = Uint8Array.from({ length: 300 }, (_, i) => (i % 2 ? 0x45 : 0xa5));
  const header = encodeDataHeader(9, payload.length);
  const all = concatBytes([VECTORS.ping, header, payload, VECTORS.pong]);
  for (let cut = 0; cut <= all.length; cut++) {
    const { stream, side } = split([all.subarray(0, cut), all.subarray(cut)]);
    assert.equal(stream.length, header.length + payload.length, `cut at ${cut}`);
    assert.equal(side.length, 2, `cut at ${cut}`);
  }
});

function gate(chunks: Uint8Array[], maxFrameSize = 1024 * 1024): Uint8Array[] {
  const g = new InboundGate(maxFrameSize);
  const out: Uint8Array[] = [];
  for (const c of chunks) g.accept(c, { up: (b) => void out.push(b) });
  return out;
}

/** Each delivered chunk decodes to whole frames (the decoder ends at a boundary after each). */
function assertWholeFrames(delivered: Uint8Array[], expected: Frame[]): void {
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  for (const chunk of delivered) {
    decoder.push(chunk, (f) => frames.push(f));
    assert.equal(decoder.bufferedBytes, 0, 'the decoder is at a frame boundary after every delivered chunk');
  }
  assert.deepEqual(frames, expected);
}

test('frame scanner - inbound: only whole frames pass, at every split of PROTOCOL.md §11 vectors', () => {
  const stream = concatBytes(Object.values(VECTORS));
  const expected: Frame[] = [];
  new FrameDecoder().push(stream, (f) => expected.push(f));
  for (let a = 0; a <= stream.length; a++) {
    for (let b = a; b <= stream.length; b += 3) {
      assertWholeFrames(gate([stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]), expected);
    }
  }
});

test('frame scanner - inbound: random frames split anywhere arrive whole (property)', () => {
  const frameArb = fc.oneof(
    fc.integer({ min: 0, max: 31 }).map((id) => encodePing(id)),
    fc.record({ id: fc.integer({ min: 0, max: 31 }), load: fc.integer({ min: 0, max: 255 }) }).map(({ id, load }) => encodePong(id, 'ok', load)),
    fc.uint8Array({ maxLength: 400 }).map((payload) => encodeFrame({ type: 'data', seq: 1, payload })),
    fc.constantFrom(VECTORS.goaway, VECTORS.close, VECTORS.welcome),
  );
  fc.assert(
    fc.property(fc.array(frameArb, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 6 }), (frames, cutSeeds) => {
      const stream = concatBytes(frames);
      const cuts = [...new Set(cutSeeds.map((c) => c % (stream.length + 1)))].sort((x, y) => x - y);
      const chunks: Uint8Array[] = [];
      let at = 0;
      for (const c of [...cuts, stream.length]) {
        chunks.push(stream.subarray(at, c));
        at = c;
      }
      const expected: Frame[] = [];
      new FrameDecoder().push(stream, (f) => expected.push(f));
      assertWholeFrames(gate(chunks), expected);
    }),
    { numRuns: 300 },
  );
});

test('frame scanner - inbound: what the decoder must refuse passes at once (oversized length, reserved type byte)', () => {
  // A DATA announcing 100 000 bytes against a 1 KiB limit: passed on as soon as its length is read.
  const header = encodeDataHeader(1, 100_000);
  const out = gate([header], 1024);
  assert.equal(out.length, 1, 'the oversized header went to the decoder at once');
  const decoder = new FrameDecoder({ maxFrameSize: 1024 });
  assert.throws(() => decoder.push(out[0]!, () => {}), /too large|exceeds/i);
  // A reserved compact byte (0x60) and a zero byte: passed on at once.
  assert.equal(gate([Uint8Array.of(0x60, 1, 2)]).length, 1);
  assert.equal(gate([Uint8Array.of(0x00)]).length, 1);
  // A partial long frame is held, then completed.
  const data = VECTORS.data;
  const g = new InboundGate(1024);
  const seen: Uint8Array[] = [];
  g.accept(data.subarray(0, 3), { up: (b) => void seen.push(b) });
  assert.equal(seen.length, 0);
  assert.equal(g.pendingBytes, 3);
  g.accept(data.subarray(3), { up: (b) => void seen.push(b) });
  assert.deepEqual(Buffer.from(seen[0]!), Buffer.from(data));
  assert.equal(g.pendingBytes, 0);
});
