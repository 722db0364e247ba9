/**
 * The resume path against any client (issue 15 item 1; docs/spec/0006-resume.md §Algorithm 3, 4,
 * 6, 7; spec 0013 §Resume; PROTOCOL.md §6.10): a resumable session is detached, then a series of
 * HELLOs with random session ids (the real one, one bit off, random), identities and
 * resumeLastSeq values try to resume it, each followed by the client's replay of its own DATA
 * and an ACK that may be forged. A model of the spec predicts every answer:
 * - resumed only for the real id, the same identity and resumeLastSeq ≤ the server's sentSeq,
 *   while the session is held; otherwise WELCOME resumed = 00, a new session id, no DATA;
 * - a resume replays exactly the DATA after max(resumeLastSeq, acked), in order, each once,
 *   with its original seq and payload (so an honest client gets every message exactly once);
 * - the client's DATA replay reaches the application exactly once and in order;
 * - an ACK past what the server sent on the session is refused: CLOSE protocol-error
 *   "ACK for seq N, but only M were sent", and the session ends (spec 0006 step 5).
 * Real server, in-memory transports, FakeClock (test/fuzz/server-harness.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { CloseFrame, DataFrame, Frame, WelcomeFrame } from '../../src/protocol/frames.js';
import { ServerHarness, settle, type RawPeer } from './server-harness.js';

const utf8 = new TextEncoder();
const text = new TextDecoder();
const IDENTITIES = ['alice', 'bob'] as const;

const attemptArb = fc.record(
  {
    identity: fc.constantFrom('alice', 'alice', 'bob', 'nobody'),
    id: fc.constantFrom('real', 'real', 'real', 'flipped', 'random'),
    randomId: fc.uint8Array({ minLength: 1, maxLength: 64 }),
    flipBit: fc.nat(127),
    honest: fc.boolean(),
    lastSeq: fc.nat(40),
    clientFromBack: fc.nat(3),
    clientExtra: fc.nat(2),
    ack: fc.option(fc.nat(45), { nil: undefined }),
    sentWhileDetached: fc.nat(6),
  },
  { noNullPrototype: true },
);

const scenarioArb = fc.record(
  { sentBefore: fc.nat(12), ackBefore: fc.nat(12), clientSent: fc.nat(5), attempts: fc.array(attemptArb, { minLength: 1, maxLength: 4 }) },
  { noNullPrototype: true },
);

function hello(token: string | undefined, sessionId: Uint8Array | undefined, lastSeq: number | undefined): Frame {
  return {
    type: 'hello',
    version: 1,
    heartbeatIntervalMs: 0,
    heartbeatTimeoutMs: 0,
    resumable: true,
    ...(token !== undefined ? { token: utf8.encode(token) } : {}),
    ...(sessionId !== undefined ? { resumeSessionId: sessionId } : {}),
    ...(lastSeq !== undefined ? { resumeLastSeq: lastSeq } : {}),
  };
}

function dataOf(peer: RawPeer): DataFrame[] {
  return peer.received.filter((f): f is DataFrame => f.type === 'data');
}

test('resume - random session ids, identities, last seqs and acks never replay twice, out of order, or across identities (property)', async () => {
  let resumes = 0;
  let refusals = 0;
  let forgedAcks = 0;
  await fc.assert(
    fc.asyncProperty(scenarioArb, async (scenario) => {
      const h = new ServerHarness({
        resumeWindow: 60_000,
        handshakeTimeout: 1000,
        authenticate: (token) => {
          const name = token === undefined ? '' : text.decode(token);
          return (IDENTITIES as readonly string[]).includes(name) ? name : undefined;
        },
      });
      const authFailures: string[] = [];
      h.server.on('authFailure', (info) => authFailures.push(info.code));
      // --- the session to resume: alice's, with DATA both ways, then its transport is lost.
      const first = h.connect();
      first.send(hello('alice', undefined, undefined));
      await settle();
      const session = h.sessions[0]!;
      const realId = (first.received[0] as WelcomeFrame).sessionId!;
      const delivered: string[] = [];
      session.on('message', (m: Buffer) => delivered.push(m.toString()));
      let sentSeq = 0;
      const send = () => session.send(`m${++sentSeq}`);
      for (let i = 0; i < scenario.sentBefore; i++) send();
      for (let seq = 1; seq <= scenario.clientSent; seq++) first.send({ type: 'data', seq, payload: utf8.encode(`c${seq}`) });
      await settle();
      let clientSeq = scenario.clientSent;
      let highestReceived = dataOf(first).length;
      assert.deepEqual(dataOf(first).map((d) => d.seq), Array.from({ length: sentSeq }, (_, i) => i + 1));
      let acked = Math.min(scenario.ackBefore, highestReceived);
      if (acked > 0) first.send({ type: 'ack', seq: acked });
      await settle();
      first.transport.destroy();
      await settle();
      assert.equal(session.state, 'detached');
      let held = true;

      for (const attempt of scenario.attempts) {
        for (let i = 0; i < attempt.sentWhileDetached && held; i++) send();
        const realIdNow = attempt.id === 'real';
        const sessionId = realIdNow ? realId : attempt.id === 'flipped' ? flip(realId, attempt.flipBit) : attempt.randomId;
        const lastSeq = attempt.honest ? highestReceived : attempt.lastSeq;
        const resumesBefore = h.sessionsResumed.length;
        const failuresBefore = authFailures.length;
        const peer = h.connect();
        peer.send(hello(attempt.identity === 'nobody' ? undefined : attempt.identity, sessionId, lastSeq));
        await settle();
        if (attempt.identity === 'nobody') {
          // No identity: refused before any session is looked at (spec 0013).
          assert.deepEqual(peer.received.map((f) => f.type), ['close']);
          assert.equal((peer.received[0] as CloseFrame).code, 'auth-failed');
          await settle();
          continue;
        }
        const welcome = peer.received[0] as WelcomeFrame;
        assert.equal(welcome.type, 'welcome');
        const expectResume = held && realIdNow && attempt.identity === 'alice' && lastSeq <= sentSeq;
        if (!expectResume) {
          refusals++;
          assert.equal(welcome.resumed, false, 'resumed = 00');
          assert.notDeepEqual(welcome.sessionId, realId, 'a new session, never the held one');
          assert.deepEqual(dataOf(peer), [], 'nothing of the held session reaches this connection');
          assert.equal(h.sessionsResumed.length, resumesBefore);
          if (held) assert.equal(session.state, 'detached', 'the held session is left alone');
          if (held && realIdNow && attempt.identity === 'bob') assert.deepEqual(authFailures.slice(failuresBefore), ['resume-refused']);
          peer.transport.destroy();
          await settle();
          continue;
        }
        resumes++;
        assert.equal(welcome.resumed, true);
        assert.deepEqual(welcome.sessionId, realId);
        assert.equal(welcome.resumeLastSeq, clientSeq, "WELCOME tells the client the server's last received seq");
        assert.equal(h.sessionsResumed.length, resumesBefore + 1);
        // The server's replay: exactly what follows max(lastSeq, acked), in order, original payloads.
        const from = Math.max(lastSeq, acked) + 1;
        const replayed = dataOf(peer);
        assert.deepEqual(replayed.map((d) => d.seq), range(from, sentSeq));
        for (const d of replayed) assert.equal(text.decode(d.payload), `m${d.seq}`);
        if (attempt.honest) assert.equal(from, highestReceived + 1, 'an honest client gets each message once');
        // What the client holds now, by what it received and what it claimed (a lie skips messages:
        // its own loss, which an honest client never has).
        highestReceived = Math.max(highestReceived, Math.min(lastSeq, sentSeq), replayed.at(-1)?.seq ?? 0);
        acked = Math.max(acked, Math.min(lastSeq, sentSeq));
        // The client's replay: from a little before what the server has, maybe a few new ones.
        const clientFrom = Math.max(1, clientSeq + 1 - attempt.clientFromBack);
        for (let seq = clientFrom; seq <= clientSeq + attempt.clientExtra; seq++) peer.send({ type: 'data', seq, payload: utf8.encode(`c${seq}`) });
        clientSeq += attempt.clientExtra;
        await settle();
        if (attempt.ack !== undefined) {
          peer.send({ type: 'ack', seq: attempt.ack });
          await settle();
          if (attempt.ack > sentSeq) {
            forgedAcks++;
            const close = peer.received.find((f): f is CloseFrame => f.type === 'close');
            assert.equal(close?.code, 'protocol-error');
            assert.equal(close?.message, `ACK for seq ${attempt.ack}, but only ${sentSeq} were sent`);
            await h.advance(2_500, 500);
            assert.equal(session.state, 'closed', 'a protocol error ends the session (spec 0006 step 5)');
            held = false;
            continue;
          }
          acked = Math.max(acked, attempt.ack);
          highestReceived = Math.max(highestReceived, attempt.ack);
        }
        assert.equal(peer.received.some((f) => f.type === 'close'), false);
        peer.transport.destroy();
        await settle();
        assert.equal(session.state, 'detached');
      }
      assert.deepEqual(delivered, range(1, clientSeq).map((seq) => `c${seq}`), "the client's DATA reached the application once each, in order");
      await h.shutdown();
    }),
    { numRuns: 150 },
  );
  // Not vacuous: resumes, refusals and forged ACKs all happened (counts include shrinking runs).
  assert.ok(resumes > 0 && refusals > 0 && forgedAcks > 0, JSON.stringify({ resumes, refusals, forgedAcks }));
});

function range(from: number, to: number): number[] {
  return from > to ? [] : Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function flip(id: Uint8Array, bit: number): Uint8Array {
  const out = id.slice();
  out[(bit >> 3) % out.length]! ^= 1 << (bit & 7);
  return out;
}
