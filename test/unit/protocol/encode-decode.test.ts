import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidOptionError } from '../../../src/errors.js';
import { FrameDecoder, MIN_MAX_FRAME_SIZE } from '../../../src/protocol/decoder.js';
import {
  encodeDataHeader,
  encodeFrame,
  encodePing,
  encodePong,
  truncateUtf8,
} from '../../../src/protocol/encode.js';
import {
  CLOSE_CODES,
  DEFAULT_MAX_FRAME_SIZE,
  GOAWAY_CODES,
  MAX_MESSAGE_BYTES,
  PEER_STATUSES,
  type Frame,
} from '../../../src/protocol/frames.js';

const utf8 = new TextEncoder();
const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const hex = (data: Uint8Array): string => Buffer.from(data).toString('hex');

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** Decode `stream` cut at `cuts` (sorted offsets); checks end() accepts the boundary. */
function decodeChunks(stream: Uint8Array, cuts: readonly number[] = []): Frame[] {
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  let start = 0;
  for (const cut of [...cuts, stream.length]) {
    decoder.push(stream.subarray(start, cut), (f) => frames.push(f));
    start = cut;
  }
  decoder.end();
  assert.equal(decoder.bufferedBytes, 0);
  return frames;
}

function roundTrip(frame: Frame): Frame {
  const frames = decodeChunks(encodeFrame(frame));
  assert.equal(frames.length, 1);
  return frames[0]!;
}

/** Byte-exact test vectors; PROTOCOL.md §10 lists the same ones. */
const VECTORS: Array<{ name: string; frame: Frame; hex: string }> = [
  { name: 'PING id 5', frame: { type: 'ping', id: 5 }, hex: '45' },
  { name: 'PONG id 5 busy load 200', frame: { type: 'pong', id: 5, status: 'busy', load: 200 }, hex: 'a5c8' },
  {
    name: 'HELLO without extensions',
    frame: { type: 'hello', version: 1, heartbeatIntervalMs: 10000, heartbeatTimeoutMs: 30000 },
    hex: '01084c4c01904eb0ea01',
  },
  {
    name: 'HELLO with every extension',
    frame: {
      type: 'hello',
      version: 1,
      heartbeatIntervalMs: 0,
      heartbeatTimeoutMs: 0,
      token: utf8.encode('t'),
      resumeSessionId: bytes(0xab, 0xcd),
      resumeLastSeq: 300,
      maxFrameSize: 65536,
    },
    hex: '01154c4c010000010174020' + '2abcd0302ac02' + '0403808004',
  },
  {
    name: 'WELCOME without extensions',
    frame: { type: 'welcome', version: 1, heartbeatIntervalMs: 10000, heartbeatTimeoutMs: 30000 },
    hex: '020601904eb0ea01',
  },
  {
    name: 'WELCOME with every extension',
    frame: {
      type: 'welcome',
      version: 1,
      heartbeatIntervalMs: 10000,
      heartbeatTimeoutMs: 30000,
      sessionId: bytes(0xab, 0xcd),
      maxFrameSize: 65536,
      resumed: true,
      resumeLastSeq: 7,
    },
    hex: '021501904eb0ea010102abcd0203808004030101040107',
  },
  {
    name: 'HELLO offering to follow server pings',
    frame: { type: 'hello', version: 1, heartbeatIntervalMs: 10000, heartbeatTimeoutMs: 30000, followServerPings: true },
    hex: '010b4c4c01904eb0ea01060101',
  },
  {
    name: 'WELCOME: the server leads',
    frame: { type: 'welcome', version: 1, heartbeatIntervalMs: 10000, heartbeatTimeoutMs: 30000, serverPings: true },
    hex: '020901904eb0ea01060101',
  },
  { name: 'DATA seq 1 "hi"', frame: { type: 'data', seq: 1, payload: utf8.encode('hi') }, hex: '0303016869' },
  {
    name: 'GOAWAY draining with redirect',
    frame: { type: 'goaway', code: 'draining', retryAfterMs: 1000, message: '', redirect: 'b:1' },
    hex: '040800e8070003623a31',
  },
  { name: 'CLOSE normal "bye"', frame: { type: 'close', code: 'normal', message: 'bye' }, hex: '0505000362796' + '5' },
  {
    name: 'WELCOME: the server speaks PRESENCE, 1000 subscriptions',
    frame: { type: 'welcome', version: 1, heartbeatIntervalMs: 10000, heartbeatTimeoutMs: 30000, presence: 1000 },
    hex: '020a01904eb0ea010702e807',
  },
  { name: 'PRESENCE SUBSCRIBE alice, bob', frame: { type: 'presence', kind: 'subscribe', ids: ['alice', 'bob'] }, hex: '070c000205616c69636503626f62' },
  { name: 'PRESENCE UNSUBSCRIBE bob', frame: { type: 'presence', kind: 'unsubscribe', ids: ['bob'] }, hex: '0706010103626f62' },
  {
    name: 'PRESENCE STATE alice online, bob away',
    frame: { type: 'presence', kind: 'state', states: [{ id: 'alice', state: 'online' }, { id: 'bob', state: 'away' }] },
    hex: '070e02020105616c6963650203626f62',
  },
  {
    name: 'PRESENCE STATE dan offline, eve denied',
    frame: { type: 'presence', kind: 'state', states: [{ id: 'dan', state: 'offline' }, { id: 'eve', state: 'denied' }] },
    hex: '070c0202000364616e0303657665',
  },
  // docs/spec/0013-identity.md §Refusal: every refused token gets exactly these bytes.
  { name: 'CLOSE auth-failed "unauthorized"', frame: { type: 'close', code: 'auth-failed', message: 'unauthorized' }, hex: '050e070c756e617574686f72697a6564' },
  // docs/spec/0003-enforcement-and-drain.md §Slow consumers.
  { name: 'CLOSE slow-consumer ""', frame: { type: 'close', code: 'slow-consumer', message: '' }, hex: '05020a00' },
];

