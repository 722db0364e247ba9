/**
 * Bytes → frames (PROTOCOL.md §3–§6, errors §9). An incremental state machine in the manner of
 * ws `lib/receiver.js`: it keeps a numeric state, consumes exactly the bytes each state needs
 * across chunk boundaries, and loops until the chunk is used up, so any split of a byte stream
 * into chunks yields the same frames.
 *
 * Bounds and costs (this runs per frame on servers holding ~100k connections):
 * - The frame-size limit is checked as soon as the body-length varint is complete, before a single
 *   body byte is buffered; `bufferedBytes` is always below `maxFrameSize`.
 * - A frame whose body lies wholly inside one chunk is decoded in place: a DATA payload is a
 *   subarray *view* of that chunk. Bytes are copied only to reassemble a body split across chunks,
 *   into a buffer that grows with the bytes actually received (a 4-byte header claiming 1 MiB does
 *   not make us allocate 1 MiB).
 * - PING/PONG never touch the reassembly path; a PONG split after its type byte keeps one byte of
 *   state. No closures or per-byte allocations on any path; pushed into a FrameSink, a PING
 *   allocates nothing at all (onPing(id), no frame object). One BodyReader serves every decoder.
 * - After any error the decoder is dead: every later push() / end() throws again.
 *
 * Contract: chunks must not be mutated after push() (DATA payloads may alias them — Node socket
 * chunks never are). onFrame must not call push() re-entrantly. If onFrame throws, the decoder
 * dies too (the rest of that chunk is lost) and the error propagates unchanged.
 * Pure module: no `node:*`, no `Buffer`.
 */
import { InvalidOptionError, LifelineError, ProtocolError } from '../errors.js';
import {
  CLOSE_CODES,
  DEFAULT_MAX_FRAME_SIZE,
  GOAWAY_CODES,
  HELLO_MAGIC_0,
  HELLO_MAGIC_1,
  HELLO_TAGS,
  LONG_FRAME_TYPES,
  MAX_MESSAGE_BYTES,
  MAX_SESSION_ID_BYTES,
  PEER_STATUSES,
  WELCOME_TAGS,
  type AckFrame,
  type CloseCode,
  type CloseFrame,
  type DataFrame,
  type Frame,
  type GoawayCode,
  type GoawayFrame,
  type HelloFrame,
  type PongFrame,
  type WelcomeFrame,
} from './frames.js';
import { MAX_LENGTH_VARINT_BYTES, readVarint, type ReadCursor } from './varint.js';
import { decodePresence } from './presence-frame.js';

export interface FrameDecoderOptions {
  /**
   * Largest accepted frame, bytes, counting type byte + length varint + body.
   * Default DEFAULT_MAX_FRAME_SIZE (1 MiB); at least MIN_MAX_FRAME_SIZE.
   */
  maxFrameSize?: number;
}

/**
 * Floor for maxFrameSize, bytes. A HELLO or WELCOME without extensions is up to 21 bytes and grows
 * with a session id (up to 64 bytes more), so a smaller limit can only be a misconfiguration; the
 * server's option has the same floor. It also keeps a partial length field (≤ 4 bytes) below it.
 */
export const MIN_MAX_FRAME_SIZE = 64;

export type OnFrame = (frame: Frame) => void;

/**
 * What push() can feed instead of an OnFrame callback: an object whose methods take the frames.
 * A PING goes to onPing(id) without a frame object (a server decodes one per heartbeat per
 * connection); every other frame goes to onFrame().
 */
export interface FrameSink {
  onFrame(frame: Frame): void;
  onPing(id: number): void;
}

/**
 * Adapts an OnFrame callback to FrameSink. One for all decoders (push() saves and restores its
 * callback, so a callback that pushes into another decoder is fine): nothing per decoder.
 */
class CallbackSink implements FrameSink {
  callback: OnFrame = noop;

  onFrame(frame: Frame): void {
    this.callback(frame);
  }

  onPing(id: number): void {
    this.callback({ type: 'ping', id });
  }
}

function noop(): void {}

