/**
 * ws-codec - the lean WebSocket server's frame parser and header writer (docs/spec/0011 §Lean
 * WebSocket server): every length form, masking at every key offset, control frames between the
 * fragments of a message, any split of a valid stream, and each refusal with its close code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { LifelineError } from '../../../src/errors.js';
import {
  WsFrameParser,
  writeWsHeader,
  wsHeaderBytes,
  WS_OP_BINARY,
  WS_OP_CLOSE,
  WS_OP_CONTINUATION,
  WS_OP_PING,
  WS_OP_PONG,
  WS_OP_TEXT,
  type WsFrameSink,
} from '../../../src/transport/ws-codec.js';
import { clientFrame, closePayload, parseServerFrames } from '../../fixtures/ws-frames.js';

type Event = { data: Buffer } | { control: number; payload: Buffer } | { fail: number; code: string; message: string };

class Sink implements WsFrameSink {
  events: Event[] = [];
  wsData(bytes: Uint8Array): void {
    this.events.push({ data: Buffer.from(bytes) });
  }
  wsControl(opcode: number, payload: Uint8Array): void {
    this.events.push({ control: opcode, payload: Buffer.from(payload) });
  }
  wsFail(closeCode: number, error: LifelineError): void {
    this.events.push({ fail: closeCode, code: error.code, message: error.message });
  }
  /** Data events joined (the byte stream the decoder sees), control / fail events kept apart. */
  summary(): { stream: Buffer; others: Event[] } {
    return {
      stream: Buffer.concat(this.events.flatMap((e) => ('data' in e ? [e.data] : []))),
      others: this.events.filter((e) => !('data' in e)),
    };
  }
}

function parse(chunks: readonly Uint8Array[], maxMessageBytes = 1 << 20): Sink {
  const sink = new Sink();
  const parser = new WsFrameParser(sink, maxMessageBytes);
  // The parser unmasks in place: give it copies, as a transport hands over fresh chunks.
  for (const c of chunks) parser.push(Buffer.from(c));
  return sink;
}

const bytes = (n: number, seed = 1) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

test('ws-codec - every header length form: 7-bit, 16-bit (126..65535), 64-bit (65536 and up), minimal or not', () => {
  for (const n of [0, 1, 125, 126, 127, 1000, 65535, 65536, 70000]) {
    const payload = bytes(n);
    const sink = parse([clientFrame(WS_OP_BINARY, payload)]);
    assert.deepEqual(sink.summary().stream, payload, `length ${n}`);
    assert.deepEqual(sink.summary().others, []);
  }
  // Non-minimal encodings are parsed (ws does the same; RFC 6455 asks senders for the minimal form).
  for (const lengthForm of [16, 64] as const) {
    const sink = parse([clientFrame(WS_OP_BINARY, bytes(5), { lengthForm })]);
    assert.deepEqual(sink.summary().stream, bytes(5));
  }
});

test('ws-codec - unmasking is right at every key offset and for any key, across chunks', () => {
  const payload = bytes(23, 7);
  for (const mask of [[0, 0, 0, 0], [0xff, 0xff, 0xff, 0xff], [1, 2, 3, 4], [0x80, 0x7f, 0x00, 0xaa]] as const) {
    const frame = clientFrame(WS_OP_BINARY, payload, { mask });
    // Cut the payload at each offset: the second part starts at mask offset (cut - header) & 3.
    for (let cut = 6; cut <= frame.byteLength; cut++) {
      const sink = parse([frame.subarray(0, cut), frame.subarray(cut)]);
      assert.deepEqual(sink.summary().stream, payload, `mask ${mask.join(',')} cut ${cut}`);
    }
  }
});

test('ws-codec - control frames between the fragments of a message; the message is one byte stream', () => {
  const stream = [
    clientFrame(WS_OP_BINARY, bytes(10, 1), { fin: false }),
    clientFrame(WS_OP_PING, Buffer.from('are you there')),
    clientFrame(WS_OP_CONTINUATION, bytes(200, 2), { fin: false }),
    clientFrame(WS_OP_PONG, Buffer.alloc(0)),
    clientFrame(WS_OP_CONTINUATION, bytes(3, 3)),
    clientFrame(WS_OP_BINARY, bytes(4, 4)),
    clientFrame(WS_OP_CLOSE, closePayload(1000, 'bye')),
    clientFrame(WS_OP_BINARY, bytes(9, 9)), // after close: never read
  ];
  const sink = parse([Buffer.concat(stream)]);
  const { stream: got, others } = sink.summary();
  assert.deepEqual(got, Buffer.concat([bytes(10, 1), bytes(200, 2), bytes(3, 3), bytes(4, 4)]));
  assert.deepEqual(others, [
    { control: WS_OP_PING, payload: Buffer.from('are you there') },
    { control: WS_OP_PONG, payload: Buffer.alloc(0) },
    { control: WS_OP_CLOSE, payload: closePayload(1000, 'bye') },
  ]);
});

