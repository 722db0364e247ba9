/**
 * The WebSocket codec as a fuzz target (issue 15 item 1): one input — client bytes, chunk cuts, a
 * message limit — through src/transport/ws-codec.ts's WsFrameParser, chunked and whole, and
 * through WsServerTransport (src/transport/ws-server.ts) over a recording inner transport. Checked
 * on every input, against the independent model in ws-model.ts:
 * - the payload stream, the control frames and the one failure (close code + LL_ERR_* code) are
 *   the model's, whatever the chunking; the only failures are the three documented pairs
 *   (1002 LL_ERR_WS_PROTOCOL, 1003 LL_ERR_WS_TEXT_MESSAGE, 1009 LL_ERR_WS_MESSAGE_TOO_LARGE);
 * - nothing reaches the sink after a failure or a close frame, not even from later pushes;
 * - memory: the parser keeps at most a 14-byte header and a 125-byte control payload, never a
 *   message (it hands payload on as it arrives), and no message passes the limit;
 * - the server transport writes only valid server frames (FIN, unmasked): a pong echoing each
 *   ping, then at most one close frame with the model's code and a UTF-8 reason of ≤ 123 bytes,
 *   then its end; its connection sees the model's byte stream and exactly one close, with the
 *   model's cause.
 * A broken rule throws an AssertionError. Shared by test/fuzz/ws.property.test.ts, the corpus
 * replay (codec-corpus.test.ts) and `npm run fuzz -- --target ws`.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LifelineError } from '../../src/errors.js';
import { WsFrameParser, type WsFrameSink } from '../../src/transport/ws-codec.js';
import { WsServerTransport } from '../../src/transport/ws-server.js';
import type { Transport, TransportCloseCause, TransportHandlers } from '../../src/transport/types.js';
import { clientFrame, closePayload, parseServerFrames } from '../fixtures/ws-frames.js';
import { applyEdits, concat, cutsFor, editArb } from './arbitraries.js';
import { modelWsParse, modelWsServer, validCloseCode, type WsModelOutcome } from './ws-model.js';

export interface WsInput {
  bytes: Uint8Array;
  cuts: readonly number[];
  maxMessageBytes: number;
}

export const WS_LIMITS = [16, 125, 300, 4096, 65_536 + 16];
const FAILURES = new Map([
  [1002, 'LL_ERR_WS_PROTOCOL'],
  [1003, 'LL_ERR_WS_TEXT_MESSAGE'],
  [1009, 'LL_ERR_WS_MESSAGE_TOO_LARGE'],
]);

/** The parser's split-header and control buffers, read for the memory check only (white box, on purpose). */
interface ParserInternals {
  head: Uint8Array | undefined;
  control: Uint8Array | undefined;
}

class CheckingSink implements WsFrameSink {
  readonly data: Uint8Array[] = [];
  readonly controls: Array<{ opcode: number; payload: Uint8Array }> = [];
  failure: { closeCode: number; code: string } | undefined;
  failureMessage = '';
  private ended = false;

  wsData(bytes: Uint8Array): void {
    assert.ok(!this.ended, 'payload after a failure or a close frame');
    assert.ok(bytes.byteLength > 0, 'no empty payload calls');
    this.data.push(bytes.slice());
  }

  wsControl(opcode: number, payload: Uint8Array): void {
    assert.ok(!this.ended, 'a control frame after a failure or a close frame');
    assert.ok(opcode === 8 || opcode === 9 || opcode === 10, `control opcode ${opcode}`);
    assert.ok(payload.byteLength <= 125, `control payload of ${payload.byteLength} bytes`);
    this.controls.push({ opcode, payload: payload.slice() });
    if (opcode === 8) this.ended = true;
  }

  wsFail(closeCode: number, error: LifelineError): void {
    assert.ok(!this.ended, 'a second failure, or one after a close frame');
    assert.ok(error instanceof LifelineError, 'the failure is a LifelineError');
    assert.equal(FAILURES.get(closeCode), error.code, `close code ${closeCode} with ${error.code}`);
    assert.ok(error.message.length > 0, 'the failure names the fault');
    this.failure = { closeCode, code: error.code };
    this.failureMessage = error.message;
    this.ended = true;
  }
}

function chunksOf(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    // Fresh copies: the parser unmasks in place, as transports hand over chunks that are its own.
    out.push(bytes.slice(start, cut));
    start = cut;
  }
  return out;
}

function parseWith(chunks: readonly Uint8Array[], maxMessageBytes: number): { sink: CheckingSink; outcome: WsModelOutcome } {
  const sink = new CheckingSink();
  const parser = new WsFrameParser(sink, maxMessageBytes);
  const internals = parser as unknown as ParserInternals;
  for (const chunk of chunks) {
    parser.push(chunk);
    assert.ok((internals.head?.length ?? 0) <= 14, 'split header buffer over 14 bytes');
    assert.ok((internals.control?.length ?? 0) <= 125, 'control buffer over 125 bytes');
  }
  if (sink.failure !== undefined || sink.controls.some((c) => c.opcode === 8)) {
    assert.ok(parser.stopped, 'stopped after a failure or close');
    const before = sink.data.length + sink.controls.length;
    parser.push(clientFrame(2, Uint8Array.of(1, 2, 3)));
    assert.equal(sink.data.length + sink.controls.length, before, 'a stopped parser reads nothing');
  }
  const failure = sink.failure as WsModelOutcome['failure'];
  return { sink, outcome: { data: concat(sink.data), controls: sink.controls, failure } };
}

