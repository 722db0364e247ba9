/**
 * The cursor every frame-body parser reads through (decode-handshake.ts, decode-bodies.ts,
 * presence-frame.ts), and the small error helpers they share. Split out of decoder.ts so the
 * incremental framing and the per-type body parsers can each be read alone.
 *
 * One BodyReader serves every decoder (`sharedReader`): a body is decoded synchronously inside
 * FrameDecoder.push() and the reader is let go after, so nothing is allocated per frame.
 * Pure module: no `node:*`, no `Buffer`.
 */
import { ProtocolError } from '../errors.js';
import { readVarint, type ReadCursor } from './varint.js';

export const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Cursor over one frame body; its methods throw ProtocolError naming the field. */
export class BodyReader implements ReadCursor {
  buf: Uint8Array = EMPTY;
  pos = 0;
  end = 0;

  reset(buf: Uint8Array, start: number, end: number): void {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  u8(field: string): number {
    if (this.pos >= this.end) throw pastEnd(field);
    return this.buf[this.pos++]!;
  }

  varint(field: string): number {
    return readVarint(this.buf, this, this.end, field);
  }

  /** A length-prefixed UTF-8 string, strictly validated; at most `maxBytes` bytes. */
  string(field: string, maxBytes: number): string {
    const length = this.varint(field);
    if (length === 0) return '';
    if (length > this.end - this.pos) throw pastEnd(field);
    if (length > maxBytes) {
      throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `${field} is ${length} bytes, over the ${maxBytes}-byte limit`);
    }
    const start = this.pos;
    this.pos += length;
    try {
      return utf8.decode(this.buf.subarray(start, this.pos));
    } catch (cause) {
      throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `${field} is not valid UTF-8`, { cause });
    }
  }

  expectEnd(frameName: string): void {
    if (this.pos !== this.end) {
      throw new ProtocolError(
        'LL_ERR_MALFORMED_FRAME',
        `${frameName} has ${this.end - this.pos} trailing bytes after its last field`,
      );
    }
  }
}

export const sharedReader = new BodyReader();

export function pastEnd(field: string): ProtocolError {
  return new ProtocolError('LL_ERR_MALFORMED_FRAME', `${field} runs past the end of the frame body`);
}

export function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`;
}
