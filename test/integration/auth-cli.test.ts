/**
 * Integration: the CLI's identity flags (docs/spec/0013-identity.md) — `lifeline token` prints a
 * token a `lifeline server --token-secret-file` on the same secret file accepts, from a library
 * client and from `lifeline client --token`; a token signed with another secret is refused.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect, verifyToken, type CloseReason, type OpenInfo } from '../../src/index.js';
import { eventually, nextEvent, spawnCliServer } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `lifeline ARGS` under tsx to completion: exit code, stdout, stderr. */
function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`lifeline ${args.join(' ')} still running after 20 s: ${stderr}`));
    }, 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function secretFile(t: TestContext, name: string, contents: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-auth-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, name);
  writeFileSync(file, contents, { mode: 0o600 });
  return file;
}

test('cli - lifeline token → a server with --token-secret-file on the same file accepts the client', async (t) => {
  const secret = 'f3a1c0de9b8e7d6c5b4a39281706f5e4d3c2b1a0';
  const file = secretFile(t, 'secret', `${secret}\n`);
  const before = Date.now();
  const made = await runCli(['token', '--secret-file', file, '--id', 'alice', '--ttl', '1h']);
  assert.equal(made.code, 0, made.stderr);
  const token = made.stdout.trim();
  assert.equal(made.stdout, `${token}\n`, 'only the token, on one line');
  const claims = verifyToken(token, { secret });
  assert.equal(claims.id, 'alice');
  assert.ok(claims.expiresAt >= before + 3_600_000 && claims.expiresAt <= Date.now() + 3_600_000, `expires at ${claims.expiresAt}`);

  const { port } = await spawnCliServer(t, ['--token-secret-file', file]);

  // A library client with the token.
  const client = connect({ host: '127.0.0.1', port, reconnect: false, token });
  t.after(() => client.close());
  await nextEvent<[OpenInfo]>(client, 'open', 5000);
  client.close();

  // `lifeline client --token`.
  const cli = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'client', '--connect', `127.0.0.1:${port}`, '--token', token, '--log', 'json', '--stay'], {
    cwd: ROOT,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  t.after(() => void cli.kill('SIGKILL'));
  const events: string[] = [];
  createInterface({ input: cli.stderr! }).on('line', (line) => {
    try {
      events.push(String((JSON.parse(line) as { event?: string }).event));
    } catch {
      events.push(line);
    }
  });
  assert.ok(await eventually(() => events.includes('open') || events.includes('close'), 20_000), `client log: ${events.join(', ')}`);
  assert.ok(events.includes('open'), `client log: ${events.join(', ')}`);

  // Signed with another secret: refused, and the client does not retry.
  const other = secretFile(t, 'other', 'a-completely-different-secret-value\n');
  const forged = (await runCli(['token', '--secret-file', other, '--id', 'alice'])).stdout.trim();
  const refused = connect({ host: '127.0.0.1', port, token: forged });
  t.after(() => refused.close());
  const [reason] = await nextEvent<[CloseReason]>(refused, 'close', 5000);
  assert.equal(reason.remoteCode, 'auth-failed');
  assert.equal(reason.message, 'unauthorized');
});

test('cli - lifeline token refuses a short secret and a bad --ttl, naming the flag', async (t) => {
  const short = secretFile(t, 'short', 'tiny\n');
  const a = await runCli(['token', '--secret-file', short, '--id', 'alice']);
  assert.notEqual(a.code, 0);
  assert.match(a.stderr, /--secret-file file .* holds 4 bytes; a secret needs at least 16/);
  assert.equal(a.stdout, '');
  const good = secretFile(t, 'good', 'sixteen-bytes-or-more-here');
  const b = await runCli(['token', '--secret-file', good, '--id', 'alice', '--ttl', 'soon']);
  assert.notEqual(b.code, 0);
  assert.match(b.stderr, /--ttl must be a positive duration/);
  const c = await runCli(['token', '--secret-file', join(tmpdir(), 'no-such-lifeline-secret'), '--id', 'alice']);
  assert.notEqual(c.code, 0);
  assert.match(c.stderr, /cannot read --secret-file file/);
});
