/**
 * FrameDecoder against hostile input (issue 15 item 1), beyond decoder-property.test.ts's round
 * trips: any byte stream, valid or not, gives the same frames and the same error whatever its
 * chunking; a length over the limit is refused on the byte that completes the length; the
 * handshake limit (setMaxFrameSize) holds until HELLO and no longer after it. The invariants
 * checked on every input are test/fuzz/decoder-target.ts's (shared with `npm run fuzz`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InvalidOptionError, ProtocolError } from '../../../src/errors.js';
import { FrameDecoder, MIN_MAX_FRAME_SIZE } from '../../../src/protocol/decoder.js';
import { encodeDataHeader, encodeFrame } from '../../../src/protocol/encode.js';
import { HANDSHAKE_MAX_FRAME_SIZE, LONG_FRAME_TYPES, MAX_BODY_LENGTH, type Frame } from '../../../src/protocol/frames.js';
import { concat, cutsFor, frameArb, helloArb, hostileStreamArb, lengthVarint } from '../../fuzz/arbitraries.js';
import { runDecoder } from '../../fuzz/decoder-target.js';

const limitArb = fc.integer({ min: MIN_MAX_FRAME_SIZE, max: 4096 });

test('FrameDecoder - any stream, valid or hostile, decodes to the same frames and error in any chunking (property)', () => {
  fc.assert(
    fc.property(
      hostileStreamArb.chain((bytes) => fc.tuple(fc.constant(bytes), cutsFor(bytes.length))),
      limitArb,
      ([bytes, cuts], maxFrameSize) => {
        const whole = runDecoder({ bytes, cuts: [], maxFrameSize });
        const chunked = runDecoder({ bytes, cuts, maxFrameSize });
        assert.deepEqual(chunked.frames, whole.frames);
        assert.deepEqual(chunked.error, whole.error);
      },
    ),
    { numRuns: 1000 },
  );
});

test('FrameDecoder - byte by byte is the same as whole, for valid streams too (property)', () => {
  fc.assert(
    fc.property(fc.array(frameArb, { maxLength: 5 }), (frames) => {
      const bytes = concat(frames.map(encodeFrame));
      const everyByte = Array.from({ length: bytes.length }, (_, i) => i);
      const outcome = runDecoder({ bytes, cuts: everyByte, maxFrameSize: 1 << 20 });
      assert.equal(outcome.error, undefined);
      assert.deepEqual(outcome.frames, frames);
    }),
    { numRuns: 300 },
  );
});

test('FrameDecoder - a length over the limit is refused on the byte that completes it, before any body byte (property)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 7 }),
      fc.integer({ min: MIN_MAX_FRAME_SIZE, max: 1 << 20 }),
      fc.integer({ min: 0, max: MAX_BODY_LENGTH }),
      (type, maxFrameSize, rawLength) => {
        // A body length that makes the frame (type + varint + body) exceed maxFrameSize.
        const bodyLength = Math.min(MAX_BODY_LENGTH, maxFrameSize + (rawLength % (MAX_BODY_LENGTH - maxFrameSize)));
        const header = concat([Uint8Array.of(type), lengthVarint(bodyLength)]);
        const decoder = new FrameDecoder({ maxFrameSize });
        for (let i = 0; i < header.length - 1; i++) {
          decoder.push(header.subarray(i, i + 1), () => assert.fail('no frame yet'));
          assert.equal(decoder.bufferedBytes, i + 1, 'only the type and length bytes are held');
        }
        assert.throws(
          () => decoder.push(header.subarray(header.length - 1), () => assert.fail('no frame')),
          (err: unknown) => err instanceof ProtocolError && err.code === 'LL_ERR_FRAME_TOO_LARGE',
        );
        assert.equal(decoder.bufferedBytes, 0);
      },
    ),
    { numRuns: 1000 },
  );
});

test('FrameDecoder - the handshake limit refuses a large first frame, and a HELLO lifts it for what follows (property)', () => {
  fc.assert(
    fc.property(helloArb, fc.integer({ min: MIN_MAX_FRAME_SIZE, max: 2048 }), fc.nat(4096), (hello, handshakeLimit, extra) => {
      const helloBytes = encodeFrame(hello);
      // A DATA frame that fits the full limit but not the handshake one.
      const big = encodeFrame({ type: 'data', seq: 1, payload: new Uint8Array(handshakeLimit + extra) });
      const maxFrameSize = big.length + 1;
      const afterHello = runDecoder({ bytes: concat([helloBytes, big]), cuts: [], maxFrameSize, handshakeMaxFrameSize: handshakeLimit });
      const beforeHello = runDecoder({ bytes: concat([big, helloBytes]), cuts: [], maxFrameSize, handshakeMaxFrameSize: handshakeLimit });
      assert.equal(beforeHello.error?.code, 'LL_ERR_FRAME_TOO_LARGE');
      assert.deepEqual(beforeHello.frames, []);
      if (helloBytes.length > handshakeLimit) {
        assert.equal(afterHello.error?.code, 'LL_ERR_FRAME_TOO_LARGE'); // the HELLO itself is too large
      } else {
        assert.equal(afterHello.error, undefined);
        assert.deepEqual(afterHello.frames.map((f) => f.type), ['hello', 'data']);
      }
    }),
    { numRuns: 300 },
  );
});

test('FrameDecoder - HANDSHAKE_MAX_FRAME_SIZE holds a HELLO with a 4096-byte token and every extension', () => {
  const hello: Frame = {
    type: 'hello',
    version: 1,
    heartbeatIntervalMs: Number.MAX_SAFE_INTEGER,
    heartbeatTimeoutMs: Number.MAX_SAFE_INTEGER,
    token: new Uint8Array(4096).fill(0x61),
    resumeSessionId: new Uint8Array(64).fill(1),
    resumeLastSeq: Number.MAX_SAFE_INTEGER,
    maxFrameSize: Number.MAX_SAFE_INTEGER,
    resumable: true,
    followServerPings: true,
  };
  const bytes = encodeFrame(hello);
  assert.ok(bytes.length < HANDSHAKE_MAX_FRAME_SIZE / 3, `${bytes.length} bytes`);
  const decoder = new FrameDecoder({ maxFrameSize: HANDSHAKE_MAX_FRAME_SIZE });
  const frames: Frame[] = [];
  decoder.push(bytes, (f) => frames.push(f));
  assert.deepEqual(frames, [hello]);
});

test('FrameDecoder - setMaxFrameSize applies from the next length; a body already accepted completes', () => {
  const decoder = new FrameDecoder({ maxFrameSize: 1 << 20 });
  const frames: Frame[] = [];
  const header = encodeDataHeader(1, 5000);
  decoder.push(header, (f) => frames.push(f));
  decoder.push(new Uint8Array(2000), (f) => frames.push(f));
  decoder.setMaxFrameSize(MIN_MAX_FRAME_SIZE); // lowered mid-body: this frame was already accepted
  decoder.push(new Uint8Array(3000), (f) => frames.push(f));
  assert.equal(frames.length, 1);
  assert.equal((frames[0] as { payload: Uint8Array }).payload.length, 5000);
  assert.equal(decoder.frameSizeLimit, MIN_MAX_FRAME_SIZE);
  assert.throws(
    () => decoder.push(Uint8Array.of(LONG_FRAME_TYPES.data, MIN_MAX_FRAME_SIZE), () => {}),
    (err: unknown) => err instanceof ProtocolError && err.code === 'LL_ERR_FRAME_TOO_LARGE' && /maxFrameSize 64/.test(err.message),
  );
});

test('FrameDecoder - setMaxFrameSize validates like the constructor', () => {
  const decoder = new FrameDecoder();
  for (const bad of [0, MIN_MAX_FRAME_SIZE - 1, 1.5, Number.NaN, Infinity]) {
    assert.throws(() => decoder.setMaxFrameSize(bad), InvalidOptionError);
  }
  assert.equal(decoder.frameSizeLimit, 1 << 20, 'a refused value leaves the limit as it was');
});
