/**
 * The loop behind `npm run fuzz -- --target ws | udp | client` (scripts/fuzz.ts runs it in a
 * worker thread and watches it, as it does the decoder's fuzz-loop.ts): the same mutation engine
 * (mutator.ts) over a pool of seeded fast-check samples of the target's inputs plus its corpus
 * (test/corpus/<target>/), each input run through the target's checks — ws-target.ts (the
 * WebSocket codec and server transport against the RFC 6455 model), udp-target.ts (datagrams and
 * the frame scanners), client-target.ts (the client handshake against a scripted server). A check
 * that throws is a crash finding; the first input of each outcome class is saved to the corpus,
 * which test/fuzz/codec-corpus.test.ts replays in `npm test`. Heap is sampled after a forced GC
 * every HEAP_SAMPLE_EVERY inputs; the input in flight is mirrored to shared memory for the
 * watchdog (a hang).
 */
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import fc from 'fast-check';
import { seededRandom } from '../../src/time/rng.js';
import { clientCaseArb, runClientCase, type ClientCase } from './client-target.js';
import { fromHex, loadCorpus, saveCorpusEntry, toHex, type CodecTarget, type CorpusEntry, type CorpusKind } from './corpus.js';
import { HEADER_INTS, MAX_CUTS, type FuzzConfig, type WorkerMessage } from './fuzz-loop.js';
import { MAX_INPUT_BYTES, Mutator } from './mutator.js';
import { runUdpCase, udpInputArb, UDP_FRAME_LIMITS } from './udp-target.js';
import { runWsCase, wsInputArb, WS_LIMITS } from './ws-target.js';

/** One input of a codec target: bytes, chunk cuts, the target's limit, the client script's flags. */
export interface CodecInput {
  bytes: Uint8Array;
  cuts: readonly number[];
  limit: number;
  flags: number;
}

const AFTER = ['end', 'destroy', 'silent'] as const;
/** Client script flags: bits 0–1 what the server does after its answer, 2 dial fails, 3 resume, 4 send early. */
export function clientFlags(c: Pick<ClientCase, 'after' | 'dialFails' | 'resume' | 'sendEarly'>): number {
  return AFTER.indexOf(c.after) | (c.dialFails ? 4 : 0) | (c.resume ? 8 : 0) | (c.sendEarly ? 16 : 0);
}

/** Run one input through its target; the outcome class. Throws when the target's rules break. */
export async function runCodecInput(target: CodecTarget, input: CodecInput): Promise<string> {
  switch (target) {
    case 'ws':
      return runWsCase({ bytes: input.bytes, cuts: input.cuts, maxMessageBytes: input.limit });
    case 'udp':
      return runUdpCase({ bytes: input.bytes, cuts: input.cuts, maxFrameSize: input.limit });
    case 'client':
      return runClientCase({
        answer: input.bytes,
        cuts: input.cuts,
        after: AFTER[input.flags & 3] ?? 'silent',
        dialFails: (input.flags & 4) !== 0,
        resume: (input.flags & 8) !== 0,
        sendEarly: (input.flags & 16) !== 0,
      });
  }
}

/** What a corpus entry of a codec target holds, as the input it was. */
export function codecInputOf(entry: CorpusEntry): CodecInput {
  return { bytes: fromHex(entry.hex), cuts: entry.cuts, limit: entry.maxFrameSize, flags: entry.flags ?? 0 };
}

const LIMITS: Record<CodecTarget, readonly number[]> = { ws: WS_LIMITS, udp: UDP_FRAME_LIMITS, client: [4096] };
/** The client target runs a whole client per input (≈ 0.5 ms, not µs): fewer seeds suffice. */
const SEEDS: Record<CodecTarget, number> = { ws: 3000, udp: 3000, client: 600 };

function seedPool(target: CodecTarget, seed: number): Uint8Array[] {
  const n = SEEDS[target];
  if (target === 'ws') return fc.sample(wsInputArb, { seed, numRuns: n }).map((i) => i.bytes);
  if (target === 'udp') return fc.sample(udpInputArb, { seed, numRuns: n }).map((i) => i.bytes);
  return fc.sample(clientCaseArb, { seed, numRuns: n }).map((c) => c.answer);
}

/** Coarse groups for the summary's counts: the class up to its first ' | ' (udp: the datagram reading). */
function groupOf(cls: string): string {
  const bar = cls.indexOf(' | ');
  return bar < 0 ? cls : cls.slice(0, bar);
}

/** Which classes are a refusal (the summary counts them): a failure / close, a malformed datagram or stream error, a client that never opened. */
const REFUSED: Record<CodecTarget, (cls: string) => boolean> = {
  ws: (cls) => !cls.startsWith('ok'),
  udp: (cls) => cls.includes('malformed') || !cls.endsWith('stream ok'),
  client: (cls) => cls.startsWith('refused'),
};

const HEAP_SAMPLE_EVERY = 50_000;
const PROGRESS_EVERY = 100_000;
const MAX_POOL = 20_000;
const MAX_SLOW_SAVES = 20;

