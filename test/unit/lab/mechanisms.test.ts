import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MECHANISMS, mechanismById } from '../../../src/lab/mechanisms/index.js';
import { FAULTS } from '../../../src/lab/faults/index.js';

test('lab mechanisms - a row skips only faults that exist, and says why', () => {
  const faultIds = new Set(FAULTS.map((f) => f.id));
  for (const m of MECHANISMS) {
    for (const [fault, reason] of Object.entries(m.notFor ?? {})) {
      assert.ok(faultIds.has(fault), `${m.id}: notFor names unknown fault ${fault}`);
      assert.ok(reason.length > 20, `${m.id} × ${fault}: say why`);
    }
    // Only the lifeline agent speaks WebSocket: a raw-socket row cannot.
    if (m.transport === 'ws') assert.ok(m.heartbeat, `${m.id}: ws needs a heartbeat row`);
  }
});

test('lab mechanisms - the WebSocket row is the TCP heartbeat row over ws, right after it', () => {
  const tcp = mechanismById('heartbeat');
  const ws = mechanismById('heartbeat-ws');
  assert.equal(ws.transport, 'ws');
  assert.deepEqual(ws.heartbeat, tcp.heartbeat);
  assert.deepEqual([ws.socket, ws.detector], [tcp.socket, tcp.detector]);
  assert.equal(MECHANISMS.indexOf(ws), MECHANISMS.indexOf(tcp) + 1);
  // The faults the issue names run on WebSocket too.
  for (const f of ['nat-timeout', 'cable-cut-idle', 'cable-cut-data', 'frozen-server', 'proxy-blackhole']) assert.equal(ws.notFor?.[f], undefined, f);
});
