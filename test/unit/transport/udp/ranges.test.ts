import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RangeSet } from '../../../../src/transport/udp/ranges.js';
import { SendBuffer } from '../../../../src/transport/udp/send-buffer.js';

const SPAN = 64;
type Op = { op: 'add' | 'remove' | 'removeBelow'; a: number; b: number };
const opArb: fc.Arbitrary<Op> = fc.record({
  op: fc.constantFrom('add', 'remove', 'removeBelow'),
  a: fc.nat(SPAN),
  b: fc.nat(SPAN),
}) as fc.Arbitrary<Op>;

test('RangeSet - property: agrees with a bitmap model, ranges stay sorted, disjoint, non-adjacent', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 40 }), fc.nat(SPAN), fc.nat(SPAN), (ops, q1, q2) => {
      const set = new RangeSet();
      const model = new Array<boolean>(SPAN + 1).fill(false);
      for (const { op, a, b } of ops) {
        const [s, e] = a <= b ? [a, b] : [b, a];
        if (op === 'add') set.add(s, e);
        if (op === 'remove') set.remove(s, e);
        if (op === 'removeBelow') set.removeBelow(a);
        for (let i = 0; i <= SPAN; i++) {
          if (op === 'add' && i >= s && i < e) model[i] = true;
          if (op === 'remove' && i >= s && i < e) model[i] = false;
          if (op === 'removeBelow' && i < a) model[i] = false;
        }
      }
      const ranges = set.ranges();
      for (let i = 1; i < ranges.length; i++) assert.ok(ranges[i]!.start > ranges[i - 1]!.end, 'sorted, non-adjacent');
      for (const r of ranges) assert.ok(r.end > r.start, 'non-empty');
      for (let i = 0; i <= SPAN; i++) assert.equal(set.has(i), model[i], `offset ${i}`);
      assert.equal(set.size, model.filter(Boolean).length);
      const [s, e] = q1 <= q2 ? [q1, q2] : [q2, q1];
      const slice = model.slice(s, e);
      assert.equal(set.covers(s, e), slice.every(Boolean));
      assert.equal(set.overlaps(s, e), slice.some(Boolean));
      const gaps = set.uncovered(s, e);
      let missing = 0;
      for (const g of gaps) for (let i = g.start; i < g.end; i++) assert.equal(model[i], false), missing++;
      assert.equal(missing, slice.filter((x) => !x).length);
      let first = s;
      while (model[first]) first++;
      assert.equal(set.firstGap(s), first);
    }),
    { numRuns: 1000 },
  );
});

test('SendBuffer - copies and views any held range across chunks; releases acknowledged chunks', () => {
  const buf = new SendBuffer();
  const data = Uint8Array.from({ length: 100 }, (_, i) => i);
  for (const [s, e] of [[0, 10], [10, 11], [11, 60], [60, 100]] as const) buf.append(data.subarray(s, e));
  assert.equal(buf.length, 100);
  for (const [off, len] of [[0, 100], [5, 10], [10, 1], [59, 2], [99, 1], [0, 0]] as const) {
    assert.deepEqual(buf.view(off, len), data.subarray(off, off + len));
  }
  buf.releaseBelow(55);
  assert.equal(buf.start, 55);
  assert.equal(buf.length, 45);
  assert.deepEqual(buf.view(55, 45), data.subarray(55));
  assert.throws(() => buf.view(54, 2), RangeError);
  buf.releaseBelow(100);
  assert.equal(buf.length, 0);
});
