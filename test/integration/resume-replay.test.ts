/**
 * A large replay over real sockets (docs/spec/0006-resume.md §Replay in slices): 20,000
 * unacknowledged messages each way resume in bounded slices and arrive exactly once, in order,
 * with messages sent during the replay (and from the 'resume' listener) after it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FaultProxy } from '../../src/lab/fault-proxy.js';
import { connect, createServer, type OpenInfo, type Session } from '../../src/index.js';
import { eventually, nextEvent } from './helpers.js';

const COUNT = 20_000;
const pad = (s: string) => s.padEnd(100, '.'); // ≈ 2 MB each way

/** Checks every message is the next number (prefix `p`), exactly once, in order. */
function sequenceChecker(prefix: string) {
  const state = { next: 0, errors: [] as string[], extra: [] as string[] };
  const receive = (text: string) => {
    if (!text.startsWith(prefix)) return void state.extra.push(text.trimEnd().replace(/\.+$/, ''));
    const n = Number(text.slice(prefix.length).replace(/\.+$/, ''));
    if (n !== state.next && state.errors.length < 5) state.errors.push(`got ${n}, expected ${state.next}`);
    state.next = n + 1;
  };
  return { state, receive };
}

test('resume replay - 20,000 unacknowledged messages each way, resumed: exactly once, in order, new sends after', { timeout: 60_000 }, async (t) => {
  const server = createServer({ maxResumeBytesPerSession: 8 * 1024 * 1024, tcpKeepalive: false, tcpUserTimeout: 0 });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const proxy = new FaultProxy({ host: '127.0.0.1', port });
  t.after(() => proxy.close());
  const { port: proxyPort } = await proxy.listen(0, '127.0.0.1');

  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const client = connect({ servers: [`127.0.0.1:${proxyPort}`], reconnect: { initialDelay: 300, jitter: 0 }, maxQueuedBytes: 8 * 1024 * 1024, tcpKeepalive: false, tcpUserTimeout: 0 });
  t.after(() => client.close());
  await nextEvent(client, 'open', 3000);
  const [session] = await sessionP;
  const atServer = sequenceChecker('c');
  const atClient = sequenceChecker('s');
  session.on('message', (b: Buffer) => atServer.receive(b.toString()));
  client.on('message', (b: Buffer) => atClient.receive(b.toString()));
  const undelivered: number[] = [];
  client.on('undelivered', (msgs: Buffer[]) => undelivered.push(msgs.length));

  // Cut; both sides notice, then each sends COUNT messages that can only arrive by replay.
  const serverLost = nextEvent(session, 'disconnect', 3000);
  const clientLost = nextEvent(client, 'disconnect', 3000);
  proxy.setMode('reset');
  proxy.setMode('forward');
  await Promise.all([serverLost, clientLost]);
  for (let i = 0; i < COUNT; i++) session.send(pad(`s${i}`));
  for (let i = 0; i < COUNT; i++) client.send(pad(`c${i}`));
  assert.ok(session.resume!.unackedCount >= COUNT);

  // Sent at once on the resumed connection, while the replays are still going: after them.
  let sentAfterResume = false;
  session.on('resume', () => {
    if (sentAfterResume) return;
    sentAfterResume = true;
    session.send('after-resume');
  });
  const [info] = await nextEvent<[OpenInfo]>(client, 'open', 5000);
  assert.equal(info.resumed, true);
  client.send('after-open');

  const done = () => atServer.state.next === COUNT && atClient.state.next === COUNT && atServer.state.extra.length === 1 && atClient.state.extra.length === 1;
  assert.ok(await eventually(done, 30_000), `server got ${atServer.state.next}, client got ${atClient.state.next}`);
  assert.deepEqual(atServer.state.errors, []);
  assert.deepEqual(atClient.state.errors, []);
  assert.deepEqual(atServer.state.extra, ['after-open']);
  assert.deepEqual(atClient.state.extra, ['after-resume']);
  assert.deepEqual(undelivered, []);
  assert.equal(server.sessionCount, 1);
  // Acknowledged in the end: the replay buffers empty out.
  assert.ok(await eventually(() => session.resume!.unackedCount === 0, 3000), `${session.resume!.unackedCount} still unacknowledged`);
});
