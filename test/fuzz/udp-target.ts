/**
 * The UDP codecs as a fuzz target (issue 15 item 1; docs/spec/0012-udp.md): one input — bytes,
 * chunk cuts, a frame limit — read two ways.
 * - As a datagram, by decodePacket (src/transport/udp/packet.ts) for each receiver: the only
 *   failure is MalformedDatagramError (LL_ERR_MALFORMED_FRAME) with one of its documented
 *   reasons; what decodes is canonical — encodePacket gives back the very same bytes, so one
 *   packet has one encoding and a decoded packet never holds a field it could not send.
 * - As stream bytes, by the frame scanners (frame-scanner.ts). InboundGate, in any chunking:
 *   it delivers a prefix of what arrived, each piece ending at a frame boundary (a decoder fed
 *   through it is between frames after every piece) unless it passed bytes the decoder must
 *   refuse; it holds at most one incomplete frame (< maxFrameSize + 5 bytes); the frames a decoder
 *   reads through it are the frames it reads from the bytes directly, and so is its error — but
 *   for an error inside the one incomplete frame it still holds. The same chunked and whole.
 *   OutboundSplitter: stream and side pieces, in call order, are exactly the written bytes (but
 *   for a PONG's first byte cut off by the last write); side pieces are whole PING / PONGs; for a
 *   valid frame stream, the side path carries exactly its PINGs and PONGs and the stream the rest.
 * A broken rule throws an AssertionError. Shared by test/fuzz/udp.property.test.ts, the corpus
 * replay (codec-corpus.test.ts) and `npm run fuzz -- --target udp`.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ProtocolError } from '../../src/errors.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import type { Frame } from '../../src/protocol/frames.js';
import { COOKIE_BYTES, decodePacket, encodePacket, ID_BYTES, MalformedDatagramError, MAX_ACK_RANGES, type MalformedReason, type Packet, type Receiver } from '../../src/transport/udp/packet.js';
import { compactFrameSize, InboundGate, OutboundSplitter } from '../../src/transport/udp/frame-scanner.js';
import { applyEdits, concat, cutsFor, editArb, frameArb, hostileStreamArb } from './arbitraries.js';

export interface UdpInput {
  bytes: Uint8Array;
  cuts: readonly number[];
  maxFrameSize: number;
}

export const UDP_FRAME_LIMITS = [64, 300, 4096, 1 << 20];
const REASONS: ReadonlySet<MalformedReason> = new Set(['empty', 'too-large', 'unknown-kind', 'wrong-direction', 'bad-flags', 'bad-size', 'bad-version', 'bad-field', 'truncated', 'trailing-bytes']);

function chunksOf(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(bytes.subarray(start, cut));
    start = cut;
  }
  return out;
}

/** The datagram reading for one receiver: 'server short' … or the malformed reason. */
function datagram(bytes: Uint8Array, receiver: Receiver): string {
  let packet: Packet;
  try {
    packet = decodePacket(bytes, receiver);
  } catch (err) {
    assert.ok(err instanceof MalformedDatagramError, `decodePacket threw ${String(err)}`);
    assert.equal(err.code, 'LL_ERR_MALFORMED_FRAME');
    assert.ok(REASONS.has(err.reason), `undocumented reason ${err.reason}`);
    return `${receiver} malformed ${err.reason}`;
  }
  let again: Uint8Array;
  try {
    again = encodePacket(packet);
  } catch (err) {
    assert.fail(`a decoded ${packet.kind} packet cannot be encoded again: ${String(err)}`);
  }
  assert.equal(Buffer.from(again).toString('hex'), Buffer.from(bytes).toString('hex'), `${packet.kind} for the ${receiver}: one encoding per packet`);
  const sections = 'pn' in packet ? `${packet.ack ? 'A' : ''}${packet.side ? 'U' : ''}${packet.stream ? (packet.stream.fin ? 'SF' : 'S') : ''}` : '';
  return `${receiver} ${packet.kind}${sections ? ` ${sections}` : ''}`;
}

interface DirectOutcome {
  frames: Frame[];
  error: string | undefined;
}

function decodeAll(chunks: readonly Uint8Array[], maxFrameSize: number, afterEach?: (decoder: FrameDecoder) => void): DirectOutcome {
  const decoder = new FrameDecoder({ maxFrameSize });
  const frames: Frame[] = [];
  try {
    for (const c of chunks) {
      decoder.push(c, (f) => frames.push(f));
      afterEach?.(decoder);
    }
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    return { frames, error: err.code };
  }
  return { frames, error: undefined };
}