test('encodeFrame - produces the byte-exact test vectors', () => {
  for (const v of VECTORS) assert.equal(hex(encodeFrame(v.frame)), v.hex, v.name);
});

test('FrameDecoder - decodes the byte-exact test vectors', () => {
  for (const v of VECTORS) {
    assert.deepEqual(decodeChunks(Uint8Array.from(Buffer.from(v.hex, 'hex'))), [v.frame], v.name);
  }
});

test('encodeFrame - every frame type round trips with optional fields absent', () => {
  const frames: Frame[] = [
    { type: 'hello', version: 1, heartbeatIntervalMs: 0, heartbeatTimeoutMs: 0 },
    { type: 'welcome', version: 255, heartbeatIntervalMs: 1, heartbeatTimeoutMs: 2 },
    { type: 'data', seq: 0, payload: new Uint8Array(0) },
    { type: 'ping', id: 0 },
    { type: 'pong', id: 31, status: 'ok', load: 0 },
    { type: 'goaway', code: 'shutdown', message: '', retryAfterMs: 0 },
    { type: 'close', code: 'internal-error', message: '' },
  ];
  for (const frame of frames) {
    const decoded = roundTrip(frame);
    assert.deepEqual(decoded, frame);
    // Absent means absent: no `key: undefined` left behind.
    for (const key of ['token', 'resumeSessionId', 'resumeLastSeq', 'sessionId', 'maxFrameSize', 'resumed', 'redirect']) {
      assert.equal(key in decoded, false, `${frame.type} has no ${key}`);
    }
  }
});

