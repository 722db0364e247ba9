/**
 * HELLO and WELCOME bodies (PROTOCOL.md §6.3–§6.5): the fixed fields, then tagged extensions
 * (`tag u8 · length varint · value`). Strict on what we know — a known tag twice, a value that is
 * not exactly its tag's type, a session id outside 1..64 bytes, a maxFrameSize of 0 — and
 * lenient on what we do not: an unknown tag's value is skipped (forward compatibility, §6.5).
 * Called by FrameDecoder (decoder.ts) with the whole body in memory.
 * Pure module: no `node:*`, no `Buffer`.
 */
import { ProtocolError } from '../errors.js';
import {
  HELLO_MAGIC_0,
  HELLO_MAGIC_1,
  HELLO_TAGS,
  MAX_SESSION_ID_BYTES,
  WELCOME_TAGS,
  type HelloFrame,
  type WelcomeFrame,
} from './frames.js';
import { readVarint } from './varint.js';
import { hex, type BodyReader } from './body-reader.js';

export function decodeHello(r: BodyReader): HelloFrame {
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

export function decodeWelcome(r: BodyReader): WelcomeFrame {
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

// ---- extension values ------------------------------------------------------------------------

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