const sharedCallbackSink = new CallbackSink();

/**
 * Weight of the n-th byte (from 0) of the little-endian base-128 length varint, as small
 * integers: `128 ** n` is a double, and storing it would make `lengthValue` a boxed heap number
 * in every decoder.
 */
const LENGTH_BYTE_WEIGHTS = [1, 128, 16384, 2097152] as const;

// Numeric states, as in ws: a switch on small integers stays monomorphic and cheap.
const ST_TYPE = 0;
const ST_PONG_LOAD = 1;
const ST_LENGTH = 2;
const ST_BODY = 3;
const ST_DEAD = 4;

/** Bodies up to this size are allocated whole on their first piece; larger ones grow as they arrive. */
const PREALLOC_BODY_BYTES = 4096;

const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// Wire number → name, unknown numbers → 'unknown' (a newer peer may send codes we do not know).
const CLOSE_CODE_NAMES = reverseTable<CloseCode>(CLOSE_CODES);
const GOAWAY_CODE_NAMES = reverseTable<GoawayCode>(GOAWAY_CODES);

export class FrameDecoder {
  private readonly maxFrameSize: number;
  private state = ST_TYPE;
  /** Type byte of the frame in progress: a PONG's (ST_PONG_LOAD) or a long frame's type (after). */
  private typeByte = 0;
  /** The body length varint read so far; once complete, the body length. */
  private lengthValue = 0;
  private lengthBytes = 0;
  private assembly: Uint8Array = EMPTY;
  private assembled = 0;
  private failure: unknown = undefined;

  constructor(options: FrameDecoderOptions = {}) {
    const maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    if (!Number.isSafeInteger(maxFrameSize) || maxFrameSize < MIN_MAX_FRAME_SIZE) {
      throw new InvalidOptionError(
        'maxFrameSize',
        `must be an integer >= ${MIN_MAX_FRAME_SIZE} (bytes), got ${String(maxFrameSize)}`,
      );
    }
    this.maxFrameSize = maxFrameSize;
  }

  /** Bytes of the current incomplete frame received so far (0 between frames); < maxFrameSize. */
  get bufferedBytes(): number {
    switch (this.state) {
      case ST_PONG_LOAD:
        return 1;
      case ST_LENGTH:
        return 1 + this.lengthBytes;
      case ST_BODY:
        return 1 + this.lengthBytes + this.assembled;
      default:
        return 0;
    }
  }

  /** Feed bytes; calls onFrame (or the sink's methods) for every frame completed by them, in order. */
  push(chunk: Uint8Array, onFrame: OnFrame | FrameSink): void {
    if (this.state === ST_DEAD) throw this.deadError();
    if (typeof onFrame !== 'function') {
      try {
        this.consume(chunk, onFrame);
      } catch (err) {
        this.kill(err);
        throw err;
      }
      return;
    }
    const adapter = sharedCallbackSink;
    const outer = adapter.callback; // a push() from inside another decoder's callback
    adapter.callback = onFrame;
    try {
      this.consume(chunk, adapter);
    } catch (err) {
      this.kill(err);
      throw err;
    } finally {
      adapter.callback = outer;
    }
  }

  /** The stream ended: throws LL_ERR_TRUNCATED_FRAME if it stopped inside a frame. */
  end(): void {
    if (this.state === ST_DEAD) throw this.deadError();
    if (this.state === ST_TYPE) return;
    const err = new ProtocolError(
      'LL_ERR_TRUNCATED_FRAME',
      `stream ended inside a ${this.partialFrameName()} frame (${this.bufferedBytes} bytes received)`,
    );
    this.kill(err);
    throw err;
  }