interface GateOutcome {
  delivered: Uint8Array;
  pending: number;
  decoded: DirectOutcome;
}

function gate(chunks: readonly Uint8Array[], maxFrameSize: number): GateOutcome {
  const g = new InboundGate(maxFrameSize);
  const pieces: Uint8Array[] = [];
  for (const chunk of chunks) {
    g.accept(chunk, { up: (b) => void pieces.push(b.slice()) });
    assert.ok(g.pendingBytes < maxFrameSize + 5, `the gate holds ${g.pendingBytes} bytes (limit ${maxFrameSize})`);
  }
  // Every piece ends between frames — or it holds bytes the decoder refuses (passed at once),
  // and the decoder then throws while reading that very piece (afterEach runs only after a push
  // that did not throw).
  const decoded = decodeAll(pieces, maxFrameSize, (decoder) => assert.equal(decoder.bufferedBytes, 0, 'a piece ends at a frame boundary'));
  return { delivered: concat(pieces), pending: g.pendingBytes, decoded };
}

function checkGate(input: UdpInput): string {
  const { bytes, cuts, maxFrameSize } = input;
  const direct = decodeAll([bytes], maxFrameSize);
  const chunked = gate(chunksOf(bytes, cuts), maxFrameSize);
  const whole = gate([bytes], maxFrameSize);
  for (const [name, g] of [['chunked', chunked], ['whole', whole]] as const) {
    assert.equal(g.delivered.length + g.pending, bytes.length, `${name}: delivered + held = received`);
    assert.deepEqual(Buffer.from(g.delivered), Buffer.from(bytes.subarray(0, g.delivered.length)), `${name}: a prefix, in order`);
    assert.deepEqual(g.decoded.frames, direct.frames, `${name}: the frames the bytes hold`);
    if (g.decoded.error !== direct.error) {
      // Only an error inside the incomplete frame held back may be still to come.
      assert.equal(g.decoded.error, undefined, `${name}: error ${g.decoded.error} vs ${direct.error}`);
      assert.ok(g.pending > 0, `${name}: the decoder's ${direct.error} never reached it`);
    }
  }
  // Chunking may move where a piece ends, never what is held at the end once every byte is in.
  assert.equal(chunked.pending, whole.pending, 'held bytes, chunked and whole');
  return direct.error ?? 'ok';
}

function checkSplitter(input: UdpInput): void {
  const { bytes, cuts } = input;
  const splitter = new OutboundSplitter();
  const calls: Array<['stream' | 'side', Uint8Array]> = [];
  for (const chunk of chunksOf(bytes, cuts)) splitter.write(chunk, { stream: (b) => void calls.push(['stream', b.slice()]), side: (b) => void calls.push(['side', b.slice()]) });
  const out = concat(calls.map(([, b]) => b));
  const cutOff = bytes.length - out.length;
  assert.ok(cutOff === 0 || (cutOff === 1 && compactFrameSize(bytes[bytes.length - 1]!) === 2), `${cutOff} written bytes vanished`);
  assert.deepEqual(Buffer.from(out), Buffer.from(bytes.subarray(0, out.length)), 'stream and side pieces are the written bytes, in order');
  for (const [kind, b] of calls) {
    assert.ok(b.byteLength > 0, `an empty ${kind} piece`);
    if (kind === 'side') assert.equal(b.length, compactFrameSize(b[0]!), 'a side piece is one whole PING or PONG');
  }
  // A valid frame stream: PINGs / PONGs at boundaries on the side path, everything else in the stream.
  const direct = new FrameDecoder({ maxFrameSize: 1 << 20 });
  const frames: Frame[] = [];
  try {
    direct.push(bytes, (f) => frames.push(f));
  } catch {
    return;
  }
  if (direct.bufferedBytes !== 0 || cutOff !== 0) return;
  const side = frames.filter((f) => f.type === 'ping' || f.type === 'pong');
  const streamFrames: Frame[] = [];
  new FrameDecoder({ maxFrameSize: 1 << 20 }).push(concat(calls.filter(([k]) => k === 'stream').map(([, b]) => b)), (f) => streamFrames.push(f));
  const sideFrames: Frame[] = [];
  new FrameDecoder({ maxFrameSize: 1 << 20 }).push(concat(calls.filter(([k]) => k === 'side').map(([, b]) => b)), (f) => sideFrames.push(f));
  assert.deepEqual(sideFrames, side, 'the side path carries the PINGs and PONGs');
  assert.deepEqual(streamFrames, frames.filter((f) => f.type !== 'ping' && f.type !== 'pong'), 'the stream carries the rest');
}

