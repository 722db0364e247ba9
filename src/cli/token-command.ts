/**
 * `lifeline token --secret-file FILE --id alice [--ttl 1h]`: prints a signed token (server/token.ts,
 * docs/spec/0013-identity.md §Signed tokens) on stdout, for `lifeline client --token` or any
 * client's `token` option; a server started with `--token-secret-file` on the same file accepts it.
 */
import { createToken, MIN_SECRET_BYTES } from '../server/token.js';
import { readSecretFile } from './files.js';

export interface TokenCommandOptions {
  secretFile: string;
  id: string;
  /** ms */
  ttl: number;
}

export function runTokenCommand(opts: TokenCommandOptions): void {
  const secret = readSecretFile('--secret-file', opts.secretFile, MIN_SECRET_BYTES);
  process.stdout.write(`${createToken({ secret, id: opts.id, ttlMs: opts.ttl })}\n`);
}
