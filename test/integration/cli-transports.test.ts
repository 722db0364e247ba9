/**
 * Integration: the CLI over TLS, WebSocket and UDP. A `lifeline server --tls-cert --tls-key
 * --ws-port` process serves library clients over tls:// and wss:// (and reports a client that
 * does not trust it); a `lifeline client --connect ws://…` / `wss://…` process opens a session
 * on an in-process server. Certificates are made at test time (fixtures/certs.ts).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect, createServer, type Client, type CloseReason, type OpenInfo } from '../../src/index.js';
import { testCertificates } from '../fixtures/certs.js';
import { eventually, nextEvent } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STARTUP_MS = 20_000; // tsx compiles the CLI on first run; a loaded CI box can be slow

type LogLine = Record<string, unknown> & { event?: string };

/** The CLI under tsx with stderr parsed as JSON log lines; killed when the test ends. */
function spawnCli(t: TestContext, args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const lines: LogLine[] = [];
  const raw: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (text) => {
    raw.push(text);
    try {
      lines.push(JSON.parse(text) as LogLine);
    } catch {
      lines.push({ event: 'stderr', text });
    }
  });
  const waitFor = async (what: string, match: (l: LogLine) => boolean, count = 1): Promise<LogLine[]> => {
    const done = () => lines.filter(match).length >= count;
    const seen = await Promise.race([eventually(done, STARTUP_MS), exited.then(() => done())]);
    if (!seen) throw new Error(`no ${what} line from lifeline ${args[0]}: ${JSON.stringify(lines.slice(-3))}`);
    return lines.filter(match).slice(0, count);
  };
  return { child, exited, lines, raw, waitFor };
}

function dial(t: TestContext, target: string, ca: Buffer): Client {
  const client = connect({ servers: [target], reconnect: false, tls: { ca } });
  t.after(() => client.close());
  return client;
}

test('lifeline server --tls-cert --tls-key --ws-port: TLS and wss listeners, library clients exchange messages', async (t) => {
  const certs = testCertificates();
  const cli = spawnCli(t, [
    'server', '--port', '0', '--host', '127.0.0.1', '--log', 'json', '--echo',
    '--tls-cert', join(certs.dir, 'server.pem'), '--tls-key', join(certs.dir, 'server.key'),
    '--ws-port', '0', '--ws-path', '/lifeline',
  ]);
  const [main, ws] = await cli.waitFor('listening', (l) => l.event === 'listening', 2);
  // The first line stays what the demo and spawnCliServer read: event + the main port.
  assert.equal(cli.lines.find((l) => l.event === 'listening'), main);
  assert.equal(main!.transport, 'tls');
  assert.equal(typeof main!.port, 'number');
  assert.equal(main!.url, `tls://127.0.0.1:${main!.port}`);
  assert.equal(ws!.transport, 'wss');
  assert.equal(ws!.path, '/lifeline');
  assert.notEqual(ws!.port, main!.port);
  assert.equal(ws!.url, `wss://127.0.0.1:${ws!.port}/lifeline`);

  for (const target of [`tls://127.0.0.1:${main!.port}`, `wss://127.0.0.1:${ws!.port}/lifeline`]) {
    const client = dial(t, target, certs.ca);
    await nextEvent<[OpenInfo]>(client, 'open', 5000);
    const echoed = nextEvent<[Buffer]>(client, 'message', 5000);
    client.send(`hello over ${target}`);
    const [data] = await echoed;
    assert.equal(data.toString('utf8'), `hello over ${target}`, target);
    client.close();
  }
  await cli.waitFor('session-open', (l) => l.event === 'session-open', 2);

  // A client trusting another CA fails its handshake: the server says so, at warn level.
  const stranger = dial(t, `tls://127.0.0.1:${main!.port}`, certs.otherCa);
  await nextEvent<[CloseReason]>(stranger, 'close', 5000);
  const [refused] = await cli.waitFor('client-error', (l) => l.event === 'client-error');
  assert.equal(refused!.level, 40);
  assert.equal(refused!.transport, 'tls');
  assert.equal(typeof refused!.code, 'string');
  // The library may not know the peer any more once the handshake failed (then the field is absent).
  assert.ok(refused!.remoteAddress === undefined || refused!.remoteAddress === '127.0.0.1', String(refused!.remoteAddress));
  assert.ok(!cli.raw.some((line) => line.includes('PRIVATE KEY') || line.includes('BEGIN CERTIFICATE')), 'no key material in the log');
});

