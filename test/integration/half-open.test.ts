/**
 * Issue 15 item 2, half-open connections: a peer that vanishes without FIN or RST while the
 * server has unacknowledged DATA in flight to it. Two ways to vanish on loopback:
 * - a path that drops everything both ways (src/lab/fault-proxy.ts, blackhole: the server's
 *   bytes are taken and lost, so its send buffer never fills);
 * - a peer whose TCP still ACKs but whose process neither reads nor writes (as SIGSTOP does):
 *   the server's kernel and user-space buffers fill, so the slow-consumer watch runs too — and
 *   must leave the verdict to the heartbeat (spec 0003 §Slow consumers: a silent peer is not a
 *   slow reader).
 * Either way the server's heartbeat finds it within interval + timeout (+ slack), the resumable
 * session is detached with its unacknowledged messages kept for a resume, and reclaimed when the
 * resume window passes. A well-behaved client's heartbeat is measured throughout.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { FaultProxy } from '../../src/lab/fault-proxy.js';
import { connect, createServer, type CloseReason, type LifelineServer, type OpenInfo, type Session } from '../../src/index.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import type { Frame } from '../../src/protocol/frames.js';
import { nextEvent } from './helpers.js';
import { rttObserver } from './rtt-observer.js';
import { assertCounted, assertNothingOfPayload, assertPeerLines, badPeerLog, type BadPeerLog } from './bad-peer-log.js';

const INTERVAL_MS = 200;
const TIMEOUT_MS = 600;
const RESUME_WINDOW_MS = 800;
/** Generous: timer-wheel slots, a busy 2-core machine. */
const SLACK_MS = 1000;

async function startServer(t: TestContext): Promise<{ server: LifelineServer; port: number; log: BadPeerLog }> {
  const log = badPeerLog();
  const server = createServer({ logger: log.logger, minHeartbeatInterval: 50, minHeartbeatTimeout: 100, resumeWindow: RESUME_WINDOW_MS, maxResumeBytesPerSession: 32 * 1024 * 1024, tcpKeepalive: false, tcpUserTimeout: 0 });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port, log };
}

/**
 * The session is detached by the heartbeat, keeps `unacked` messages, then is reclaimed after the
 * window; its log lines say so (a warn detection, spec 0016) and the counters count it once.
 */
async function assertDetachedThenReclaimed(t: TestContext, server: LifelineServer, log: BadPeerLog, session: Session, vanishedAt: number, unacked: number): Promise<void> {
  const [reason] = await nextEvent<[CloseReason]>(session, 'disconnect', TIMEOUT_MS * 4 + SLACK_MS);
  const detectedMs = performance.now() - vanishedAt;
  t.diagnostic(`detected ${Math.round(detectedMs)} ms after the peer vanished (interval ${INTERVAL_MS}, timeout ${TIMEOUT_MS}): ${reason.message}`);
  assert.equal(reason.code, 'heartbeat-timeout');
  assert.equal(reason.detectedBy, 'heartbeat');
  assert.ok(detectedMs <= INTERVAL_MS + TIMEOUT_MS + SLACK_MS, `detection took ${Math.round(detectedMs)} ms`);
  assert.equal(session.state, 'detached');
  assert.equal(server.detachedCount, 1);
  assert.ok(session.resume!.unackedCount >= unacked, `${session.resume!.unackedCount} messages kept for a resume, ${unacked} sent unacknowledged`);
  assert.equal(server.connectionCount, 1, "only the observer's connection is left");
  const detachedAt = performance.now();
  const [closeReason] = await nextEvent<[CloseReason]>(session, 'close', RESUME_WINDOW_MS + 2 * SLACK_MS);
  const reclaimedMs = performance.now() - detachedAt;
  t.diagnostic(`reclaimed ${Math.round(reclaimedMs)} ms after detaching (resume window ${RESUME_WINDOW_MS} ms): ${closeReason.code}`);
  assert.ok(reclaimedMs >= RESUME_WINDOW_MS - 100, `reclaimed after only ${Math.round(reclaimedMs)} ms`);
  assert.equal(session.state, 'closed');
  assert.equal(server.detachedCount, 0);
  assert.equal(server.sessionCount, 1, "only the observer's session is left");
  assertPeerLines(log, `${session.remoteAddress}:${session.remotePort}`, [
    'debug hello',
    'debug welcome',
    'info session-open',
    'warn detection heartbeat-timeout',
    'info session-detach heartbeat-timeout',
    'info session-close heartbeat-timeout',
  ]);
  assertNothingOfPayload(log, []);
  assertCounted(server, { connections: { 'heartbeat-timeout': 1 }, sessions: { 'heartbeat-timeout': 1 } });
  assert.equal(server.counters.resumeExpiries, 1, 'lifeline_resume_expiries_total');
}

