/**
 * The decoder fuzz corpus (test/corpus/decoder/*.jsonl): inputs `npm run fuzz` found interesting
 * — the first of each outcome class, slow ones, and any crash, mismatch or hang — with the
 * outcome they had. test/fuzz/corpus.test.ts replays every entry in `npm test`; the fuzz run
 * starts its mutations from them and adds only classes the corpus does not have yet. One JSON
 * object per line, a few files by outcome, so a diff shows what a run added.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type CorpusKind = 'seed' | 'new-class' | 'slow' | 'crash' | 'mismatch' | 'hang';

export interface CorpusEntry {
  kind: CorpusKind;
  /** outcomeClass() when saved (for reading; the replay compares `frames` and `error`). */
  class?: string;
  /** Frames decoded before the end or the error. */
  frames?: number;
  /** The error code, or null when the whole input decoded. */
  error?: string | null;
  hex: string;
  cuts: number[];
  maxFrameSize: number;
  handshakeMaxFrameSize?: number;
  /** Where it came from: the fuzz run's seed and input index. */
  seed?: number;
  index?: number;
  /** How long it took when found, ms (slow entries). */
  ms?: number;
  /** Which target the entry is for (absent: the decoder). test/corpus/<target>/ holds its entries. */
  target?: CodecTarget;
  /** The client target's script flags (codec-loop.ts clientFlags); other targets: absent. */
  flags?: number;
}

/** The fuzz targets beside the decoder (codec-loop.ts). */
export type CodecTarget = 'ws' | 'udp' | 'client';

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Entries are grouped in one JSON-lines file per outcome: ok.jsonl, LL_ERR_*.jsonl (other targets: classes.jsonl), slow.jsonl, crash.jsonl… */
function fileFor(entry: CorpusEntry): string {
  // The other targets' classes are many short labels: one file of them (plus crash / slow / hang).
  if (entry.target !== undefined && (entry.kind === 'new-class' || entry.kind === 'seed')) return 'classes.jsonl';
  if (entry.kind === 'new-class' || entry.kind === 'seed') return `${entry.error ?? 'ok'}.jsonl`;
  return `${entry.kind}.jsonl`;
}

/** Append one entry; returns the file's path. */
export function saveCorpusEntry(dir: string, entry: CorpusEntry): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, fileFor(entry));
  appendFileSync(path, `${JSON.stringify(entry)}\n`);
  return path;
}

export function loadCorpus(dir: string): Array<{ file: string; line: number; entry: CorpusEntry }> {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.jsonl'))
    .sort()
    .flatMap((file) =>
      readFileSync(join(dir, file), 'utf8')
        .split('\n')
        .map((text, i) => ({ file, line: i + 1, text }))
        .filter(({ text }) => text.trim() !== '')
        .map(({ file: f, line, text }) => ({ file: f, line, entry: JSON.parse(text) as CorpusEntry })),
    );
}
