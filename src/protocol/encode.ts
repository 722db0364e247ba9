/**
 * Frame → bytes (PROTOCOL.md §3–§6). Every encoder validates its input and throws a TypeError
 * (wrong kind of value) or RangeError (value out of range) naming the field, so a bug in the
 * caller surfaces at the call site instead of as a protocol error on the peer.
 *
 * Hot paths (PING, PONG, DATA header) have dedicated functions that allocate exactly one small
 * array; encodeFrame() handles everything and allocates the whole frame once.
 * Pure module: no `node:*`, no `Buffer`.
 */
import {
  CLOSE_CODES,
  GOAWAY_CODES,
  HELLO_MAGIC_0,
  HELLO_MAGIC_1,
  HELLO_TAGS,
  LONG_FRAME_TYPES,
  MAX_BODY_LENGTH,
  MAX_MESSAGE_BYTES,
  MAX_SESSION_ID_BYTES,
  PING_ID_MODULO,
  WELCOME_TAGS,
  type CloseFrame,
  type DataFrame,
  type Frame,
  type GoawayFrame,
  type HelloFrame,
  type PeerStatus,
  type WelcomeFrame,
} from './frames.js';
import { assertVarintValue, varintLength, writeVarint } from './varint.js';
import { encodePresence } from './presence-frame.js';

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** PING: one byte `010iiiii`. */
export function encodePing(id: number): Uint8Array {
  assertPingId(id, 'ping id');
  const out = new Uint8Array(1);
  out[0] = 0x40 | id;
  return out;
}

/** PONG: `1ssiiiii` then the load byte. `status` and `load` describe the PONG's sender. */
export function encodePong(id: number, status: PeerStatus, load: number): Uint8Array {
  assertPingId(id, 'pong id');
  assertU8(load, 'pong load');
  const out = new Uint8Array(2);
  out[0] = 0x80 | (statusBits(status) << 5) | id;
  out[1] = load;
  return out;
}

/**
 * DATA header only: type byte, body-length varint, seq varint. The caller writes the
 * `payloadLength` payload bytes right after it (e.g. two socket writes or a writev), so a large
 * payload is never copied just to be framed.
 */
export function encodeDataHeader(seq: number, payloadLength: number): Uint8Array {
  assertVarintValue(seq, 'data seq');
  assertVarintValue(payloadLength, 'data payloadLength');
  const seqLength = varintLength(seq);
  const bodyLength = checkBodyLength(seqLength + payloadLength, 'data');
  const out = new Uint8Array(1 + varintLength(bodyLength) + seqLength);
  out[0] = LONG_FRAME_TYPES.data;
  writeVarint(out, writeVarint(out, 1, bodyLength), seq);
  return out;
}

/** Encode any frame into one freshly allocated array. */
export function encodeFrame(frame: Frame): Uint8Array {
  if (typeof frame !== 'object' || frame === null) {
    throw new TypeError(`frame must be an object, got ${frame === null ? 'null' : typeof frame}`);
  }
  switch (frame.type) {
    case 'ping':
      return encodePing(frame.id);
    case 'pong':
      return encodePong(frame.id, frame.status, frame.load);
    case 'data':
      return encodeData(frame);
    case 'hello':
      return encodeHello(frame);
    case 'welcome':
      return encodeWelcome(frame);
    case 'goaway':
      return encodeGoaway(frame);
    case 'close':
      return encodeClose(frame);
    case 'ack':
      return encodeAck(frame.seq);
    case 'presence':
      return encodePresence(frame);
    default: {
      const unknownType: unknown = (frame as { type?: unknown }).type;
      throw new TypeError(`frame.type must be a known frame type, got ${String(unknownType)}`);
    }
  }
}

/**
 * UTF-8 bytes of `text`, cut to at most `maxBytes` at a code point boundary. encodeInto() only
 * ever writes whole characters, so the cut is free and the work is bounded by `maxBytes` even for
 * a huge string. Lone surrogates become U+FFFD (TextEncoder's rule): a close reason built from
 * an arbitrary error message must never make the close path throw.
 */
export function truncateUtf8(text: string, maxBytes: number): Uint8Array {
  if (text.length === 0) return EMPTY;
  // A UTF-16 code unit never needs more than 3 UTF-8 bytes, so this buffer is always enough.
  const out = new Uint8Array(Math.min(maxBytes, text.length * 3));
  const { written } = utf8.encodeInto(text, out);
  return out.subarray(0, written);
}

