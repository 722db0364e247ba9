/** Unit: client.stats()'s counted fields (src/client/client-stats.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientCounts } from '../../../src/client/client-stats.js';

test('client stats - sends, receives and opens are plain counts', () => {
  const c = new ClientCounts();
  c.sent(10);
  c.sent(5);
  c.received(7);
  c.opened(false);
  c.opened(true);
  c.opened(false);
  assert.deepEqual({ ...c }, { connects: 3, resumes: 1, messagesSent: 2, bytesSent: 15, messagesReceived: 1, bytesReceived: 7 });
});
