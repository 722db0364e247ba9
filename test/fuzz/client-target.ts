/**
 * The client's side of the handshake as a fuzz target (issue 15 item 1): a real ClientCore (the
 * Node and browser clients' shared core: Link, Connection, outbox — src/client/core.ts,
 * link.ts) on a FakeClock, dialling through a runtime whose dial hands over one end of an
 * in-memory pair (src/transport/memory.ts), or fails. The other end is a scripted server: once it
 * has read HELLO it writes an answer — a valid WELCOME, one with a bad version or heartbeat,
 * CLOSE, GOAWAY, any frame, garbage, in some chunking — then ends, resets or stays silent.
 *
 * Checked for every script (a small model of PROTOCOL.md §8.1 from the client's side, as
 * Link.handshakeFrame and Connection apply it): the client writes HELLO first; it opens exactly
 * once — with the WELCOME's session id and heartbeat — when the first frame that decides is a
 * usable WELCOME, and then ends with a documented close reason; otherwise it never opens and ends
 * with the one reason the model gives (connect-failed, protocol-error, unsupported-version, the
 * peer's CLOSE as remoteCloseReason maps it, goaway, transport-closed or handshake-timeout),
 * sending CLOSE with the code it refused with. Exactly one 'close', nothing thrown, nothing
 * emitted after it. A broken rule throws an AssertionError. Shared by
 * test/fuzz/client-handshake.property.test.ts and `npm run fuzz -- --target client`.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ClientCore } from '../../src/client/core.js';
import { resolveClientOptions } from '../../src/client/options.js';
import type { ClientRuntime } from '../../src/client/runtime.js';
import type { CloseReason } from '../../src/connection/close-reason.js';
import { MemoryNatStore } from '../../src/liveness/nat-store.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import { PROTOCOL_VERSION, type CloseFrame, type Frame, type WelcomeFrame } from '../../src/protocol/frames.js';
import { createMemoryPair, type MemoryTransport } from '../../src/transport/memory.js';
import { FakeClock } from '../../src/time/fake-clock.js';
import { toHex } from '../../src/util/hex.js';
import { concat, cutsFor, frameArb, hostileStreamArb } from './arbitraries.js';
import { settle } from './server-harness.js';

export interface ClientCase {
  /** What the server writes once it has read HELLO. */
  answer: Uint8Array;
  cuts: readonly number[];
  /** Then: the server ends its side (FIN), resets (destroy), or says nothing more. */
  after: 'end' | 'destroy' | 'silent';
  /** The dial fails (ECONNREFUSED) instead of connecting. */
  dialFails: boolean;
  resume: boolean;
  /** A message is sent before the connection opens (queued, flushed on open). */
  sendEarly: boolean;
}

const HANDSHAKE_TIMEOUT_MS = 1000;
/** The client's maxFrameSize: small, so that a too-large frame is within the generators' reach. */
export const CLIENT_MAX_FRAME_SIZE = 4096;

/** Every CloseReason code (src/connection/close-reason.ts): a reason outside it is undocumented. */
const REASON_CODES = new Set([
  'heartbeat-timeout', 'remote-close', 'local-close', 'failover', 'renegotiate', 'protocol-error', 'handshake-timeout', 'goaway',
  'transport-closed', 'transport-error', 'connect-failed', 'unsupported-version', 'server-full', 'server-shutdown', 'too-many-pings', 'slow-consumer',
]);

type Expected = { kind: 'open'; welcome: WelcomeFrame } | { kind: 'refused'; reason: string; wireCode?: CloseFrame['code']; remoteCode?: CloseFrame['code'] };

/** PROTOCOL.md §8.1 from the client's side, for the answer a server gives. */
function expectedOutcome(c: ClientCase): Expected {
  if (c.dialFails) return { kind: 'refused', reason: 'connect-failed' };
  const frames: Frame[] = [];
  let decodeFailed = false;
  try {
    new FrameDecoder({ maxFrameSize: CLIENT_MAX_FRAME_SIZE }).push(c.answer, (f) => frames.push(f));
  } catch {
    decodeFailed = true;
  }
  let goaway = false;
  for (const frame of frames) {
    if (frame.type === 'goaway') {
      goaway = true; // before WELCOME a load-shedding answer (§8.4): named by the CLOSE after it
      continue;
    }
    if (frame.type === 'close') {
      const kept = ['unsupported-version', 'server-full', 'protocol-error', 'handshake-timeout'].includes(frame.code);
      return { kind: 'refused', reason: goaway ? 'goaway' : kept ? frame.code : frame.code === 'going-away' ? 'server-shutdown' : 'remote-close', remoteCode: frame.code };
    }
    if (frame.type !== 'welcome') return { kind: 'refused', reason: 'protocol-error', wireCode: 'protocol-error' };
    if (frame.version !== PROTOCOL_VERSION) return { kind: 'refused', reason: 'unsupported-version', wireCode: 'unsupported-version' };
    if (frame.heartbeatIntervalMs <= 0 || frame.heartbeatTimeoutMs <= frame.heartbeatIntervalMs) return { kind: 'refused', reason: 'protocol-error', wireCode: 'protocol-error' };
    return { kind: 'open', welcome: frame };
  }
  if (decodeFailed) return { kind: 'refused', reason: 'protocol-error', wireCode: 'protocol-error' };
  if (c.after === 'silent') return { kind: 'refused', reason: 'handshake-timeout', wireCode: 'handshake-timeout' };
  return { kind: 'refused', reason: 'transport-closed' };
}

