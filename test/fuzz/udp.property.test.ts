/**
 * The UDP codecs against any bytes (issue 15 item 1; docs/spec/0012-udp.md): datagrams — valid
 * packets of every kind and section, edited, truncated, garbage — decode for either receiver to
 * one canonical packet (encoded back byte for byte) or fail with MalformedDatagramError and a
 * documented reason; lifeline frame streams, valid or hostile, in any chunking, pass the inbound
 * gate as whole frames with one incomplete frame held at most, and the outbound splitter keeps
 * every byte in order and sends only whole PINGs / PONGs on the side path. The checks are
 * test/fuzz/udp-target.ts's (shared with `npm run fuzz -- --target udp`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { runUdpCase, udpInputArb } from './udp-target.js';

test('udp codecs - any datagram decodes canonically or is malformed with a reason; any stream passes the gate and splitter whole (property)', () => {
  const seen = new Map<string, number>();
  fc.assert(
    fc.property(udpInputArb, (input) => {
      const cls = runUdpCase(input);
      seen.set(cls, (seen.get(cls) ?? 0) + 1);
    }),
    { numRuns: 1500 },
  );
  // Not vacuous: every packet kind decoded for its receiver, malformed ones, and valid and refused streams.
  const labels = [...seen.keys()].join(' | ');
  for (const needle of ['server initial', 'server short', 'server response', 'client retry', 'client accept', 'client short', 'client reset', 'client challenge', 'malformed', 'stream ok', 'stream LL_ERR_']) {
    assert.ok(labels.includes(needle), `no run reached "${needle}": ${labels}`);
  }
});