/** A recording inner transport: the upgraded socket under WsServerTransport. */
class InnerTransport implements Transport {
  readonly kind = 'tcp' as const;
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 1;
  readonly bufferedBytes = 0;
  handlers: TransportHandlers | undefined;
  readonly written: Uint8Array[] = [];
  ended = false;
  destroyed = false;
  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }
  write(bytes: Uint8Array): boolean {
    assert.ok(!this.ended && !this.destroyed, 'a write after the end');
    this.written.push(Uint8Array.from(bytes));
    return true;
  }
  cork(): void {}
  uncork(): void {}
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

/** Returns the message of the error the connection is told of (empty for a clean end). */
function runServer(chunks: readonly Uint8Array[], maxMessageBytes: number, expected: WsModelOutcome): string {
  const inner = new InnerTransport();
  const ws = new WsServerTransport(inner, { maxMessageBytes });
  const received: Uint8Array[] = [];
  const causes: TransportCloseCause[] = [];
  ws.setHandlers({ onData: (b) => void received.push(b.slice()), onDrain: () => {}, onTransportClose: (c) => void causes.push(c) });
  for (const chunk of chunks) inner.handlers!.onData(chunk);
  // The socket closes: after our FIN (we ended it), or the peer's FIN.
  inner.handlers!.onTransportClose({ kind: inner.ended ? 'local' : 'end' });
  inner.handlers!.onTransportClose({ kind: 'end' }); // a second report is ignored

  const model = modelWsServer(expected);
  assert.deepEqual(Buffer.from(concat(received)), Buffer.from(expected.data), 'the connection reads the model byte stream');
  const { frames, rest } = parseServerFrames(Buffer.from(concat(inner.written)));
  assert.equal(rest.byteLength, 0, 'only whole frames are written');
  for (const f of frames) {
    assert.ok(f.fin && !f.masked, 'server frames: FIN set, unmasked');
    assert.ok(f.opcode === 8 || f.opcode === 10, `the server answers only pongs and a close (opcode ${f.opcode})`);
  }
  const pongs = frames.filter((f) => f.opcode === 10);
  assert.deepEqual(pongs.map((p) => Buffer.from(p.payload)), model.pongs.map((p) => Buffer.from(p)), 'a pong echoing every ping');
  const closes = frames.filter((f) => f.opcode === 8);
  assert.ok(closes.length <= 1, 'at most one close frame');
  assert.equal(frames.at(-1)?.opcode === 8 || closes.length === 0, true, 'nothing after the close frame');
  if (model.closeCode === undefined) {
    assert.equal(closes.length, 0, 'no close frame without a close or a failure');
  } else {
    assert.equal(closes.length, 1, `a close frame (${model.closeCode})`);
    const payload = closes[0]!.payload;
    const code = payload.byteLength >= 2 ? payload.readUInt16BE(0) : 0;
    assert.equal(code, model.closeCode, 'the close code');
    if (code !== 0) assert.ok(validCloseCode(code));
    assert.ok(payload.byteLength <= 125);
    new TextDecoder('utf-8', { fatal: true }).decode(payload.subarray(2)); // throws on a split character
    assert.ok(inner.ended, 'the server ends the socket after its close frame');
  }
  assert.equal(causes.length, 1, 'exactly one close for the connection');
  const cause = causes[0]!;
  if (model.cause.kind === 'end') assert.equal(cause.kind, 'end');
  else {
    assert.equal(cause.kind, 'error');
    assert.equal((cause.error as LifelineError | undefined)?.code, model.cause.code);
  }
  return cause.error?.message ?? '';
}

/** Run one input; returns its outcome class ('ok', 'ok close', '1002 LL_ERR_WS_PROTOCOL'…). Throws on a broken rule. */
export function runWsCase(input: WsInput): string {
  const expected = modelWsParse(input.bytes, input.maxMessageBytes);
  const whole = parseWith([input.bytes.slice()], input.maxMessageBytes);
  const chunked = parseWith(chunksOf(input.bytes, input.cuts), input.maxMessageBytes);
  for (const [name, got] of [['whole', whole.outcome], ['chunked', chunked.outcome]] as const) {
    assert.deepEqual(got.failure, expected.failure, `${name}: the failure`);
    assert.deepEqual(Buffer.from(got.data), Buffer.from(expected.data), `${name}: the payload stream`);
    assert.deepEqual(got.controls.map(hexControl), expected.controls.map(hexControl), `${name}: the control frames`);
  }
  const serverMessage = runServer(chunksOf(input.bytes, input.cuts), input.maxMessageBytes, expected);
  // The refusal's message names the rule (its numbers blanked: one class per code path); the
  // peer's own close reason (echoed codes) is its text, not ours, and stays out.
  const server = modelWsServer(expected);
  const why = whole.sink.failureMessage || (server.cause.kind === 'error' && server.cause.code === 'LL_ERR_WS_PROTOCOL' ? serverMessage : '');
  const cls = wsOutcomeClass(expected);
  return why === '' ? cls : `${cls}: ${why.replace(/0x[0-9a-f]+/g, '#').replace(/\d+/g, '#')}`;
}