/** The scripted server's end of the pair: decodes what the client writes, answers after HELLO. */
class ScriptedServer {
  readonly received: Frame[] = [];
  receiveError: string | undefined;
  private readonly decoder = new FrameDecoder();
  helloSeen: (() => void) | undefined;

  constructor(readonly transport: MemoryTransport) {
    transport.setHandlers({
      onData: (chunk) => {
        if (this.receiveError !== undefined) return;
        try {
          this.decoder.push(chunk, (frame) => {
            this.received.push(frame);
            if (frame.type === 'hello') this.helloSeen?.();
          });
        } catch (err) {
          this.receiveError = String(err);
        }
      },
      onDrain: () => {},
      onTransportClose: () => {},
    });
  }
}

/** Run one script; returns the branch it took ('open', 'refused protocol-error'…). Throws on a broken rule. */
export async function runClientCase(c: ClientCase): Promise<string> {
  const clock = new FakeClock(1_000_000);
  const events: Array<[string, unknown]> = [];
  let server: ScriptedServer | undefined;
  let aborted = false;
  const runtime: ClientRuntime<unknown> = {
    dial: (_address, _settings, owner) => {
      queueMicrotask(() => {
        if (aborted) return;
        if (c.dialFails) return owner.dialFailed(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7400'), { code: 'ECONNREFUSED' }));
        const [ours, theirs] = createMemoryPair();
        server = new ScriptedServer(theirs);
        owner.dialed(ours, '127.0.0.1:50000');
      });
      return { abort: () => void (aborted = true) };
    },
    defaultNatStore: () => new MemoryNatStore(),
    publish: () => {},
    holdOpen: () => () => {},
    toPayload: (data) => (typeof data === 'string' ? new TextEncoder().encode(data) : data),
    toMessage: (bytes) => bytes,
  };
  const options = resolveClientOptions({ port: 7400, reconnect: false, resume: c.resume, clock, handshakeTimeout: HANDSHAKE_TIMEOUT_MS, maxFrameSize: CLIENT_MAX_FRAME_SIZE });
  const client = new ClientCore(options, runtime, {
    emit(event: string, ...args: unknown[]) {
      if (events.some(([e]) => e === 'close')) assert.fail(`'${event}' emitted after 'close'`);
      events.push([event, args[0]]);
      return true;
    },
  });
  if (c.sendEarly) client.send(new Uint8Array(200).fill(7));

  let answered = false;
  const answer = async (): Promise<void> => {
    answered = true;
    const s = server!;
    let start = 0;
    for (const cut of [...c.cuts, c.answer.length]) {
      s.transport.write(c.answer.subarray(start, cut));
      start = cut;
      await settle(); // one chunk per read
    }
    if (c.after === 'end') s.transport.end();
    else if (c.after === 'destroy') s.transport.destroy();
  };
  // Let the dial report and HELLO arrive, then answer it; then let the handshake timer run out.
  for (let i = 0; i < 5 && !answered; i++) {
    await settle();
    if (server !== undefined && server.received.some((f) => f.type === 'hello')) await answer();
  }
  for (let t = 0; t < HANDSHAKE_TIMEOUT_MS + 200; t += 50) {
    clock.advance(50);
    await settle();
  }

  const expected = expectedOutcome(c);
  let label = expected.kind === 'open' ? 'open' : `refused ${expected.reason}`;
  const opens = events.filter(([e]) => e === 'open');
  assert.ok(opens.length <= 1, 'at most one open');
  if (!c.dialFails) {
    assert.ok(server !== undefined && answered, 'the client wrote HELLO');
    assert.equal(server.receiveError, undefined, 'the client writes only valid frames');
    const hello = server.received[0];
    assert.equal(hello?.type, 'hello', 'HELLO is the first frame the client writes');
    if (hello?.type === 'hello') {
      assert.equal(hello.version, PROTOCOL_VERSION);
      assert.equal(hello.resumable === true, c.resume, 'HELLO asks for resume exactly when the client does');
    }
  }
  if (expected.kind === 'open') {
    assert.equal(opens.length, 1, `expected open; events: ${events.map(([e]) => e).join(', ')}`);
    const info = opens[0]![1] as { sessionId: string; heartbeatInterval: number; heartbeatTimeout: number };
    assert.equal(info.sessionId, expected.welcome.sessionId ? toHex(expected.welcome.sessionId) : '');
    assert.equal(info.heartbeatInterval, expected.welcome.heartbeatIntervalMs);
    assert.equal(info.heartbeatTimeout, expected.welcome.heartbeatTimeoutMs);
  } else {
    assert.equal(opens.length, 0, `no open expected (${label})`);
    const closes = events.filter(([e]) => e === 'close');
    assert.equal(closes.length, 1, `closed once before opening (${label}); events: ${events.map(([e]) => e).join(', ')}`);
    const reason = closes[0]![1] as CloseReason;
    assert.equal(reason.code, expected.reason, `reason: ${reason.message}`);
    if (expected.remoteCode !== undefined) assert.equal(reason.remoteCode, expected.remoteCode);
    if (expected.wireCode !== undefined) {
      const sent = server!.received.filter((f): f is CloseFrame => f.type === 'close').map((f) => f.code);
      assert.deepEqual(sent, [expected.wireCode], 'the client refuses with CLOSE and its code');
    }
    if (c.sendEarly) assert.ok(events.some(([e]) => e === 'undelivered'), 'the queued message is reported undelivered');
    // When the client refused, the message names the rule (numbers blanked: one class per code
    // path); a peer's CLOSE message is the peer's text and stays out.
    if (expected.wireCode !== undefined) label += `: ${reason.message.replace(/0x[0-9a-f]+/g, '#').replace(/\d+/g, '#')}`;
  }
  // Whatever happened, close() ends it, once: the graceful end runs to its last timer.
  client.close('done');
  for (let t = 0; t < 5000; t += 250) {
    clock.advance(250);
    await settle();
  }
  const closes = events.filter(([e]) => e === 'close');
  assert.equal(closes.length, 1, `exactly one close; events: ${events.map(([e]) => e).join(', ')}`);
  const reason = closes[0]![1] as CloseReason;
  assert.ok(REASON_CODES.has(reason.code), `undocumented close reason ${reason.code}`);
  assert.ok(typeof reason.message === 'string' && reason.message.length > 0, 'the reason says why');
  assert.equal(client.state, 'closed');
  return label;
}

// --- generators --------------------------------------------------------------------------------

const sessionId = fc.uint8Array({ minLength: 1, maxLength: 64 });
/** WELCOMEs around the rules: usable ones, bad versions, unusable heartbeats, any extension. */
const welcomeArb: fc.Arbitrary<Frame> = fc
  .record(
    {
      version: fc.oneof({ weight: 4, arbitrary: fc.constant(PROTOCOL_VERSION) }, { weight: 1, arbitrary: fc.constantFrom(0, 2, 255) }),
      interval: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 60_000 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 2 ** 31, Number.MAX_SAFE_INTEGER) }),
      timeoutDelta: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 60_000 }) }, { weight: 1, arbitrary: fc.integer({ min: -1000, max: 0 }) }),
      sessionId: fc.option(sessionId, { nil: undefined }),
      maxFrameSize: fc.option(fc.oneof(fc.constantFrom(1, 16, 199, 4096), fc.integer({ min: 1, max: 1 << 24 })), { nil: undefined }),
      resumed: fc.option(fc.boolean(), { nil: undefined }),
      resumeLastSeq: fc.option(fc.nat(1000), { nil: undefined }),
      resumeWindowMs: fc.option(fc.nat(60_000), { nil: undefined }),
      serverPings: fc.option(fc.boolean(), { nil: undefined }),
      presence: fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined }),
    },
    { noNullPrototype: true },
  )
  .map((w): Frame => {
    const timeout = Math.max(0, Math.min(Number.MAX_SAFE_INTEGER, w.interval + w.timeoutDelta));
    const out: WelcomeFrame = { type: 'welcome', version: w.version, heartbeatIntervalMs: w.interval, heartbeatTimeoutMs: timeout };
    for (const key of ['sessionId', 'maxFrameSize', 'resumed', 'resumeLastSeq', 'resumeWindowMs', 'serverPings', 'presence'] as const) {
      if (w[key] !== undefined) (out as unknown as Record<string, unknown>)[key] = w[key];
    }
    return out;
  });

