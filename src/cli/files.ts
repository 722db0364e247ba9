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

/**
 * A secret kept in a file (`--secret-file`, `--token-secret-file`): its bytes without trailing
 * whitespace, so `openssl rand -hex 32 > secret` (which ends the line) gives the same secret to
 * `lifeline token` and to the server whichever way the file was written.
 */
export function readSecretFile(flag: string, file: string, minBytes: number): Buffer {
  const bytes = readFlagFile(flag, file);
  let end = bytes.byteLength;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d || bytes[end - 1] === 0x20 || bytes[end - 1] === 0x09)) end--;
  if (end < minBytes) throw new Error(`${flag} file "${file}" holds ${end} bytes; a secret needs at least ${minBytes} (e.g. openssl rand -hex 32 > ${file})`);
  return bytes.subarray(0, end);
}
