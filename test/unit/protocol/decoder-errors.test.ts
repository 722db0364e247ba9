import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LifelineError, ProtocolError, type ErrorCode } from '../../../src/errors.js';
import { FrameDecoder } from '../../../src/protocol/decoder.js';
import { encodeFrame, encodePing } from '../../../src/protocol/encode.js';
import type { Frame } from '../../../src/protocol/frames.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const noop = (): void => {};
const MAGIC = [0x4c, 0x4c];

function isProtocolError(code: ErrorCode, message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.closeCode, 'protocol-error');
    if (message) assert.match(err.message, message);
    return true;
  };
}

/** A long frame: type byte, 1-byte length (bodies here are < 128 bytes), body. */
function long(type: number, body: number[]): Uint8Array {
  assert.ok(body.length < 128);
  return bytes(type, body.length, ...body);
}

interface BadCase {
  name: string;
  input: Uint8Array;
  code: ErrorCode;
  message: RegExp;
  maxFrameSize?: number;
}

const HELLO_HEAD = [...MAGIC, 0x01, 0x00, 0x00]; // magic, version 1, interval 0, timeout 0
const WELCOME_HEAD = [0x01, 0x00, 0x00];

const BAD: BadCase[] = [
  // Type byte
  { name: 'long type 0', input: bytes(0x00, 0x00), code: 'LL_ERR_UNKNOWN_FRAME_TYPE', message: /long frame type 0/ },
  { name: 'long type 8', input: bytes(0x08, 0x00), code: 'LL_ERR_UNKNOWN_FRAME_TYPE', message: /long frame type 8/ },
  { name: 'long type 63', input: bytes(0x3f), code: 'LL_ERR_UNKNOWN_FRAME_TYPE', message: /long frame type 63/ },
  { name: 'reserved compact 0x60', input: bytes(0x60), code: 'LL_ERR_UNKNOWN_FRAME_TYPE', message: /reserved compact prefix 011/ },
  { name: 'reserved compact 0x7f', input: bytes(0x7f), code: 'LL_ERR_UNKNOWN_FRAME_TYPE', message: /reserved compact prefix 011/ },
  { name: 'PONG status 11 (0xe0)', input: bytes(0xe0, 0x00), code: 'LL_ERR_MALFORMED_FRAME', message: /status bits 11/ },
  { name: 'PONG status 11 (0xff) alone', input: bytes(0xff), code: 'LL_ERR_MALFORMED_FRAME', message: /status bits 11/ },
  // Body length
  {
    name: 'length over the default limit',
    input: bytes(0x03, 0x80, 0x80, 0x40), // 2^20 body: 1 + 3 + 2^20 > 1 MiB
    code: 'LL_ERR_FRAME_TOO_LARGE',
    message: /1048580 bytes exceeds maxFrameSize 1048576/,
  },
  { name: 'length over a small limit', input: bytes(0x03, 0x3f), maxFrameSize: 64, code: 'LL_ERR_FRAME_TOO_LARGE', message: /65 bytes exceeds maxFrameSize 64/ },
  { name: 'non-minimal length', input: bytes(0x03, 0x81, 0x00), code: 'LL_ERR_MALFORMED_FRAME', message: /body length is a non-minimal varint/ },
  {
    name: 'length varint over 4 bytes',
    input: bytes(0x03, 0x80, 0x80, 0x80, 0x80),
    maxFrameSize: 2 ** 30,
    code: 'LL_ERR_MALFORMED_FRAME',
    message: /longer than 4 bytes/,
  },
  // Zero-length bodies: every long frame has at least one required field.
  { name: 'HELLO empty body', input: long(0x01, []), code: 'LL_ERR_MALFORMED_FRAME', message: /HELLO magic runs past/ },
  { name: 'WELCOME empty body', input: long(0x02, []), code: 'LL_ERR_MALFORMED_FRAME', message: /WELCOME version runs past/ },
  { name: 'DATA empty body', input: long(0x03, []), code: 'LL_ERR_MALFORMED_FRAME', message: /DATA seq runs past/ },
  { name: 'GOAWAY empty body', input: long(0x04, []), code: 'LL_ERR_MALFORMED_FRAME', message: /GOAWAY code runs past/ },
  { name: 'CLOSE empty body', input: long(0x05, []), code: 'LL_ERR_MALFORMED_FRAME', message: /CLOSE code runs past/ },
  // Body varints
  { name: 'non-minimal DATA seq', input: long(0x03, [0x80, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /DATA seq is a non-minimal varint/ },
  {
    name: 'DATA seq longer than 8 bytes',
    input: long(0x03, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
    code: 'LL_ERR_MALFORMED_FRAME',
    message: /DATA seq is a varint longer than 8 bytes/,
  },
  {
    name: 'DATA seq above MAX_SAFE_INTEGER',
    input: long(0x03, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]),
    code: 'LL_ERR_MALFORMED_FRAME',
    message: /MAX_SAFE_INTEGER/,
  },
  { name: 'DATA seq cut by body end', input: long(0x03, [0x80]), code: 'LL_ERR_MALFORMED_FRAME', message: /DATA seq runs past/ },
  // HELLO
  {
    name: 'HELLO bad magic',
    input: long(0x01, [0x47, 0x45, 0x01, 0x00, 0x00]),
    code: 'LL_ERR_MALFORMED_FRAME',
    message: /not a lifeline peer/,
  },
  { name: 'HELLO missing timeout', input: long(0x01, [...MAGIC, 0x01, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /heartbeatTimeoutMs runs past/ },
  { name: 'HELLO interval cut', input: long(0x01, [...MAGIC, 0x01, 0x90]), code: 'LL_ERR_MALFORMED_FRAME', message: /heartbeatIntervalMs runs past/ },
  { name: 'HELLO extension length missing', input: long(0x01, [...HELLO_HEAD, 0x01]), code: 'LL_ERR_MALFORMED_FRAME', message: /extension length runs past/ },
  { name: 'HELLO extension value past end', input: long(0x01, [...HELLO_HEAD, 0x01, 0x05, 0x41]), code: 'LL_ERR_MALFORMED_FRAME', message: /extension value runs past/ },
  { name: 'HELLO unknown extension value past end', input: long(0x01, [...HELLO_HEAD, 0x63, 0x02, 0x41]), code: 'LL_ERR_MALFORMED_FRAME', message: /extension value runs past/ },
  { name: 'HELLO duplicate token', input: long(0x01, [...HELLO_HEAD, 0x01, 0x00, 0x01, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /token extension \(tag 1\) appears twice/ },
  { name: 'HELLO duplicate resumeLastSeq', input: long(0x01, [...HELLO_HEAD, 0x03, 0x01, 0x01, 0x03, 0x01, 0x02]), code: 'LL_ERR_MALFORMED_FRAME', message: /appears twice/ },
  { name: 'HELLO zero-length resumeSessionId', input: long(0x01, [...HELLO_HEAD, 0x02, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /resumeSessionId must be 1\.\.64 bytes, got 0/ },
  { name: 'HELLO 65-byte resumeSessionId', input: long(0x01, [...HELLO_HEAD, 0x02, 65, ...new Array<number>(65).fill(1)]), code: 'LL_ERR_MALFORMED_FRAME', message: /got 65/ },
  { name: 'HELLO empty resumeLastSeq', input: long(0x01, [...HELLO_HEAD, 0x03, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /resumeLastSeq extension value is empty/ },
  { name: 'HELLO resumeLastSeq with extra byte', input: long(0x01, [...HELLO_HEAD, 0x03, 0x02, 0x01, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /bytes after its varint/ },
  { name: 'HELLO resumeLastSeq truncated varint', input: long(0x01, [...HELLO_HEAD, 0x03, 0x01, 0x81]), code: 'LL_ERR_MALFORMED_FRAME', message: /resumeLastSeq runs past/ },
  { name: 'HELLO resumeLastSeq non-minimal', input: long(0x01, [...HELLO_HEAD, 0x03, 0x02, 0x81, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /non-minimal/ },
  // WELCOME
  { name: 'WELCOME missing timeout', input: long(0x02, [0x01, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /heartbeatTimeoutMs runs past/ },
  { name: 'WELCOME zero-length sessionId', input: long(0x02, [...WELCOME_HEAD, 0x01, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /sessionId must be 1\.\.64 bytes, got 0/ },
  { name: 'WELCOME duplicate sessionId', input: long(0x02, [...WELCOME_HEAD, 0x01, 0x01, 0x07, 0x01, 0x01, 0x07]), code: 'LL_ERR_MALFORMED_FRAME', message: /sessionId extension \(tag 1\) appears twice/ },
  { name: 'WELCOME maxFrameSize 0', input: long(0x02, [...WELCOME_HEAD, 0x02, 0x01, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /maxFrameSize is 0/ },
  { name: 'WELCOME maxFrameSize empty', input: long(0x02, [...WELCOME_HEAD, 0x02, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /maxFrameSize extension value is empty/ },
  { name: 'WELCOME resumed value 2', input: long(0x02, [...WELCOME_HEAD, 0x03, 0x01, 0x02]), code: 'LL_ERR_MALFORMED_FRAME', message: /resumed must be exactly one byte, 0 or 1/ },
  { name: 'WELCOME resumed two bytes', input: long(0x02, [...WELCOME_HEAD, 0x03, 0x02, 0x01, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /resumed must be exactly one byte/ },
  { name: 'WELCOME resumed empty', input: long(0x02, [...WELCOME_HEAD, 0x03, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /resumed must be exactly one byte/ },
  { name: 'WELCOME serverPings value 2', input: long(0x02, [...WELCOME_HEAD, 0x06, 0x01, 0x02]), code: 'LL_ERR_MALFORMED_FRAME', message: /serverPings must be exactly one byte, 0 or 1/ },
  { name: 'WELCOME duplicate serverPings', input: long(0x02, [...WELCOME_HEAD, 0x06, 0x01, 0x01, 0x06, 0x01, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /serverPings extension \(tag 6\) appears twice/ },
  { name: 'HELLO followServerPings empty', input: long(0x01, [...HELLO_HEAD, 0x06, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /followServerPings must be exactly one byte/ },
  { name: 'WELCOME duplicate resumed', input: long(0x02, [...WELCOME_HEAD, 0x03, 0x01, 0x01, 0x03, 0x01, 0x01]), code: 'LL_ERR_MALFORMED_FRAME', message: /appears twice/ },
  { name: 'WELCOME presence 0', input: long(0x02, [...WELCOME_HEAD, 0x07, 0x01, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /WELCOME presence is 0/ },
  { name: 'WELCOME presence empty', input: long(0x02, [...WELCOME_HEAD, 0x07, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /presence extension value is empty/ },
  { name: 'WELCOME duplicate presence', input: long(0x02, [...WELCOME_HEAD, 0x07, 0x01, 0x05, 0x07, 0x01, 0x05]), code: 'LL_ERR_MALFORMED_FRAME', message: /presence extension \(tag 7\) appears twice/ },
  // PRESENCE (PROTOCOL.md §6.11)
  { name: 'PRESENCE empty body', input: bytes(0x07, 0x00), code: 'LL_ERR_MALFORMED_FRAME', message: /PRESENCE kind runs past/ },
  { name: 'PRESENCE kind 3', input: long(0x07, [0x03, 0x01, 0x01, 0x61]), code: 'LL_ERR_MALFORMED_FRAME', message: /PRESENCE kind 3 is not 0, 1 or 2/ },
  { name: 'PRESENCE count 0', input: long(0x07, [0x00, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /PRESENCE count 0 is outside 1\.\.1024/ },
  { name: 'PRESENCE count 1025', input: long(0x07, [0x00, 0x81, 0x08, 0x01, 0x61]), code: 'LL_ERR_MALFORMED_FRAME', message: /PRESENCE count 1025 is outside/ },
  { name: 'PRESENCE count past the body', input: long(0x07, [0x00, 0x03, 0x01, 0x61]), code: 'LL_ERR_MALFORMED_FRAME', message: /PRESENCE count 3 runs past/ },
  { name: 'PRESENCE empty id', input: long(0x07, [0x00, 0x01, 0x00, 0x61]), code: 'LL_ERR_MALFORMED_FRAME', message: /PRESENCE id is empty/ },
  { name: 'PRESENCE 257-byte id', input: Uint8Array.from([0x07, 0x85, 0x02, 0x00, 0x01, 0x81, 0x02, ...new Array<number>(257).fill(0x61)]), code: 'LL_ERR_MALFORMED_FRAME', message: /PRESENCE id is 257 bytes, over the 256-byte limit/ },
  { name: 'PRESENCE id not UTF-8', input: long(0x07, [0x00, 0x01, 0x02, 0xc3, 0x28]), code: 'LL_ERR_MALFORMED_FRAME', message: /PRESENCE id is not valid UTF-8/ },
  { name: 'PRESENCE id past the body', input: long(0x07, [0x01, 0x01, 0x05, 0x61]), code: 'LL_ERR_MALFORMED_FRAME', message: /PRESENCE id runs past/ },
  { name: 'PRESENCE trailing byte', input: long(0x07, [0x00, 0x01, 0x01, 0x61, 0x62]), code: 'LL_ERR_MALFORMED_FRAME', message: /PRESENCE has 1 trailing bytes/ },
  { name: 'PRESENCE state 4', input: long(0x07, [0x02, 0x01, 0x04, 0x01, 0x61]), code: 'LL_ERR_MALFORMED_FRAME', message: /PRESENCE state 4 is not 0\.\.3/ },
  { name: 'PRESENCE STATE missing state byte', input: long(0x07, [0x02, 0x01]), code: 'LL_ERR_MALFORMED_FRAME', message: /count 1 runs past/ },
  // GOAWAY
  { name: 'GOAWAY message past end', input: long(0x04, [0x00, 0x00, 0x05, 0x61]), code: 'LL_ERR_MALFORMED_FRAME', message: /GOAWAY message runs past/ },
  { name: 'GOAWAY redirect missing', input: long(0x04, [0x00, 0x00, 0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /GOAWAY redirect runs past/ },
  { name: 'GOAWAY trailing bytes', input: long(0x04, [0x00, 0x00, 0x00, 0x00, 0x99, 0x98]), code: 'LL_ERR_MALFORMED_FRAME', message: /GOAWAY has 2 trailing bytes/ },
  { name: 'GOAWAY invalid UTF-8 redirect', input: long(0x04, [0x00, 0x00, 0x00, 0x02, 0xc3, 0x28]), code: 'LL_ERR_MALFORMED_FRAME', message: /GOAWAY redirect is not valid UTF-8/ },
  // CLOSE
  { name: 'CLOSE missing message', input: long(0x05, [0x00]), code: 'LL_ERR_MALFORMED_FRAME', message: /CLOSE message runs past/ },
  { name: 'CLOSE trailing byte', input: long(0x05, [0x00, 0x00, 0x99]), code: 'LL_ERR_MALFORMED_FRAME', message: /CLOSE has 1 trailing bytes/ },
  { name: 'CLOSE invalid UTF-8', input: long(0x05, [0x00, 0x02, 0xc3, 0x28]), code: 'LL_ERR_MALFORMED_FRAME', message: /CLOSE message is not valid UTF-8/ },
  { name: 'CLOSE overlong UTF-8', input: long(0x05, [0x00, 0x02, 0xc0, 0x80]), code: 'LL_ERR_MALFORMED_FRAME', message: /not valid UTF-8/ },
  { name: 'CLOSE UTF-8 surrogate', input: long(0x05, [0x00, 0x03, 0xed, 0xa0, 0x80]), code: 'LL_ERR_MALFORMED_FRAME', message: /not valid UTF-8/ },
  { name: 'CLOSE cut UTF-8 sequence', input: long(0x05, [0x00, 0x01, 0xe2]), code: 'LL_ERR_MALFORMED_FRAME', message: /not valid UTF-8/ },
  {
    name: 'CLOSE message over 1024 bytes',
    input: bytes(0x05, 0x84, 0x08, 0x00, 0x81, 0x08, ...new Array<number>(1025).fill(0x61)),
    code: 'LL_ERR_MALFORMED_FRAME',
    message: /CLOSE message is 1025 bytes, over the 1024-byte limit/,
  },
];

test('FrameDecoder - rejects each bad input with the right code', () => {
  for (const c of BAD) {
    const decoder = new FrameDecoder(c.maxFrameSize === undefined ? {} : { maxFrameSize: c.maxFrameSize });
    assert.throws(() => decoder.push(c.input, noop), isProtocolError(c.code, c.message), c.name);
  }
});

test('FrameDecoder - rejects each bad input the same when fed byte by byte', () => {
  for (const c of BAD) {
    const decoder = new FrameDecoder(c.maxFrameSize === undefined ? {} : { maxFrameSize: c.maxFrameSize });
    assert.throws(
      () => {
        for (let i = 0; i < c.input.length; i++) decoder.push(c.input.subarray(i, i + 1), noop);
      },
      isProtocolError(c.code, c.message),
      c.name,
    );
  }
});

test('FrameDecoder - an oversized frame is rejected as soon as its length is read, before any body byte', () => {
  const decoder = new FrameDecoder({ maxFrameSize: 1024 });
  decoder.push(bytes(0x03), noop);
  decoder.push(bytes(0x80), noop); // length still incomplete: nothing to judge yet
  assert.equal(decoder.bufferedBytes, 2);
  assert.throws(() => decoder.push(bytes(0x08), noop), isProtocolError('LL_ERR_FRAME_TOO_LARGE', /1027 bytes exceeds maxFrameSize 1024/));
  assert.equal(decoder.bufferedBytes, 0);
});

test('FrameDecoder - frames before a bad one in the same chunk are still delivered', () => {
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  const chunk = bytes(...encodePing(1), ...encodePing(2), 0x60, ...encodePing(3));
  assert.throws(() => decoder.push(chunk, (f) => frames.push(f)), isProtocolError('LL_ERR_UNKNOWN_FRAME_TYPE'));
  assert.deepEqual(frames, [
    { type: 'ping', id: 1 },
    { type: 'ping', id: 2 },
  ]);
});

test('FrameDecoder - stays dead after an error: every later push and end throws', () => {
  const decoder = new FrameDecoder();
  assert.throws(() => decoder.push(bytes(0x08), noop), isProtocolError('LL_ERR_UNKNOWN_FRAME_TYPE'));
  for (let i = 0; i < 3; i++) {
    let called = false;
    assert.throws(
      () => decoder.push(encodePing(0), () => (called = true)),
      (err: unknown) => {
        assert.ok(err instanceof ProtocolError);
        assert.equal(err.code, 'LL_ERR_UNKNOWN_FRAME_TYPE');
        assert.match(err.message, /decoder is dead/);
        assert.ok(err.cause instanceof ProtocolError);
        return true;
      },
    );
    assert.equal(called, false);
  }
  assert.throws(() => decoder.push(new Uint8Array(0), noop), /decoder is dead/);
  assert.throws(() => decoder.end(), /decoder is dead/);
  assert.equal(decoder.bufferedBytes, 0);
});

test('FrameDecoder - end() throws LL_ERR_TRUNCATED_FRAME inside any partial frame', () => {
  const partials: Array<[string, Uint8Array, RegExp]> = [
    ['PONG without load', bytes(0x80), /inside a PONG frame \(1 bytes received\)/],
    ['long type byte only', bytes(0x05), /inside a CLOSE frame \(1 bytes/],
    ['partial length', bytes(0x03, 0x80), /inside a DATA frame \(2 bytes/],
    ['partial body', bytes(0x03, 0x05, 0x01), /inside a DATA frame \(3 bytes/],
    ['complete frame then partial', bytes(...encodeFrame({ type: 'close', code: 'normal', message: '' }), 0x01, 0x08, 0x4c), /HELLO frame \(3 bytes/],
  ];
  for (const [name, input, message] of partials) {
    const decoder = new FrameDecoder();
    decoder.push(input, noop);
    assert.throws(() => decoder.end(), isProtocolError('LL_ERR_TRUNCATED_FRAME', message), name);
    assert.throws(() => decoder.push(encodePing(0), noop), /decoder is dead/, name);
  }
});

test('FrameDecoder - end() at a frame boundary is fine and repeatable', () => {
  const decoder = new FrameDecoder();
  decoder.end();
  decoder.push(encodeFrame({ type: 'data', seq: 1, payload: bytes(1, 2) }), noop);
  decoder.end();
  decoder.end();
  decoder.push(encodePing(4), noop);
});

test('FrameDecoder - an onFrame that throws kills the decoder with LL_ERR_NOT_OPEN afterwards', () => {
  const decoder = new FrameDecoder();
  const boom = new Error('boom');
  assert.throws(
    () =>
      decoder.push(encodePing(1), () => {
        throw boom;
      }),
    (err: unknown) => err === boom,
  );
  assert.throws(
    () => decoder.push(encodePing(2), noop),
    (err: unknown) => LifelineError.is(err) && err.code === 'LL_ERR_NOT_OPEN' && err.cause === boom,
  );
});

test('FrameDecoder - a ProtocolError thrown by onFrame (e.g. unexpected frame) keeps its code when dead', () => {
  const decoder = new FrameDecoder();
  const unexpected = new ProtocolError('LL_ERR_UNEXPECTED_FRAME', 'HELLO after the handshake');
  assert.throws(
    () =>
      decoder.push(encodePing(1), () => {
        throw unexpected;
      }),
    (err: unknown) => err === unexpected,
  );
  assert.throws(() => decoder.push(encodePing(2), noop), isProtocolError('LL_ERR_UNEXPECTED_FRAME', /decoder is dead/));
});
