/**
 * PRESENCE (PROTOCOL.md §6.11), long type 7: encode and decode its body. Kept apart from
 * encode.ts / decoder.ts (which dispatch to it) because it is the one frame whose body is a list.
 *
 *   kind u8 (0 SUBSCRIBE, 1 UNSUBSCRIBE, 2 STATE) · count varint (1..1024) · count entries
 *   SUBSCRIBE / UNSUBSCRIBE entry: id string (1..256 bytes UTF-8)
 *   STATE entry: state u8 (0 offline, 1 online, 2 away, 3 denied) · id string
 *
 * Strict: an unknown kind or state, a count of 0 or above 1024, an empty or longer id, or a byte
 * after the last entry is LL_ERR_MALFORMED_FRAME. Pure module: no `node:*`, no `Buffer`.
 */
import { ProtocolError } from '../errors.js';
import {
  LONG_FRAME_TYPES,
  MAX_BODY_LENGTH,
  MAX_PRESENCE_ENTRIES,
  MAX_PRESENCE_ID_BYTES,
  PRESENCE_KINDS,
  PRESENCE_STATES,
  type PresenceFrame,
  type WirePresenceState,
} from './frames.js';
import { varintLength, writeVarint } from './varint.js';

const utf8 = new TextEncoder();

/** The decoder's body cursor, as much of it as PRESENCE needs (body-reader.ts BodyReader). */
export interface PresenceBodyReader {
  pos: number;
  readonly end: number;
  u8(field: string): number;
  varint(field: string): number;
  string(field: string, maxBytes: number): string;
  expectEnd(frameName: string): void;
}

const KIND_NAMES = ['subscribe', 'unsubscribe', 'state'] as const;
const STATE_NAMES: readonly WirePresenceState[] = ['offline', 'online', 'away', 'denied'];

/** UTF-8 bytes of a PRESENCE id, checked against the bounds (TypeError / RangeError naming it). */
export function presenceIdBytes(id: unknown, field = 'presence id'): Uint8Array {
  if (typeof id !== 'string') throw new TypeError(`${field} must be a string, got ${typeof id}`);
  const bytes = utf8.encode(id);
  if (bytes.length < 1 || bytes.length > MAX_PRESENCE_ID_BYTES) {
    throw new RangeError(`${field} must be 1..${MAX_PRESENCE_ID_BYTES} bytes of UTF-8, got ${bytes.length}`);
  }
  return bytes;
}

/** Encoded size of one entry: (state byte) + id length varint + id. */
export function presenceEntryLength(idBytes: number, withState: boolean): number {
  return (withState ? 1 : 0) + varintLength(idBytes) + idBytes;
}

/** Whole-frame size for `count` entries whose bodies sum to `entryBytes`. */
export function presenceFrameLength(count: number, entryBytes: number): number {
  const body = 1 + varintLength(count) + entryBytes;
  return 1 + varintLength(body) + body;
}

export function encodePresence(frame: PresenceFrame): Uint8Array {
  const kind = frame.kind;
  const withState = kind === 'state';
  if (kind !== 'subscribe' && kind !== 'unsubscribe' && kind !== 'state') {
    throw new RangeError(`presence kind must be 'subscribe', 'unsubscribe' or 'state', got ${String(kind)}`);
  }
  const list: unknown = withState ? (frame as { states: unknown }).states : (frame as { ids: unknown }).ids;
  if (!Array.isArray(list)) throw new TypeError(`presence ${withState ? 'states' : 'ids'} must be an array`);
  const entries = (withState ? list : list.map((id: unknown) => ({ id }))) as ReadonlyArray<{ id: string; state?: WirePresenceState }>;
  if (entries.length < 1 || entries.length > MAX_PRESENCE_ENTRIES) {
    throw new RangeError(`presence ${kind} must carry 1..${MAX_PRESENCE_ENTRIES} entries, got ${entries.length}`);
  }
  const ids: Uint8Array[] = [];
  let entryBytes = 0;
  for (const entry of entries) {
    const bytes = presenceIdBytes(entry.id);
    if (withState && (typeof entry.state !== 'string' || !Object.hasOwn(PRESENCE_STATES, entry.state))) {
      throw new RangeError(`presence state must be one of ${STATE_NAMES.join(', ')}; got ${String(entry.state)}`);
    }
    ids.push(bytes);
    entryBytes += presenceEntryLength(bytes.length, withState);
  }
  const bodyLength = 1 + varintLength(entries.length) + entryBytes;
  if (bodyLength > MAX_BODY_LENGTH) throw new RangeError(`presence body of ${bodyLength} bytes exceeds the ${MAX_BODY_LENGTH}-byte limit`);
  const out = new Uint8Array(1 + varintLength(bodyLength) + bodyLength);
  out[0] = LONG_FRAME_TYPES.presence;
  let pos = writeVarint(out, 1, bodyLength);
  out[pos++] = PRESENCE_KINDS[kind];
  pos = writeVarint(out, pos, entries.length);
  for (let i = 0; i < entries.length; i++) {
    if (withState) out[pos++] = PRESENCE_STATES[entries[i]!.state!];
    const bytes = ids[i]!;
    pos = writeVarint(out, pos, bytes.length);
    out.set(bytes, pos);
    pos += bytes.length;
  }
  return out;
}

export function decodePresence(r: PresenceBodyReader): PresenceFrame {
  const kindNumber = r.u8('PRESENCE kind');
  const kind = KIND_NAMES[kindNumber];
  if (kind === undefined) throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `PRESENCE kind ${kindNumber} is not 0, 1 or 2`);
  const count = r.varint('PRESENCE count');
  if (count < 1 || count > MAX_PRESENCE_ENTRIES) {
    throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `PRESENCE count ${count} is outside 1..${MAX_PRESENCE_ENTRIES}`);
  }
  // Each entry takes at least 2 bytes: a count the body cannot hold fails before any allocation.
  if (count * (kind === 'state' ? 3 : 2) > r.end - r.pos) {
    throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `PRESENCE count ${count} runs past the end of the frame body`);
  }
  if (kind === 'state') {
    const states: Array<{ id: string; state: WirePresenceState }> = [];
    for (let i = 0; i < count; i++) {
      const stateNumber = r.u8('PRESENCE state');
      const state = STATE_NAMES[stateNumber];
      if (state === undefined) throw new ProtocolError('LL_ERR_MALFORMED_FRAME', `PRESENCE state ${stateNumber} is not 0..3`);
      states.push({ id: presenceId(r), state });
    }
    r.expectEnd('PRESENCE');
    return { type: 'presence', kind, states };
  }
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push(presenceId(r));
  r.expectEnd('PRESENCE');
  return { type: 'presence', kind, ids };
}

function presenceId(r: PresenceBodyReader): string {
  const id = r.string('PRESENCE id', MAX_PRESENCE_ID_BYTES);
  if (id === '') throw new ProtocolError('LL_ERR_MALFORMED_FRAME', 'PRESENCE id is empty');
  return id;
}
