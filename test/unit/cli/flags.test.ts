/**
 * Unit: the CLI's transport flags — address / origin / path parsing, the flag combinations the
 * commands refuse, and (in a real process, since commander exits) the exit code and message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from 'commander';
import { collectOrigins, parseServerAddress, parseServerList, parseWsPath } from '../../../src/cli/address.js';
import { serverFlagError, type ServerCommandOptions } from '../../../src/cli/server-command.js';
import { clientFlagError, type ClientCommandOptions } from '../../../src/cli/client-command.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** `lifeline ARGS` under tsx: exit code and stderr. */
function runCli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`lifeline ${args.join(' ')} still running after 20 s: ${stderr}`));
    }, 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

test('--connect accepts host:port and transport URLs, as the library does', () => {
  assert.deepEqual(parseServerAddress('127.0.0.1:7400'), { host: '127.0.0.1', port: 7400 });
  assert.deepEqual(parseServerAddress(':7400'), { host: '127.0.0.1', port: 7400 });
  assert.deepEqual(parseServerAddress('[::1]:7400'), { host: '::1', port: 7400 });
  assert.deepEqual(parseServerAddress('tls://localhost:7400'), { host: 'localhost', port: 7400, transport: 'tls' });
  assert.deepEqual(parseServerAddress('ws://127.0.0.1:7401/x'), { host: '127.0.0.1', port: 7401, transport: 'ws', path: '/x' });
  assert.deepEqual(parseServerAddress('wss://example.com'), { host: 'example.com', port: 443, transport: 'wss', path: '/' });
  assert.deepEqual(parseServerList('a:1, tls://b:2'), [{ host: 'a', port: 1 }, { host: 'b', port: 2, transport: 'tls' }]);
});

test('--connect refuses what is not an address, naming what was expected', () => {
  assert.throws(() => parseServerAddress('foo'), (e: Error) => e instanceof InvalidArgumentError && /expected host:port .* got "foo"/.test(e.message));
  assert.throws(() => parseServerAddress('http://a:1'), /expected host:port/);
  assert.throws(() => parseServerAddress('tls://a:1/path'), /expected host:port/);
  assert.throws(() => parseServerAddress('127.0.0.1:99999'), /port must be 1\.\.65535, got 99999/);
  assert.throws(() => parseServerAddress('ws://a:0/'), /port must be 1\.\.65535, got 0/);
  assert.throws(() => parseServerList(' , '), /expected host:port/);
});

test('--ws-origin: repeatable, comma lists, only origins as browsers send them', () => {
  assert.deepEqual(collectOrigins('https://a.example', undefined), ['https://a.example']);
  assert.deepEqual(collectOrigins('https://b.example, http://c.example:8080', ['https://a.example']), ['https://a.example', 'https://b.example', 'http://c.example:8080']);
  assert.throws(() => collectOrigins('https://a.example/', undefined), /did you mean https:\/\/a\.example\?/);
  assert.throws(() => collectOrigins('a.example', undefined), /expected an origin/);
  assert.throws(() => collectOrigins(',', undefined), /expected an origin/);
});

test('--ws-path must be an absolute path', () => {
  assert.equal(parseWsPath('/lifeline'), '/lifeline');
  assert.throws(() => parseWsPath('lifeline'), /starting with '\/'/);
  assert.throws(() => parseWsPath('/a?b'), /starting with '\/'/);
});

test('server flag combinations', () => {
  const base: ServerCommandOptions = { host: '127.0.0.1', port: 0, interval: 5000, timeout: 15000, echo: false, heartbeatLeader: 'client', log: 'json' };
  assert.equal(serverFlagError(base), undefined);
  assert.equal(serverFlagError({ ...base, tlsCert: 'c', tlsKey: 'k', wsPort: 0, wsPath: '/x', wsOrigin: ['https://a.example'] }), undefined);
  assert.match(serverFlagError({ ...base, tlsCert: 'c' }) ?? '', /--tls-cert and --tls-key go together.*missing --tls-key/);
  assert.match(serverFlagError({ ...base, tlsKey: 'k' }) ?? '', /missing --tls-cert/);
  assert.match(serverFlagError({ ...base, wsPath: '/x' }) ?? '', /--ws-path .* add --ws-port/);
  assert.match(serverFlagError({ ...base, wsOrigin: ['https://a.example'] }) ?? '', /--ws-origin .* add --ws-port/);  assert.equal(serverFlagError({ ...base, redis: 'redis://127.0.0.1:6379', nodeId: 'eu-1' }), undefined);
  assert.equal(serverFlagError({ ...base, redis: 'rediss://cache.internal:6380' }), undefined);
  assert.match(serverFlagError({ ...base, redis: '127.0.0.1:6379' }) ?? '', /--redis takes a redis:\/\/host:port/);
  assert.match(serverFlagError({ ...base, nodeId: 'eu-1' }) ?? '', /--node-id .* add --redis/);
  assert.match(serverFlagError({ ...base, redis: 'redis://r:1', nodeId: 'a/b' }) ?? '', /--node-id must be/);
});

test('client flag combinations: --ca / --insecure need a tls or wss address', () => {
  const base: ClientCommandOptions = { connect: [{ host: 'a', port: 1 }], insecure: false, reconnect: false, log: 'json', verbose: false, adaptive: false, stay: false };
  assert.equal(clientFlagError(base), undefined);
  assert.match(clientFlagError({ ...base, ca: 'ca.pem' }) ?? '', /--ca applies to tls:\/\/ and wss:\/\//);
  assert.match(clientFlagError({ ...base, insecure: true }) ?? '', /--insecure applies/);
  assert.equal(clientFlagError({ ...base, connect: [{ host: 'a', port: 1 }, { host: 'b', port: 2, transport: 'wss', path: '/' }], ca: 'ca.pem' }), undefined);
});

test('lifeline server --tls-cert without --tls-key exits 1 with a commander error', async () => {
  const { code, stderr } = await runCli(['server', '--port', '0', '--tls-cert', 'cert.pem']);
  assert.equal(code, 1);
  assert.match(stderr, /^error: --tls-cert and --tls-key go together/m);
  assert.doesNotMatch(stderr, /listening/);
});

test('lifeline server with unreadable TLS files exits 1 naming the flag and file', async () => {
  const { code, stderr } = await runCli(['server', '--port', '0', '--log', 'json', '--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem']);
  assert.equal(code, 1);
  assert.match(stderr, /cannot read --tls-cert file "\/nonexistent\/cert\.pem" \(ENOENT\)/);
  assert.doesNotMatch(stderr, /"event":"listening"/);
});

test('lifeline client: bad --connect and --ca with --insecure are refused', async () => {
  const bad = await runCli(['client', '--connect', 'http://127.0.0.1:1']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--connect <address,...>' argument 'http:\/\/127\.0\.0\.1:1' is invalid\. expected host:port/);
  const both = await runCli(['client', '--connect', 'tls://127.0.0.1:1', '--ca', 'ca.pem', '--insecure']);
  assert.equal(both.code, 1);
  assert.match(both.stderr, /'--insecure' cannot be used with option '--ca <file>'/);
  const plain = await runCli(['client', '--connect', '127.0.0.1:1', '--ca', 'ca.pem']);
  assert.equal(plain.code, 1);
  assert.match(plain.stderr, /--ca applies to tls:\/\/ and wss:\/\/ servers/);
});
