/**
 * Seeded pseudo-random numbers (mulberry32) for simulations and tests, so a failing run
 * reproduces from its seed. Not for anything secret (session ids use node:crypto).
 * Randomness is injected as `() => number` in [0, 1) everywhere it is used (STYLE.md §2.11).
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
