/**
 * Frame boundaries for the UDP adapter (docs/spec/0012-udp.md §Stream and side path 1, 4, 5).
 * The channel below carries two things: a reliable stream and an unreliable side path. Which bytes
 * go where, and where the receiving decoder may be handed bytes, depends only on PROTOCOL.md §4's
 * framing — a type byte, then for a long frame a varint length — so both scanners read just that.
 *
 * - OutboundSplitter: the bytes Connection writes, cut into stream pieces and compact frames
 *   (PING, PONG) that start at a frame boundary, which take the side path. A long frame's header and
 *   body may come in separate writes (Connection writes a big DATA's header, then its payload).
 * - InboundGate: stream bytes pass on only up to the end of the last complete frame, so a side
 *   frame handed to the decoder in between never lands inside a half-delivered long frame.
 *   Anything the decoder must reject (a reserved type byte, a length past maxFrameSize) passes at
 *   once: the decoder closes the connection with its usual reason, as on TCP.
 *
 * Pure: Uint8Array only (the browser never dials UDP, but nothing here needs a runtime).
 */
import { concatBytes } from '../../util/bytes.js';

/** Longest PROTOCOL.md §4.2 length field: 4 varint bytes. */
const MAX_LENGTH_BYTES = 4;

/** Size of a compact frame from its type byte (PING 1, PONG 2), or 0 for a long frame / reserved byte. */
export function compactFrameSize(typeByte: number): number {
  if (typeByte >= 0x80) return 2;
  if (typeByte >= 0x40 && typeByte < 0x60) return 1;
  return 0;
}

/**
 * Reads long-frame headers across chunk edges: after the type byte, up to 4 length bytes.
 * `remaining` is how many bytes of the current frame are still to come (0: at a boundary).
 */
class FrameCursor {
  /** Bytes left in the current long frame (after its header), or -1 while reading its header. */
  remaining = 0;
  private lengthValue = 0;
  private lengthBytes = 0;
  /** Header bytes seen so far of the current frame (type byte + length bytes). */
  headerBytes = 0;

  get atBoundary(): boolean {
    return this.remaining === 0 && this.headerBytes === 0;
  }

  /** Start a long frame at its type byte. */
  startLong(): void {
    this.remaining = -1;
    this.lengthValue = 0;
    this.lengthBytes = 0;
    this.headerBytes = 1;
  }

  /**
   * Feed one length byte. Returns the body length once the varint is complete, -1 while it is
   * not, or -2 when the field is malformed (longer than 4 bytes).
   */
  lengthByte(b: number): number {
    this.lengthValue += (b & 0x7f) * 2 ** (7 * this.lengthBytes);
    this.lengthBytes++;
    this.headerBytes++;
    if ((b & 0x80) === 0) {
      this.remaining = this.lengthValue;
      this.headerBytes = this.remaining === 0 ? 0 : this.headerBytes;
      return this.lengthValue;
    }
    return this.lengthBytes >= MAX_LENGTH_BYTES ? -2 : -1;
  }

  /** Frame size so far known: type byte + length field + body. */
  frameSize(body: number): number {
    return 1 + this.lengthBytes + body;
  }

  finishFrame(): void {
    this.remaining = 0;
    this.headerBytes = 0;
  }
}

/** Where InboundGate hands whole frames. */
export interface GateSink {
  up(bytes: Uint8Array): void;
}

export interface SplitSink {
  stream(bytes: Uint8Array): void;
  side(bytes: Uint8Array): void;
}

/**
 * Outbound: cut written bytes into stream pieces and side frames. Pieces are views of the
 * caller's array (the channel keeps them until acknowledged without copying).
 */
export class OutboundSplitter {
  private readonly cursor = new FrameCursor();
  /** After a malformed header we can no longer tell boundaries: everything is stream from then on. */
  private lost = false;
  /** The type byte of a PONG whose load byte comes in the next write. */
  private partialCompact: number | undefined;

