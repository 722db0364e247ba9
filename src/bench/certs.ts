/**
 * A throw-away self-signed certificate for the benchmark's TLS systems, made at run time with
 * the openssl command-line tool (no key is ever committed); cached per process. The load
 * generators do not verify it (they measure cost, not trust).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let made: { key: Buffer; cert: Buffer } | undefined;

export function benchCertificate(): { key: Buffer; cert: Buffer } {
  if (made) return made;
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-bench-cert-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=localhost'], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    made = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
    return made;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Why TLS systems cannot run here, or undefined. */
export function tlsUnavailable(): string | undefined {
  try {
    benchCertificate();
    return undefined;
  } catch (err) {
    return `cannot make a test certificate with openssl: ${(err as Error).message.split('\n', 1)[0]}`;
  }
}