test('encodeFrame - every frame type round trips with all optional fields present', () => {
  const frames: Frame[] = [
    {
      type: 'hello',
      version: 7,
      heartbeatIntervalMs: 15_000,
      heartbeatTimeoutMs: Number.MAX_SAFE_INTEGER,
      token: new Uint8Array(0),
      resumeSessionId: new Uint8Array(64).fill(9),
      resumeLastSeq: Number.MAX_SAFE_INTEGER,
    },
    {
      type: 'welcome',
      version: 1,
      heartbeatIntervalMs: 20_000,
      heartbeatTimeoutMs: 60_000,
      sessionId: bytes(1),
      maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
      resumed: false,
      resumeLastSeq: 0,
    },
    { type: 'data', seq: Number.MAX_SAFE_INTEGER, payload: new Uint8Array(300).fill(7) },
    { type: 'goaway', code: 'max-age', message: 'reconnect ✓', redirect: 'other.example:4000', retryAfterMs: 2 ** 40 },
    { type: 'close', code: 'heartbeat-timeout', message: 'no frame for 30000 ms' },
  ];
  for (const frame of frames) assert.deepEqual(roundTrip(frame), frame);
});

test('encodeFrame - each HELLO and WELCOME extension round trips alone', () => {
  const hello = { type: 'hello', version: 1, heartbeatIntervalMs: 5, heartbeatTimeoutMs: 6 } as const;
  const welcome = { type: 'welcome', version: 1, heartbeatIntervalMs: 5, heartbeatTimeoutMs: 6 } as const;
  const frames: Frame[] = [
    { ...hello, token: utf8.encode('secret') },
    { ...hello, resumeSessionId: bytes(1, 2, 3) },
    { ...hello, resumeLastSeq: 99 },
    { ...welcome, sessionId: bytes(4, 5) },
    { ...welcome, maxFrameSize: 1 },
    { ...welcome, resumed: true },
    { ...welcome, resumeLastSeq: 12345 },
  ];
  for (const frame of frames) assert.deepEqual(roundTrip(frame), frame);
});

test('encodeFrame - every PONG status, every id and load extremes round trip', () => {
  for (const status of PEER_STATUSES) {
    for (let id = 0; id < 32; id++) {
      for (const load of [0, 128, 255]) {
        const frame: Frame = { type: 'pong', id, status, load };
        assert.deepEqual(roundTrip(frame), frame);
      }
    }
  }
  for (let id = 0; id < 32; id++) assert.deepEqual(roundTrip({ type: 'ping', id }), { type: 'ping', id });
});

test('encodeFrame - every CLOSE and GOAWAY code round trips', () => {
  for (const code of Object.keys(CLOSE_CODES) as Array<keyof typeof CLOSE_CODES>) {
    assert.deepEqual(roundTrip({ type: 'close', code, message: code }), { type: 'close', code, message: code });
  }
  for (const code of Object.keys(GOAWAY_CODES) as Array<keyof typeof GOAWAY_CODES>) {
    const frame: Frame = { type: 'goaway', code, message: code, retryAfterMs: 1 };
    assert.deepEqual(roundTrip(frame), frame);
  }
});

test('FrameDecoder - unknown CLOSE and GOAWAY code numbers decode as unknown', () => {
  assert.deepEqual(decodeChunks(bytes(0x05, 0x02, 200, 0x00)), [{ type: 'close', code: 'unknown', message: '' }]);
  assert.deepEqual(decodeChunks(bytes(0x04, 0x04, 77, 0x00, 0x00, 0x00)), [
    { type: 'goaway', code: 'unknown', message: '', retryAfterMs: 0 },
  ]);
});

test('FrameDecoder - skips unknown extension tags and accepts any tag order', () => {
  // HELLO: resumeLastSeq (3) first, then unknown tag 9 with 3 bytes, then token (1), then unknown 0.
  const body = [0x4c, 0x4c, 0x01, 0x00, 0x00, 0x03, 0x01, 0x05, 0x09, 0x03, 0xff, 0xff, 0xff, 0x01, 0x01, 0x41, 0x00, 0x00];
  assert.deepEqual(decodeChunks(bytes(0x01, body.length, ...body)), [
    { type: 'hello', version: 1, heartbeatIntervalMs: 0, heartbeatTimeoutMs: 0, resumeLastSeq: 5, token: bytes(0x41) },
  ]);
  // WELCOME: an unknown tag 200 with an empty value only.
  assert.deepEqual(decodeChunks(bytes(0x02, 0x05, 0x01, 0x00, 0x00, 200, 0x00)), [
    { type: 'welcome', version: 1, heartbeatIntervalMs: 0, heartbeatTimeoutMs: 0 },
  ]);
});

