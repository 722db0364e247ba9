/**
 * ServerCounters (src/server/server-counters.ts) and lifelineMetrics' shapes, with no socket:
 * - the resume counts are read from the real ResumeRegistry's close reasons (expiry, each
 *   eviction bound), so a change of its wording fails here, not silently in production;
 * - detections map close reasons to mechanisms as docs/spec/0015-metrics.md says: slow-consumer
 *   → send-buffer, heartbeat-timeout → phi on a phi server, the peer's CLOSE → no detection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CloseReason } from '../../../src/connection/close-reason.js';
import { createServer } from '../../../src/index.js';
import { lifelineMetrics } from '../../../src/metrics/index.js';
import { ResumeRegistry, type ResumeRegistryOptions } from '../../../src/server/resume-registry.js';
import { ServerCounters } from '../../../src/server/server-counters.js';
import type { Session } from '../../../src/server/session.js';
import { FakeClock } from '../../../src/time/fake-clock.js';
import { TimerScheduler } from '../../../src/time/scheduler.js';

const lost = (code: CloseReason['code'] = 'transport-closed'): CloseReason => ({ code, message: 'the peer vanished', initiator: 'transport', detectedBy: 'transport', sinceLastSeenMs: 0 });

/** What ResumeRegistry reads of a session: id, resumable, its replay bytes, state. */
function fakeSession(id: string, unackedBytes: number): Session {
  const s = { id, resumable: true, state: 'open', resume: { unackedBytes }, markDetached: () => void (s.state = 'detached') };
  return s as unknown as Session;
}

function registry(options: { resumeWindow: number; maxResumeBytes: number; maxDetachedSessions: number }) {
  const clock = new FakeClock();
  const counters = new ServerCounters();
  const ended: string[] = [];
  const reg: ResumeRegistry = new ResumeRegistry(options as ResumeRegistryOptions, clock, new TimerScheduler(clock), {
    // As session-registry.ts finish(): let go, then count the close.
    finishSession(session, reason) {
      reg.release(session);
      (session as { state: string }).state = 'closed';
      ended.push(session.id);
      counters.sessionClosed(reason);
    },
  });
  return { clock, counters, reg, ended };
}

test('server-counters - resume window expiries and maxResumeBytes evictions, from the registry’s own reasons', () => {
  const { clock, counters, reg, ended } = registry({ resumeWindow: 1000, maxResumeBytes: 1000, maxDetachedSessions: 100 });
  for (const [id, bytes] of [['a', 600], ['b', 300], ['c', 300]] as const) {
    const session = fakeSession(id, bytes);
    reg.opened(session);
    reg.detach(session, lost());
  }
  assert.deepEqual(ended, ['a'], 'the oldest gave way: 1200 > 1000');
  assert.deepEqual([...counters.resumeEvictions], [['max-resume-bytes', 1]]);
  assert.equal(counters.resumeExpiries, 0);
  clock.advance(1000);
  assert.deepEqual(ended, ['a', 'b', 'c']);
  assert.equal(counters.resumeExpiries, 2);
  assert.deepEqual([...counters.sessionsClosed], [['transport-closed', 3]]);
});

test('server-counters - an eviction over maxDetachedSessions has its own bound', () => {
  const { counters, reg, ended } = registry({ resumeWindow: 1000, maxResumeBytes: 1e9, maxDetachedSessions: 2 });
  for (const id of ['a', 'b', 'c']) {
    const session = fakeSession(id, 0);
    reg.opened(session);
    reg.detach(session, lost('heartbeat-timeout'));
  }
  assert.deepEqual(ended, ['a']);
  assert.deepEqual([...counters.resumeEvictions], [['max-detached-sessions', 1]]);
});

test('server-counters - only detached sessions’ ends are resume counts: a deliberate close with the same words is not', () => {
  const counters = new ServerCounters();
  counters.sessionClosed({ ...lost('local-close'), message: 'x; not resumed within 5 ms' });
  counters.sessionClosed(lost('heartbeat-timeout'));
  assert.equal(counters.resumeExpiries, 0);
  assert.equal(counters.resumeEvictions.size, 0);
});

test('metrics - detections by mechanism: slow-consumer is send-buffer, heartbeat-timeout is phi on a phi server, remote-close none', async () => {
  for (const [detector, mechanism] of [[undefined, 'heartbeat'], [{ kind: 'phi' as const }, 'phi']] as const) {
    const server = createServer(detector ? { detector } : {});
    const metrics = lifelineMetrics(server, { eventLoopDelay: false });
    server.counters.connectionClosed(lost('heartbeat-timeout'));
    server.counters.connectionClosed({ ...lost('slow-consumer'), detectedBy: 'send-buffer', bufferedBytes: 9e6 });
    server.counters.connectionClosed(lost('remote-close'));
    const text = await metrics.metrics();
    const detections = text.split('\n').filter((l) => l.startsWith('lifeline_detections_total{'));
    assert.deepEqual(detections.sort(), [`lifeline_detections_total{mechanism="${mechanism}",reason="heartbeat-timeout"} 1`, 'lifeline_detections_total{mechanism="send-buffer",reason="slow-consumer"} 1'].sort());
    assert.match(text, /^lifeline_resume_evictions_total\{bound="max-resume-bytes"\} 0$/m);
    assert.match(text, /^lifeline_presence_degraded 0$/m);
    assert.match(text, /^lifeline_ping_strikes_total\{verdict="too-many"\} 0$/m);
    metrics.close();
    await server.close();
  }
});
