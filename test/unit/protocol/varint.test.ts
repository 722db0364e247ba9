import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MAX_VARINT_BYTES,
  encodeVarint,
  readVarint,
  varintLength,
  writeVarint,
} from '../../../src/protocol/varint.js';
import { ProtocolError } from '../../../src/errors.js';

function read(bytes: number[], start = 0, end = bytes.length): { value: number; pos: number } {
  const cursor = { pos: start };
  const value = readVarint(Uint8Array.from(bytes), cursor, end, 'test field');
  return { value, pos: cursor.pos };
}

function assertMalformed(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.code, 'LL_ERR_MALFORMED_FRAME');
    assert.match(err.message, message);
    assert.match(err.message, /test field/);
    return true;
  });
}

const BOUNDARIES: Array<[number, number]> = [
  [0, 1],
  [1, 1],
  [127, 1],
  [128, 2],
  [16383, 2],
  [16384, 3],
  [2 ** 21 - 1, 3],
  [2 ** 21, 4],
  [2 ** 28 - 1, 4],
  [2 ** 28, 5],
  [2 ** 31 - 1, 5],
  [2 ** 31, 5],
  [2 ** 32, 5],
  [2 ** 35 - 1, 5],
  [2 ** 35, 6],
  [2 ** 42 - 1, 6],
  [2 ** 42, 7],
  [2 ** 49 - 1, 7],
  [2 ** 49, 8],
  [Number.MAX_SAFE_INTEGER, 8],
];

test('varint - known encodings match LEB128', () => {
  assert.deepEqual([...encodeVarint(0)], [0x00]);
  assert.deepEqual([...encodeVarint(127)], [0x7f]);
  assert.deepEqual([...encodeVarint(128)], [0x80, 0x01]);
  assert.deepEqual([...encodeVarint(300)], [0xac, 0x02]);
  assert.deepEqual([...encodeVarint(10000)], [0x90, 0x4e]);
  assert.deepEqual([...encodeVarint(Number.MAX_SAFE_INTEGER)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]);
});

test('varint - boundary values round trip with the expected length', () => {
  for (const [value, length] of BOUNDARIES) {
    assert.equal(varintLength(value), length, `varintLength(${value})`);
    const bytes = encodeVarint(value);
    assert.equal(bytes.length, length, `encoded length of ${value}`);
    assert.deepEqual(read([...bytes]), { value, pos: length });
  }
});

test('varint - writeVarint writes at an offset and returns the offset after it', () => {
  const target = new Uint8Array(6).fill(0xee);
  assert.equal(writeVarint(target, 2, 300), 4);
  assert.deepEqual([...target], [0xee, 0xee, 0xac, 0x02, 0xee, 0xee]);
});

test('varint - readVarint starts at the cursor and stops at the varint end', () => {
  assert.deepEqual(read([0x99, 0xac, 0x02, 0x05], 1), { value: 300, pos: 3 });
});

test('varint - rejects a varint running past the end', () => {
  assertMalformed(() => read([0x80]), /runs past the end/);
  assertMalformed(() => read([]), /runs past the end/);
  // The bytes exist, but beyond the given end.
  assertMalformed(() => read([0xac, 0x02], 0, 1), /runs past the end/);
});

test('varint - rejects non-minimal encodings', () => {
  assertMalformed(() => read([0x80, 0x00]), /non-minimal/);
  assertMalformed(() => read([0xff, 0x00]), /non-minimal/);
  assertMalformed(() => read([0x81, 0x80, 0x00]), /non-minimal/);
});

test('varint - rejects varints longer than 8 bytes', () => {
  assert.equal(MAX_VARINT_BYTES, 8);
  assertMalformed(() => read([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), /longer than 8 bytes/);
});

test('varint - rejects values above Number.MAX_SAFE_INTEGER', () => {
  // 2^53: eight bytes, minimal, but not exactly representable as a safe integer.
  assertMalformed(() => read([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]), /MAX_SAFE_INTEGER/);
  assertMalformed(() => read([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), /MAX_SAFE_INTEGER/);
});

test('varint - encodeVarint rejects values that are not safe integers >= 0', () => {
  for (const bad of [-1, 1.5, Number.NaN, Infinity, 2 ** 53]) {
    assert.throws(() => encodeVarint(bad), RangeError, String(bad));
  }
  assert.throws(() => encodeVarint('1' as unknown as number), TypeError);
});

test('varint - any safe integer round trips minimally (property)', () => {
  fc.assert(
    fc.property(fc.maxSafeNat(), (value) => {
      const bytes = encodeVarint(value);
      assert.equal(bytes.length, varintLength(value));
      if (bytes.length > 1) assert.notEqual(bytes[bytes.length - 1], 0);
      assert.deepEqual(read([...bytes]), { value, pos: bytes.length });
    }),
  );
});
