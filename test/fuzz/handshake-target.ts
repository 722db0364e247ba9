/**
 * The server's handshake as a fuzz target (issue 15 item 1): one peer script — bytes in some
 * chunking, then maybe the end of the stream — against a real server on a FakeClock with
 * in-memory transports (server-harness.ts). It checks that the connection either opens a
 * session exactly once (WELCOME first) or is closed with the reason PROTOCOL.md §8.1 / §9 gives
 * for the first frame that decides (expectedOutcome, a small model of §8.1), never both, never
 * a crash, and that every connection ends with exactly one close reason. A broken rule throws
 * an AssertionError. Shared by test/fuzz/handshake.property.test.ts and scripts/fuzz.ts.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import type { CloseFrame, Frame, WelcomeFrame } from '../../src/protocol/frames.js';
import { concat, cutsFor, frameArb, helloArb, hostileStreamArb } from './arbitraries.js';
import { ServerHarness, settle } from './server-harness.js';

export interface HandshakeCase {
  bytes: Uint8Array;
  cuts: readonly number[];
  /** The peer ends its side after the last chunk. */
  end: boolean;
  /** The server authenticates: only the token "good" is accepted. */
  auth: boolean;
}

/** The server's maxFrameSize here: small, so that "too large" is within reach of the generators. */
export const MAX_FRAME_SIZE = 4096;
const HANDSHAKE_TIMEOUT_MS = 1000;
export const GOOD_TOKEN = new TextEncoder().encode('good');

export type Expected =
  | { kind: 'session' }
  | { kind: 'refused'; wireCode: CloseFrame['code']; reason: string }
  | { kind: 'peer-close'; remoteCode: CloseFrame['code']; reason: string }
  | { kind: 'peer-ended' }
  | { kind: 'timeout' };

/** A HELLO a server should accept (or refuse only for its token, or version 0). */
const validHello = fc.record(
  {
    version: fc.integer({ min: 0, max: 3 }),
    token: fc.constantFrom(undefined, GOOD_TOKEN, Uint8Array.of(1, 2)),
    resumable: fc.boolean(),
    resumeSessionId: fc.option(fc.uint8Array({ minLength: 1, maxLength: 64 }), { nil: undefined }),
  },
  { noNullPrototype: true },
).map(({ version, token, resumable, resumeSessionId }): Frame => ({
  type: 'hello',
  version,
  heartbeatIntervalMs: 0,
  heartbeatTimeoutMs: 0,
  ...(token ? { token } : {}),
  ...(resumable ? { resumable } : {}),
  ...(resumeSessionId ? { resumeSessionId } : {}),
}));

/** One thing a peer sends: a valid HELLO, any frame, or bytes that may be garbage. */
const item = fc.oneof(
  { weight: 3, arbitrary: validHello.map(encodeFrame) },
  { weight: 2, arbitrary: helloArb.map(encodeFrame) },
  { weight: 3, arbitrary: frameArb.map(encodeFrame) },
  { weight: 1, arbitrary: hostileStreamArb },
);

/** A peer script: up to 5 items in up to 7 chunks, maybe the end of the stream, a server with or without auth. */
export const handshakeCaseArb: fc.Arbitrary<HandshakeCase> = fc
  .record({ items: fc.array(item, { maxLength: 5 }), end: fc.boolean(), auth: fc.boolean() }, { noNullPrototype: true })
  .chain((s) => {
    const bytes = concat(s.items);
    return fc.record({ bytes: fc.constant(bytes), cuts: cutsFor(bytes.length, 6), end: fc.constant(s.end), auth: fc.constant(s.auth) }, { noNullPrototype: true });
  });

/** PROTOCOL.md §8.1 / §9 as the server applies them, for the stream a peer sends. */
function expectedOutcome(bytes: Uint8Array, end: boolean, auth: boolean): Expected {
  const frames: Frame[] = [];
  let decodeFailed = false;
  try {
    new FrameDecoder({ maxFrameSize: MAX_FRAME_SIZE }).push(bytes, (f) => frames.push(f));
  } catch {
    decodeFailed = true;
  }
  let goawaySeen = false;
  for (const frame of frames) {
    if (frame.type === 'goaway') {
      goawaySeen = true; // ignored before WELCOME (a client sends none), but named by a CLOSE after it
      continue;
    }
    if (frame.type === 'close') return { kind: 'peer-close', remoteCode: frame.code, reason: goawaySeen ? 'goaway' : closeReasonFor(frame.code) };
    if (frame.type !== 'hello') return { kind: 'refused', wireCode: 'protocol-error', reason: 'protocol-error' };
    if (frame.version < 1) return { kind: 'refused', wireCode: 'unsupported-version', reason: 'unsupported-version' };
    if (auth && !(frame.token !== undefined && equalBytes(frame.token, GOOD_TOKEN))) return { kind: 'refused', wireCode: 'auth-failed', reason: 'local-close' };
    return { kind: 'session' };
  }
  if (decodeFailed) return { kind: 'refused', wireCode: 'protocol-error', reason: 'protocol-error' };
  return end ? { kind: 'peer-ended' } : { kind: 'timeout' };
}

