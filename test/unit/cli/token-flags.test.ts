/** Unit: the CLI's duration flag (`--ttl 1h`) and secret files (trailing newline ignored, too short refused). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../../../src/cli/address.js';
import { readSecretFile } from '../../../src/cli/files.js';

test('--ttl: a bare number is ms; ms, s, m, h and d units', () => {
  const ttl = parseDuration('--ttl');
  assert.equal(ttl('1500'), 1500);
  assert.equal(ttl('1500ms'), 1500);
  assert.equal(ttl('90s'), 90_000);
  assert.equal(ttl('15m'), 900_000);
  assert.equal(ttl('1h'), 3_600_000);
  assert.equal(ttl('1.5h'), 5_400_000);
  assert.equal(ttl('7d'), 604_800_000);
  for (const bad of ['', 'h', '0', '0s', '-1h', '1w', '1 hour', 'Infinity', '1e3']) {
    assert.throws(() => ttl(bad), (e: Error) => e instanceof InvalidArgumentError && /--ttl must be a positive duration/.test(e.message), bad);
  }
});

test('secret files: trailing whitespace is not part of the secret; a short one is refused', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-secret-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };
  const secret = '0123456789abcdef0123';
  assert.equal(readSecretFile('--secret-file', write('lf', `${secret}\n`), 16).toString(), secret);
  assert.equal(readSecretFile('--secret-file', write('crlf', `${secret}\r\n`), 16).toString(), secret);
  assert.equal(readSecretFile('--secret-file', write('none', secret), 16).toString(), secret);
  assert.throws(() => readSecretFile('--token-secret-file', write('short', 'abc\n'), 16), /--token-secret-file file .* holds 3 bytes/);
  assert.throws(() => readSecretFile('--secret-file', join(dir, 'missing'), 16), /cannot read --secret-file file/);
});