const ONE_OF_EACH: Frame[] = [
  {
    type: 'hello',
    version: 1,
    heartbeatIntervalMs: 10_000,
    heartbeatTimeoutMs: 30_000,
    token: utf8.encode('tok'),
    resumeSessionId: bytes(1, 2, 3),
    resumeLastSeq: 41,
  },
  {
    type: 'welcome',
    version: 1,
    heartbeatIntervalMs: 10_000,
    heartbeatTimeoutMs: 30_000,
    sessionId: bytes(9, 9),
    maxFrameSize: 65_536,
    resumed: true,
    resumeLastSeq: 40,
  },
  { type: 'data', seq: 300, payload: utf8.encode('payload bytes') },
  { type: 'ping', id: 17 },
  { type: 'pong', id: 17, status: 'draining', load: 99 },
  { type: 'data', seq: 301, payload: new Uint8Array(0) },
  { type: 'goaway', code: 'overloaded', message: 'go ➜ elsewhere', redirect: 'h:1', retryAfterMs: 500 },
  { type: 'close', code: 'going-away', message: 'bye' },
];
const ONE_OF_EACH_STREAM = concat(ONE_OF_EACH.map(encodeFrame));

test('FrameDecoder - a stream of one of each frame decodes the same at every single split point', () => {
  for (let cut = 0; cut <= ONE_OF_EACH_STREAM.length; cut++) {
    assert.deepEqual(decodeChunks(ONE_OF_EACH_STREAM, [cut]), ONE_OF_EACH, `split at ${cut}`);
  }
});

test('FrameDecoder - a stream of one of each frame decodes the same at every pair of split points', () => {
  const n = ONE_OF_EACH_STREAM.length;
  for (let a = 1; a < n; a++) {
    for (let b = a; b < n; b++) assert.deepEqual(decodeChunks(ONE_OF_EACH_STREAM, [a, b]), ONE_OF_EACH, `${a},${b}`);
  }
});

test('FrameDecoder - a stream fed in 1-byte chunks decodes the same', () => {
  const cuts = Array.from({ length: ONE_OF_EACH_STREAM.length - 1 }, (_, i) => i + 1);
  assert.deepEqual(decodeChunks(ONE_OF_EACH_STREAM, cuts), ONE_OF_EACH);
});

test('FrameDecoder - a DATA payload inside one chunk is a view of it; a split one is copied', () => {
  const chunk = concat([encodePing(1), encodeFrame({ type: 'data', seq: 1, payload: utf8.encode('zero copy') })]);
  const frames: Frame[] = [];
  new FrameDecoder().push(chunk, (f) => frames.push(f));
  const data = frames[1];
  assert.ok(data?.type === 'data');
  assert.equal(data.payload.buffer, chunk.buffer);
  assert.equal(data.payload.byteOffset, chunk.byteOffset + 4);

  // Header in one chunk, whole body in the next: still a view, of the second chunk.
  const stream = encodeFrame({ type: 'data', seq: 1, payload: utf8.encode('abc') });
  const second = stream.slice(2);
  const got: Frame[] = [];
  const decoder = new FrameDecoder();
  decoder.push(stream.slice(0, 2), (f) => got.push(f));
  decoder.push(second, (f) => got.push(f));
  assert.ok(got[0]?.type === 'data');
  assert.equal(got[0].payload.buffer, second.buffer);

  // Body split across chunks: reassembled into its own exact-size buffer.
  const split: Frame[] = [];
  const d2 = new FrameDecoder();
  const a = stream.slice(0, 4);
  const b = stream.slice(4);
  d2.push(a, (f) => split.push(f));
  d2.push(b, (f) => split.push(f));
  assert.ok(split[0]?.type === 'data');
  assert.notEqual(split[0].payload.buffer, a.buffer);
  assert.notEqual(split[0].payload.buffer, b.buffer);
  assert.deepEqual(split[0].payload, utf8.encode('abc'));
});

