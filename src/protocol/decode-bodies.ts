/**
 * The other long-frame bodies — DATA, GOAWAY, CLOSE, ACK (PROTOCOL.md §6.6–§6.10) — and the
 * compact PONG (§6.2). PRESENCE has its own file (presence-frame.ts), HELLO / WELCOME theirs
 * (decode-handshake.ts). Called by FrameDecoder (decoder.ts) with the whole body in memory.
 * Pure module: no `node:*`, no `Buffer`.
 */
import { ProtocolError } from '../errors.js';
import {
  CLOSE_CODES,
  GOAWAY_CODES,
  MAX_MESSAGE_BYTES,
  PEER_STATUSES,
  type AckFrame,
  type CloseCode,
  type CloseFrame,
  type DataFrame,
  type GoawayCode,
  type GoawayFrame,
  type PongFrame,
} from './frames.js';
import { hex, type BodyReader } from './body-reader.js';

// Wire number → name, unknown numbers → 'unknown' (a newer peer may send codes we do not know).
const CLOSE_CODE_NAMES = reverseTable<CloseCode>(CLOSE_CODES);
const GOAWAY_CODE_NAMES = reverseTable<GoawayCode>(GOAWAY_CODES);

export function decodeAck(r: BodyReader): AckFrame {
  const seq = r.varint('ACK seq');
  if (r.pos !== r.end) throw new ProtocolError('LL_ERR_MALFORMED_FRAME', 'ACK has trailing bytes after its seq');
  return { type: 'ack', seq };
}

export function decodeData(r: BodyReader): DataFrame {
  const seq = r.varint('DATA seq');
  return { type: 'data', seq, payload: r.buf.subarray(r.pos, r.end) };
}

export function decodeGoaway(r: BodyReader): GoawayFrame {
  const code = GOAWAY_CODE_NAMES[r.u8('GOAWAY code')]!;
  const retryAfterMs = r.varint('GOAWAY retryAfterMs');
  const message = r.string('GOAWAY message', MAX_MESSAGE_BYTES);
  const redirect = r.string('GOAWAY redirect', Number.MAX_SAFE_INTEGER);
  r.expectEnd('GOAWAY');
  const frame: GoawayFrame = { type: 'goaway', code, message, retryAfterMs };
  if (redirect !== '') frame.redirect = redirect;
  return frame;
}

export function decodeClose(r: BodyReader): CloseFrame {
  const code = CLOSE_CODE_NAMES[r.u8('CLOSE code')]!;
  const message = r.string('CLOSE message', MAX_MESSAGE_BYTES);
  r.expectEnd('CLOSE');
  return { type: 'close', code, message };
}

export function checkPongStatus(typeByte: number): void {
  if ((typeByte & 0x60) === 0x60) {
    throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `PONG type byte ${hex(typeByte)} has invalid status bits 11`);
  }
}

export function pong(typeByte: number, load: number): PongFrame {
  return { type: 'pong', id: typeByte & 0x1f, status: PEER_STATUSES[(typeByte >> 5) & 0x03]!, load };
}

function reverseTable<Name extends string>(table: Readonly<Record<Name, number>>): readonly Name[] {
  const names = new Array<Name>(256).fill('unknown' as Name);
  for (const name of Object.keys(table) as Name[]) names[table[name]] = name;
  return names;
}