function hexControl(c: { opcode: number; payload: Uint8Array }): string {
  return `${c.opcode}:${Buffer.from(c.payload).toString('hex')}`;
}

/** A coarse class of an outcome: the failure, or how a clean stream ended, and what the server closes with. */
export function wsOutcomeClass(outcome: WsModelOutcome): string {
  const server = modelWsServer(outcome);
  const parse = outcome.failure ? `${outcome.failure.closeCode} ${outcome.failure.code}` : outcome.controls.some((c) => c.opcode === 8) ? 'ok close' : 'ok';
  if (server.closeCode === undefined) return parse;
  // Echoed peer codes are many (3000–4999 alone): one class for all that end in LL_ERR_WS_CLOSED.
  const echoed = server.cause.kind === 'error' && server.cause.code === 'LL_ERR_WS_CLOSED';
  return `${parse} → close ${echoed ? 'echoed' : server.closeCode}`;
}

// --- generators --------------------------------------------------------------------------------

const closeBody = fc.oneof(
  fc.tuple(
    fc.oneof(fc.constantFrom(1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1011, 1014, 1015, 2999, 3000, 4999, 5000), fc.integer({ min: 0, max: 65535 })),
    fc.oneof(fc.string({ maxLength: 40 }).map((s) => Buffer.from(s, 'utf8')), fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b))),
  ).map(([code, reason]) => Buffer.concat([closePayload(code), reason]).subarray(0, 125)),
  fc.constantFrom(Buffer.alloc(0), Buffer.of(3)),
);

/** One client frame: mostly well formed (so parsing reaches deep), sometimes with a bad bit. */
export const wsFrameArb: fc.Arbitrary<Uint8Array> = fc
  .record(
    {
      opcode: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(0, 2, 2, 9, 10, 8) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
      fin: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      rsv: fc.oneof({ weight: 20, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(0x10, 0x20, 0x40) }),
      unmasked: fc.oneof({ weight: 30, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      form: fc.constantFrom(undefined, undefined, undefined, 16, 64),
      high: fc.oneof({ weight: 30, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(1, 0x7fffffff, 0x80000000) }),
      mask: fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)),
      payload: fc.oneof(
        { weight: 6, arbitrary: fc.uint8Array({ maxLength: 130 }) },
        { weight: 1, arbitrary: fc.uint8Array({ minLength: 126, maxLength: 700 }) },
      ),
      close: closeBody,
    },
    { noNullPrototype: true },
  )
  .map((f) => {
    const payload = f.opcode === 8 ? f.close : f.payload;
    const lengthForm = f.form === 16 && payload.length > 0xffff ? 64 : f.form;
    return clientFrame(f.opcode, payload, {
      fin: f.fin,
      rsv: f.rsv,
      unmasked: f.unmasked,
      mask: f.mask,
      ...(lengthForm ? { lengthForm } : {}),
      ...(lengthForm === 64 && f.high !== undefined ? { high: f.high } : {}),
    });
  });

/** A well-formed message: binary, fragmented into 1–4 frames, control frames between them. */
const wsMessageArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 4 }),
    fc.array(fc.tuple(fc.constantFrom(9, 10), fc.uint8Array({ maxLength: 125 })), { maxLength: 3 }),
  )
  .map(([parts, controls]) =>
    concat(
      parts.flatMap((part, i) => {
        const frame = clientFrame(i === 0 ? 2 : 0, part, { fin: i === parts.length - 1 });
        const control = controls[i];
        return control ? [frame, clientFrame(control[0], control[1])] : [frame];
      }),
    ),
  );

/** A client byte stream: valid messages and frames, random frames, edits, garbage, maybe a close. */
export const wsStreamArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.oneof(wsMessageArb, wsFrameArb), { maxLength: 6 }).map(concat) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.array(fc.oneof(wsMessageArb, wsFrameArb), { minLength: 1, maxLength: 5 }), fc.array(editArb, { minLength: 1, maxLength: 4 })).map(([frames, edits]) => applyEdits(concat(frames), edits)),
  },
  {
    // A clean session end: messages, then a close frame that should be echoed.
    weight: 1,
    arbitrary: fc.tuple(fc.array(wsMessageArb, { maxLength: 3 }), fc.constantFrom(1000, 1001, 3000), fc.string({ maxLength: 20 })).map(([messages, code, reason]) => concat([...messages, clientFrame(8, closePayload(code, reason).subarray(0, 125))])),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
);

export const wsInputArb: fc.Arbitrary<WsInput> = fc
  .tuple(wsStreamArb, fc.constantFrom(...WS_LIMITS))
  .chain(([bytes, maxMessageBytes]) => cutsFor(bytes.length, 8).map((cuts) => ({ bytes, cuts, maxMessageBytes })));