  private consume(chunk: Uint8Array, sink: FrameSink): void {
    const length = chunk.length;
    let pos = 0;
    while (pos < length) {
      switch (this.state) {
        case ST_TYPE: {
          const byte = chunk[pos]!;
          if (byte >= 0x80) {
            checkPongStatus(byte);
            if (pos + 1 < length) {
              pos += 2;
              sink.onFrame(pong(byte, chunk[pos - 1]!));
            } else {
              this.typeByte = byte;
              this.state = ST_PONG_LOAD;
              pos += 1;
            }
          } else if (byte >= 0x40) {
            if (byte >= 0x60) {
              throw new ProtocolError(
                'LL_ERR_UNKNOWN_FRAME_TYPE',
                `type byte ${hex(byte)} uses the reserved compact prefix 011`,
              );
            }
            pos += 1;
            sink.onPing(byte & 0x1f);
          } else {
            if (byte === 0 || byte > LONG_FRAME_TYPES.presence) {
              throw new ProtocolError('LL_ERR_UNKNOWN_FRAME_TYPE', `unknown long frame type ${byte} (type byte ${hex(byte)})`);
            }
            this.typeByte = byte;
            this.lengthValue = 0;
            this.lengthBytes = 0;
            this.state = ST_LENGTH;
            pos += 1;
          }
          break;
        }
        case ST_PONG_LOAD: {
          this.state = ST_TYPE;
          sink.onFrame(pong(this.typeByte, chunk[pos++]!));
          break;
        }
        case ST_LENGTH: {
          const byte = chunk[pos++]!;
          this.lengthBytes += 1;
          // Little-endian base-128: the n-th byte (from 0) weighs 128^n.
          this.lengthValue += (byte & 0x7f) * LENGTH_BYTE_WEIGHTS[this.lengthBytes - 1]!;
          if (byte >= 0x80) {
            if (this.lengthBytes === MAX_LENGTH_VARINT_BYTES) {
              throw new ProtocolError(
                'LL_ERR_MALFORMED_FRAME',
                `${longTypeName(this.typeByte)} body length varint is longer than ${MAX_LENGTH_VARINT_BYTES} bytes`,
              );
            }
            break;
          }
          if (byte === 0 && this.lengthBytes > 1) {
            throw new ProtocolError(
              'LL_ERR_MALFORMED_FRAME',
              `${longTypeName(this.typeByte)} body length is a non-minimal varint`,
            );
          }
          const frameSize = 1 + this.lengthBytes + this.lengthValue;
          if (frameSize > this.maxFrameSize) {
            throw new ProtocolError(
              'LL_ERR_FRAME_TOO_LARGE',
              `${longTypeName(this.typeByte)} frame of ${frameSize} bytes exceeds maxFrameSize ${this.maxFrameSize}`,
            );
          }
          if (this.lengthValue === 0) {
            // No body bytes will come, so decode now rather than wait for a next chunk.
            this.state = ST_TYPE;
            sink.onFrame(this.decodeBody(EMPTY, 0, 0));
          } else {
            this.state = ST_BODY;
          }
          break;
        }
        case ST_BODY: {
          const available = length - pos;
          if (this.assembled === 0 && available >= this.lengthValue) {
            // Whole body in this chunk: decode in place, zero copy.
            const start = pos;
            pos += this.lengthValue;
            this.state = ST_TYPE;
            sink.onFrame(this.decodeBody(chunk, start, pos));
          } else {
            const take = Math.min(available, this.lengthValue - this.assembled);
            this.append(chunk, pos, take);
            pos += take;
            if (this.assembled === this.lengthValue) {
              const body = this.assembly; // exactly lengthValue long, see append()
              this.assembly = EMPTY;
              this.assembled = 0;
              this.state = ST_TYPE;
              sink.onFrame(this.decodeBody(body, 0, body.length));
            }
          }
          break;
        }
      }
    }
  }

  /** Copy `count` bytes into the reassembly buffer, growing it (never past the body length). */
  private append(src: Uint8Array, start: number, count: number): void {
    const needed = this.assembled + count;
    if (needed > this.assembly.length) {
      const capacity = Math.min(this.lengthValue, Math.max(needed, this.assembly.length * 2, PREALLOC_BODY_BYTES));
      const grown = new Uint8Array(capacity);
      if (this.assembled > 0) grown.set(this.assembly.subarray(0, this.assembled));
      this.assembly = grown;
    }
    this.assembly.set(src.subarray(start, start + count), this.assembled);
    this.assembled = needed;
  }

