/**
 * The UDP envelope (docs/spec/0012-udp.md §Datagrams): encode and strictly decode one datagram.
 * Byte 0 is `kkkk AUSF` — a kind, then flags for the sections that follow, always in the order
 * A (ack), U (side path: heartbeat bytes), S (stream bytes at an offset), F (end of stream after S).
 * Varints are PROTOCOL.md §5.2's (minimal, ≤ 8 bytes, ≤ 2^53 − 1).
 *
 * Strict: any datagram that is not exactly one well-formed packet (unknown kind, wrong direction,
 * bad flags, a field past the end, trailing bytes, a size past the bound) throws
 * MalformedDatagramError — never anything else — so the listener can drop it and count the reason.
 * It never closes a session (a spoofed datagram must not be able to). Pure: Uint8Array only.
 */
import { LifelineError, ProtocolError } from '../../errors.js';
import { readVarint, varintLength, writeVarint, type ReadCursor } from '../../protocol/varint.js';

/** UDP payload bound: no path below 1200 bytes (RFC 9000 §14), and IP never fragments (RFC 8085 §3.2). */
export const MAX_DATAGRAM_BYTES = 1200;
export const INITIAL_BYTES = 1200;
export const PROTOCOL_VERSION = 1;
export const ID_BYTES = 8; // cid, nonce, reset token, challenge data
export const COOKIE_BYTES = 20; // issuedAt u32 ‖ HMAC[0..16]
/** SACK ranges per ACK: enough for a few holes, and an ACK stays a few dozen bytes. */
export const MAX_ACK_RANGES = 4;

export const KIND = { initial: 1, retry: 2, accept: 3, short: 4, reset: 5, challenge: 6, response: 7 } as const;
const FLAG_A = 0x08;
const FLAG_U = 0x04;
const FLAG_S = 0x02;
const FLAG_F = 0x01;

/** Who received the datagram: decides whether a SHORT carries a cid and which kinds may arrive. */
export type Receiver = 'server' | 'client';

/** A SACK range of stream offsets [start, end), above the cumulative ACK. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface AckSection {
  /** Highest packet number received (any datagram with sections). */
  largestPn: number;
  /** Time between receiving largestPn and sending this ACK (RFC 9002 §5.3). */
  ackDelayMs: number;
  /** Every stream offset below this arrived (the end-of-stream mark counts as one offset). */
  cumulative: number;
  /** Ascending, disjoint, non-adjacent ranges above `cumulative`; at most MAX_ACK_RANGES. */
  ranges: ByteRange[];
}

export interface StreamSection {
  offset: number;
  bytes: Uint8Array;
  /** F: the stream ends at offset + bytes.length. */
  fin: boolean;
}

/** What a packet number covers: at least one section in every packet that has a pn. */
export interface Sections {
  ack?: AckSection;
  side?: Uint8Array;
  stream?: StreamSection;
}

export type PacketHeader =
  | { kind: 'initial'; nonce: Uint8Array; token: Uint8Array | undefined }
  | { kind: 'accept'; nonce: Uint8Array; cid: Uint8Array; resetToken: Uint8Array }
  /** `cid` present exactly when the client sends (the server demultiplexes by it). */
  | { kind: 'short'; cid: Uint8Array | undefined };

export type NumberedPacket = PacketHeader & Sections & { pn: number };

export type Packet =
  | NumberedPacket
  | { kind: 'retry'; nonce: Uint8Array; token: Uint8Array }
  | { kind: 'reset'; token: Uint8Array }
  | { kind: 'challenge'; data: Uint8Array }
  | { kind: 'response'; cid: Uint8Array; data: Uint8Array };

export type MalformedReason =
  | 'empty'
  | 'too-large'
  | 'unknown-kind'
  | 'wrong-direction'
  | 'bad-flags'
  | 'bad-size'
  | 'bad-version'
  | 'bad-field'
  | 'truncated'
  | 'trailing-bytes';

/** A datagram that is not one well-formed packet. Dropped and counted by reason; closes nothing. */
export class MalformedDatagramError extends LifelineError {
  readonly reason: MalformedReason;
  constructor(reason: MalformedReason, message: string, options: { cause?: unknown } = {}) {
    super('LL_ERR_MALFORMED_FRAME', `malformed datagram (${reason}): ${message}`, options);
    this.reason = reason;
  }
}

// ---- sizes (the channel budgets its datagrams with these) -------------------------------------

