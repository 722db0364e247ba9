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
 *
 * This file is the framing: type byte, length varint, body reassembly, limits. The bodies are
 * parsed by decode-handshake.ts (HELLO, WELCOME), decode-bodies.ts (DATA, ACK, GOAWAY, CLOSE,
 * PONG) and presence-frame.ts, all through body-reader.ts's one shared cursor.
 * Pure module: no `node:*`, no `Buffer`.
 */
import { InvalidOptionError, LifelineError, ProtocolError } from '../errors.js';
import { DEFAULT_MAX_FRAME_SIZE, LONG_FRAME_TYPES, type Frame } from './frames.js';
import { MAX_LENGTH_VARINT_BYTES } from './varint.js';
import { EMPTY, hex, sharedReader } from './body-reader.js';
import { decodeHello, decodeWelcome } from './decode-handshake.js';
import { checkPongStatus, decodeAck, decodeClose, decodeData, decodeGoaway, pong } from './decode-bodies.js';
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


export class FrameDecoder {
  /** The limit in force: checked when a frame's length varint completes (see setMaxFrameSize). */
  private maxFrameSize: number;
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
    this.maxFrameSize = checkedMaxFrameSize(options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE);
  }

  /**
   * Change the limit, bytes (≥ MIN_MAX_FRAME_SIZE), from the next frame whose length varint
   * completes; a frame whose length was already accepted is finished under the limit that
   * accepted it. Made for the handshake phase (HANDSHAKE_MAX_FRAME_SIZE, frames.ts): a server
   * decodes with a small limit until it has accepted a HELLO, then raises it to its maxFrameSize,
   * so an unauthenticated peer cannot make it buffer a 1 MiB HELLO. Costs nothing per frame: the
   * same field is compared either way. Throws InvalidOptionError like the constructor.
   */
  setMaxFrameSize(maxFrameSize: number): void {
    this.maxFrameSize = checkedMaxFrameSize(maxFrameSize);
  }

  /** The limit in force, bytes. */
  get frameSizeLimit(): number {
    return this.maxFrameSize;
  }

  /** Bytes of the current incomplete frame received so far (0 between frames); < the limit that accepted its length. */
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

function checkedMaxFrameSize(maxFrameSize: number): number {
  if (!Number.isSafeInteger(maxFrameSize) || maxFrameSize < MIN_MAX_FRAME_SIZE) {
    throw new InvalidOptionError('maxFrameSize', `must be an integer >= ${MIN_MAX_FRAME_SIZE} (bytes), got ${String(maxFrameSize)}`);
  }
  return maxFrameSize;
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