/** A refusal as a server sends one (PROTOCOL.md §8.4): CLOSE, maybe after a GOAWAY. */
const refusalArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.option(frameArb.filter((f) => f.type === 'goaway'), { nil: undefined }),
    frameArb.filter((f) => f.type === 'close'),
  )
  .map(([goaway, close]) => concat([...(goaway ? [encodeFrame(goaway)] : []), encodeFrame(close)]));

/** One thing the server writes: a WELCOME, a refusal, any frame (DATA, PING…), or garbage. */
const item = fc.oneof(
  { weight: 4, arbitrary: welcomeArb.map(encodeFrame) },
  { weight: 2, arbitrary: refusalArb },
  { weight: 3, arbitrary: frameArb.map(encodeFrame) },
  { weight: 1, arbitrary: hostileStreamArb },
);

export const clientCaseArb: fc.Arbitrary<ClientCase> = fc
  .record(
    {
      items: fc.array(item, { maxLength: 4 }),
      after: fc.constantFrom('end' as const, 'destroy' as const, 'silent' as const),
      dialFails: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      resume: fc.boolean(),
      sendEarly: fc.boolean(),
    },
    { noNullPrototype: true },
  )
  .chain((s) => {
    const answer = concat(s.items);
    return cutsFor(answer.length, 5).map((cuts) => ({ answer, cuts, after: s.after, dialFails: s.dialFails, resume: s.resume, sendEarly: s.sendEarly }));
  });