test('ws-codec - a valid stream split at every byte, or into any chunks, gives the same bytes and control frames', () => {
  const whole = Buffer.concat([
    clientFrame(WS_OP_BINARY, bytes(3, 1), { fin: false }),
    clientFrame(WS_OP_PING, bytes(125, 5)),
    clientFrame(WS_OP_CONTINUATION, bytes(300, 2)),
    clientFrame(WS_OP_BINARY, Buffer.alloc(0)),
    clientFrame(WS_OP_BINARY, bytes(70, 3), { lengthForm: 64 }),
    clientFrame(WS_OP_PONG, bytes(2, 6)),
  ]);
  const expected = parse([whole]).summary();
  const oneByOne = parse(Array.from(whole, (b) => Uint8Array.of(b))).summary();
  assert.deepEqual(oneByOne, expected);
  for (let cut = 1; cut < whole.byteLength; cut++) {
    assert.deepEqual(parse([whole.subarray(0, cut), whole.subarray(cut)]).summary(), expected, `cut at ${cut}`);
  }
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: whole.byteLength }), { maxLength: 12 }), (cuts) => {
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      const chunks: Uint8Array[] = [];
      let from = 0;
      for (const p of points) {
        chunks.push(whole.subarray(from, p));
        from = p;
      }
      chunks.push(whole.subarray(from));
      assert.deepEqual(parse(chunks).summary(), expected);
    }),
    { numRuns: 300 },
  );
});

/** The parser's one failure for `stream`, pushed whole and byte by byte (the same either way). */
function failureOf(stream: Buffer, maxMessageBytes = 1 << 20): Event {
  const whole = parse([stream], maxMessageBytes).events;
  const split = parse(Array.from(stream, (b) => Uint8Array.of(b)), maxMessageBytes).events;
  assert.deepEqual(split.filter((e) => 'fail' in e), whole.filter((e) => 'fail' in e));
  const fails = whole.filter((e) => 'fail' in e);
  assert.equal(fails.length, 1, 'exactly one failure');
  return fails[0]!;
}

test('ws-codec - refusals, each with its close code and a reason: reserved bits, opcodes, masking, control frames, fragments', () => {
  const cases: [string, Buffer, number, string, RegExp][] = [
    ['RSV1', clientFrame(WS_OP_BINARY, bytes(2), { rsv: 0x40 }), 1002, 'LL_ERR_WS_PROTOCOL', /reserved bits/],
    ['RSV3', clientFrame(WS_OP_BINARY, bytes(2), { rsv: 0x10 }), 1002, 'LL_ERR_WS_PROTOCOL', /reserved bits/],
    ['opcode 3', clientFrame(3, bytes(2)), 1002, 'LL_ERR_WS_PROTOCOL', /invalid opcode 3/],
    ['opcode 11', clientFrame(11, bytes(2)), 1002, 'LL_ERR_WS_PROTOCOL', /invalid opcode 11/],
    ['unmasked', clientFrame(WS_OP_BINARY, bytes(2), { unmasked: true }), 1002, 'LL_ERR_WS_PROTOCOL', /must be masked/],
    ['text', clientFrame(WS_OP_TEXT, Buffer.from('hi')), 1003, 'LL_ERR_WS_TEXT_MESSAGE', /binary/],
    ['fragmented ping', clientFrame(WS_OP_PING, bytes(2), { fin: false }), 1002, 'LL_ERR_WS_PROTOCOL', /fragmented control/],
    ['long ping', clientFrame(WS_OP_PING, bytes(126)), 1002, 'LL_ERR_WS_PROTOCOL', /over 125 bytes/],
    ['lone continuation', clientFrame(WS_OP_CONTINUATION, bytes(2)), 1002, 'LL_ERR_WS_PROTOCOL', /continuation/],
    [
      'new message inside a fragmented one',
      Buffer.concat([clientFrame(WS_OP_BINARY, bytes(2), { fin: false }), clientFrame(WS_OP_BINARY, bytes(2))]),
      1002,
      'LL_ERR_WS_PROTOCOL',
      /inside a fragmented message/,
    ],
    [
      'text inside a fragmented message',
      Buffer.concat([clientFrame(WS_OP_BINARY, bytes(2), { fin: false }), clientFrame(WS_OP_TEXT, bytes(2))]),
      1002,
      'LL_ERR_WS_PROTOCOL',
      /inside a fragmented message/,
    ],
    ['64-bit length, top bit set', clientFrame(WS_OP_BINARY, bytes(1), { lengthForm: 64, high: 0x80000000 }), 1002, 'LL_ERR_WS_PROTOCOL', /most significant bit/],
  ];
  for (const [name, stream, closeCode, code, message] of cases) {
    const failure = failureOf(stream) as { fail: number; code: string; message: string };
    assert.equal(failure.fail, closeCode, name);
    assert.equal(failure.code, code, name);
    assert.match(failure.message, message, name);
  }
});

