/**
 * fast-check generators shared by the protocol property tests (test/unit/protocol/, test/fuzz/)
 * and the long fuzz run (scripts/fuzz.ts): every frame type with every extension, streams of
 * frames, chunkings, and hostile byte streams built from valid ones.
 */
import fc from 'fast-check';
import { encodeFrame } from '../../src/protocol/encode.js';
import { CLOSE_CODES, GOAWAY_CODES, PEER_STATUSES, type Frame, type HelloFrame } from '../../src/protocol/frames.js';
import { concatBytes } from '../../src/util/bytes.js';

// Decoded frames are plain objects; fast-check may otherwise build null-prototype records.
const plain = { noNullPrototype: true } as const;
// 'binary' = any code point but lone surrogates; 200 code points ≤ 800 bytes, under the 1024-byte
// message cap, so messages round-trip exactly.
const message = fc.string({ unit: 'binary', maxLength: 200 });
/** Small values (1-2 byte varints) and the whole safe range (up to 8 bytes). */
export const varintValue = fc.oneof(fc.nat(300), fc.maxSafeNat());
const sessionId = fc.uint8Array({ minLength: 1, maxLength: 64 });
const positive = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const presenceId = fc.string({ unit: 'binary', minLength: 1, maxLength: 64 });
const presenceState = fc.constantFrom('offline' as const, 'online' as const, 'away' as const, 'denied' as const);

export const helloArb: fc.Arbitrary<HelloFrame> = fc.record(
  {
    type: fc.constant('hello' as const),
    version: fc.nat(255),
    heartbeatIntervalMs: varintValue,
    heartbeatTimeoutMs: varintValue,
    token: fc.uint8Array({ maxLength: 80 }),
    resumeSessionId: sessionId,
    resumeLastSeq: varintValue,
    maxFrameSize: positive,
    resumable: fc.boolean(),
    followServerPings: fc.boolean(),
  },
  { ...plain, requiredKeys: ['type', 'version', 'heartbeatIntervalMs', 'heartbeatTimeoutMs'] },
);

/** Any frame this version can encode, with any subset of its optional fields. */
export const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ type: fc.constant('ping' as const), id: fc.nat(31) }, plain),
  fc.record({ type: fc.constant('pong' as const), id: fc.nat(31), status: fc.constantFrom(...PEER_STATUSES), load: fc.nat(255) }, plain),
  fc.record({ type: fc.constant('data' as const), seq: varintValue, payload: fc.uint8Array({ maxLength: 300 }) }, plain),
  fc.record({ type: fc.constant('ack' as const), seq: varintValue }, plain),
  helloArb,
  fc.record(
    {
      type: fc.constant('welcome' as const),
      version: fc.nat(255),
      heartbeatIntervalMs: varintValue,
      heartbeatTimeoutMs: varintValue,
      sessionId,
      maxFrameSize: positive,
      resumed: fc.boolean(),
      resumeLastSeq: varintValue,
      resumeWindowMs: varintValue,
      serverPings: fc.boolean(),
      presence: positive,
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
  fc.record({ type: fc.constant('close' as const), code: fc.constantFrom(...(Object.keys(CLOSE_CODES) as Array<keyof typeof CLOSE_CODES>)), message }, plain),
  fc.record(
    { type: fc.constant('presence' as const), kind: fc.constantFrom('subscribe' as const, 'unsubscribe' as const), ids: fc.array(presenceId, { minLength: 1, maxLength: 8 }) },
    plain,
  ),
  fc.record(
    { type: fc.constant('presence' as const), kind: fc.constant('state' as const), states: fc.array(fc.record({ id: presenceId, state: presenceState }, plain), { minLength: 1, maxLength: 8 }) },
    plain,
  ),
);

/** The project's own helper (src/util/bytes.ts), under the short name the fuzz targets use. */
export const concat = concatBytes;

/** Split points for a stream of `length` bytes: sorted, may repeat (empty chunks are legal). */
export function cutsFor(length: number, maxCuts = 20): fc.Arbitrary<number[]> {
  return fc.array(fc.nat(length), { maxLength: maxCuts }).map((cuts) => cuts.sort((a, b) => a - b));
}

/** One byte edit of a stream: set the byte at (position mod length), insert, or delete. */
export const editArb = fc.tuple(fc.constantFrom('set' as const, 'insert' as const, 'delete' as const), fc.nat(), fc.constantFrom(0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xff).chain((b) => fc.oneof(fc.constant(b), fc.nat(255))));

export function applyEdits(stream: Uint8Array, edits: ReadonlyArray<readonly ['set' | 'insert' | 'delete', number, number]>): Uint8Array {
  const bytes = Array.from(stream);
  for (const [kind, at, value] of edits) {
    const i = bytes.length === 0 ? 0 : at % (bytes.length + (kind === 'insert' ? 1 : 0));
    if (kind === 'set' && bytes.length > 0) bytes[i] = value;
    else if (kind === 'insert') bytes.splice(i, 0, value);
    else if (kind === 'delete') bytes.splice(i, 1);
  }
  return Uint8Array.from(bytes);
}

/**
 * Hostile streams: random bytes, valid frame streams with a few edits (so parsing gets deep into
 * bodies before it meets the damage), and random long-frame bodies behind a valid header.
 */
export const hostileStreamArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 400 }),
  fc.tuple(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(editArb, { minLength: 1, maxLength: 4 })).map(([frames, edits]) => applyEdits(concat(frames.map(encodeFrame)), edits)),
  fc.array(
    fc.tuple(fc.integer({ min: 1, max: 7 }), fc.uint8Array({ maxLength: 200 })).map(([type, body]) => concat([Uint8Array.of(type), lengthVarint(body.length), body])),
    { minLength: 1, maxLength: 4 },
  ).map(concat),
);

/** A body-length varint (minimal LEB128, up to 4 bytes). */
export function lengthVarint(length: number): Uint8Array {
  const out: number[] = [];
  let value = length;
  while (value > 0x7f) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return Uint8Array.from(out);
}