test('half-open - a path that drops everything while the server has unacknowledged DATA in flight: found by the heartbeat, detached with the DATA kept, reclaimed after the resume window', async (t) => {
  const { server, port, log } = await startServer(t);
  const observer = await rttObserver(t, port);
  const proxy = new FaultProxy({ host: '127.0.0.1', port });
  t.after(() => proxy.close());
  const { port: proxyPort } = await proxy.listen();
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const client = connect({ host: '127.0.0.1', port: proxyPort, reconnect: false, resume: true, heartbeatInterval: INTERVAL_MS, heartbeatTimeout: TIMEOUT_MS });
  t.after(() => client.close());
  const [[info], [session]] = await Promise.all([nextEvent<[OpenInfo]>(client, 'open', 3000), sessionP]);
  assert.equal(info.sessionId, session.id);
  assert.equal(session.resumable, true);
  // Vanish right after a heartbeat answer, so the server's silence clock starts ~ at the cut.
  await nextEvent(session, 'ping', 2000);
  observer.start();
  proxy.setMode('blackhole');
  const vanishedAt = performance.now();
  const UNACKED = 200;
  for (let i = 0; i < UNACKED; i++) session.send(`in flight ${i}`);
  await assertDetachedThenReclaimed(t, server, log, session, vanishedAt, UNACKED);
  assert.ok(proxy.stats.droppedDown > 0, 'the DATA left the server and was lost on the path');
  await observer.check(t, 'half-open (blackhole)');
});

test('half-open - a peer whose TCP still ACKs but that neither reads nor writes (as SIGSTOP): the server streams into full buffers; heartbeat-timeout, not slow-consumer, and the session is detached', async (t) => {
  const { server, port, log } = await startServer(t);
  const observer = await rttObserver(t, port);
  const sessionP = nextEvent<[Session]>(server, 'session', 3000);
  const socket = net.connect({ host: '127.0.0.1', port });
  t.after(() => void socket.destroy());
  socket.on('error', () => {});
  await nextEvent(socket, 'connect', 3000);
  socket.write(encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: INTERVAL_MS, heartbeatTimeoutMs: TIMEOUT_MS, resumable: true }));
  const [chunk] = await nextEvent<[Buffer]>(socket, 'data', 3000);
  const frames: Frame[] = [];
  new FrameDecoder().push(chunk, (f) => frames.push(f));
  assert.equal(frames[0]?.type, 'welcome');
  const [session] = await sessionP;
  assert.equal(session.resumable, true);
  // The peer goes silent and stops reading; its kernel keeps ACKing until its buffer is full.
  socket.pause();
  observer.start();
  const vanishedAt = performance.now();
  const payload = new Uint8Array(64 * 1024);
  let sent = 0;
  let maxBuffered = 0;
  // Until 1 MiB waits in user space (the watch is running; far below the 8 MiB ceiling, which
  // closes at once whatever the heartbeat says), bounded in count (16 MiB) and time.
  while (sent < 256 && maxBuffered < 1024 * 1024 && session.state === 'open' && performance.now() - vanishedAt < TIMEOUT_MS) {
    try {
      session.send(payload);
    } catch {
      break; // the verdict came (the connection is closing; the session detaches next)
    }
    sent++;
    maxBuffered = Math.max(maxBuffered, session.bufferedAmount);
    if (sent % 4 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  t.diagnostic(`${sent} × 64 KiB sent into the silent peer, user-space buffer at most ${maxBuffered} B`);
  assert.ok(maxBuffered > 0, 'the kernel buffers filled: bytes waited in user space (the slow-consumer watch ran)');
  await assertDetachedThenReclaimed(t, server, log, session, vanishedAt, sent);
  assert.equal(server.counters.connectionsClosed.get('slow-consumer'), undefined, 'never judged a slow consumer');
  await observer.check(t, 'half-open (silent peer, full buffers)');
});
