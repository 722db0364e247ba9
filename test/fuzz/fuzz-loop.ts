/**
 * The loop behind `npm run fuzz` (scripts/fuzz.ts runs it in a worker thread and watches it).
 * See scripts/fuzz.ts for what is checked; this file generates the inputs, runs the targets,
 * keeps the statistics and reports findings. The input being run is mirrored into shared
 * memory before it runs, so the watching thread can save it if it never returns (a hang).
 */
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import fc from 'fast-check';
import { encodeFrame } from '../../src/protocol/encode.js';
import { seededRandom } from '../../src/time/rng.js';
import { concat, frameArb, hostileStreamArb } from './arbitraries.js';
import { fromHex, loadCorpus, saveCorpusEntry, toHex, type CorpusEntry, type CorpusKind } from './corpus.js';
import { outcomeClass, runDecoder, type DecoderInput, type DecoderOutcome } from './decoder-target.js';
import { runHandshakeCase } from './handshake-target.js';
import { MAX_INPUT_BYTES, Mutator } from './mutator.js';

export interface FuzzConfig {
  count: number;
  seed: number;
  /** 0: no limit. */
  timeLimitMs: number;
  corpusDir: string;
  slowMs: number;
  /** Every n-th input also runs through the server handshake; 0: never. */
  handshakeEvery: number;
  maxHeapGrowthBytes: number;
  save: boolean;
}

export type WorkerMessage =
  | { type: 'progress'; inputs: number; classes: number; heapBytes: number }
  | { type: 'finding'; kind: CorpusKind; index: number; detail: string }
  | {
      type: 'done';
      inputs: number;
      handshakes: number;
      bytes: number;
      largestInput: number;
      classes: number;
      errors: number;
      codes: Record<string, number>;
      handshakeBranches: Record<string, number>;
      slowestMs: number;
      /** Inputs over slowMs at their first timing, and those still over it when timed again (saved). */
      slowAtFirst: number;
      slowConfirmed: number;
      firstHeapBytes: number;
      maxHeapBytes: number;
      heapGrew: boolean;
      gc: boolean;
      saved: number;
      stoppedByTime: boolean;
    };

export const MAX_CUTS = 16;
export const HEADER_INTS = 4 + MAX_CUTS;
/** Shared memory for the input in flight: header (length, cut count, limits, cuts) + bytes. */
export const SHARED_INPUT_BYTES = HEADER_INTS * 4 + MAX_INPUT_BYTES;
const FRAME_LIMITS = [64, 100, 300, 4096, 65_536, 1 << 20];
const HANDSHAKE_LIMITS = [64, 256, 16_384];
const HEAP_SAMPLE_EVERY = 50_000;
const PROGRESS_EVERY = 100_000;
const MAX_POOL = 20_000;
const MAX_SLOW_SAVES = 20;

/** The input the worker is running, as the watchdog reads it back from shared memory. */
export function decodeSharedInput(shared: SharedArrayBuffer): Pick<CorpusEntry, 'hex' | 'cuts' | 'maxFrameSize' | 'handshakeMaxFrameSize'> {
  const header = new Int32Array(shared, 8, HEADER_INTS);
  const length = header[0]!;
  const cuts = Array.from(header.subarray(4, 4 + header[1]!));
  const bytes = new Uint8Array(shared, 8 + HEADER_INTS * 4, length).slice();
  return { hex: toHex(bytes), cuts, maxFrameSize: header[2]!, ...(header[3]! > 0 ? { handshakeMaxFrameSize: header[3]! } : {}) };
}