test('FrameDecoder - session ids and tokens are copies, not views of the chunk', () => {
  const chunk = encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 0, heartbeatTimeoutMs: 0, token: bytes(1), resumeSessionId: bytes(2) });
  const frames: Frame[] = [];
  new FrameDecoder().push(chunk, (f) => frames.push(f));
  assert.ok(frames[0]?.type === 'hello');
  assert.notEqual(frames[0].token?.buffer, chunk.buffer);
  assert.notEqual(frames[0].resumeSessionId?.buffer, chunk.buffer);
});

test('FrameDecoder - bufferedBytes counts the partial frame and never reaches maxFrameSize', () => {
  const decoder = new FrameDecoder({ maxFrameSize: 64 });
  const noop = (): void => {};
  assert.equal(decoder.bufferedBytes, 0);
  decoder.push(bytes(0xa0), noop); // PONG type byte
  assert.equal(decoder.bufferedBytes, 1);
  decoder.push(bytes(0x10, 0x03), noop); // load, then DATA type byte
  assert.equal(decoder.bufferedBytes, 1);
  decoder.push(bytes(59), noop); // body length: 1 + 1 + 59 = 61 bytes in all
  assert.equal(decoder.bufferedBytes, 2);
  decoder.push(new Uint8Array(58), noop);
  assert.equal(decoder.bufferedBytes, 60);
  let got: Frame | undefined;
  decoder.push(bytes(0), (f) => (got = f));
  assert.equal(decoder.bufferedBytes, 0);
  assert.ok(got?.type === 'data');
  assert.equal(got.payload.length, 58);
});

test('FrameDecoder - a frame of exactly maxFrameSize bytes is accepted', () => {
  const frame: Frame = { type: 'data', seq: 1, payload: new Uint8Array(100 - 3) };
  const encoded = encodeFrame(frame);
  assert.equal(encoded.length, 100);
  const frames: Frame[] = [];
  new FrameDecoder({ maxFrameSize: 100 }).push(encoded, (f) => frames.push(f));
  assert.deepEqual(frames, [frame]);
});

test('FrameDecoder - a large DATA frame split into many chunks reassembles exactly', () => {
  const payload = Uint8Array.from({ length: 200_000 }, (_, i) => i % 251);
  const stream = encodeFrame({ type: 'data', seq: 5, payload });
  const cuts: number[] = [];
  for (let c = 1; c < stream.length; c += 7_919) cuts.push(c);
  const frames = decodeChunks(stream, cuts);
  assert.ok(frames[0]?.type === 'data');
  assert.equal(frames[0].payload.length, payload.length);
  assert.deepEqual(frames[0].payload, payload);
  // The reassembly buffer grew to exactly the body (1 seq byte + payload), no slack.
  assert.equal(frames[0].payload.buffer.byteLength, 1 + payload.length);
});

test('FrameDecoder - constructor rejects an unusable maxFrameSize, naming it', () => {
  for (const bad of [0, -1, MIN_MAX_FRAME_SIZE - 1, 1.5, Number.NaN, '1024']) {
    assert.throws(
      () => new FrameDecoder({ maxFrameSize: bad as number }),
      (err: unknown) => err instanceof InvalidOptionError && /maxFrameSize/.test(err.message),
      String(bad),
    );
  }
  assert.doesNotThrow(() => new FrameDecoder({ maxFrameSize: MIN_MAX_FRAME_SIZE }));
});

test('encodeDataHeader - header plus payload equals the encoded DATA frame', () => {
  for (const [seq, length] of [[0, 0], [1, 5], [300, 127], [2 ** 40, 128], [7, 70_000]] as const) {
    const payload = Uint8Array.from({ length }, (_, i) => i & 0xff);
    assert.equal(hex(concat([encodeDataHeader(seq, length), payload])), hex(encodeFrame({ type: 'data', seq, payload })));
  }
});

