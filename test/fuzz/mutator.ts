/**
 * Seeded byte mutations for scripts/fuzz.ts, in the manner of libFuzzer's mutation set: bit flips,
 * "interesting" bytes (0x00, 0x7f, 0x80, 0xff, type-byte boundaries), random inserts and deletes,
 * duplicated ranges, splices with another pool input, truncation, and protocol-aware ones — a long
 * frame header with a huge or overlong length prefix, a valid frame inserted at a random offset.
 * Deterministic for a given rng, so a run reproduces from its seed.
 */

/** Inputs are capped so one input stays cheap and a run's memory stays flat. */
export const MAX_INPUT_BYTES = 16 * 1024;

const INTERESTING = [0x00, 0x01, 0x05, 0x07, 0x08, 0x3f, 0x40, 0x5f, 0x60, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xe0, 0xfe, 0xff, 0x4c];

export class Mutator {
  constructor(private readonly rng: () => number) {}

  int(n: number): number {
    return Math.floor(this.rng() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** 1–4 mutations of `base`; `other` is a second pool input for splices. */
  mutate(base: Uint8Array, other: Uint8Array): Uint8Array {
    let bytes = Array.from(base);
    const rounds = 1 + this.int(4);
    for (let r = 0; r < rounds; r++) bytes = this.once(bytes, other);
    if (bytes.length > MAX_INPUT_BYTES) bytes.length = MAX_INPUT_BYTES;
    return Uint8Array.from(bytes);
  }

  private once(bytes: number[], other: Uint8Array): number[] {
    const at = this.int(bytes.length + 1);
    switch (this.int(11)) {
      case 0: // flip one bit
        if (bytes.length > 0) bytes[at % bytes.length]! ^= 1 << this.int(8);
        return bytes;
      case 1: // an interesting byte
        if (bytes.length > 0) bytes[at % bytes.length] = this.pick(INTERESTING);
        return bytes;
      case 2: // random byte
        if (bytes.length > 0) bytes[at % bytes.length] = this.int(256);
        return bytes;
      case 3: {
        // insert 1–8 random bytes
        const n = 1 + this.int(8);
        bytes.splice(at, 0, ...Array.from({ length: n }, () => this.int(256)));
        return bytes;
      }
      case 4: // delete a range
        bytes.splice(at, 1 + this.int(Math.max(1, bytes.length >> 2)));
        return bytes;
      case 5: {
        // duplicate a range in place (repeated frames, repeated extensions)
        const len = 1 + this.int(Math.max(1, Math.min(64, bytes.length - at)));
        bytes.splice(at, 0, ...bytes.slice(at, at + len));
        return bytes;
      }
      case 6: // truncate
        bytes.length = at;
        return bytes;
      case 7: {
        // splice: our prefix + the other input's suffix
        const cut = this.int(other.length + 1);
        return bytes.slice(0, at).concat(Array.from(other.subarray(cut)));
      }
      case 8: // insert the other input whole (a valid frame in the middle of another)
        bytes.splice(at, 0, ...Array.from(other.subarray(0, 2048)));
        return bytes;
      case 9: {
        // a long frame header with an extreme length prefix: huge, overlong, non-minimal, max
        const type = 1 + this.int(8);
        const lengths = [[0xff, 0xff, 0xff, 0x7f], [0x80, 0x80, 0x80, 0x80, 0x01], [0x80, 0x00], [0x81, 0x80, 0x00], [0xff, 0x7f], [0x80, 0x80, 0x40]];
        bytes.splice(at, 0, type, ...this.pick(lengths));
        return bytes;
      }
      default: {
        // change a plausible length byte by ±1 (off-by-one bodies)
        if (bytes.length > 1) {
          const i = 1 + (at % (bytes.length - 1));
          bytes[i] = (bytes[i]! + (this.rng() < 0.5 ? 1 : 255)) & 0xff;
        }
        return bytes;
      }
    }
  }

  /** 0–5 sorted cut points into a stream of `length` bytes. */
  cuts(length: number): number[] {
    const n = this.int(6);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(this.int(length + 1));
    return out.sort((a, b) => a - b);
  }
}