// ---- long frames ------------------------------------------------------------------------------

/** ACK: type byte, body length, seq varint (3..10 bytes). */
export function encodeAck(seq: number): Uint8Array {
  assertVarintValue(seq, 'ack seq');
  const bodyLength = varintLength(seq);
  const out = allocLong(LONG_FRAME_TYPES.ack, bodyLength);
  writeVarint(out, out.length - bodyLength, seq);
  return out;
}

function encodeData(frame: DataFrame): Uint8Array {
  assertVarintValue(frame.seq, 'data seq');
  assertBytes(frame.payload, 'data payload');
  const seqLength = varintLength(frame.seq);
  const bodyLength = checkBodyLength(seqLength + frame.payload.length, 'data');
  const out = allocLong(LONG_FRAME_TYPES.data, bodyLength);
  const pos = writeVarint(out, out.length - bodyLength, frame.seq);
  out.set(frame.payload, pos);
  return out;
}

function encodeHello(frame: HelloFrame): Uint8Array {
  assertU8(frame.version, 'hello version');
  assertVarintValue(frame.heartbeatIntervalMs, 'hello heartbeatIntervalMs');
  assertVarintValue(frame.heartbeatTimeoutMs, 'hello heartbeatTimeoutMs');
  const { token, resumeSessionId, resumeLastSeq, maxFrameSize, resumable, followServerPings } = frame;
  assertOptionalFlag(resumable, 'hello resumable');
  assertOptionalFlag(followServerPings, 'hello followServerPings');
  if (token !== undefined) assertBytes(token, 'hello token');
  if (maxFrameSize !== undefined) {
    assertVarintValue(maxFrameSize, 'hello maxFrameSize');
    if (maxFrameSize === 0) throw new RangeError('hello maxFrameSize must be >= 1, got 0');
  }
  if (resumeSessionId !== undefined) assertSessionId(resumeSessionId, 'hello resumeSessionId');
  if (resumeLastSeq !== undefined) assertVarintValue(resumeLastSeq, 'hello resumeLastSeq');

  let bodyLength =
    2 + 1 + varintLength(frame.heartbeatIntervalMs) + varintLength(frame.heartbeatTimeoutMs);
  if (token !== undefined) bodyLength += bytesExtensionLength(token);
  if (resumeSessionId !== undefined) bodyLength += bytesExtensionLength(resumeSessionId);
  if (resumeLastSeq !== undefined) bodyLength += varintExtensionLength(resumeLastSeq);
  if (maxFrameSize !== undefined) bodyLength += varintExtensionLength(maxFrameSize);
  if (resumable !== undefined) bodyLength += 3; // tag, length 1, 0|1
  if (followServerPings !== undefined) bodyLength += 3;
  checkBodyLength(bodyLength, 'hello');

  const out = allocLong(LONG_FRAME_TYPES.hello, bodyLength);
  let pos = out.length - bodyLength;
  out[pos++] = HELLO_MAGIC_0;
  out[pos++] = HELLO_MAGIC_1;
  out[pos++] = frame.version;
  pos = writeVarint(out, pos, frame.heartbeatIntervalMs);
  pos = writeVarint(out, pos, frame.heartbeatTimeoutMs);
  // Ascending tag order: not required of senders (receivers accept any order), but canonical.
  if (token !== undefined) pos = writeBytesExtension(out, pos, HELLO_TAGS.token, token);
  if (resumeSessionId !== undefined) {
    pos = writeBytesExtension(out, pos, HELLO_TAGS.resumeSessionId, resumeSessionId);
  }
  if (resumeLastSeq !== undefined) {
    pos = writeVarintExtension(out, pos, HELLO_TAGS.resumeLastSeq, resumeLastSeq);
  }
  if (maxFrameSize !== undefined) pos = writeVarintExtension(out, pos, HELLO_TAGS.maxFrameSize, maxFrameSize);
  if (resumable !== undefined) pos = writeFlagExtension(out, pos, HELLO_TAGS.resumable, resumable);
  if (followServerPings !== undefined) writeFlagExtension(out, pos, HELLO_TAGS.followServerPings, followServerPings);
  return out;
}