test('encodePing / encodePong - are 1 and 2 bytes and match encodeFrame', () => {
  assert.equal(hex(encodePing(31)), '5f');
  assert.equal(hex(encodePong(0, 'ok', 0)), '8000');
  assert.equal(hex(encodePong(31, 'draining', 255)), 'dfff');
  assert.equal(hex(encodePong(3, 'busy', 9)), hex(encodeFrame({ type: 'pong', id: 3, status: 'busy', load: 9 })));
});

test('encodeFrame - GOAWAY and CLOSE messages are cut to 1024 UTF-8 bytes at a character boundary', () => {
  const ascii = 'a'.repeat(5000);
  const closed = roundTrip({ type: 'close', code: 'normal', message: ascii });
  assert.ok(closed.type === 'close');
  assert.equal(closed.message, 'a'.repeat(MAX_MESSAGE_BYTES));

  // 1023 ASCII bytes then a 3-byte '€': the euro would end at byte 1026, so it is dropped whole.
  const euro = 'a'.repeat(1023) + '€€';
  const goaway = roundTrip({ type: 'goaway', code: 'draining', message: euro, retryAfterMs: 0 });
  assert.ok(goaway.type === 'goaway');
  assert.equal(goaway.message, 'a'.repeat(1023));

  // 4-byte characters: 256 of them fill exactly 1024 bytes; the 257th is cut.
  const emoji = '😀'.repeat(300);
  const cut = roundTrip({ type: 'close', code: 'normal', message: emoji });
  assert.ok(cut.type === 'close');
  assert.equal(cut.message, '😀'.repeat(256));
  assert.equal(truncateUtf8('😀'.repeat(300), 1023).length, 1020);
});

test('encodeFrame - a redirect is never truncated and an empty one means no redirect', () => {
  const long = 'h'.repeat(3000) + ':1';
  assert.deepEqual(roundTrip({ type: 'goaway', code: 'draining', message: 'm', redirect: long, retryAfterMs: 0 }), {
    type: 'goaway',
    code: 'draining',
    message: 'm',
    redirect: long,
    retryAfterMs: 0,
  });
  const noRedirect = roundTrip({ type: 'goaway', code: 'draining', message: 'm', redirect: '', retryAfterMs: 0 });
  assert.equal('redirect' in noRedirect, false);
});

test('encodeFrame - lone surrogates in a message become U+FFFD instead of throwing', () => {
  const frame = roundTrip({ type: 'close', code: 'internal-error', message: 'bad \ud800 half' });
  assert.ok(frame.type === 'close');
  assert.equal(frame.message, 'bad \ufffd half');
});

test('encodeFrame - a leading byte-order mark survives the round trip', () => {
  const frame = roundTrip({ type: 'close', code: 'normal', message: '\ufeffbom' });
  assert.ok(frame.type === 'close');
  assert.equal(frame.message, '\ufeffbom');
});

