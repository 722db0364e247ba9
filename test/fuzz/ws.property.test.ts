/**
 * The lean WebSocket server's codec against any client (issue 15 item 1): whatever bytes a client
 * sends — well-formed messages, fragments with control frames between them, bad bits, lengths,
 * opcodes and close frames, garbage — in any chunking and under any message limit, the parser
 * gives the payload, control frames and one failure an independent model of RFC 6455 predicts
 * (test/fuzz/ws-model.ts), only the documented failures, nothing after a failure or close, and no
 * buffer past a header and a control frame; the server transport answers with valid frames, one
 * close frame with the right code, and one close for its connection. The checks are
 * test/fuzz/ws-target.ts's (shared with `npm run fuzz -- --target ws`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { runWsCase, wsInputArb } from './ws-target.js';

test('ws codec - any client stream in any chunking matches the RFC 6455 model, chunked and whole, and closes once with its code (property)', () => {
  const seen = new Map<string, number>();
  fc.assert(
    fc.property(wsInputArb, (input) => {
      const cls = runWsCase(input);
      seen.set(cls, (seen.get(cls) ?? 0) + 1);
    }),
    { numRuns: 1500 },
  );
  // Not vacuous: the generated clients reached clean streams, a close, and every failure code.
  const labels = [...seen.keys()].join(' | ');
  for (const needle of ['ok', 'ok close', '1002 LL_ERR_WS_PROTOCOL', '1003 LL_ERR_WS_TEXT_MESSAGE', '1009 LL_ERR_WS_MESSAGE_TOO_LARGE', '→ close 1007', '→ close 1000']) {
    assert.ok(labels.includes(needle), `no run reached "${needle}": ${labels}`);
  }
});