function encodeWelcome(frame: WelcomeFrame): Uint8Array {
  assertU8(frame.version, 'welcome version');
  assertVarintValue(frame.heartbeatIntervalMs, 'welcome heartbeatIntervalMs');
  assertVarintValue(frame.heartbeatTimeoutMs, 'welcome heartbeatTimeoutMs');
  const { sessionId, maxFrameSize, resumed, resumeLastSeq, resumeWindowMs, serverPings, presence } = frame;
  if (presence !== undefined) {
    assertVarintValue(presence, 'welcome presence');
    if (presence === 0) throw new RangeError('welcome presence must be >= 1, got 0');
  }
  if (resumeWindowMs !== undefined) assertVarintValue(resumeWindowMs, 'welcome resumeWindowMs');
  if (sessionId !== undefined) assertSessionId(sessionId, 'welcome sessionId');
  if (maxFrameSize !== undefined) {
    assertVarintValue(maxFrameSize, 'welcome maxFrameSize');
    if (maxFrameSize === 0) throw new RangeError('welcome maxFrameSize must be >= 1, got 0');
  }
  assertOptionalFlag(resumed, 'welcome resumed');
  assertOptionalFlag(serverPings, 'welcome serverPings');
  if (resumeLastSeq !== undefined) assertVarintValue(resumeLastSeq, 'welcome resumeLastSeq');

  let bodyLength = 1 + varintLength(frame.heartbeatIntervalMs) + varintLength(frame.heartbeatTimeoutMs);
  if (sessionId !== undefined) bodyLength += bytesExtensionLength(sessionId);
  if (maxFrameSize !== undefined) bodyLength += varintExtensionLength(maxFrameSize);
  if (resumed !== undefined) bodyLength += 3; // tag, length 1, 0|1
  if (resumeLastSeq !== undefined) bodyLength += varintExtensionLength(resumeLastSeq);
  if (resumeWindowMs !== undefined) bodyLength += varintExtensionLength(resumeWindowMs);
  if (serverPings !== undefined) bodyLength += 3;
  if (presence !== undefined) bodyLength += varintExtensionLength(presence);
  checkBodyLength(bodyLength, 'welcome');

  const out = allocLong(LONG_FRAME_TYPES.welcome, bodyLength);
  let pos = out.length - bodyLength;
  out[pos++] = frame.version;
  pos = writeVarint(out, pos, frame.heartbeatIntervalMs);
  pos = writeVarint(out, pos, frame.heartbeatTimeoutMs);
  if (sessionId !== undefined) pos = writeBytesExtension(out, pos, WELCOME_TAGS.sessionId, sessionId);
  if (maxFrameSize !== undefined) {
    pos = writeVarintExtension(out, pos, WELCOME_TAGS.maxFrameSize, maxFrameSize);
  }
  if (resumed !== undefined) pos = writeFlagExtension(out, pos, WELCOME_TAGS.resumed, resumed);
  if (resumeLastSeq !== undefined) {
    pos = writeVarintExtension(out, pos, WELCOME_TAGS.resumeLastSeq, resumeLastSeq);
  }
  if (resumeWindowMs !== undefined) pos = writeVarintExtension(out, pos, WELCOME_TAGS.resumeWindowMs, resumeWindowMs);
  if (serverPings !== undefined) pos = writeFlagExtension(out, pos, WELCOME_TAGS.serverPings, serverPings);
  if (presence !== undefined) writeVarintExtension(out, pos, WELCOME_TAGS.presence, presence);
  return out;
}

function encodeGoaway(frame: GoawayFrame): Uint8Array {
  const code = wireCode(GOAWAY_CODES, frame.code, 'goaway code');
  assertVarintValue(frame.retryAfterMs, 'goaway retryAfterMs');
  const message = encodeMessage(frame.message, 'goaway message');
  let redirect = EMPTY;
  if (frame.redirect !== undefined) {
    assertString(frame.redirect, 'goaway redirect');
    // Not truncated: a cut "host:port" would send the peer somewhere wrong. '' means "no redirect".
    redirect = utf8.encode(frame.redirect);
  }
  const bodyLength = checkBodyLength(
    1 +
      varintLength(frame.retryAfterMs) +
      varintLength(message.length) +
      message.length +
      varintLength(redirect.length) +
      redirect.length,
    'goaway',
  );
  const out = allocLong(LONG_FRAME_TYPES.goaway, bodyLength);
  let pos = out.length - bodyLength;
  out[pos++] = code;
  pos = writeVarint(out, pos, frame.retryAfterMs);
  pos = writeByteString(out, pos, message);
  writeByteString(out, pos, redirect);
  return out;
}

