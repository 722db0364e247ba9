/**
 * Integration: `lifeline client`'s status line (issue 13 §4) against an in-process server on
 * loopback.
 * - Not a terminal (pipes): no `\r`, no escape sequence; every stderr line is a JSON log line;
 *   `event: 'stats'` lines come on state changes (connecting → healthy → dead) and, with
 *   --status-every 1s, about once a second in between — never many more; received messages
 *   reach stdout whole.
 * - A real pseudo-terminal (`script`, util-linux): the line is drawn in place (`\r` + erase
 *   line) and a received message is written only after the line was erased, so the two never
 *   share a row. Skipped when `script` is missing.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createServer, type Session } from '../../src/index.js';
import { eventually, nextEvent } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STARTUP_MS = 20_000; // tsx compiles the CLI on first run; a loaded box can be slow

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.CI;
  delete env.NO_COLOR;
  return env;
}

function spawnClient(t: TestContext, command: string, args: string[]) {
  const child = spawn(command, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...cleanEnv(), TERM: 'xterm', COLUMNS: '200' } });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString('utf8')));
  return { child, exited, out };
}

async function server(t: TestContext) {
  const s = createServer();
  t.after(() => s.close());
  const { port } = await s.listen(0, '127.0.0.1');
  return { server: s, port };
}

test('lifeline client without a terminal: stats log lines on state changes and at most about once per --status-every, no escapes', { timeout: 60_000 }, async (t) => {
  const { server: srv, port } = await server(t);
  const session = nextEvent<[Session]>(srv, 'session', STARTUP_MS);
  const cli = spawnClient(t, process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'client', '--connect', `127.0.0.1:${port}`, '--stay', '--status-every', '1s', '--interval', '500', '--timeout', '1500']);
  const [s] = await session;
  const stats = () =>
    cli.out.stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.event === 'stats');
  assert.ok(await eventually(() => stats().some((l) => l.state === 'healthy'), STARTUP_MS), cli.out.stderr);
  const healthyAt = performance.now();

  s.send('hello from the server');
  cli.child.stdin.write('hello from the client\n');
  assert.ok(await eventually(() => stats().some((l) => l.messagesReceived === 1 && l.messagesSent === 1), 10_000), cli.out.stderr);
  assert.ok(await eventually(() => stats().length >= 5, 10_000), 'periodic lines keep coming');
  const elapsedMs = performance.now() - healthyAt;
  await srv.close();
  assert.equal(await cli.exited, 1, 'the first loss is final with one address');

  assert.equal(cli.out.stdout, 'hello from the server\n');
  assert.doesNotMatch(cli.out.stderr, /[\r\x1b]/);
  const lines = stats();
  const states = lines.map((l) => l.state);
  assert.equal(states[0], 'connecting');
  assert.ok(states.includes('healthy'));
  // Periodic lines: one per second at most after the last one (+ the state changes: connecting,
  // healthy, and whatever the loss brings); slack for the time the close took.
  const most = 4 + Math.ceil(elapsedMs / 1000) + 2;
  assert.ok(lines.length <= most, `${lines.length} stats lines in ${Math.round(elapsedMs)} ms (at most ${most})`);
  const last = lines.at(-1)!;
  for (const key of ['rttMs', 'serverStatus', 'serverLoad', 'reconnects', 'resumes', 'messagesReceived', 'messagesSent']) assert.ok(key in last || key === 'rttMs', key);
  assert.equal(typeof last.msg, 'string');
});

const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

test('lifeline client on a pseudo-terminal: the line is redrawn in place and a message never shares its row', { timeout: 60_000, skip: !hasScript && 'script (util-linux) is not installed' }, async (t) => {
  const { server: srv, port } = await server(t);
  const session = nextEvent<[Session]>(srv, 'session', STARTUP_MS);
  const command = `${JSON.stringify(process.execPath)} --import tsx src/cli/main.ts client --connect 127.0.0.1:${port} --stay --interval 500 --timeout 1500`;
  // script runs the command on a new pseudo-terminal: stdin, stdout and stderr are all the tty.
  const cli = spawnClient(t, 'script', ['-qfec', command, '/dev/null']);
  const [s] = await session;
  assert.ok(await eventually(() => /\r\x1b\[2Khealthy · RTT /.test(cli.out.stdout), STARTUP_MS), JSON.stringify(cli.out.stdout.slice(-400)));
  s.send('MESSAGE-MARKER');
  assert.ok(await eventually(() => cli.out.stdout.includes('MESSAGE-MARKER'), 10_000));
  // Redrawn after the message.
  assert.ok(await eventually(() => /MESSAGE-MARKER\r?\n(.|\n)*\r\x1b\[2Khealthy · /.test(cli.out.stdout), 5000), JSON.stringify(cli.out.stdout.slice(-400)));
  await srv.close();
  await cli.exited;

  const tty = cli.out.stdout;
  // The message starts a clean row: the status line was erased right before it.
  assert.match(tty, /\r\x1b\[2KMESSAGE-MARKER\r?\n/);
  // Every draw of the status line starts at column 0 of an erased row, and never contains a newline.
  const draws = tty.split('\r\x1b[2K').slice(1).filter((chunk) => chunk.startsWith('healthy') || chunk.startsWith('connecting'));
  assert.ok(draws.length >= 2, `${draws.length} draws`);
  for (const d of draws) assert.doesNotMatch(d.replace(/\r?\n[\s\S]*$/, ''), /\n/);
  // Log lines (pretty, on the same terminal) are also written on an erased row.
  const connected = tty.indexOf('connected to');
  assert.ok(connected > 0, 'the open log line is on the terminal');
});
