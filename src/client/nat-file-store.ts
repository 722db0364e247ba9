/**
 * JsonFileNatStore: the default NatStateStore (docs/spec/0007 §Store), one small JSON file
 * `{ "version": 1, "entries": { "<networkKey>": NatLearnerState, … } }`.
 *
 * - Atomic: save() writes a temp file beside the target and renames it over, so a crash or a
 *   second process never leaves a half-written file (rename is atomic within one directory).
 * - Bounded: at most maxKeys entries; the least recently updated (state.updatedAtMs) is evicted,
 *   as Mars' __LimitINISize drops the oldest network.
 * - Tolerant: a missing, unreadable or corrupt file (or entry) loads as "nothing learned yet";
 *   load() never throws. A failed save is swallowed and reported through `onError`: losing what
 *   we learned costs heartbeats, never the connection.
 * - Synchronous and cached: the file is read once, then served from memory; saves happen on
 *   learner events (minutes apart), so sync I/O stays off the hot path.
 */
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import type { NatLearnerState } from '../liveness/nat-learner.js';
import { DEFAULT_MAX_NAT_KEYS, type NatStateStore } from '../liveness/nat-store.js';

const FILE_VERSION = 1;

export interface JsonFileNatStoreOptions {
  /** Most keys kept in the file. Default 32. */
  maxKeys?: number;
  /** Called when the file cannot be written (or was corrupt on load). Default: ignore. */
  onError?: (error: unknown) => void;
}

export class JsonFileNatStore implements NatStateStore {
  readonly maxKeys: number;
  private readonly onError: (error: unknown) => void;
  private entries: Map<string, NatLearnerState> | undefined;
  private seq = 0;

  constructor(
    readonly path: string,
    options: JsonFileNatStoreOptions = {},
  ) {
    this.maxKeys = options.maxKeys ?? DEFAULT_MAX_NAT_KEYS;
    if (!(Number.isInteger(this.maxKeys) && this.maxKeys >= 1)) {
      throw new RangeError(`JsonFileNatStore maxKeys must be an integer >= 1, got ${this.maxKeys}`);
    }
    this.onError = options.onError ?? (() => {});
  }

  load(key: string): NatLearnerState | undefined {
    const state = this.read().get(key);
    return state === undefined ? undefined : { ...state };
  }

  save(key: string, state: NatLearnerState): void {
    const entries = this.read();
    entries.set(key, { ...state });
    if (entries.size > this.maxKeys) {
      // Evict the least recently updated, but never the key being saved.
      const byAge = [...entries].filter(([k]) => k !== key).sort((a, b) => age(a[1]) - age(b[1]));
      for (const [k] of byAge.slice(0, entries.size - this.maxKeys)) entries.delete(k);
    }
    const text = JSON.stringify({ version: FILE_VERSION, entries: Object.fromEntries(entries) });
    const temp = `${this.path}.${process.pid}.${this.seq++}.tmp`;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      writeFileSync(temp, text, { mode: 0o600 });
      renameSync(temp, this.path);
    } catch (error) {
      try {
        unlinkSync(temp);
      } catch {
        // the temp file was never created
      }
      this.onError(error);
    }
  }

  /** Keys currently held (for tests and diagnostics). */
  keys(): string[] {
    return [...this.read().keys()];
  }

  private read(): Map<string, NatLearnerState> {
    if (this.entries) return this.entries;
    this.entries = new Map();
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.onError(error);
      return this.entries;
    }
    try {
      const parsed = JSON.parse(text) as unknown;
      const raw = (parsed as { version?: unknown; entries?: unknown } | null) ?? {};
      if (raw.version !== FILE_VERSION || typeof raw.entries !== 'object' || raw.entries === null) {
        throw new Error(`unrecognised NAT state file ${this.path}`);
      }
      for (const [k, v] of Object.entries(raw.entries as Record<string, unknown>)) {
        // Entries are validated by NatLearner (an invalid one starts afresh); keep only objects here.
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) this.entries.set(k, v as NatLearnerState);
      }
    } catch (error) {
      // Corrupt file: start fresh; the next save() replaces it.
      this.entries.clear();
      this.onError(error);
    }
    return this.entries;
  }
}

function age(state: NatLearnerState): number {
  const t = (state as Partial<NatLearnerState>).updatedAtMs;
  return typeof t === 'number' && Number.isFinite(t) ? t : -Infinity;
}

/**
 * The default file of the adaptive heartbeat's store: `$XDG_STATE_HOME/lifeline/nat.json`, else
 * `~/.local/state/lifeline/nat.json` (XDG Base Directory: state that survives restarts but is not
 * worth backing up).
 */
export function defaultNatStatePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(base, 'lifeline', 'nat.json');
}
