import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LifelineError, ProtocolError } from '../../../src/errors.js';
import { FrameDecoder, MIN_MAX_FRAME_SIZE } from '../../../src/protocol/decoder.js';
import { encodeFrame } from '../../../src/protocol/encode.js';
import { CLOSE_CODES, GOAWAY_CODES, PEER_STATUSES, type Frame } from '../../../src/protocol/frames.js';

// ---- generators -------------------------------------------------------------------------------

// 'binary' = any code point except lone surrogates; 200 code points ≤ 800 bytes, under the
// 1024-byte message cap, so messages round-trip exactly (truncation has its own unit test).
const message = fc.string({ unit: 'binary', maxLength: 200 });
const varintValue = fc.oneof(fc.nat(300), fc.maxSafeNat());
const bytes = (maxLength: number) => fc.uint8Array({ maxLength });
const sessionId = fc.uint8Array({ minLength: 1, maxLength: 64 });
const presenceId = fc.string({ unit: 'binary', minLength: 1, maxLength: 64 });

// Decoded frames are plain objects; fast-check may otherwise build null-prototype records.
const plain = { noNullPrototype: true } as const;

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ type: fc.constant('ping' as const), id: fc.nat(31) }, plain),
  fc.record(
    {
      type: fc.constant('pong' as const),
      id: fc.nat(31),
      status: fc.constantFrom(...PEER_STATUSES),
      load: fc.nat(255),
    },
    plain,
  ),
  fc.record({ type: fc.constant('data' as const), seq: varintValue, payload: bytes(300) }, plain),
  fc.record({ type: fc.constant('ack' as const), seq: varintValue }, plain),
  fc.record(
    {
      type: fc.constant('hello' as const),
      version: fc.nat(255),
      heartbeatIntervalMs: varintValue,
      heartbeatTimeoutMs: varintValue,
      token: bytes(80),
      resumeSessionId: sessionId,
      resumeLastSeq: varintValue,
      maxFrameSize: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      resumable: fc.boolean(),
      followServerPings: fc.boolean(),
    },
    { ...plain, requiredKeys: ['type', 'version', 'heartbeatIntervalMs', 'heartbeatTimeoutMs'] },
  ),
  fc.record(
    {
      type: fc.constant('welcome' as const),
      version: fc.nat(255),
      heartbeatIntervalMs: varintValue,
      heartbeatTimeoutMs: varintValue,
      sessionId,
      maxFrameSize: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      resumed: fc.boolean(),
      resumeLastSeq: varintValue,
      resumeWindowMs: varintValue,
      serverPings: fc.boolean(),
      presence: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    },
    { ...plain, requiredKeys: ['type', 'version', 'heartbeatIntervalMs', 'heartbeatTimeoutMs'] },
  ),
  fc.record(
    {
      type: fc.constant('goaway' as const),
      code: fc.constantFrom(...(Object.keys(GOAWAY_CODES) as Array<keyof typeof GOAWAY_CODES>)),
      message,
      redirect: fc.string({ unit: 'binary', minLength: 1, maxLength: 100 }),
      retryAfterMs: varintValue,
    },
    { ...plain, requiredKeys: ['type', 'code', 'message', 'retryAfterMs'] },
  ),
  // PRESENCE (§6.11): ids of 1..64 code points (≤ 256 bytes of UTF-8).
  fc.record({ type: fc.constant('presence' as const), kind: fc.constantFrom('subscribe' as const, 'unsubscribe' as const), ids: fc.array(presenceId, { minLength: 1, maxLength: 8 }) }, plain),
  fc.record(
    {
      type: fc.constant('presence' as const),
      kind: fc.constant('state' as const),
      states: fc.array(fc.record({ id: presenceId, state: fc.constantFrom('offline' as const, 'online' as const, 'away' as const, 'denied' as const) }, plain), { minLength: 1, maxLength: 8 }),
    },
    plain,
  ),
  fc.record(
    {
      type: fc.constant('close' as const),
      code: fc.constantFrom(...(Object.keys(CLOSE_CODES) as Array<keyof typeof CLOSE_CODES>)),
      message,
    },
    plain,
  ),
);

/** Split points for a stream of `length` bytes: sorted, may repeat (empty chunks are legal). */
function cutsFor(length: number): fc.Arbitrary<number[]> {
  return fc.array(fc.nat(length), { maxLength: 20 }).map((cuts) => cuts.sort((a, b) => a - b));
}

// ---- helpers ----------------------------------------------------------------------------------

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function decodeChunks(stream: Uint8Array, cuts: readonly number[]): Frame[] {
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  let start = 0;
  for (const cut of [...cuts, stream.length]) {
    decoder.push(stream.subarray(start, cut), (f) => frames.push(f));
    start = cut;
  }
  decoder.end();
  return frames;
}

