#!/usr/bin/env node
/**
 * `npm run fuzz`: the long fuzz run of issue 15 item 1. Mutation-based: it starts from a pool of
 * valid frames and streams (fast-check generated, seeded) plus the corpus in test/corpus/decoder/,
 * applies 1–4 random mutations per input (bit flips, interesting bytes, inserts, deletes,
 * duplicated ranges, splices, huge length prefixes, truncation), cuts the result into chunks and
 * feeds it to the decoder through test/fuzz/decoder-target.ts — the invariants checked there on
 * every input: only documented ProtocolErrors, partial frame < the limit, reassembly buffer ≤ what
 * was received, a dead decoder stays dead — and checks that the chunked and the whole stream give
 * the same frames and error. Every `--handshake-every`-th input also goes to the server's
 * handshake (test/fuzz/handshake-target.ts: real server, FakeClock, in-memory transport).
 *
 * The inputs run in a worker thread; this thread watches it: an input that takes longer than
 * `--hang-ms` is a hang (the worker is stopped and the input saved). The worker samples its heap
 * after a forced GC (`--expose-gc`) every 50,000 inputs; the run fails if it grows more than
 * `--max-heap-growth-mb` over the first sample. Interesting inputs — a new outcome class, a slow
 * input (> `--slow-ms`), a crash, a mismatch, a hang — are written to the corpus directory, which
 * test/fuzz/corpus.test.ts replays in `npm test`.
 *
 * `--target ws | udp | client` fuzzes another target with the same engine, watchdog and heap
 * check (test/fuzz/codec-loop.ts): the WebSocket codec and server transport against an RFC 6455
 * model (ws-target.ts), UDP datagrams and the frame scanners (udp-target.ts), or the client's
 * handshake against a scripted server (client-target.ts); its corpus is test/corpus/<target>/,
 * replayed by test/fuzz/codec-corpus.test.ts.
 *
 * Usage: node --expose-gc --import tsx scripts/fuzz.ts [--target decoder] [--count 1000000] [--seed N]
 *   [--time-limit-s 0 (none)] [--corpus test/corpus/<target>] [--slow-ms 50] [--hang-ms 10000]
 *   [--handshake-every 500] [--max-heap-growth-mb 64] [--no-save]
 * Exit code 0: no finding; 1: a crash, mismatch, hang or heap growth (details printed).
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { runFuzzWorker, type FuzzConfig, type WorkerMessage, SHARED_INPUT_BYTES, decodeSharedInput } from '../test/fuzz/fuzz-loop.js';
import { runCodecWorker } from '../test/fuzz/codec-loop.js';
import { saveCorpusEntry, type CodecTarget } from '../test/fuzz/corpus.js';

type Target = 'decoder' | CodecTarget;
const TARGETS: readonly Target[] = ['decoder', 'ws', 'udp', 'client'];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

if (!isMainThread) {
  const data = workerData as FuzzConfig & { shared: SharedArrayBuffer; target: Target };
  const post = (message: WorkerMessage): void => parentPort!.postMessage(message);
  if (data.target === 'decoder') void runFuzzWorker(data, post);
  else void runCodecWorker(data.target, data, post);
} else {
  await main();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', default: 'decoder' },
      count: { type: 'string', default: '1000000' },
      seed: { type: 'string' },
      'time-limit-s': { type: 'string', default: '0' },
      corpus: { type: 'string' },
      'slow-ms': { type: 'string', default: '50' },
      'hang-ms': { type: 'string', default: '10000' },
      'handshake-every': { type: 'string', default: '500' },
      'max-heap-growth-mb': { type: 'string', default: '64' },
      'no-save': { type: 'boolean', default: false },
    },
  });
  const target = values.target as Target;
  if (!TARGETS.includes(target)) {
    process.stderr.write(`--target must be one of ${TARGETS.join(', ')}, got ${String(values.target)}\n`);
    process.exit(2);
  }
  const config: FuzzConfig = {
    count: positiveInt(values.count, 'count'),
    seed: values.seed === undefined ? (Date.now() % 2 ** 31) : positiveInt(values.seed, 'seed', 0),
    timeLimitMs: positiveInt(values['time-limit-s'], 'time-limit-s', 0) * 1000,
    corpusDir: resolve(values.corpus ?? join(root, 'test/corpus', target)),
    slowMs: positiveInt(values['slow-ms'], 'slow-ms'),
    handshakeEvery: positiveInt(values['handshake-every'], 'handshake-every', 0),
    maxHeapGrowthBytes: positiveInt(values['max-heap-growth-mb'], 'max-heap-growth-mb') * 1024 * 1024,
    save: !values['no-save'],
  };
  const hangMs = positiveInt(values['hang-ms'], 'hang-ms');
  if (typeof (globalThis as { gc?: unknown }).gc !== 'function') {
    process.stderr.write('note: run with node --expose-gc for heap samples after GC (npm run fuzz does)\n');
  }
  process.stdout.write(`fuzz ${target}: ${config.count.toLocaleString('en')} inputs, seed ${config.seed}, corpus ${config.corpusDir}\n`);

  // [0] inputs started, [1] ms timestamp (low 31 bits) when the current input started.
  const shared = new SharedArrayBuffer(8 + SHARED_INPUT_BYTES);
  const progress = new Int32Array(shared, 0, 2);
  // A worker does not inherit the tsx loader: register it in the worker before loading this file.
  const bootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(bootstrap, { eval: true, workerData: { ...config, shared, target } });
  const started = Date.now();
  let findings = 0;
  let summary: (WorkerMessage & { type: 'done' }) | undefined;
  const watchdog = setInterval(() => {
    const startedAt = Atomics.load(progress, 1);
    if (startedAt === 0) return;
    const busyMs = (Date.now() & 0x7fffffff) - startedAt;
    if (busyMs <= hangMs) return;
    clearInterval(watchdog);
    findings++;
    const input = decodeSharedInput(shared);
    process.stdout.write(`HANG: input ${Atomics.load(progress, 0)} ran ${busyMs} ms (> ${hangMs}); ${config.save ? 'saved' : 'not saved (--no-save)'}\n`);
    // The codec targets keep their flags where the decoder keeps its handshake limit (codec-loop.ts).
    const { handshakeMaxFrameSize: flags, ...rest } = input;
    const entry = target === 'decoder' ? input : { ...rest, target, ...(target === 'client' ? { flags: flags ?? 0 } : {}) };
    if (config.save) saveCorpusEntry(config.corpusDir, { kind: 'hang', seed: config.seed, index: Atomics.load(progress, 0), ...entry });
    void worker.terminate();
  }, 250);

  await new Promise<void>((resolveRun) => {
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'progress') {
        process.stdout.write(`  ${message.inputs.toLocaleString('en')} inputs, ${message.classes} outcome classes, heap ${mb(message.heapBytes)} MiB, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
      } else if (message.type === 'finding') {
        if (message.kind !== 'new-class' && message.kind !== 'slow') findings++;
        if (message.kind !== 'new-class') process.stdout.write(`${message.kind.toUpperCase()}: input ${message.index}: ${message.detail}\n`);
      } else {
        summary = message;
      }
    });
    worker.on('error', (err) => {
      findings++;
      process.stdout.write(`CRASH: the worker threw outside any check: ${err.stack ?? String(err)}\n`);
    });
    worker.on('exit', () => resolveRun());
  });
  clearInterval(watchdog);

  const seconds = (Date.now() - started) / 1000;
  if (summary !== undefined) {
    findings += summary.heapGrew ? 1 : 0;
    process.stdout.write(
      [
        '',
        target === 'decoder'
          ? `inputs            ${summary.inputs.toLocaleString('en')} decoder (${summary.handshakes.toLocaleString('en')} also through the server handshake)`
          : `inputs            ${summary.inputs.toLocaleString('en')} ${target}`,
        `seed              ${config.seed}`,
        `time              ${seconds.toFixed(1)} s (${Math.round(summary.inputs / seconds).toLocaleString('en')} inputs/s)`,
        `input bytes       ${summary.bytes.toLocaleString('en')} total, largest ${summary.largestInput.toLocaleString('en')}`,
        `outcome classes   ${summary.classes} distinct (${summary.errors.toLocaleString('en')} inputs ended in ${target === 'decoder' ? 'a ProtocolError' : 'a refusal'})`,
        `${target === 'decoder' ? 'error codes ' : 'outcomes    '}       ${Object.entries(summary.codes).sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${n.toLocaleString('en')}`).join(', ')}`,
        ...(target === 'decoder' ? [`handshake         ${Object.entries(summary.handshakeBranches).map(([b, n]) => `${b} ${n}`).join(', ') || '(none)'}`] : []),
        `slowest input     ${summary.slowestMs.toFixed(2)} ms at its first timing; ${summary.slowAtFirst} over --slow-ms at first, ${summary.slowConfirmed} still over it timed again (saved)`,
        `heap after GC     first ${mb(summary.firstHeapBytes)} MiB, max ${mb(summary.maxHeapBytes)} MiB${summary.gc ? '' : ' (no --expose-gc: not after GC)'}`,
        `corpus            ${summary.saved} new entries in ${config.corpusDir}`,
        `findings          ${findings}${summary.stoppedByTime ? ' (stopped by --time-limit-s)' : ''}`,
        '',
      ].join('\n'),
    );
  } else {
    process.stdout.write(`\nthe worker ended without a summary after ${seconds.toFixed(1)} s; findings ${findings}\n`);
    findings = Math.max(findings, 1);
  }
  process.exitCode = findings === 0 ? 0 : 1;
}

function positiveInt(text: string | undefined, name: string, min = 1): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) {
    process.stderr.write(`--${name} must be an integer >= ${min}, got ${String(text)}\n`);
    process.exit(2);
  }
  return value;
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