  write(bytes: Uint8Array, sink: SplitSink): void {
    const c = this.cursor;
    let streamStart = 0;
    let i = 0;
    if (this.partialCompact !== undefined && bytes.length > 0) {
      sink.side(Uint8Array.of(this.partialCompact, bytes[0]!));
      this.partialCompact = undefined;
      i = streamStart = 1;
    }
    const n = bytes.length;
    while (i < n) {
      if (this.lost) {
        i = n;
        break;
      }
      if (c.remaining > 0) {
        const take = Math.min(c.remaining, n - i);
        i += take;
        c.remaining -= take;
        if (c.remaining === 0) c.finishFrame();
        continue;
      }
      if (c.remaining === -1) {
        const r = c.lengthByte(bytes[i]!);
        i++;
        if (r === -2) this.lost = true;
        continue;
      }
      // At a frame boundary.
      const b = bytes[i]!;
      const compact = compactFrameSize(b);
      if (compact > 0 && i + compact <= n) {
        if (i > streamStart) sink.stream(bytes.subarray(streamStart, i));
        sink.side(bytes.subarray(i, i + compact));
        i += compact;
        streamStart = i;
        continue;
      }
      if (compact > 0) {
        // A PONG cut by the write's end (Connection never does this): keep its first byte for the next write.
        if (i > streamStart) sink.stream(bytes.subarray(streamStart, i));
        this.partialCompact = bytes[i]!;
        return;
      }
      c.startLong();
      i++;
    }
    if (n > streamStart) sink.stream(bytes.subarray(streamStart, n));
  }
}

/**
 * Inbound: hold a partial frame's bytes until the frame is complete. Memory: at most one frame
 * (≤ maxFrameSize), as the decoder itself.
 */
export class InboundGate {
  private readonly cursor = new FrameCursor();
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private passThrough = false;
  /** True once the first complete frame of the stream went through (HELLO / WELCOME). */
  started = false;

  constructor(private readonly maxFrameSize: number) {}

  /** Bytes held back (the incomplete frame's start). */
  get pendingBytes(): number {
    return this.heldBytes;
  }

  /** The deliverable prefix of held + bytes: everything up to the last complete frame. */
  accept(bytes: Uint8Array, sink: GateSink): void {
    if (this.passThrough) return sink.up(bytes);
    const c = this.cursor;
    let lastBoundary = -1; // index in `bytes` just after the last complete frame
    let i = 0;
    const n = bytes.length;
    while (i < n) {
      if (c.remaining > 0) {
        const take = Math.min(c.remaining, n - i);
        i += take;
        c.remaining -= take;
        if (c.remaining === 0) {
          c.finishFrame();
          lastBoundary = i;
        }
        continue;
      }
      if (c.remaining === -1) {
        const body = c.lengthByte(bytes[i]!);
        i++;
        if (body === -2 || (body >= 0 && c.frameSize(body) > this.maxFrameSize)) {
          // The decoder rejects this frame (LL_ERR_FRAME_TOO_LARGE / malformed): let it see it now.
          this.passThrough = true;
          this.flush(bytes, sink);
          return;
        }
        if (body === 0) {
          c.finishFrame();
          lastBoundary = i;
        }
        continue;
      }
      const b = bytes[i]!;
      const compact = compactFrameSize(b);
      if (compact > 0) {
        if (i + compact > n) {
          // A PONG split across stream pieces (a peer may send compact frames in the stream).
          c.remaining = i + compact - n;
          c.headerBytes = 1;
          i = n;
          break;
        }
        i += compact;
        lastBoundary = i;
        continue;
      }
      if (b < 0x40 && b !== 0) {
        c.startLong();
        i++;
        continue;
      }
      // 0x00 or a reserved compact byte: the decoder's error, at once.
      this.passThrough = true;
      this.flush(bytes, sink);
      return;
    }
    if (lastBoundary < 0) {
      this.hold(bytes);
      return;
    }
    const ready = bytes.subarray(0, lastBoundary);
    const out = this.heldBytes > 0 ? concatBytes([...this.held, ready]) : ready;
    this.held = [];
    this.heldBytes = 0;
    if (lastBoundary < n) this.hold(bytes.subarray(lastBoundary));
    this.started = true;
    sink.up(out);
  }

  private hold(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.held.push(bytes);
    this.heldBytes += bytes.length;
  }

  private flush(bytes: Uint8Array, sink: GateSink): void {
    const out = this.heldBytes > 0 ? concatBytes([...this.held, bytes]) : bytes;
    this.held = [];
    this.heldBytes = 0;
    this.started = true;
    sink.up(out);
  }
}
