/**
 * SendBuffer: the outbound stream from the oldest unacknowledged offset to the last byte written,
 * kept as the caller's chunks (no copy on write, as a socket's write queue keeps them), so any
 * range can be resent until the cumulative ACK passes it (ResumeState's "retain until the
 * cumulative ACK", on offsets: docs/spec/0012-udp.md §Stream 3). Pure.
 */

interface Chunk {
  offset: number;
  bytes: Uint8Array;
}

export class SendBuffer {
  private chunks: Chunk[] = [];
  private head = 0;
  /** Offset of the first byte still held. */
  private base = 0;
  /** Offset one past the last byte written. */
  private endOffset = 0;

  get start(): number {
    return this.base;
  }

  get end(): number {
    return this.endOffset;
  }

  /** Bytes held (written, not yet released by the cumulative ACK). */
  get length(): number {
    return this.endOffset - this.base;
  }

  append(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.chunks.push({ offset: this.endOffset, bytes });
    this.endOffset += bytes.length;
  }

  /** Copy [offset, offset + length) into target at pos. The range must be held. */
  copy(offset: number, length: number, target: Uint8Array, pos: number): void {
    if (offset < this.base || offset + length > this.endOffset) {
      throw new RangeError(`stream bytes [${offset}, ${offset + length}) are not held`);
    }
    let i = this.find(offset);
    let at = offset;
    let remaining = length;
    while (remaining > 0) {
      const c = this.chunks[i++]!;
      const from = at - c.offset;
      const n = Math.min(remaining, c.bytes.length - from);
      target.set(c.bytes.subarray(from, from + n), pos);
      pos += n;
      at += n;
      remaining -= n;
    }
  }

  /** View of [offset, offset + length) (copied only when it spans chunks). */
  view(offset: number, length: number): Uint8Array {
    if (length === 0) return EMPTY;
    if (offset < this.base || offset + length > this.endOffset) {
      throw new RangeError(`stream bytes [${offset}, ${offset + length}) are not held`);
    }
    const c = this.chunks[this.find(offset)];
    if (c !== undefined && offset + length <= c.offset + c.bytes.length) {
      return c.bytes.subarray(offset - c.offset, offset - c.offset + length);
    }
    const out = new Uint8Array(length);
    this.copy(offset, length, out, 0);
    return out;
  }

  /** Release every byte below `offset` (acknowledged cumulatively). */
  releaseBelow(offset: number): void {
    if (offset <= this.base) return;
    this.base = Math.min(offset, this.endOffset);
    const chunks = this.chunks;
    while (this.head < chunks.length && chunks[this.head]!.offset + chunks[this.head]!.bytes.length <= this.base) {
      chunks[this.head++] = undefined as unknown as Chunk; // drop the reference: the peer has it
    }
    if (this.head > 64 && this.head * 2 > chunks.length) {
      this.chunks = chunks.slice(this.head);
      this.head = 0;
    }
  }

  /** Drop everything (destroy). */
  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.base = this.endOffset;
  }

  /** Index of the chunk holding `offset` (binary search over the live chunks). */
  private find(offset: number): number {
    let lo = this.head;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.chunks[mid]!.offset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

const EMPTY = new Uint8Array(0);