/** The reason a CLOSE from the peer gives (src/connection/close-reason.ts, Connection.onRemoteClose). */
function closeReasonFor(code: CloseFrame['code']): string {
  if (code === 'unsupported-version' || code === 'server-full' || code === 'protocol-error' || code === 'handshake-timeout') return code;
  return code === 'going-away' ? 'server-shutdown' : 'remote-close';
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Reasons a session may end with after it opened, given what a random peer can send: its own
 * CLOSE (mapped as closeReasonFor does), a protocol error, a GOAWAY then CLOSE, the heartbeat,
 * ping strikes, the transport's end, or our shutdown.
 */
const AFTER_OPEN_REASONS = new Set([
  'protocol-error', 'remote-close', 'unsupported-version', 'server-full', 'handshake-timeout', 'server-shutdown',
  'goaway', 'transport-closed', 'heartbeat-timeout', 'too-many-pings',
]);

/**
 * Run one case; returns the branch of §8.1 it took ('session', 'refused protocol-error', …).
 * Throws AssertionError when the server broke a rule.
 */
export async function runHandshakeCase({ bytes, cuts, end, auth }: HandshakeCase): Promise<string> {
  const h = new ServerHarness({
    maxFrameSize: MAX_FRAME_SIZE,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    ...(auth ? { authenticate: (token: Uint8Array | undefined) => (token !== undefined && equalBytes(token, GOOD_TOKEN) ? 'alice' : undefined) } : {}),
  });
  const peer = h.connect();
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    peer.write(bytes.subarray(start, cut));
    start = cut;
    await settle(); // delivered: one chunk per read
  }
  if (end) peer.transport.end();
  await h.advance(HANDSHAKE_TIMEOUT_MS + 200);
  const expected = expectedOutcome(bytes, end, auth);
  const label = expected.kind === 'refused' ? `refused ${expected.wireCode}` : expected.kind;
  const welcomes = peer.received.filter((f): f is WelcomeFrame => f.type === 'welcome');
  const closeBeforeOpen = peer.serverCloses.length > 0 && h.sessionsOpened.length === 0;

  assert.equal(peer.receiveError, undefined, 'the server writes only valid frames');
  assert.ok(h.sessionsOpened.length <= 1, 'at most one session per connection');
  assert.equal(h.sessionsResumed.length, 0, 'nothing to resume on a fresh server');
  assert.equal(welcomes.length, h.sessionsOpened.length, 'a WELCOME exactly when a session opened');
  if (expected.kind === 'session') {
    assert.equal(h.sessionsOpened.length, 1, `expected a session; closes: ${JSON.stringify(peer.serverCloses)}`);
    assert.equal(peer.received[0]?.type, 'welcome', 'WELCOME is the first frame the server writes');
    const welcome = welcomes[0]!;
    assert.equal(welcome.sessionId?.length, 16);
    // A session id the server does not hold is answered resumed = 00, never resumed.
    const hello = decodeFirstHello(bytes);
    if (hello?.resumeSessionId !== undefined) assert.equal(welcome.resumed, false);
    else assert.equal(welcome.resumed, undefined);
    for (const reason of peer.serverCloses) assert.ok(AFTER_OPEN_REASONS.has(reason.code), `after open: ${reason.code}`);
  } else {
    assert.equal(h.sessionsOpened.length, 0, `no session expected (${expected.kind})`);
    assert.equal(peer.serverCloses.length, 1, 'closed exactly once before any session');
    assert.ok(closeBeforeOpen);
    const reason = peer.serverCloses[0]!;
    const closes = peer.received.filter((f): f is CloseFrame => f.type === 'close');
    if (expected.kind === 'refused') {
      assert.equal(reason.code, expected.reason);
      assert.deepEqual(closes.map((c) => c.code), [expected.wireCode]);
    } else if (expected.kind === 'timeout') {
      assert.equal(reason.code, 'handshake-timeout');
      assert.deepEqual(closes.map((c) => c.code), ['handshake-timeout']);
    } else if (expected.kind === 'peer-close') {
      assert.equal(reason.code, expected.reason);
      assert.equal(reason.remoteCode, expected.remoteCode);
    } else {
      assert.equal(reason.code, 'transport-closed');
      assert.deepEqual(closes, []);
    }
    assert.ok(peer.received.every((f) => f.type === 'close' || f.type === 'goaway'), 'nothing but CLOSE to a refused peer');
  }
  await h.shutdown();
  assert.equal(peer.serverCloses.length, 1, 'every connection ends with exactly one close reason');
  assert.equal(h.server.connectionCount, 0);
  return label;
}

function decodeFirstHello(bytes: Uint8Array): (Frame & { type: 'hello' }) | undefined {
  const frames: Frame[] = [];
  try {
    new FrameDecoder({ maxFrameSize: MAX_FRAME_SIZE }).push(bytes, (f) => frames.push(f));
  } catch {
    // the frames before the error are what the server saw too
  }
  return frames.find((f): f is Frame & { type: 'hello' } => f.type === 'hello');
}
