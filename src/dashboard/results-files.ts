/**
 * The results directory the dashboard may read (`--dashboard-results DIR`,
 * docs/spec/0017-dashboard.md §Results page): `.json` files directly inside it, nothing else.
 * A name is resolved against the directory's real path and the file's real path must still be
 * inside it, so `..`, absolute paths, encoded separators and symlinks pointing out all fail the
 * same way (403), before anything is read.
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';

/** Larger files are refused: a full lab or bench run is well under 1 MiB. */
export const MAX_RESULT_BYTES = 16 * 1024 * 1024;

export class ResultsFileError extends Error {
  constructor(
    readonly statusCode: 400 | 403 | 404 | 413,
    message: string,
  ) {
    super(message);
  }
}

export interface ResultsFileEntry {
  name: string;
  bytes: number;
  /** Last modification, epoch ms. */
  modifiedMs: number;
}

/** The `.json` files directly inside `dir`, newest first. */
export async function listResultFiles(dir: string): Promise<ResultsFileEntry[]> {
  const root = await realpath(dir);
  const entries = await readdir(root, { withFileTypes: true });
  const files: ResultsFileEntry[] = [];
  for (const entry of entries) {
    if (!entry.name.endsWith('.json')) continue;
    try {
      const full = await insideRoot(root, entry.name);
      const info = await stat(full);
      if (info.isFile()) files.push({ name: entry.name, bytes: info.size, modifiedMs: Math.round(info.mtimeMs) });
    } catch {
      // A symlink out of the directory or a file gone meanwhile: not listed.
    }
  }
  return files.sort((a, b) => b.modifiedMs - a.modifiedMs || a.name.localeCompare(b.name));
}

/** The text of `name` inside `dir`, or a ResultsFileError saying why not. */
export async function readResultFile(dir: string, name: unknown): Promise<string> {
  if (typeof name !== 'string' || name === '' || name.length > 255 || name.includes('\0')) throw new ResultsFileError(400, 'file: a file name from the results directory');
  if (name.includes('/') || name.includes('\\') || path.isAbsolute(name)) throw new ResultsFileError(403, 'file: only files directly inside the results directory');
  if (!name.endsWith('.json')) throw new ResultsFileError(403, 'file: only .json result files');
  const root = await realpath(dir);
  const full = await insideRoot(root, name);
  const info = await stat(full);
  if (!info.isFile()) throw new ResultsFileError(404, `${name}: not a file`);
  if (info.size > MAX_RESULT_BYTES) throw new ResultsFileError(413, `${name}: larger than ${MAX_RESULT_BYTES} bytes`);
  return readFile(full, 'utf8');
}

/** The real path of root/name, refused unless it is a direct child of root (symlinks followed). */
async function insideRoot(root: string, name: string): Promise<string> {
  const candidate = path.resolve(root, name);
  if (path.dirname(candidate) !== root) throw new ResultsFileError(403, 'file: only files directly inside the results directory');
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    throw new ResultsFileError(404, `${name}: no such file in the results directory`);
  }
  if (path.dirname(real) !== root) throw new ResultsFileError(403, `${name}: points outside the results directory`);
  return real;
}