  private decodeBody(body: Uint8Array, start: number, end: number): Frame {
    // One reader for every decoder: a body is decoded synchronously and the reader let go after.
    const r = sharedReader;
    r.reset(body, start, end);
    try {
      switch (this.typeByte) {
        case LONG_FRAME_TYPES.hello:
          return decodeHello(r);
        case LONG_FRAME_TYPES.welcome:
          return decodeWelcome(r);
        case LONG_FRAME_TYPES.data:
          return decodeData(r);
        case LONG_FRAME_TYPES.goaway:
          return decodeGoaway(r);
        case LONG_FRAME_TYPES.ack:
          return decodeAck(r);
        case LONG_FRAME_TYPES.presence:
          return decodePresence(r);
        default:
          return decodeClose(r);
      }
    } finally {
      r.reset(EMPTY, 0, 0); // drop the reference to the chunk
    }
  }

  private kill(err: unknown): void {
    this.state = ST_DEAD;
    this.failure = err;
    this.assembly = EMPTY;
    this.assembled = 0;
  }

  private deadError(): LifelineError {
    const cause = this.failure;
    if (cause instanceof ProtocolError) {
      return new ProtocolError(
        cause.code as ConstructorParameters<typeof ProtocolError>[0],
        `decoder is dead after an earlier error: ${cause.message}`,
        { cause },
      );
    }
    return new LifelineError('LL_ERR_NOT_OPEN', 'decoder is dead: an earlier onFrame callback threw', { cause });
  }

  private partialFrameName(): string {
    return this.state === ST_PONG_LOAD ? 'PONG' : longTypeName(this.typeByte);
  }
}

// ---- body decoding (the whole body is in memory here) -----------------------------------------