/** Run one input; returns its outcome class. Throws AssertionError on a broken rule. */
export function runUdpCase(input: UdpInput): string {
  const server = datagram(input.bytes, 'server');
  const client = datagram(input.bytes, 'client');
  const stream = checkGate(input);
  checkSplitter(input);
  // Classes by what decides: the datagram reading (either receiver), then the stream reading.
  return `${server.includes('malformed') ? client : server} | stream ${stream}`;
}

// --- generators --------------------------------------------------------------------------------

const id = fc.uint8Array({ minLength: ID_BYTES, maxLength: ID_BYTES });
const smallOrHuge = fc.oneof(fc.nat(300), fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER - 10));
const ackArb = fc
  .record({ largestPn: smallOrHuge, ackDelayMs: fc.nat(5000), cumulative: fc.nat(100_000), gaps: fc.array(fc.tuple(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 500 })), { maxLength: MAX_ACK_RANGES }) }, { noNullPrototype: true })
  .map(({ largestPn, ackDelayMs, cumulative, gaps }) => {
    let prev = cumulative;
    const ranges = gaps.map(([gap, length]) => {
      const start = prev + gap;
      prev = start + length;
      return { start, end: prev };
    });
    return { largestPn, ackDelayMs, cumulative, ranges };
  });
const sectionsArb = fc
  .record(
    {
      ack: fc.option(ackArb, { nil: undefined }),
      side: fc.option(fc.uint8Array({ minLength: 1, maxLength: 40 }), { nil: undefined }),
      stream: fc.option(fc.record({ offset: fc.nat(1_000_000), bytes: fc.uint8Array({ maxLength: 300 }), fin: fc.boolean() }, { noNullPrototype: true }), { nil: undefined }),
    },
    { noNullPrototype: true },
  )
  .map((s) => {
    const stream = s.stream && s.stream.bytes.length === 0 ? { ...s.stream, fin: true } : s.stream;
    const out = { ...(s.ack ? { ack: s.ack } : {}), ...(s.side ? { side: s.side } : {}), ...(stream ? { stream } : {}) };
    return Object.keys(out).length === 0 ? { side: Uint8Array.of(0x45) } : out;
  });

/** Any packet either side may send (spec 0012 §Datagrams), encoded. */
export const packetBytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.record({ nonce: id, token: fc.uint8Array({ minLength: COOKIE_BYTES, maxLength: COOKIE_BYTES }) }).map((p) => encodePacket({ kind: 'retry', ...p })),
  id.map((token) => encodePacket({ kind: 'reset', token })),
  id.map((data) => encodePacket({ kind: 'challenge', data })),
  fc.tuple(id, id).map(([cid, data]) => encodePacket({ kind: 'response', cid, data })),
  fc.tuple(id, fc.option(fc.uint8Array({ minLength: COOKIE_BYTES, maxLength: COOKIE_BYTES }), { nil: undefined }), fc.nat(1000), sectionsArb).map(([nonce, token, pn, s]) => encodePacket({ kind: 'initial', nonce, token, pn, ...s })),
  fc.tuple(id, id, id, fc.nat(1000), sectionsArb).map(([nonce, cid, resetToken, pn, s]) => encodePacket({ kind: 'accept', nonce, cid, resetToken, pn, ...s })),
  fc.tuple(fc.option(id, { nil: undefined }), smallOrHuge, sectionsArb).map(([cid, pn, s]) => encodePacket({ kind: 'short', cid, pn, ...s })),
);

/** Datagrams (valid, edited, truncated, garbage) and lifeline frame streams (valid or hostile). */
export const udpBytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: packetBytesArb },
  { weight: 3, arbitrary: fc.tuple(packetBytesArb, fc.array(editArb, { minLength: 1, maxLength: 3 })).map(([p, edits]) => applyEdits(p, edits)) },
  { weight: 1, arbitrary: fc.tuple(packetBytesArb, fc.nat()).map(([p, n]) => p.subarray(0, n % (p.length + 1))) },
  { weight: 3, arbitrary: fc.array(frameArb, { maxLength: 6 }).map((frames) => concat(frames.map(encodeFrame))) },
  { weight: 2, arbitrary: hostileStreamArb },
);

export const udpInputArb: fc.Arbitrary<UdpInput> = fc
  .tuple(udpBytesArb, fc.constantFrom(...UDP_FRAME_LIMITS))
  .chain(([bytes, maxFrameSize]) => cutsFor(bytes.length, 8).map((cuts) => ({ bytes, cuts, maxFrameSize })));
