/**
 * Replays the fuzz corpus (test/corpus/decoder/*.jsonl, written by `npm run fuzz`): every input
 * an earlier run found interesting still passes the decoder's invariants
 * (test/fuzz/decoder-target.ts), decodes the same chunked as whole, ends with the outcome it had
 * when it was saved (frames decoded, error code), and stays fast. A crash, mismatch or hang entry
 * has no recorded outcome: it must simply pass now that its bug is fixed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { fromHex, loadCorpus } from './corpus.js';
import { DECODER_ERROR_CODES, runDecoder } from './decoder-target.js';

const CORPUS = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'corpus', 'decoder');
/** Far above any corpus input's time on a quiet machine (< 1 ms): only a real regression trips it. */
const PER_INPUT_BOUND_MS = 1000;

test('fuzz corpus - every saved input keeps its outcome, chunked or whole, and stays fast', () => {
  const corpus = loadCorpus(CORPUS);
  // Not vacuous: the corpus is there and reaches every decoder error code and valid frames.
  const outcomes = new Set(corpus.map(({ entry }) => entry.error ?? 'ok'));
  for (const code of [...DECODER_ERROR_CODES, 'ok']) assert.ok(outcomes.has(code), `corpus has no ${code} entry`);
  for (const { file, line, entry } of corpus) {
    const where = `${file}:${line}`;
    const input = {
      bytes: fromHex(entry.hex),
      cuts: entry.cuts,
      maxFrameSize: entry.maxFrameSize,
      ...(entry.handshakeMaxFrameSize !== undefined ? { handshakeMaxFrameSize: entry.handshakeMaxFrameSize } : {}),
    };
    const started = performance.now();
    const whole = runDecoder({ ...input, cuts: [] });
    const chunked = runDecoder(input);
    const ms = performance.now() - started;
    assert.deepEqual(chunked.frames, whole.frames, where);
    assert.deepEqual(chunked.error, whole.error, where);
    if (entry.frames !== undefined) {
      assert.equal(whole.frames.length, entry.frames, `${where}: frames decoded`);
      assert.equal(whole.error?.code ?? null, entry.error, `${where}: outcome (${entry.class})`);
    }
    assert.ok(ms < PER_INPUT_BOUND_MS, `${where}: ${ms.toFixed(1)} ms`);
  }
});
