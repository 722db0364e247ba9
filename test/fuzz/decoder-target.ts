/**
 * The decoder as a fuzz target: feeds one input (bytes, chunk cuts, limits) to a FrameDecoder and
 * checks the invariants that must hold for *any* input (issue 15 item 1, STYLE.md §7 "Codecs get
 * property tests"):
 * - the only failure is a ProtocolError with one of the decoder's documented codes
 *   (docs/errors.md), whose close code is `protocol-error`;
 * - after every push, the partial frame held is below the limit that accepted its length;
 * - the reassembly buffer never grows past what was received (at most 2× it, or the 4 KiB
 *   first allocation), so a header claiming 1 MiB costs nothing until the bytes arrive;
 * - a dead decoder stays dead: the next push() throws the same code again.
 * A broken invariant throws an AssertionError, which the callers (property tests, the corpus
 * replay, scripts/fuzz.ts) report as a finding. Shared so all three judge inputs the same way.
 */
import assert from 'node:assert/strict';
import { ProtocolError } from '../../src/errors.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import type { Frame } from '../../src/protocol/frames.js';

/** The decoder's own error codes (docs/errors.md); anything else escaping push() is a bug. */
export const DECODER_ERROR_CODES: ReadonlySet<string> = new Set(['LL_ERR_UNKNOWN_FRAME_TYPE', 'LL_ERR_FRAME_TOO_LARGE', 'LL_ERR_MALFORMED_FRAME', 'LL_ERR_TRUNCATED_FRAME']);

export interface DecoderInput {
  bytes: Uint8Array;
  /** Sorted split points into `bytes` (may repeat: empty chunks are legal). */
  cuts: readonly number[];
  maxFrameSize: number;
  /**
   * Decode under this smaller limit until the first HELLO, then raise it to maxFrameSize from
   * inside the callback, as a server does for the handshake (FrameDecoder.setMaxFrameSize).
   */
  handshakeMaxFrameSize?: number;
  /** Call end() after the last chunk (a stream that stops inside a frame is then an error). */
  end?: boolean;
}

export interface DecoderOutcome {
  frames: Frame[];
  error: { code: string; message: string } | undefined;
  /** Largest bufferedBytes seen after a push. */
  maxBufferedBytes: number;
}

/** The reassembly buffer, read for the memory-bound check only (white box, on purpose). */
interface DecoderInternals {
  assembly: Uint8Array;
  assembled: number;
}

/** Bodies up to this size are allocated whole on their first piece (decoder.ts PREALLOC_BODY_BYTES). */
const PREALLOC_BODY_BYTES = 4096;

export function runDecoder(input: DecoderInput): DecoderOutcome {
  const { bytes, cuts, maxFrameSize } = input;
  const handshakeLimit = input.handshakeMaxFrameSize;
  const decoder = new FrameDecoder({ maxFrameSize: handshakeLimit ?? maxFrameSize });
  const internals = decoder as unknown as DecoderInternals;
  const frames: Frame[] = [];
  let limit = decoder.frameSizeLimit;
  let helloSeen = handshakeLimit === undefined;
  const onFrame = (frame: Frame): void => {
    frames.push(frame);
    if (!helloSeen && frame.type === 'hello') {
      helloSeen = true;
      decoder.setMaxFrameSize(maxFrameSize);
    }
  };
  let maxBufferedBytes = 0;
  let start = 0;
  try {
    for (let i = 0; i <= cuts.length; i++) {
      const cut = i < cuts.length ? cuts[i]! : bytes.length;
      const limitBefore = limit;
      decoder.push(bytes.subarray(start, cut), onFrame);
      start = cut;
      limit = decoder.frameSizeLimit;
      const buffered = decoder.bufferedBytes;
      if (buffered > maxBufferedBytes) maxBufferedBytes = buffered;
      // A frame in progress was accepted under the limit before or after this push.
      assert.ok(buffered < Math.max(limit, limitBefore), `bufferedBytes ${buffered} >= limit ${limit}`);
      const capacity = internals.assembly.length;
      assert.ok(capacity <= Math.max(PREALLOC_BODY_BYTES, 2 * internals.assembled), `reassembly buffer of ${capacity} bytes for ${internals.assembled} received`);
    }
    if (input.end !== false) decoder.end();
    return { frames, error: undefined, maxBufferedBytes };
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err; // a crash: not the decoder's documented error
    assert.ok(DECODER_ERROR_CODES.has(err.code), `undocumented decoder error code ${err.code}`);
    assert.equal(err.closeCode, 'protocol-error');
    assert.equal(decoder.bufferedBytes, 0, 'a dead decoder holds no partial frame');
    assert.equal(internals.assembly.length, 0, 'a dead decoder drops its reassembly buffer');
    assert.throws(() => decoder.push(Uint8Array.of(0x40), onFrame), (again: unknown) => again instanceof ProtocolError && again.code === err.code);
    return { frames, error: { code: err.code, message: err.message }, maxBufferedBytes };
  }
}

/**
 * A coarse class of an outcome, for the fuzz run's "distinct outcomes" and its corpus: the error
 * code with the message's numbers blanked (so "frame of 70 bytes" and "of 90 bytes" are one
 * class: the message names the field and rule, i.e. the code path), or the first frame decoded.
 */
export function outcomeClass(outcome: DecoderOutcome): string {
  if (outcome.error !== undefined) {
    return `${outcome.error.code}: ${outcome.error.message.replace(/0x[0-9a-f]+/g, '#').replace(/\d+/g, '#')}`;
  }
  // Valid streams: by their first frame only (every frame type is a seed worth keeping; the
  // combinations of types are not, and would be thousands).
  const first = outcome.frames[0];
  return `ok: ${first === undefined ? '(none)' : first.type === 'presence' ? `presence-${first.kind}` : first.type}`;
}
