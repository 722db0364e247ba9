/**
 * `lifeline lab --adaptive` bookkeeping on hand-made agent events: what counts as a PING, a drop,
 * a planned reconnect, where the steady part starts, and the 60 s-scale rates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { perScaledHour, summarizeAdaptive, type AdaptiveAgentEvent } from '../../../src/lab/adaptive/summary.js';
import { countByServerPort } from '../../../src/lab/adaptive/nat-counter.js';
import { unansweredPings } from '../../../src/lab/adaptive/agent.js';
import { renderAdaptiveTable } from '../../../src/lab/adaptive/report.js';
import { ADAPTIVE_ROWS, SCALED_LEARNER, TIME_SCALE, adaptive, fixed2s, fixed6s } from '../../../src/lab/adaptive/rows.js';

const T0 = 1_000_000;
const at = (s: number) => T0 + s * 1000;

test('lab adaptive - rates are per real hour divided by the time scale', () => {
  // One PING every 2 real seconds for an hour = 1800/h real = 120/h at the 60 s scale.
  assert.equal(perScaledHour(1800, 3_600_000), 1800 / TIME_SCALE);
  assert.equal(perScaledHour(30, 60_000), (30 * 60) / TIME_SCALE);
  assert.equal(perScaledHour(5, 0), 0);
});

test('lab adaptive - the scaled learner is the default learner divided by 15', () => {
  assert.equal(SCALED_LEARNER.minIntervalMs, 1000);
  assert.equal(SCALED_LEARNER.stepMs, 1000);
  assert.equal(SCALED_LEARNER.resolutionMs, 133);
  assert.equal(SCALED_LEARNER.safetyMarginMs, 333);
  assert.equal(SCALED_LEARNER.maxIntervalMs, 40_000);
  assert.equal(SCALED_LEARNER.successesToStepUp, 3);
  assert.equal(SCALED_LEARNER.reprobeAfterMs, (24 * 3600_000) / 15);
  assert.deepEqual(ADAPTIVE_ROWS.map((r) => r.id), ['fixed-2s', 'adaptive', 'fixed-6s']);
});

test('lab adaptive - PINGs, drops, planned reconnects and the steady part from agent events', () => {
  const events: AdaptiveAgentEvent[] = [
    // fixed 2 s: opened before the window, five PONGs, one of them after the window (ignored).
    { ev: 'open', row: 'fixed-2s', at: at(-0.1), intervalMs: 2000, timeoutMs: 3000 },
    ...[2, 4, 6, 8].map((s) => ({ ev: 'pong', row: 'fixed-2s', at: at(s) })),
    { ev: 'pong', row: 'fixed-2s', at: at(11) },
    // adaptive: two survivals, a planned reconnect (open without disconnect), settles at 4 s,
    // one PONG after that; the server pinged once.
    { ev: 'open', row: 'adaptive', at: at(-0.1), intervalMs: 1600, timeoutMs: 3000 },
    { ev: 'pong', row: 'adaptive', at: at(1) },
    { ev: 'adaptive', row: 'adaptive', at: at(1), event: 'survived', idleMs: 1000, intervalMs: 1000, phase: 'probing', goodMs: 1000, badMs: null },
    { ev: 'open', row: 'adaptive', at: at(1.1), intervalMs: 3000, timeoutMs: 4500, resumed: true },
    { ev: 'pong', row: 'adaptive', at: at(4) },
    { ev: 'adaptive', row: 'adaptive', at: at(4), event: 'settled', idleMs: 2900, intervalMs: 2300, phase: 'settled', goodMs: 2900, badMs: 3100 },
    { ev: 'pong', row: 'adaptive', at: at(7) },
    { ev: 'ping', row: 'adaptive', at: at(8) },
    // fixed 6 s: two heartbeat-timeout drops (1 and 2 unanswered PINGs), one before the steady part.
    { ev: 'open', row: 'fixed-6s', at: at(-0.1), intervalMs: 6000, timeoutMs: 9000 },
    { ev: 'disconnect', row: 'fixed-6s', at: at(3), code: 'heartbeat-timeout', unanswered: 1 },
    { ev: 'open', row: 'fixed-6s', at: at(3.1), intervalMs: 6000, timeoutMs: 9000, resumed: true },
    { ev: 'disconnect', row: 'fixed-6s', at: at(9), code: 'heartbeat-timeout', unanswered: 2 },
    { ev: 'open', row: 'fixed-6s', at: at(9.1), intervalMs: 6000, timeoutMs: 9000, resumed: true },
    { ev: 'server-ping', row: 'fixed-2s', at: at(2) },
    {
      ev: 'report',
      rows: [{ row: 'adaptive', adaptive: { key: 'k', phase: 'settled', intervalMs: 2300, goodMs: 2900, badMs: 3100 } }],
    },
  ];
  const natForgotten = new Map([['fixed-6s', 2]]);
  const { rows, steadyFromMs, steadyFrom } = summarizeAdaptive({ rows: [fixed2s, adaptive, fixed6s], events, startAt: T0, endAt: at(10), natForgotten });
  assert.equal(steadyFrom, 'adaptive-settled');
  assert.equal(steadyFromMs, 4000);
  const [f2, ad, f6] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0]];

  assert.deepEqual(f2.pings, { total: 4, answered: 4, lost: 0, fromServer: 0, seenByServer: 1 });
  assert.equal(f2.pingsPerScaledHour, perScaledHour(4, 10_000));
  assert.equal(f2.steadyPingsPerScaledHour, perScaledHour(3, 6000), 'PONGs at 4, 6, 8 s are in the steady part');
  assert.equal(f2.drops, 0);
  assert.equal(f2.finalIntervalMs, 2000);
  assert.equal(f2.natFlowsForgotten, 0, 'a row the NAT count does not name forgot nothing');
  assert.equal(f2.settledAfterMs, null);

  assert.deepEqual(ad.pings, { total: 4, answered: 3, lost: 0, fromServer: 1, seenByServer: 0 });
  assert.equal(ad.plannedReconnects, 1);
  assert.equal(ad.settledAfterMs, 4000);
  assert.equal(ad.finalIntervalMs, 2300, "the learner's interval, from the final report");
  assert.equal(ad.negotiatedIntervalMs, 3000);
  assert.equal(ad.learner?.phase, 'settled');
  assert.equal(ad.learner?.badMs, 3100);

  assert.equal(f6.drops, 2);
  assert.equal(f6.steadyDrops, 1);
  assert.equal(f6.pings.lost, 3);
  assert.equal(f6.pings.total, 3);
  assert.equal(f6.plannedReconnects, 0, 'reconnects after drops are not planned');
  assert.equal(f6.natFlowsForgotten, 2);

  const table = renderAdaptiveTable(rows, TIME_SCALE);
  assert.match(table, /adaptive \(learns\)/);
  assert.match(table, /2\.30 s \(35 s\)/, 'interval shown real and scaled');
  assert.match(table, /1\.0 min/, 'settled at 4 real s = 1 scaled minute');
});

test('lab adaptive - without a settle the steady part is the second half; a client that gave up is flagged', () => {
  const events: AdaptiveAgentEvent[] = [
    { ev: 'pong', row: 'adaptive', at: at(1) },
    { ev: 'pong', row: 'adaptive', at: at(6) },
    { ev: 'closed', row: 'adaptive', at: at(7), code: 'handshake-timeout', message: 'no WELCOME' },
  ];
  const { rows, steadyFromMs, steadyFrom } = summarizeAdaptive({ rows: [adaptive], events, startAt: T0, endAt: at(10) });
  assert.equal(steadyFrom, 'second-half');
  assert.equal(steadyFromMs, 5000);
  assert.equal(rows[0]!.steadyPingsPerScaledHour, perScaledHour(1, 5000));
  assert.equal(rows[0]!.natFlowsForgotten, null, 'no NAT count: not measurable');
  assert.match(rows[0]!.gaveUp ?? '', /handshake-timeout/);
});

test('lab adaptive - unanswered PINGs come from the heartbeat-timeout message, at least one', () => {
  assert.equal(unansweredPings('heartbeat-timeout', 'nothing received for 9001 ms (timeout 9000 ms, 2 unanswered pings)'), 2);
  assert.equal(unansweredPings('heartbeat-timeout', 'reworded'), 1);
  assert.equal(unansweredPings('transport-error', '3 unanswered pings'), 0);
});

test('lab adaptive - forgotten flows are counted per server port from nft JSON', () => {
  const json = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { set: { family: 'ip', name: 'forgotten', elem: [{ concat: [40001, 7502] }, { concat: [40002, 7502] }, { elem: { val: { concat: [40003, 7501] } } }] } },
    ],
  });
  assert.deepEqual([...countByServerPort(json)], [[7502, 2], [7501, 1]]);
  assert.equal(countByServerPort(JSON.stringify({ nftables: [{ set: { name: 'forgotten' } }] })).size, 0);
});
