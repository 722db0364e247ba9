/** Files named on the command line (PEM keys and certificates), read once at start. */
import { readFileSync } from 'node:fs';

/**
 * The file's bytes, or an Error naming the flag and the file: a bare ENOENT from deep inside
 * tls.createSecureContext() would not tell the user which of several flags was wrong.
 */
export function readFlagFile(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    throw new Error(`cannot read ${flag} file "${file}" (${reason})`);
  }
}