test('encodeFrame - rejects bad input with TypeError or RangeError naming the field', () => {
  const hello = { type: 'hello', version: 1, heartbeatIntervalMs: 0, heartbeatTimeoutMs: 0 } as const;
  const welcome = { type: 'welcome', version: 1, heartbeatIntervalMs: 0, heartbeatTimeoutMs: 0 } as const;
  const cases: Array<[string, () => unknown, typeof TypeError | typeof RangeError, RegExp]> = [
    ['ping id 32', () => encodePing(32), RangeError, /ping id/],
    ['ping id -1', () => encodePing(-1), RangeError, /ping id/],
    ['ping id 1.5', () => encodePing(1.5), RangeError, /ping id/],
    ['ping id string', () => encodePing('1' as unknown as number), TypeError, /ping id/],
    ['pong id 32', () => encodePong(32, 'ok', 0), RangeError, /pong id/],
    ['pong load 256', () => encodePong(0, 'ok', 256), RangeError, /pong load/],
    ['pong load -1', () => encodePong(0, 'ok', -1), RangeError, /pong load/],
    ['pong load 0.5', () => encodePong(0, 'ok', 0.5), RangeError, /pong load/],
    ['pong status', () => encodePong(0, 'sleepy' as 'ok', 0), RangeError, /pong status/],
    ['data seq -1', () => encodeDataHeader(-1, 0), RangeError, /data seq/],
    ['data seq 2^53', () => encodeDataHeader(2 ** 53, 0), RangeError, /data seq/],
    ['data seq NaN', () => encodeFrame({ type: 'data', seq: Number.NaN, payload: bytes() }), RangeError, /data seq/],
    ['data payloadLength', () => encodeDataHeader(1, -5), RangeError, /payloadLength/],
    ['data payloadLength too big', () => encodeDataHeader(1, 2 ** 28), RangeError, /data body/],
    ['data payload', () => encodeFrame({ type: 'data', seq: 1, payload: [1] as unknown as Uint8Array }), TypeError, /data payload/],
    ['hello version 256', () => encodeFrame({ ...hello, version: 256 }), RangeError, /hello version/],
    ['hello interval', () => encodeFrame({ ...hello, heartbeatIntervalMs: -1 }), RangeError, /heartbeatIntervalMs/],
    ['hello timeout', () => encodeFrame({ ...hello, heartbeatTimeoutMs: 0.5 }), RangeError, /heartbeatTimeoutMs/],
    ['hello token', () => encodeFrame({ ...hello, token: 'abc' as unknown as Uint8Array }), TypeError, /hello token/],
    ['hello resumeSessionId empty', () => encodeFrame({ ...hello, resumeSessionId: bytes() }), RangeError, /resumeSessionId/],
    ['hello resumeSessionId 65', () => encodeFrame({ ...hello, resumeSessionId: new Uint8Array(65) }), RangeError, /resumeSessionId/],
    ['hello resumeLastSeq', () => encodeFrame({ ...hello, resumeLastSeq: -1 }), RangeError, /resumeLastSeq/],
    ['welcome sessionId empty', () => encodeFrame({ ...welcome, sessionId: bytes() }), RangeError, /sessionId/],
    ['welcome maxFrameSize 0', () => encodeFrame({ ...welcome, maxFrameSize: 0 }), RangeError, /maxFrameSize/],
    ['welcome resumed', () => encodeFrame({ ...welcome, resumed: 1 as unknown as boolean }), TypeError, /resumed/],
    ['welcome serverPings', () => encodeFrame({ ...welcome, serverPings: 'yes' as unknown as boolean }), TypeError, /welcome serverPings must be a boolean/],
    ['hello followServerPings', () => encodeFrame({ ...hello, followServerPings: 1 as unknown as boolean }), TypeError, /hello followServerPings must be a boolean/],
    ['hello resumable', () => encodeFrame({ ...hello, resumable: 'no' as unknown as boolean }), TypeError, /hello resumable must be a boolean/],
    ['goaway code', () => encodeFrame({ type: 'goaway', code: 'nope' as 'draining', message: '', retryAfterMs: 0 }), RangeError, /goaway code/],
    ['goaway retryAfterMs', () => encodeFrame({ type: 'goaway', code: 'draining', message: '', retryAfterMs: -1 }), RangeError, /retryAfterMs/],
    ['goaway message', () => encodeFrame({ type: 'goaway', code: 'draining', message: 5 as unknown as string, retryAfterMs: 0 }), TypeError, /goaway message/],
    ['goaway redirect', () => encodeFrame({ type: 'goaway', code: 'draining', message: '', redirect: 5 as unknown as string, retryAfterMs: 0 }), TypeError, /goaway redirect/],
    ['close code', () => encodeFrame({ type: 'close', code: 'toString' as 'normal', message: '' }), RangeError, /close code/],
    ['close message', () => encodeFrame({ type: 'close', code: 'normal', message: undefined as unknown as string }), TypeError, /close message/],
    ['frame type', () => encodeFrame({ type: 'nope' } as unknown as Frame), TypeError, /frame\.type/],
    ['frame null', () => encodeFrame(null as unknown as Frame), TypeError, /frame/],
  ];
  for (const [name, fn, kind, field] of cases) {
    assert.throws(fn, (err: unknown) => err instanceof kind && field.test((err as Error).message), name);
  }
});

