/**
 * `lifeline lab --adaptive`, shortened: fixed 2 s, adaptive and fixed 6 s heartbeats on idle
 * connections through the 4 s NAT (namespaces when root, else the loopback user-space NAT), for
 * 50 real seconds (12.5 scaled minutes: too short to settle, long enough to learn past the
 * minimum). Asserts what the NAT and the heartbeats must do, not figures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runAdaptiveNat } from '../../../src/lab/adaptive/runner.js';
import { NAT_TIMEOUT_MS, SCALED_LEARNER } from '../../../src/lab/adaptive/rows.js';
import type { AdaptiveRowResult } from '../../../src/lab/adaptive/summary.js';

const DURATION_MS = 50_000;
/**
 * The NAT judges silence from its last packet, the client from its last frame: the client's own
 * delayed ACK of a PONG can refresh the flow a little after what the client counts as silence.
 */
const ACK_SLACK_MS = 250;

test('lab adaptive - on the NAT: fixed 2 s never drops, fixed 6 s drops every idle period, adaptive learns past its minimum and pings less than fixed 2 s', { timeout: 150_000 }, async (t) => {
  const result = await runAdaptiveNat({ durationMs: DURATION_MS });
  t.diagnostic(`environment: ${result.environment.kind}${result.environment.reason ? ` (${result.environment.reason})` : ''}`);
  const row = (id: string): AdaptiveRowResult => {
    const r = result.rows.find((x) => x.id === id);
    assert.ok(r, `row ${id}`);
    assert.equal(r.gaveUp, undefined, `${id}: the client kept reconnecting`);
    return r;
  };
  const f2 = row('fixed-2s');
  const ad = row('adaptive');
  const f6 = row('fixed-6s');
  for (const r of result.rows) t.diagnostic(`${r.id}: ${r.pings.total} PINGs, ${Math.round(r.steadyPingsPerScaledHour)}/h steady, ${r.drops} drops, NAT forgot ${r.natFlowsForgotten}, interval ${r.finalIntervalMs}`);

  // The NAT keeps a flow pinged every 2 s (< 4 s) and forgets one silent for 6 s, every time.
  assert.equal(f2.drops, 0, 'fixed 2 s: no idle death');
  assert.equal(f2.natFlowsForgotten, 0, 'fixed 2 s: the NAT forgot nothing');
  assert.ok(f2.pings.answered > 0);
  assert.ok(f6.drops >= 2, `fixed 6 s: idle deaths (${f6.drops})`);
  assert.equal(f6.pings.answered, 0, 'fixed 6 s: no PING ever crossed the NAT after 6 s of silence');
  // Every drop was a flow the NAT forgot (one may still be pending detection at the end).
  for (const r of result.rows) assert.ok(r.natFlowsForgotten! >= r.drops, `${r.id}: ${r.natFlowsForgotten} forgotten ≥ ${r.drops} drops`);

  // Adaptive: grew past its safe start, never risked more than one step beyond what survived,
  // and what survived / died brackets the NAT's real timeout.
  const learner = ad.learner!;
  assert.ok(learner, 'adaptive learner state reported');
  assert.ok(ad.finalIntervalMs! > SCALED_LEARNER.minIntervalMs, `interval grew: ${ad.finalIntervalMs} ms`);
  assert.ok(learner.goodMs > SCALED_LEARNER.minIntervalMs * 2, `longest survived idle ${learner.goodMs} ms`);
  assert.ok(learner.goodMs < NAT_TIMEOUT_MS + ACK_SLACK_MS, `no idle longer than the NAT timeout survived: ${learner.goodMs} ms`);
  const jitter = 1 + SCALED_LEARNER.jitterRatio;
  if (learner.phase === 'settled') {
    assert.ok(ad.finalIntervalMs! * jitter < NAT_TIMEOUT_MS, `settled interval ${ad.finalIntervalMs} ms stays under the NAT timeout, jitter included`);
  } else {
    assert.ok(ad.finalIntervalMs! * jitter <= learner.goodMs + SCALED_LEARNER.stepMs + 1, 'a probe risks at most one step past the known-good idle');
  }
  const events = result.events.filter((e) => e.row === 'adaptive' && e.ev === 'adaptive');
  for (const e of events.filter((x) => x.event === 'died')) {
    assert.ok((e.idleMs as number) > NAT_TIMEOUT_MS - 20, `a death after ${e.idleMs} ms of silence: only past the NAT timeout`);
  }
  for (const e of events.filter((x) => x.event === 'survived' || x.event === 'settled')) {
    assert.ok((e.idleMs as number) < NAT_TIMEOUT_MS + ACK_SLACK_MS, `survived ${e.idleMs} ms of silence: not past the NAT timeout`);
  }
  assert.ok(ad.plannedReconnects >= 1, 'longer intervals came by planned reconnects');

  // In the last part the adaptive heartbeat sends fewer PINGs than fixed 2 s.
  assert.ok(
    ad.steadyPingsPerScaledHour < f2.steadyPingsPerScaledHour,
    `adaptive ${ad.steadyPingsPerScaledHour.toFixed(0)}/h < fixed 2 s ${f2.steadyPingsPerScaledHour.toFixed(0)}/h in the steady part`,
  );
});