/** Cursor over one frame body; its methods throw ProtocolError naming the field. */
class BodyReader implements ReadCursor {
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

const sharedReader = new BodyReader();

function decodeAck(r: BodyReader): AckFrame {
  const seq = r.varint('ACK seq');
  if (r.pos !== r.end) throw new ProtocolError('LL_ERR_MALFORMED_FRAME', 'ACK has trailing bytes after its seq');
  return { type: 'ack', seq };
}

function decodeData(r: BodyReader): DataFrame {
  const seq = r.varint('DATA seq');
  return { type: 'data', seq, payload: r.buf.subarray(r.pos, r.end) };
}

function decodeHello(r: BodyReader): HelloFrame {
  const magic0 = r.u8('HELLO magic');
  const magic1 = r.u8('HELLO magic');
  if (magic0 !== HELLO_MAGIC_0 || magic1 !== HELLO_MAGIC_1) {
    throw new ProtocolError(
      'LL_ERR_MALFORMED_FRAME',
      `HELLO magic is ${hex(magic0)} ${hex(magic1)}, expected 0x4c 0x4c: not a lifeline peer`,
    );
  }
  const frame: HelloFrame = {
    type: 'hello',
    version: r.u8('HELLO version'),
    heartbeatIntervalMs: r.varint('HELLO heartbeatIntervalMs'),
    heartbeatTimeoutMs: r.varint('HELLO heartbeatTimeoutMs'),
  };
  let seen = 0;
  while (r.pos < r.end) {
    const tag = r.u8('HELLO extension tag');
    const valueEnd = extensionValueEnd(r, 'HELLO');
    switch (tag) {
      case HELLO_TAGS.token:
        seen = markSeen(seen, tag, 'HELLO token');
        frame.token = r.buf.slice(r.pos, valueEnd);
        break;
      case HELLO_TAGS.resumeSessionId:
        seen = markSeen(seen, tag, 'HELLO resumeSessionId');
        frame.resumeSessionId = sessionIdValue(r, valueEnd, 'HELLO resumeSessionId');
        break;
      case HELLO_TAGS.resumeLastSeq:
        seen = markSeen(seen, tag, 'HELLO resumeLastSeq');
        frame.resumeLastSeq = exactVarintValue(r, valueEnd, 'HELLO resumeLastSeq');
        break;
      case HELLO_TAGS.maxFrameSize: {
        seen = markSeen(seen, tag, 'HELLO maxFrameSize');
        const maxFrameSize = exactVarintValue(r, valueEnd, 'HELLO maxFrameSize');
        if (maxFrameSize === 0) throw new ProtocolError('LL_ERR_MALFORMED_FRAME', 'HELLO maxFrameSize is 0');
        frame.maxFrameSize = maxFrameSize;
        break;
      }
      case HELLO_TAGS.resumable:
        seen = markSeen(seen, tag, 'HELLO resumable');
        frame.resumable = flagValue(r, valueEnd, 'HELLO resumable');
        break;
      case HELLO_TAGS.followServerPings:
        seen = markSeen(seen, tag, 'HELLO followServerPings');
        frame.followServerPings = flagValue(r, valueEnd, 'HELLO followServerPings');
        break;
      default:
      // Unknown tag: skip its value (forward compatibility, PROTOCOL.md §6).
    }
    r.pos = valueEnd;
  }
  return frame;
}

function decodeWelcome(r: BodyReader): WelcomeFrame {
  const frame: WelcomeFrame = {
    type: 'welcome',
    version: r.u8('WELCOME version'),
    heartbeatIntervalMs: r.varint('WELCOME heartbeatIntervalMs'),
    heartbeatTimeoutMs: r.varint('WELCOME heartbeatTimeoutMs'),
  };
  let seen = 0;
  while (r.pos < r.end) {
    const tag = r.u8('WELCOME extension tag');
    const valueEnd = extensionValueEnd(r, 'WELCOME');
    switch (tag) {
      case WELCOME_TAGS.sessionId:
        seen = markSeen(seen, tag, 'WELCOME sessionId');
        frame.sessionId = sessionIdValue(r, valueEnd, 'WELCOME sessionId');
        break;
      case WELCOME_TAGS.maxFrameSize: {
        seen = markSeen(seen, tag, 'WELCOME maxFrameSize');
        const maxFrameSize = exactVarintValue(r, valueEnd, 'WELCOME maxFrameSize');
        if (maxFrameSize === 0) throw new ProtocolError('LL_ERR_MALFORMED_FRAME', 'WELCOME maxFrameSize is 0');
        frame.maxFrameSize = maxFrameSize;
        break;
      }
      case WELCOME_TAGS.resumed:
        seen = markSeen(seen, tag, 'WELCOME resumed');
        frame.resumed = flagValue(r, valueEnd, 'WELCOME resumed');
        break;
      case WELCOME_TAGS.resumeLastSeq:
        seen = markSeen(seen, tag, 'WELCOME resumeLastSeq');
        frame.resumeLastSeq = exactVarintValue(r, valueEnd, 'WELCOME resumeLastSeq');
        break;
      case WELCOME_TAGS.resumeWindowMs:
        seen = markSeen(seen, tag, 'WELCOME resumeWindowMs');
        frame.resumeWindowMs = exactVarintValue(r, valueEnd, 'WELCOME resumeWindowMs');
        break;
      case WELCOME_TAGS.serverPings:
        seen = markSeen(seen, tag, 'WELCOME serverPings');
        frame.serverPings = flagValue(r, valueEnd, 'WELCOME serverPings');
        break;
      case WELCOME_TAGS.presence: {
        seen = markSeen(seen, tag, 'WELCOME presence');
        const limit = exactVarintValue(r, valueEnd, 'WELCOME presence');
        if (limit === 0) throw new ProtocolError('LL_ERR_MALFORMED_FRAME', 'WELCOME presence is 0');
        frame.presence = limit;
        break;
      }
      default:
      // Unknown tag: skip its value (forward compatibility, PROTOCOL.md §6).
    }
    r.pos = valueEnd;
  }
  return frame;
}

function decodeGoaway(r: BodyReader): GoawayFrame {
  const code = GOAWAY_CODE_NAMES[r.u8('GOAWAY code')]!;
  const retryAfterMs = r.varint('GOAWAY retryAfterMs');
  const message = r.string('GOAWAY message', MAX_MESSAGE_BYTES);
  const redirect = r.string('GOAWAY redirect', Number.MAX_SAFE_INTEGER);
  r.expectEnd('GOAWAY');
  const frame: GoawayFrame = { type: 'goaway', code, message, retryAfterMs };
  if (redirect !== '') frame.redirect = redirect;
  return frame;
}

function decodeClose(r: BodyReader): CloseFrame {
  const code = CLOSE_CODE_NAMES[r.u8('CLOSE code')]!;
  const message = r.string('CLOSE message', MAX_MESSAGE_BYTES);
  r.expectEnd('CLOSE');
  return { type: 'close', code, message };
}

// ---- helpers ----------------------------------------------------------------------------------

function checkPongStatus(typeByte: number): void {
  if ((typeByte & 0x60) === 0x60) {
    throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `PONG type byte ${hex(typeByte)} has invalid status bits 11`);
  }
}