function encodeClose(frame: CloseFrame): Uint8Array {
  const code = wireCode(CLOSE_CODES, frame.code, 'close code');
  const message = encodeMessage(frame.message, 'close message');
  const bodyLength = 1 + varintLength(message.length) + message.length;
  const out = allocLong(LONG_FRAME_TYPES.close, bodyLength);
  let pos = out.length - bodyLength;
  out[pos++] = code;
  writeByteString(out, pos, message);
  return out;
}

// ---- writing helpers --------------------------------------------------------------------------

function assertOptionalFlag(value: unknown, what: string): void {
  if (value !== undefined && typeof value !== 'boolean') throw new TypeError(`${what} must be a boolean, got ${typeof value}`);
}

/** A long frame's array with the type byte and body length already written; body goes last. */
function allocLong(typeNumber: number, bodyLength: number): Uint8Array {
  const out = new Uint8Array(1 + varintLength(bodyLength) + bodyLength);
  out[0] = typeNumber;
  writeVarint(out, 1, bodyLength);
  return out;
}

function writeByteString(out: Uint8Array, pos: number, bytes: Uint8Array): number {
  pos = writeVarint(out, pos, bytes.length);
  out.set(bytes, pos);
  return pos + bytes.length;
}

function bytesExtensionLength(value: Uint8Array): number {
  return 1 + varintLength(value.length) + value.length;
}

function varintExtensionLength(value: number): number {
  const valueLength = varintLength(value);
  return 1 + varintLength(valueLength) + valueLength;
}

function writeBytesExtension(out: Uint8Array, pos: number, tag: number, value: Uint8Array): number {
  out[pos++] = tag;
  return writeByteString(out, pos, value);
}

function writeFlagExtension(out: Uint8Array, pos: number, tag: number, value: boolean): number {
  out[pos++] = tag;
  out[pos++] = 1;
  out[pos++] = value ? 1 : 0;
  return pos;
}

function writeVarintExtension(out: Uint8Array, pos: number, tag: number, value: number): number {
  out[pos++] = tag;
  pos = writeVarint(out, pos, varintLength(value));
  return writeVarint(out, pos, value);
}

function encodeMessage(message: unknown, field: string): Uint8Array {
  assertString(message, field);
  return truncateUtf8(message, MAX_MESSAGE_BYTES);
}

// ---- validation -------------------------------------------------------------------------------

function checkBodyLength(bodyLength: number, frameName: string): number {
  if (bodyLength > MAX_BODY_LENGTH) {
    throw new RangeError(`${frameName} body of ${bodyLength} bytes exceeds the ${MAX_BODY_LENGTH}-byte limit`);
  }
  return bodyLength;
}

function assertPingId(id: unknown, field: string): asserts id is number {
  if (typeof id !== 'number') throw new TypeError(`${field} must be a number, got ${typeof id}`);
  if (!Number.isInteger(id) || id < 0 || id >= PING_ID_MODULO) {
    throw new RangeError(`${field} must be an integer 0..${PING_ID_MODULO - 1}, got ${id}`);
  }
}

function assertU8(value: unknown, field: string): asserts value is number {
  if (typeof value !== 'number') throw new TypeError(`${field} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < 0 || value > 255) {
    throw new RangeError(`${field} must be an integer 0..255, got ${value}`);
  }
}

function assertBytes(value: unknown, field: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`${field} must be a Uint8Array, got ${value === null ? 'null' : typeof value}`);
  }
}

function assertSessionId(value: unknown, field: string): asserts value is Uint8Array {
  assertBytes(value, field);
  if (value.length < 1 || value.length > MAX_SESSION_ID_BYTES) {
    throw new RangeError(`${field} must be 1..${MAX_SESSION_ID_BYTES} bytes, got ${value.length}`);
  }
}

function assertString(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string') throw new TypeError(`${field} must be a string, got ${typeof value}`);
}

function statusBits(status: PeerStatus): number {
  switch (status) {
    case 'ok':
      return 0;
    case 'busy':
      return 1;
    case 'draining':
      return 2;
    default:
      throw new RangeError(`pong status must be 'ok', 'busy' or 'draining', got ${String(status)}`);
  }
}

function wireCode(table: Readonly<Record<string, number>>, code: unknown, field: string): number {
  if (typeof code !== 'string' || !Object.hasOwn(table, code)) {
    throw new RangeError(`${field} must be one of ${Object.keys(table).join(', ')}; got ${String(code)}`);
  }
  return table[code]!;
}