test('ws-codec - the message limit counts every fragment and refuses with 1009 from the header, before the payload', () => {
  // One frame over the limit: refused on its header alone (no payload sent at all).
  const header = clientFrame(WS_OP_BINARY, bytes(2000)).subarray(0, 8);
  const one = failureOf(header, 1024) as { fail: number; code: string; message: string };
  assert.equal(one.fail, 1009);
  assert.equal(one.code, 'LL_ERR_WS_MESSAGE_TOO_LARGE');
  assert.match(one.message, /1024-byte limit.*payload/);
  // Fragments each under the limit, together over it.
  const fragments = Buffer.concat([clientFrame(WS_OP_BINARY, bytes(600), { fin: false }), clientFrame(WS_OP_CONTINUATION, bytes(600))]);
  assert.equal((failureOf(fragments, 1024) as { fail: number }).fail, 1009);
  // Exactly at the limit is fine, and the count starts again with the next message.
  const atLimit = parse([Buffer.concat([clientFrame(WS_OP_BINARY, bytes(1024)), clientFrame(WS_OP_BINARY, bytes(1024))])], 1024);
  assert.equal(atLimit.summary().others.length, 0);
  assert.equal(atLimit.summary().stream.byteLength, 2048);
  // Control frames do not count toward a message.
  const withPing = parse([Buffer.concat([clientFrame(WS_OP_BINARY, bytes(1000), { fin: false }), clientFrame(WS_OP_PING, bytes(100)), clientFrame(WS_OP_CONTINUATION, bytes(24))])], 1024);
  assert.equal(withPing.summary().stream.byteLength, 1024);
  // A 64-bit length far past 2^53 is refused too.
  assert.equal((failureOf(clientFrame(WS_OP_BINARY, bytes(1), { lengthForm: 64, high: 0x7fffffff }), 1024) as { fail: number }).fail, 1009);
});

test('ws-codec - nothing is read after a failure or a close frame', () => {
  const sink = new Sink();
  const parser = new WsFrameParser(sink, 1024);
  parser.push(clientFrame(WS_OP_BINARY, bytes(2), { unmasked: true }));
  assert.ok(parser.stopped);
  parser.push(clientFrame(WS_OP_BINARY, bytes(2)));
  assert.equal(sink.events.length, 1);
  const closing = parse([Buffer.concat([clientFrame(WS_OP_CLOSE, Buffer.alloc(0)), clientFrame(WS_OP_BINARY, bytes(2))])]);
  assert.deepEqual(closing.events, [{ control: WS_OP_CLOSE, payload: Buffer.alloc(0) }]);
});

test('ws-codec - random bytes never throw: they parse, or fail once with an LL_ERR_WS_* code and a WebSocket close code', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 50 }), (junk, step) => {
      const sink = new Sink();
      const parser = new WsFrameParser(sink, 4096);
      for (let at = 0; at < junk.byteLength; at += step) parser.push(junk.slice(at, at + step));
      const fails = sink.events.filter((e) => 'fail' in e) as { fail: number; code: string }[];
      assert.ok(fails.length <= 1);
      for (const f of fails) {
        assert.match(f.code, /^LL_ERR_WS_/);
        assert.ok([1002, 1003, 1009].includes(f.fail));
      }
    }),
    { numRuns: 500 },
  );
});

test('ws-codec - server headers: unmasked, FIN set, the minimal length form; parsed back exactly', () => {
  for (const n of [0, 1, 125, 126, 65535, 65536, 200000]) {
    const out = Buffer.alloc(wsHeaderBytes(n) + n);
    const at = writeWsHeader(out, 0, WS_OP_BINARY, n);
    assert.equal(at, n < 126 ? 2 : n <= 0xffff ? 4 : 10);
    bytes(n).copy(out, at);
    const { frames, rest } = parseServerFrames(out);
    assert.equal(rest.byteLength, 0);
    assert.deepEqual(frames, [{ opcode: WS_OP_BINARY, fin: true, masked: false, payload: bytes(n) }]);
  }
});
