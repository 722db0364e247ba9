/**
 * RangeSet: a set of stream offsets kept as sorted, disjoint, non-adjacent [start, end) ranges.
 * The channel's bookkeeping in offsets — what the peer acknowledged above its cumulative ACK, what
 * must be resent — as SACK blocks are (RFC 2018). Pure; O(log n) lookup, O(n) splice; n stays
 * small because the peer reports at most a few ranges and packets cover one range each.
 */
import type { ByteRange } from './packet.js';

export class RangeSet {
  private starts: number[] = [];
  private ends: number[] = [];

  get count(): number {
    return this.starts.length;
  }

  get isEmpty(): boolean {
    return this.starts.length === 0;
  }

  /** Total offsets covered. */
  get size(): number {
    let n = 0;
    for (let i = 0; i < this.starts.length; i++) n += this.ends[i]! - this.starts[i]!;
    return n;
  }

  /** Lowest range, or undefined. */
  first(): ByteRange | undefined {
    return this.starts.length === 0 ? undefined : { start: this.starts[0]!, end: this.ends[0]! };
  }

  /** Highest covered offset + 1, or undefined. */
  get max(): number | undefined {
    return this.ends.length === 0 ? undefined : this.ends[this.ends.length - 1];
  }

  ranges(): ByteRange[] {
    return this.starts.map((start, i) => ({ start, end: this.ends[i]! }));
  }

  /** Index of the first range whose end is ≥ offset (it may touch or contain offset). */
  private firstEndingAtOrAfter(offset: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid]! < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    // Every range that overlaps or touches [start, end) merges into one.
    const i = this.firstEndingAtOrAfter(start);
    let j = i;
    let s = start;
    let e = end;
    while (j < this.starts.length && this.starts[j]! <= end) {
      s = Math.min(s, this.starts[j]!);
      e = Math.max(e, this.ends[j]!);
      j++;
    }
    this.starts.splice(i, j - i, s);
    this.ends.splice(i, j - i, e);
  }

  remove(start: number, end: number): void {
    if (end <= start) return;
    const i = this.firstEndingAtOrAfter(start + 1); // ranges ending at start are untouched
    const keepStarts: number[] = [];
    const keepEnds: number[] = [];
    let j = i;
    while (j < this.starts.length && this.starts[j]! < end) {
      if (this.starts[j]! < start) {
        keepStarts.push(this.starts[j]!);
        keepEnds.push(start);
      }
      if (this.ends[j]! > end) {
        keepStarts.push(end);
        keepEnds.push(this.ends[j]!);
      }
      j++;
    }
    this.starts.splice(i, j - i, ...keepStarts);
    this.ends.splice(i, j - i, ...keepEnds);
  }

  /** Forget every offset below `offset` (the cumulative ACK moved past them). */
  removeBelow(offset: number): void {
    if (this.starts.length === 0 || this.starts[0]! >= offset) return;
    this.remove(this.starts[0]!, offset);
  }

  has(offset: number): boolean {
    const i = this.firstEndingAtOrAfter(offset + 1);
    return i < this.starts.length && this.starts[i]! <= offset;
  }

  /** Is all of [start, end) in the set? */
  covers(start: number, end: number): boolean {
    if (end <= start) return true;
    const i = this.firstEndingAtOrAfter(end);
    return i < this.starts.length && this.starts[i]! <= start;
  }

  /** Is any of [start, end) in the set? */
  overlaps(start: number, end: number): boolean {
    if (end <= start) return false;
    const i = this.firstEndingAtOrAfter(start + 1);
    return i < this.starts.length && this.starts[i]! < end;
  }

  /** The parts of [start, end) not in the set, ascending. */
  uncovered(start: number, end: number): ByteRange[] {
    const out: ByteRange[] = [];
    let cursor = start;
    for (let i = this.firstEndingAtOrAfter(start + 1); i < this.starts.length && cursor < end; i++) {
      const s = this.starts[i]!;
      if (s >= end) break;
      if (s > cursor) out.push({ start: cursor, end: s });
      cursor = Math.max(cursor, this.ends[i]!);
    }
    if (cursor < end) out.push({ start: cursor, end });
    return out;
  }

  /** The lowest uncovered offset at or above `from`. */
  firstGap(from: number): number {
    const i = this.firstEndingAtOrAfter(from + 1);
    return i < this.starts.length && this.starts[i]! <= from ? this.ends[i]! : from;
  }

  clear(): void {
    this.starts = [];
    this.ends = [];
  }
}