/** Bytes before the sections: byte 0, the header fields, the pn. */
export function headerLength(header: PacketHeader, pn: number): number {
  switch (header.kind) {
    case 'initial':
      return 1 + 1 + ID_BYTES + 1 + (header.token?.length ?? 0) + varintLength(pn);
    case 'accept':
      return 1 + 3 * ID_BYTES + varintLength(pn);
    case 'short':
      return 1 + (header.cid === undefined ? 0 : ID_BYTES) + varintLength(pn);
  }
}

export function ackLength(ack: AckSection): number {
  let n = varintLength(ack.largestPn) + varintLength(ack.ackDelayMs) + varintLength(ack.cumulative) + 1;
  let prev = ack.cumulative;
  for (const r of ack.ranges) {
    n += varintLength(r.start - prev) + varintLength(r.end - r.start);
    prev = r.end;
  }
  return n;
}

export function sideLength(side: Uint8Array): number {
  return varintLength(side.length) + side.length;
}

/** Bytes of an S section header before its data (offset, length). */
export function streamHeaderLength(offset: number, length: number): number {
  return varintLength(offset) + varintLength(length);
}

// ---- encode -----------------------------------------------------------------------------------

/**
 * Encode one packet. Throws RangeError / TypeError on a packet we must never send (a bug, not a
 * peer's fault): wrong id sizes, a numbered packet without sections, more than MAX_ACK_RANGES, a
 * result above MAX_DATAGRAM_BYTES. INITIALs are padded with zeros to exactly INITIAL_BYTES.
 */
export function encodePacket(packet: Packet): Uint8Array {
  switch (packet.kind) {
    case 'retry':
      return concatFixed(KIND.retry << 4, id(packet.nonce, 'nonce'), fixed(packet.token, COOKIE_BYTES, 'token'));
    case 'reset':
      return concatFixed(KIND.reset << 4, id(packet.token, 'reset token'));
    case 'challenge':
      return concatFixed(KIND.challenge << 4, id(packet.data, 'challenge data'));
    case 'response':
      return concatFixed(KIND.response << 4, id(packet.cid, 'cid'), id(packet.data, 'challenge data'));
    default:
      return encodeNumbered(packet);
  }
}

function encodeNumbered(p: NumberedPacket): Uint8Array {
  const { ack, side, stream } = p;
  if (!ack && !side && !stream) throw new RangeError('a numbered packet needs at least one section');
  if (side && side.length === 0) throw new RangeError('an empty side section is never sent');
  if (stream && stream.bytes.length === 0 && !stream.fin) throw new RangeError('an empty stream section needs fin');
  if (ack) checkAck(ack);
  let size = headerLength(p, p.pn);
  if (ack) size += ackLength(ack);
  if (side) size += sideLength(side);
  if (stream) size += streamHeaderLength(stream.offset, stream.bytes.length) + stream.bytes.length;
  if (p.kind === 'initial') {
    if (p.token !== undefined) fixed(p.token, COOKIE_BYTES, 'token');
    if (size > INITIAL_BYTES) throw new RangeError(`INITIAL of ${size} bytes exceeds ${INITIAL_BYTES}`);
    size = INITIAL_BYTES;
  } else if (size > MAX_DATAGRAM_BYTES) {
    throw new RangeError(`datagram of ${size} bytes exceeds ${MAX_DATAGRAM_BYTES}`);
  }
  const out = new Uint8Array(size); // zero-filled: the INITIAL padding
  const kind = KIND[p.kind];
  out[0] = (kind << 4) | (ack ? FLAG_A : 0) | (side ? FLAG_U : 0) | (stream ? FLAG_S : 0) | (stream?.fin ? FLAG_F : 0);
  let pos = 1;
  if (p.kind === 'initial') {
    out[pos++] = PROTOCOL_VERSION;
    out.set(id(p.nonce, 'nonce'), pos);
    pos += ID_BYTES;
    out[pos++] = p.token?.length ?? 0;
    if (p.token) {
      out.set(p.token, pos);
      pos += p.token.length;
    }
  } else if (p.kind === 'accept') {
    for (const field of [id(p.nonce, 'nonce'), id(p.cid, 'cid'), id(p.resetToken, 'reset token')]) {
      out.set(field, pos);
      pos += ID_BYTES;
    }
  } else if (p.cid !== undefined) {
    out.set(id(p.cid, 'cid'), pos);
    pos += ID_BYTES;
  }
  pos = writeVarint(out, pos, p.pn);
  if (ack) {
    pos = writeVarint(out, pos, ack.largestPn);
    pos = writeVarint(out, pos, ack.ackDelayMs);
    pos = writeVarint(out, pos, ack.cumulative);
    out[pos++] = ack.ranges.length;
    let prev = ack.cumulative;
    for (const r of ack.ranges) {
      pos = writeVarint(out, pos, r.start - prev);
      pos = writeVarint(out, pos, r.end - r.start);
      prev = r.end;
    }
  }
  if (side) {
    pos = writeVarint(out, pos, side.length);
    out.set(side, pos);
    pos += side.length;
  }
  if (stream) {
    pos = writeVarint(out, pos, stream.offset);
    pos = writeVarint(out, pos, stream.bytes.length);
    out.set(stream.bytes, pos);
  }
  return out;
}