function pong(typeByte: number, load: number): PongFrame {
  return { type: 'pong', id: typeByte & 0x1f, status: PEER_STATUSES[(typeByte >> 5) & 0x03]!, load };
}

/** Reads an extension's value length; returns where the value ends (reader is at its start). */
function extensionValueEnd(r: BodyReader, frameName: 'HELLO' | 'WELCOME'): number {
  const valueLength = r.varint(frameName === 'HELLO' ? 'HELLO extension length' : 'WELCOME extension length');
  if (valueLength > r.end - r.pos) {
    throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `${frameName} extension value runs past the end of the frame body`);
  }
  return r.pos + valueLength;
}

function markSeen(seen: number, tag: number, field: string): number {
  const bit = 1 << tag;
  if ((seen & bit) !== 0) {
    throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `${field} extension (tag ${tag}) appears twice`);
  }
  return seen | bit;
}

/** A varint that must fill the extension value exactly. */
function exactVarintValue(r: BodyReader, valueEnd: number, field: string): number {
  if (valueEnd === r.pos) throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `${field} extension value is empty`);
  const value = readVarint(r.buf, r, valueEnd, field);
  if (r.pos !== valueEnd) {
    throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `${field} extension value has bytes after its varint`);
  }
  return value;
}

/** Session ids are copied: they live as long as the session, and must not pin a whole chunk. */
function sessionIdValue(r: BodyReader, valueEnd: number, field: string): Uint8Array {
  const length = valueEnd - r.pos;
  if (length < 1 || length > MAX_SESSION_ID_BYTES) {
    throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `${field} must be 1..${MAX_SESSION_ID_BYTES} bytes, got ${length}`);
  }
  return r.buf.slice(r.pos, valueEnd);
}

/** A flag extension: exactly one byte, 0 or 1. */
function flagValue(r: BodyReader, valueEnd: number, field: string): boolean {
  const value = r.buf[r.pos];
  if (valueEnd - r.pos !== 1 || (value !== 0 && value !== 1)) {
    throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `${field} must be exactly one byte, 0 or 1`);
  }
  return value === 1;
}

function pastEnd(field: string): ProtocolError {
  return new ProtocolError('LL_ERR_MALFORMED_FRAME', `${field} runs past the end of the frame body`);
}

function longTypeName(longType: number): string {
  switch (longType) {
    case LONG_FRAME_TYPES.hello:
      return 'HELLO';
    case LONG_FRAME_TYPES.welcome:
      return 'WELCOME';
    case LONG_FRAME_TYPES.data:
      return 'DATA';
    case LONG_FRAME_TYPES.goaway:
      return 'GOAWAY';
    case LONG_FRAME_TYPES.ack:
      return 'ACK';
    case LONG_FRAME_TYPES.presence:
      return 'PRESENCE';
    default:
      return 'CLOSE';
  }
}

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`;
}

function reverseTable<Name extends string>(table: Readonly<Record<Name, number>>): readonly Name[] {
  const names = new Array<Name>(256).fill('unknown' as Name);
  for (const name of Object.keys(table) as Name[]) names[table[name]] = name;
  return names;
}