/**
 * Feed arbitrary bytes; the only acceptable failure is a ProtocolError with an LL_ERR_* code, and
 * the partial-frame buffer must stay below the limit after every push. Returns the frames decoded.
 */
function feedHostile(stream: Uint8Array, cuts: readonly number[], maxFrameSize: number): Frame[] {
  const decoder = new FrameDecoder({ maxFrameSize });
  const frames: Frame[] = [];
  let start = 0;
  try {
    for (const cut of [...cuts, stream.length]) {
      decoder.push(stream.subarray(start, cut), (f) => frames.push(f));
      start = cut;
      assert.ok(decoder.bufferedBytes < maxFrameSize, `bufferedBytes ${decoder.bufferedBytes} >= ${maxFrameSize}`);
    }
    decoder.end();
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `non-protocol error: ${String(err)}`);
    assert.ok(LifelineError.is(err) && err.code.startsWith('LL_ERR_'));
    assert.equal(err.closeCode, 'protocol-error');
    assert.equal(decoder.bufferedBytes, 0);
  }
  return frames;
}

/** A long-frame header (type 1..5, valid length) in front of random body bytes: reaches body parsing. */
const longFrameWithRandomBody = fc
  .tuple(fc.integer({ min: 1, max: 5 }), fc.uint8Array({ maxLength: 200 }))
  .map(([type, body]) => concat([Uint8Array.of(type), encodeLength(body.length), body]));

function encodeLength(length: number): Uint8Array {
  return length < 128 ? Uint8Array.of(length) : Uint8Array.of((length & 0x7f) | 0x80, length >> 7);
}

// ---- properties -------------------------------------------------------------------------------

test('FrameDecoder - any frame round trips through encodeFrame (property)', () => {
  fc.assert(
    fc.property(frameArb, (frame) => {
      assert.deepEqual(decodeChunks(encodeFrame(frame), []), [frame]);
    }),
    { numRuns: 2000 },
  );
});

test('FrameDecoder - any chunking of a stream of frames decodes identically (property)', () => {
  fc.assert(
    fc.property(
      fc.array(frameArb, { maxLength: 12 }).chain((frames) => {
        const stream = concat(frames.map(encodeFrame));
        return fc.tuple(fc.constant(frames), fc.constant(stream), cutsFor(stream.length));
      }),
      ([frames, stream, cuts]) => {
        assert.deepEqual(decodeChunks(stream, cuts), frames);
      },
    ),
    { numRuns: 500 },
  );
});

test('FrameDecoder - random bytes fail only with ProtocolError and stay under maxFrameSize (property)', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }).chain((stream) => fc.tuple(fc.constant(stream), cutsFor(stream.length))),
      fc.integer({ min: MIN_MAX_FRAME_SIZE, max: 2048 }),
      ([stream, cuts], maxFrameSize) => {
        feedHostile(stream, cuts, maxFrameSize);
      },
    ),
    { numRuns: 2000 },
  );
});

test('FrameDecoder - random long-frame bodies fail only with ProtocolError (property)', () => {
  fc.assert(
    fc.property(
      fc.array(longFrameWithRandomBody, { minLength: 1, maxLength: 4 }).chain((parts) => {
        const stream = concat(parts);
        return fc.tuple(fc.constant(stream), cutsFor(stream.length));
      }),
      ([stream, cuts]) => {
        feedHostile(stream, cuts, 4096);
      },
    ),
    { numRuns: 2000 },
  );
});

test('FrameDecoder - corrupted valid streams fail only with ProtocolError (property)', () => {
  fc.assert(
    fc.property(
      fc.array(frameArb, { minLength: 1, maxLength: 6 }),
      fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }),
      fc.integer({ min: MIN_MAX_FRAME_SIZE, max: 4096 }),
      (frames, flips, maxFrameSize) => {
        const stream = concat(frames.map(encodeFrame));
        for (const [at, value] of flips) stream[at % stream.length] = value;
        feedHostile(stream, [Math.floor(stream.length / 2)], maxFrameSize);
      },
    ),
    { numRuns: 1000 },
  );
});

test('FrameDecoder - whatever it accepts re-encodes to bytes that decode to the same frame (property)', () => {
  fc.assert(
    fc.property(longFrameWithRandomBody, (stream) => {
      for (const frame of feedHostile(stream, [], 4096)) {
        assert.deepEqual(decodeChunks(encodeFrame(frame), []), [frame]);
      }
    }),
    { numRuns: 2000 },
  );
});