export async function runCodecWorker(target: CodecTarget, config: FuzzConfig & { shared: SharedArrayBuffer }, post: (message: WorkerMessage) => void): Promise<void> {
  const progress = new Int32Array(config.shared, 0, 2);
  const header = new Int32Array(config.shared, 8, HEADER_INTS);
  const sharedBytes = new Uint8Array(config.shared, 8 + HEADER_INTS * 4, MAX_INPUT_BYTES);
  const rng = seededRandom(config.seed);
  const mutator = new Mutator(rng);
  const gc = (globalThis as { gc?: () => void }).gc;
  const pool = seedPool(target, config.seed).filter((b) => b.length > 0);
  const known = new Set<string>();
  for (const { entry } of loadCorpus(config.corpusDir)) {
    pool.push(fromHex(entry.hex));
    if (entry.class !== undefined) known.add(entry.class);
  }
  const groups: Record<string, number> = {};
  let inputs = 0;
  let bytesTotal = 0;
  let largestInput = 0;
  let notOk = 0;
  let slowestMs = 0;
  let saved = 0;
  let slowSaves = 0;
  let slowAtFirst = 0;
  let heapGrew = false;
  let stoppedByTime = false;
  const heapSample = (): number => {
    gc?.();
    return getHeapStatistics().used_heap_size;
  };
  const firstHeapBytes = heapSample();
  let maxHeapBytes = firstHeapBytes;
  const save = (kind: CorpusKind, input: CodecInput, cls: string | undefined, extra: Partial<CorpusEntry> = {}): void => {
    if (!config.save) return;
    saveCorpusEntry(config.corpusDir, {
      kind,
      target,
      ...(cls !== undefined ? { class: cls } : {}),
      hex: toHex(input.bytes),
      cuts: [...input.cuts],
      maxFrameSize: input.limit,
      ...(target === 'client' ? { flags: input.flags } : {}),
      seed: config.seed,
      index: inputs,
      ...extra,
    });
    saved++;
  };
  const started = performance.now();

  for (; inputs < config.count; inputs++) {
    if (config.timeLimitMs > 0 && performance.now() - started > config.timeLimitMs) {
      stoppedByTime = true;
      break;
    }
    const base = mutator.pick(pool);
    const bytes = rng() < 0.9 ? mutator.mutate(base, mutator.pick(pool)) : base.subarray(0, MAX_INPUT_BYTES);
    const limit = mutator.pick(LIMITS[target]);
    const flags = target === 'client' ? clientFlags({ after: mutator.pick(AFTER), dialFails: rng() < 0.03, resume: rng() < 0.5, sendEarly: rng() < 0.5 }) : 0;
    const cuts = mutator.cuts(bytes.length).slice(0, MAX_CUTS);
    const input: CodecInput = { bytes, cuts, limit, flags };
    bytesTotal += bytes.length;
    if (bytes.length > largestInput) largestInput = bytes.length;

    // Mirror the input for the watchdog (header[3]: the flags), then mark it started.
    header[0] = bytes.length;
    header[1] = cuts.length;
    header[2] = limit;
    header[3] = flags;
    for (let i = 0; i < cuts.length; i++) header[4 + i] = cuts[i]!;
    sharedBytes.set(bytes);
    Atomics.store(progress, 0, inputs);
    Atomics.store(progress, 1, Date.now() & 0x7fffffff);

    const t0 = performance.now();
    let cls: string;
    try {
      cls = await runCodecInput(target, input);
    } catch (err) {
      post({ type: 'finding', kind: 'crash', index: inputs, detail: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      save('crash', input, undefined);
      continue;
    }
    const ms = performance.now() - t0;
    if (ms > slowestMs) slowestMs = ms;
    if (REFUSED[target](cls)) notOk++;
    const group = groupOf(cls);
    groups[group] = (groups[group] ?? 0) + 1;
    if (!known.has(cls)) {
      known.add(cls);
      save('new-class', input, cls);
      if (pool.length < MAX_POOL && bytes.length > 0) pool.push(bytes);
      post({ type: 'finding', kind: 'new-class', index: inputs, detail: cls });
    }
    if (ms > config.slowMs) slowAtFirst++;
    if (ms > config.slowMs && slowSaves < MAX_SLOW_SAVES) {
      // Time it again: one slow run on a busy machine may be a GC pause or another process.
      const again = performance.now();
      await runCodecInput(target, input);
      const msAgain = performance.now() - again;
      if (msAgain > config.slowMs) {
        slowSaves++;
        save('slow', input, cls, { ms: Math.round(Math.min(ms, msAgain)) });
        post({ type: 'finding', kind: 'slow', index: inputs, detail: `${msAgain.toFixed(1)} ms, ${bytes.length} bytes` });
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
    handshakes: 0,
    bytes: bytesTotal,
    largestInput,
    classes: known.size,
    errors: notOk,
    codes: groups,
    handshakeBranches: {},
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
