/**
 * The client's handshake against any server (issue 15 item 1): whatever a server answers to HELLO
 * — a valid WELCOME, a bad version or heartbeat, CLOSE with any code, GOAWAY, any frame, garbage,
 * nothing — in any chunking, then FIN, a reset or silence, or a dial that fails: the client opens
 * exactly once (with the WELCOME's session and heartbeat) or ends with the one documented close
 * reason a model of PROTOCOL.md §8.1 gives, never crashes, and emits exactly one 'close'. A real
 * ClientCore (Link, Connection, outbox) on a FakeClock over an in-memory pair; the checks are
 * test/fuzz/client-target.ts's (shared with `npm run fuzz -- --target client`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { clientCaseArb, runClientCase } from './client-target.js';

test('client handshake - any server answer opens exactly once or ends with its documented reason, one close, no crash (property)', async () => {
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(clientCaseArb, async (c) => {
      const label = await runClientCase(c);
      seen.set(label, (seen.get(label) ?? 0) + 1);
    }),
    { numRuns: 300 },
  );
  // Not vacuous: the scripted servers reached every branch (counts include shrinking runs).
  const branches = ['open', 'refused protocol-error', 'refused unsupported-version', 'refused remote-close', 'refused goaway', 'refused transport-closed', 'refused handshake-timeout', 'refused connect-failed'];
  const labels = [...seen.keys()];
  for (const branch of branches) assert.ok(labels.some((l) => l === branch || l.startsWith(`${branch}: `)), `no run reached ${branch}: ${JSON.stringify([...seen])}`);
});
