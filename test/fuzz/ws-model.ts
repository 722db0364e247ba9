/**
 * An independent, whole-buffer reading of RFC 6455 client frames as the lean WebSocket server
 * applies them (docs/spec/0011-transports.md §Lean WebSocket server; the check order is the one
 * src/transport/ws-codec.ts's header documents, itself `ws`'s Receiver's): the oracle the WebSocket
 * fuzz target (ws-target.ts) compares the incremental parser and WsServerTransport with. Written
 * apart from the parser on purpose — straight-line code over one buffer, no states, no split
 * headers — so a bug in the parser's chunk handling cannot hide in the model as well.
 *
 * What it predicts for a byte stream: the binary payload bytes (a data frame cut by the end of
 * the input delivers the part that arrived, as the parser does), the control frames, and the one
 * failure (WebSocket close code + LL_ERR_* code), or none; then what the server transport writes
 * back: a pong per ping, and the one close frame (the failure's code, the peer's code echoed, or
 * 1002 / 1007 for a bad close frame) with the cause its connection is told.
 */

export interface WsModelFailure {
  closeCode: 1002 | 1003 | 1009;
  code: 'LL_ERR_WS_PROTOCOL' | 'LL_ERR_WS_TEXT_MESSAGE' | 'LL_ERR_WS_MESSAGE_TOO_LARGE';
}

export interface WsModelOutcome {
  data: Uint8Array;
  controls: Array<{ opcode: number; payload: Uint8Array }>;
  failure: WsModelFailure | undefined;
}

const PROTOCOL: WsModelFailure = { closeCode: 1002, code: 'LL_ERR_WS_PROTOCOL' };

export function modelWsParse(input: Uint8Array, maxMessageBytes: number): WsModelOutcome {
  const data: number[] = [];
  const controls: WsModelOutcome['controls'] = [];
  let fragmented = false;
  let messageBytes = 0;
  let at = 0;
  const n = input.length;
  const done = (failure?: WsModelFailure): WsModelOutcome => ({ data: Uint8Array.from(data), controls, failure });
  while (at < n) {
    const b0 = input[at]!;
    if ((b0 & 0x70) !== 0) return done(PROTOCOL);
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    const control = opcode >= 8;
    if (opcode > 10 || (opcode >= 3 && opcode <= 7)) return done(PROTOCOL);
    if (control && !fin) return done(PROTOCOL);
    if (opcode === 0 && !fragmented) return done(PROTOCOL);
    if ((opcode === 1 || opcode === 2) && fragmented) return done(PROTOCOL);
    if (opcode === 1) return done({ closeCode: 1003, code: 'LL_ERR_WS_TEXT_MESSAGE' });
    if (at + 1 >= n) return done();
    const b1 = input[at + 1]!;
    const length7 = b1 & 0x7f;
    if (control && length7 > 125) return done(PROTOCOL);
    if ((b1 & 0x80) === 0) return done(PROTOCOL);
    const extended = length7 === 126 ? 2 : length7 === 127 ? 8 : 0;
    if (at + 2 + extended > n) return done();
    let length = length7;
    if (extended === 2) length = input[at + 2]! * 256 + input[at + 3]!;
    if (extended === 8) {
      if (input[at + 2]! >= 0x80) return done(PROTOCOL);
      length = 0;
      for (let i = 0; i < 8; i++) length = length * 256 + input[at + 2 + i]!;
    }
    if (!control && messageBytes + length > maxMessageBytes) return done({ closeCode: 1009, code: 'LL_ERR_WS_MESSAGE_TOO_LARGE' });
    const maskAt = at + 2 + extended;
    if (maskAt + 4 > n) return done();
    const key = input.subarray(maskAt, maskAt + 4);
    const payloadAt = maskAt + 4;
    const available = Math.min(length, n - payloadAt);
    const payload = new Uint8Array(available);
    for (let i = 0; i < available; i++) payload[i] = input[payloadAt + i]! ^ key[i & 3]!;
    if (!control) {
      for (const b of payload) data.push(b);
      if (available < length) return done();
      messageBytes += length;
      fragmented = !fin;
      if (fin) messageBytes = 0;
    } else {
      if (available < length) return done();
      controls.push({ opcode, payload });
      if (opcode === 8) return done(); // nothing is read after a close frame
    }
    at = payloadAt + length;
  }
  return done();
}

/** Close codes a close frame may carry (RFC 6455 §7.4.1, as `ws` judges them). */
export function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

function isUtf8(bytes: Uint8Array): boolean {
  try {
    fatalUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

export interface WsServerModel {
  /** Payloads of the pongs written back, in order. */
  pongs: Uint8Array[];
  /** The one close frame written: its code (0: an empty close frame), or undefined for none. */
  closeCode: number | undefined;
  /** What the connection above is told when the transport closes. */
  cause: { kind: 'end' } | { kind: 'error'; code: string };
}

/**
 * What WsServerTransport does with the outcome above (src/transport/ws-server.ts header): pings
 * answered until the close, the peer's close echoed (1000 / 1001 / none: a clean end, any other
 * valid code: LL_ERR_WS_CLOSED), a bad close code → 1002, a reason that is not UTF-8 → 1007, a
 * parser failure → its close code. Without a close or failure the peer's FIN is a clean end.
 */
export function modelWsServer(outcome: WsModelOutcome): WsServerModel {
  const pongs = outcome.controls.filter((c) => c.opcode === 9).map((c) => c.payload);
  const close = outcome.controls.find((c) => c.opcode === 8);
  if (outcome.failure !== undefined) return { pongs, closeCode: outcome.failure.closeCode, cause: { kind: 'error', code: outcome.failure.code } };
  if (close === undefined) return { pongs, closeCode: undefined, cause: { kind: 'end' } };
  const p = close.payload;
  if (p.length === 0) return { pongs, closeCode: 0, cause: { kind: 'end' } };
  const code = p.length >= 2 ? p[0]! * 256 + p[1]! : 0;
  if (!validCloseCode(code)) return { pongs, closeCode: 1002, cause: { kind: 'error', code: 'LL_ERR_WS_PROTOCOL' } };
  if (!isUtf8(p.subarray(2))) return { pongs, closeCode: 1007, cause: { kind: 'error', code: 'LL_ERR_WS_PROTOCOL' } };
  return { pongs, closeCode: code, cause: code === 1000 || code === 1001 ? { kind: 'end' } : { kind: 'error', code: 'LL_ERR_WS_CLOSED' } };
}