function checkAck(ack: AckSection): void {
  if (ack.ranges.length > MAX_ACK_RANGES) throw new RangeError(`at most ${MAX_ACK_RANGES} ACK ranges`);
  let prev = ack.cumulative;
  for (const r of ack.ranges) {
    if (!(r.start > prev && r.end > r.start)) throw new RangeError('ACK ranges must ascend with gaps above cumulative');
    prev = r.end;
  }
}

function id(bytes: Uint8Array, field: string): Uint8Array {
  return fixed(bytes, ID_BYTES, field);
}

function fixed(bytes: Uint8Array, length: number, field: string): Uint8Array {
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new RangeError(`${field} must be ${length} bytes`);
  }
  return bytes;
}

function concatFixed(byte0: number, ...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(1 + parts.reduce((n, p) => n + p.length, 0));
  out[0] = byte0;
  let pos = 1;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

// ---- decode -----------------------------------------------------------------------------------

/**
 * Decode one datagram received by `receiver`. Byte arrays in the result are views into `bytes`
 * (no copy); the caller copies what it keeps. Throws MalformedDatagramError, and only that.
 */
export function decodePacket(bytes: Uint8Array, receiver: Receiver, maxBytes = MAX_DATAGRAM_BYTES): Packet {
  try {
    return decodeUnchecked(bytes, receiver, maxBytes);
  } catch (error) {
    // readVarint speaks PROTOCOL.md's frame language; re-label its verdict as a datagram's.
    if (error instanceof ProtocolError) throw new MalformedDatagramError('bad-field', error.message, { cause: error });
    throw error;
  }
}

/** Which kinds each receiver may get (spec 0012 §Datagrams, "direction"). */
const ACCEPTS: Record<Receiver, readonly number[]> = {
  server: [KIND.initial, KIND.short, KIND.response],
  client: [KIND.retry, KIND.accept, KIND.short, KIND.reset, KIND.challenge],
};

function decodeUnchecked(bytes: Uint8Array, receiver: Receiver, maxBytes: number): Packet {
  if (!(bytes instanceof Uint8Array)) throw new MalformedDatagramError('empty', 'not a byte array');
  if (bytes.length === 0) throw new MalformedDatagramError('empty', 'no bytes');
  if (bytes.length > maxBytes) {
    throw new MalformedDatagramError('too-large', `${bytes.length} bytes, limit ${maxBytes}`);
  }
  const byte0 = bytes[0]!;
  const kind = byte0 >> 4;
  const flags = byte0 & 0x0f;
  if (kind < KIND.initial || kind > KIND.response) throw new MalformedDatagramError('unknown-kind', `kind ${kind}`);
  if (!ACCEPTS[receiver].includes(kind)) {
    throw new MalformedDatagramError('wrong-direction', `kind ${kind} is never sent to a ${receiver}`);
  }
  const r = new Reader(bytes);
  r.pos = 1;
  switch (kind) {
    case KIND.retry:
      noFlags(flags, kind);
      exactSize(bytes, 1 + ID_BYTES + COOKIE_BYTES);
      return { kind: 'retry', nonce: r.take(ID_BYTES), token: r.take(COOKIE_BYTES) };
    case KIND.reset:
      noFlags(flags, kind);
      exactSize(bytes, 1 + ID_BYTES);
      return { kind: 'reset', token: r.take(ID_BYTES) };
    case KIND.challenge:
      noFlags(flags, kind);
      exactSize(bytes, 1 + ID_BYTES);
      return { kind: 'challenge', data: r.take(ID_BYTES) };
    case KIND.response:
      noFlags(flags, kind);
      exactSize(bytes, 1 + 2 * ID_BYTES);
      return { kind: 'response', cid: r.take(ID_BYTES), data: r.take(ID_BYTES) };
  }
  if ((flags & (FLAG_A | FLAG_U | FLAG_S)) === 0) throw new MalformedDatagramError('bad-flags', 'no section');
  if (flags & FLAG_F && !(flags & FLAG_S)) throw new MalformedDatagramError('bad-flags', 'F without S');
  let header: PacketHeader;
  if (kind === KIND.initial) {
    // RFC 9000 §14.1: a client's first datagram is padded, so the server's answer never amplifies.
    if (bytes.length !== INITIAL_BYTES) throw new MalformedDatagramError('bad-size', `INITIAL of ${bytes.length} bytes`);
    const version = r.u8('version');
    if (version !== PROTOCOL_VERSION) throw new MalformedDatagramError('bad-version', `version ${version}`);
    const nonce = r.take(ID_BYTES);
    const tokenLength = r.u8('token length');
    if (tokenLength !== 0 && tokenLength !== COOKIE_BYTES) {
      throw new MalformedDatagramError('bad-field', `token length ${tokenLength}`);
    }
    header = { kind: 'initial', nonce, token: tokenLength === 0 ? undefined : r.take(tokenLength) };
  } else if (kind === KIND.accept) {
    header = { kind: 'accept', nonce: r.take(ID_BYTES), cid: r.take(ID_BYTES), resetToken: r.take(ID_BYTES) };
  } else {
    header = { kind: 'short', cid: receiver === 'server' ? r.take(ID_BYTES) : undefined };
  }
  const pn = r.varint('pn');
  const packet: NumberedPacket = { ...header, pn };
  if (flags & FLAG_A) packet.ack = readAck(r);
  if (flags & FLAG_U) {
    const length = r.varint('side length');
    if (length === 0) throw new MalformedDatagramError('bad-field', 'empty side section');
    packet.side = r.take(length);
  }
  if (flags & FLAG_S) {
    const offset = r.varint('stream offset');
    const length = r.varint('stream length');
    const fin = (flags & FLAG_F) !== 0;
    if (length === 0 && !fin) throw new MalformedDatagramError('bad-field', 'empty stream section without F');
    // The end-of-stream mark takes one offset after the last byte: it must stay a safe integer.
    if (offset + length + 1 > Number.MAX_SAFE_INTEGER) throw new MalformedDatagramError('bad-field', 'stream offset overflow');
    packet.stream = { offset, bytes: r.take(length), fin };
  }
  if (kind === KIND.initial) {
    for (let i = r.pos; i < bytes.length; i++) {
      if (bytes[i] !== 0) throw new MalformedDatagramError('trailing-bytes', 'INITIAL padding is not zero');
    }
  } else if (r.pos !== bytes.length) {
    throw new MalformedDatagramError('trailing-bytes', `${bytes.length - r.pos} bytes after the last section`);
  }
  return packet;
}

function readAck(r: Reader): AckSection {
  const largestPn = r.varint('ack largest pn');
  const ackDelayMs = r.varint('ack delay');
  const cumulative = r.varint('ack cumulative');
  const count = r.u8('ack range count');
  if (count > MAX_ACK_RANGES) throw new MalformedDatagramError('bad-field', `${count} ACK ranges`);
  const ranges: ByteRange[] = [];
  let prev = cumulative;
  for (let i = 0; i < count; i++) {
    const gap = r.varint('ack gap');
    const length = r.varint('ack range length');
    // A zero gap would merge with the range below (or with cumulative): one encoding per ACK.
    if (gap === 0 || length === 0) throw new MalformedDatagramError('bad-field', 'zero ACK gap or length');
    const start = prev + gap;
    const end = start + length;
    if (end > Number.MAX_SAFE_INTEGER) throw new MalformedDatagramError('bad-field', 'ACK range overflow');
    ranges.push({ start, end });
    prev = end;
  }
  return { largestPn, ackDelayMs, cumulative, ranges };
}

function noFlags(flags: number, kind: number): void {
  if (flags !== 0) throw new MalformedDatagramError('bad-flags', `kind ${kind} has no sections`);
}

function exactSize(bytes: Uint8Array, size: number): void {
  if (bytes.length !== size) throw new MalformedDatagramError('bad-size', `${bytes.length} bytes, expected ${size}`);
}

class Reader implements ReadCursor {
  pos = 0;
  constructor(private readonly bytes: Uint8Array) {}

  u8(field: string): number {
    if (this.pos >= this.bytes.length) throw new MalformedDatagramError('truncated', `${field} past the end`);
    return this.bytes[this.pos++]!;
  }

  varint(field: string): number {
    if (this.pos >= this.bytes.length) throw new MalformedDatagramError('truncated', `${field} past the end`);
    return readVarint(this.bytes, this, this.bytes.length, field);
  }

  take(length: number): Uint8Array {
    if (length > this.bytes.length - this.pos) throw new MalformedDatagramError('truncated', `${length} bytes past the end`);
    const view = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return view;
  }
}