test('FrameDecoder - a FrameSink gets PINGs as onPing(id), every other frame as onFrame()', () => {
  const seen: unknown[] = [];
  const sink = { onFrame: (f: unknown) => seen.push(f), onPing: (id: number) => seen.push(`ping ${id}`) };
  const decoder = new FrameDecoder();
  const stream = concat([encodePing(3), encodePong(4, 'busy', 9), encodeFrame({ type: 'ack', seq: 7 }), encodePing(31)]);
  decoder.push(stream.subarray(0, 2), sink);
  decoder.push(stream.subarray(2), sink);
  assert.deepEqual(seen, ['ping 3', { type: 'pong', id: 4, status: 'busy', load: 9 }, { type: 'ack', seq: 7 }, 'ping 31']);
  // The callback form still gets PING frame objects, also from a decoder that served a sink.
  const frames: unknown[] = [];
  decoder.push(encodePing(5), (f) => frames.push(f));
  assert.deepEqual(frames, [{ type: 'ping', id: 5 }]);
});

test('encodeFrame - PRESENCE refuses what PROTOCOL.md §6.11 does not allow', () => {
  const cases: Array<[string, () => unknown, new (...args: never[]) => Error, RegExp]> = [
    ['no ids', () => encodeFrame({ type: 'presence', kind: 'subscribe', ids: [] }), RangeError, /1\.\.1024 entries, got 0/],
    ['1025 ids', () => encodeFrame({ type: 'presence', kind: 'subscribe', ids: Array.from({ length: 1025 }, (_, i) => `u${i}`) }), RangeError, /got 1025/],
    ['empty id', () => encodeFrame({ type: 'presence', kind: 'unsubscribe', ids: [''] }), RangeError, /1\.\.256 bytes/],
    ['257-byte id', () => encodeFrame({ type: 'presence', kind: 'subscribe', ids: ['é'.repeat(128) + 'x'] }), RangeError, /got 257/],
    ['id not a string', () => encodeFrame({ type: 'presence', kind: 'subscribe', ids: [7 as unknown as string] }), TypeError, /presence id must be a string/],
    ['unknown state', () => encodeFrame({ type: 'presence', kind: 'state', states: [{ id: 'a', state: 'busy' as 'online' }] }), RangeError, /presence state must be one of/],
    ['unknown kind', () => encodeFrame({ type: 'presence', kind: 'list' as 'subscribe', ids: ['a'] }), RangeError, /presence kind/],
    ['welcome presence 0', () => encodeFrame({ type: 'welcome', version: 1, heartbeatIntervalMs: 1, heartbeatTimeoutMs: 2, presence: 0 }), RangeError, /welcome presence/],
  ];
  for (const [name, run, type, message] of cases) assert.throws(run, (err: unknown) => err instanceof type && message.test((err as Error).message), name);
});

test('FrameDecoder - PRESENCE with 1024 ids of 256 bytes round trips, in any split', () => {
  const ids = Array.from({ length: 1024 }, (_, i) => `${i}`.padStart(256, 'x'));
  const frame: Frame = { type: 'presence', kind: 'subscribe', ids };
  const encoded = encodeFrame(frame);
  assert.deepEqual(decodeChunks(encoded, [1, 2, 3, 1000, 200_000]), [frame]);
  const states: Frame = { type: 'presence', kind: 'state', states: [{ id: 'ü✓', state: 'away' }] };
  assert.deepEqual(decodeChunks(encodeFrame(states), [1]), [states]);
});