export async function runFuzzWorker(config: FuzzConfig & { shared: SharedArrayBuffer }, post: (message: WorkerMessage) => void): Promise<void> {
  const progress = new Int32Array(config.shared, 0, 2);
  const header = new Int32Array(config.shared, 8, HEADER_INTS);
  const sharedBytes = new Uint8Array(config.shared, 8 + HEADER_INTS * 4, MAX_INPUT_BYTES);
  const rng = seededRandom(config.seed);
  const mutator = new Mutator(rng);
  const gc = (globalThis as { gc?: () => void }).gc;

  // The pool: valid frames and streams (seeded fast-check samples), hostile streams, the corpus.
  const pool: Uint8Array[] = [];
  for (const frame of fc.sample(frameArb, { seed: config.seed, numRuns: 2000 })) pool.push(encodeFrame(frame));
  for (const frames of fc.sample(fc.array(frameArb, { minLength: 2, maxLength: 6 }), { seed: config.seed + 1, numRuns: 500 })) pool.push(concat(frames.map(encodeFrame)));
  for (const stream of fc.sample(hostileStreamArb, { seed: config.seed + 2, numRuns: 500 })) pool.push(stream);
  const known = new Set<string>();
  for (const { entry } of loadCorpus(config.corpusDir)) {
    pool.push(fromHex(entry.hex));
    if (entry.class !== undefined) known.add(entry.class);
  }

  const codes: Record<string, number> = {};
  const branches: Record<string, number> = {};
  let inputs = 0;
  let handshakes = 0;
  let bytesTotal = 0;
  let largestInput = 0;
  let errors = 0;
  let slowestMs = 0;
  let saved = 0;
  let slowSaves = 0;
  let slowAtFirst = 0;
  let firstHeapBytes = 0;
  let maxHeapBytes = 0;
  let heapGrew = false;
  let stoppedByTime = false;
  const started = performance.now();

  const save = (kind: CorpusKind, input: DecoderInput, outcome: DecoderOutcome | undefined, extra: Partial<CorpusEntry> = {}): void => {
    if (!config.save) return;
    saveCorpusEntry(config.corpusDir, {
      kind,
      ...(outcome ? { class: outcomeClass(outcome), frames: outcome.frames.length, error: outcome.error?.code ?? null } : {}),
      hex: toHex(input.bytes),
      cuts: [...input.cuts],
      maxFrameSize: input.maxFrameSize,
      ...(input.handshakeMaxFrameSize !== undefined ? { handshakeMaxFrameSize: input.handshakeMaxFrameSize } : {}),
      seed: config.seed,
      index: inputs,
      ...extra,
    });
    saved++;
  };
  const heapSample = (): number => {
    gc?.();
    return getHeapStatistics().used_heap_size;
  };
  firstHeapBytes = maxHeapBytes = heapSample();

  for (; inputs < config.count; inputs++) {
    if (config.timeLimitMs > 0 && performance.now() - started > config.timeLimitMs) {
      stoppedByTime = true;
      break;
    }
    const base = mutator.pick(pool);
    const bytes = rng() < 0.9 ? mutator.mutate(base, mutator.pick(pool)) : base.subarray(0, MAX_INPUT_BYTES);
    const maxFrameSize = mutator.pick(FRAME_LIMITS);
    const handshakeLimit = rng() < 0.3 ? Math.min(maxFrameSize, mutator.pick(HANDSHAKE_LIMITS)) : undefined;
    const cuts = mutator.cuts(bytes.length).slice(0, MAX_CUTS);
    const input: DecoderInput = { bytes, cuts, maxFrameSize, ...(handshakeLimit !== undefined ? { handshakeMaxFrameSize: handshakeLimit } : {}) };
    bytesTotal += bytes.length;
    if (bytes.length > largestInput) largestInput = bytes.length;

    // Mirror the input for the watchdog, then mark it started.
    header[0] = bytes.length;
    header[1] = cuts.length;
    header[2] = maxFrameSize;
    header[3] = handshakeLimit ?? 0;
    for (let i = 0; i < cuts.length; i++) header[4 + i] = cuts[i]!;
    sharedBytes.set(bytes);
    Atomics.store(progress, 0, inputs);
    Atomics.store(progress, 1, Date.now() & 0x7fffffff);

    const t0 = performance.now();
    let whole: DecoderOutcome;
    try {
      whole = runDecoder({ ...input, cuts: [] });
      const chunked = runDecoder(input);
      if (!isDeepStrictEqual(chunked.frames, whole.frames) || !isDeepStrictEqual(chunked.error, whole.error)) {
        post({ type: 'finding', kind: 'mismatch', index: inputs, detail: `chunked ${outcomeClass(chunked)} vs whole ${outcomeClass(whole)}` });
        save('mismatch', input, whole);
        continue;
      }
    } catch (err) {
      post({ type: 'finding', kind: 'crash', index: inputs, detail: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      save('crash', input, undefined);
      continue;
    }
    const ms = performance.now() - t0;
    if (ms > slowestMs) slowestMs = ms;
    if (whole.error !== undefined) {
      errors++;
      codes[whole.error.code] = (codes[whole.error.code] ?? 0) + 1;
    }
    const cls = outcomeClass(whole);
    if (!known.has(cls)) {
      known.add(cls);
      save('new-class', input, whole);
      if (pool.length < MAX_POOL) pool.push(bytes);
      post({ type: 'finding', kind: 'new-class', index: inputs, detail: cls });
    }
    if (ms > config.slowMs) slowAtFirst++;
    if (ms > config.slowMs && slowSaves < MAX_SLOW_SAVES) {
      // Time it again: one slow run on a busy machine may be a GC pause or another process.
      const again = performance.now();
      runDecoder(input);
      const msAgain = performance.now() - again;
      if (msAgain > config.slowMs) {
        slowSaves++;
        save('slow', input, whole, { ms: Math.round(Math.min(ms, msAgain)) });
        post({ type: 'finding', kind: 'slow', index: inputs, detail: `${msAgain.toFixed(1)} ms, ${bytes.length} bytes` });
      }
    }

    if (config.handshakeEvery > 0 && inputs % config.handshakeEvery === 0) {
      handshakes++;
      try {
        const branch = await runHandshakeCase({ bytes, cuts, end: rng() < 0.5, auth: rng() < 0.5 });
        branches[branch] = (branches[branch] ?? 0) + 1;
      } catch (err) {
        post({ type: 'finding', kind: 'crash', index: inputs, detail: `handshake: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` });
        save('crash', input, undefined);
      }
    }
    if (inputs > 0 && inputs % HEAP_SAMPLE_EVERY === 0) {
      const heap = heapSample();
      if (heap > maxHeapBytes) maxHeapBytes = heap;
      if (heap - firstHeapBytes > config.maxHeapGrowthBytes && !heapGrew) {
        heapGrew = true;
        post({ type: 'finding', kind: 'crash', index: inputs, detail: `heap grew from ${firstHeapBytes} to ${heap} bytes` });
      }
    }
    if (inputs > 0 && inputs % PROGRESS_EVERY === 0) post({ type: 'progress', inputs, classes: known.size, heapBytes: maxHeapBytes });
  }
  Atomics.store(progress, 1, 0);
  const last = heapSample();
  if (last > maxHeapBytes) maxHeapBytes = last;
  post({
    type: 'done',
    inputs,
    handshakes,
    bytes: bytesTotal,
    largestInput,
    classes: known.size,
    errors,
    codes,
    handshakeBranches: branches,
    slowestMs,
    slowAtFirst,
    slowConfirmed: slowSaves,
    firstHeapBytes,
    maxHeapBytes,
    heapGrew,
    gc: gc !== undefined,
    saved,
    stoppedByTime,
  });
}