test('lifeline client --connect ws://: opens a session on a WebSocket listener; the first loss is final', async (t) => {
  const server = createServer();
  t.after(() => server.close());
  const { port } = await server.listen({ transport: 'ws', port: 0, host: '127.0.0.1' });
  const session = nextEvent(server, 'session', STARTUP_MS);
  const cli = spawnCli(t, ['client', '--connect', `ws://127.0.0.1:${port}/`, '--log', 'json', '--stay']);
  const [open] = await cli.waitFor('open', (l) => l.event === 'open');
  assert.equal(open!.resumed, false);
  await session;
  // One address without --reconnect: losing the server ends the client with exit code 1.
  await server.close();
  assert.equal(await cli.exited, 1);
  assert.ok(!cli.lines.some((l) => l.event === 'reconnecting'), 'did not reconnect');
});

test('lifeline client --connect wss:// with --ca, and with --insecure (warned about)', async (t) => {
  const certs = testCertificates();
  const server = createServer({ tls: { key: certs.key, cert: certs.cert } });
  t.after(() => server.close());
  const { port } = await server.listen({ transport: 'ws', port: 0, host: '127.0.0.1', path: '/ll' });
  const target = `wss://127.0.0.1:${port}/ll`;

  const trusted = spawnCli(t, ['client', '--connect', target, '--ca', join(certs.dir, 'ca.pem'), '--log', 'json', '--stay']);
  await trusted.waitFor('open', (l) => l.event === 'open');
  assert.ok(!trusted.lines.some((l) => l.event === 'insecure'));

  const insecure = spawnCli(t, ['client', '--connect', target, '--insecure', '--log', 'json', '--stay']);
  const [warning] = await insecure.waitFor('insecure', (l) => l.event === 'insecure');
  assert.equal(warning!.level, 40);
  await insecure.waitFor('open', (l) => l.event === 'open');

  // Without either, the test CA is not in Node's store: the handshake fails, exit code 1.
  const untrusted = spawnCli(t, ['client', '--connect', target, '--log', 'json', '--stay']);
  assert.equal(await untrusted.exited, 1);
  assert.ok(!untrusted.lines.some((l) => l.event === 'open'));
});

test('lifeline server --udp-port --udp-secret-file and lifeline client --connect udp://: a session over UDP both ways', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-udp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, `${randomBytes(32).toString('hex')}\n`);
  const server = spawnCli(t, ['server', '--port', '0', '--host', '127.0.0.1', '--log', 'json', '--echo', '--udp-port', '0', '--udp-secret-file', secretFile]);
  const [, udp] = await server.waitFor('listening', (l) => l.event === 'listening', 2);
  assert.equal(udp!.transport, 'udp');
  assert.equal(udp!.url, `udp://127.0.0.1:${udp!.port}`);
  // A library client, and the CLI client, over udp://.
  const client = connect({ servers: [udp!.url as string], reconnect: false });
  t.after(() => client.close());
  await nextEvent<[OpenInfo]>(client, 'open', 5000);
  const echoed = nextEvent<[Buffer]>(client, 'message', 5000);
  client.send('hello over udp');
  assert.equal((await echoed)[0].toString('utf8'), 'hello over udp');
  const cli = spawnCli(t, ['client', '--connect', udp!.url as string, '--log', 'json', '--stay']);
  const [open] = await cli.waitFor('open', (l) => l.event === 'open');
  assert.equal(open!.resumed, false);
  await server.waitFor('session-open', (l) => l.event === 'session-open', 2);
  // The secret file's content never reaches the log.
  assert.ok(!server.raw.some((line) => line.includes(readFileSync(secretFile, 'utf8').trim())));
});

test('lifeline server --udp-secret-file without --udp-port is refused by name', async (t) => {
  const cli = spawnCli(t, ['server', '--port', '0', '--udp-secret-file', '/nonexistent']);
  assert.notEqual(await cli.exited, 0);
  assert.ok(cli.raw.some((line) => line.includes('--udp-secret-file applies to the UDP listener: add --udp-port')), cli.raw.join('\n'));
});
