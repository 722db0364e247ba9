/**
 * The server's handshake state machine against any peer (issue 15 item 1): whatever frames —
 * valid, invalid, out of order, in any chunking — a peer sends before and after HELLO, the
 * connection either opens a session exactly once (WELCOME first, then nothing that contradicts
 * it) or is closed with the reason PROTOCOL.md §8.1 / §9 gives for the first frame that decides,
 * never both, never a crash; and every connection ends with exactly one close reason.
 * The checks and the model of §8.1 are test/fuzz/handshake-target.ts's (shared with
 * `npm run fuzz`). Real server, in-memory transports, FakeClock (test/fuzz/server-harness.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { handshakeCaseArb, runHandshakeCase } from './handshake-target.js';

test('server handshake - any peer opens one session or is closed with its documented reason, never both (property)', async () => {
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(handshakeCaseArb, async (c) => {
      const label = await runHandshakeCase(c);
      seen.set(label, (seen.get(label) ?? 0) + 1);
    }),
    { numRuns: 300 },
  );
  // Not vacuous: the generated peers reached every branch of §8.1 (counts include shrinking runs).
  const branches = ['session', 'refused protocol-error', 'refused unsupported-version', 'refused auth-failed', 'peer-close', 'peer-ended', 'timeout'];
  for (const branch of branches) assert.ok((seen.get(branch) ?? 0) > 0, `no run reached ${branch}: ${JSON.stringify([...seen])}`);
});
