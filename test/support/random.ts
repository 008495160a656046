// Seeded pseudo-random numbers, so every randomised test replays exactly from its seed and every
// benchmark run sees the same workload (bench/ imports this file too).
//
// mulberry32 (Tommy Ettinger, public domain): 32 bits of state, one multiply-xorshift round per
// output. Statistically plenty for choosing operations and keys, and fast enough that the
// generator never shows up in a test's profile.

const TWO_POW_32 = 0x1_0000_0000;

export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform unsigned 32-bit integer. */
  uint32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.uint32() / TWO_POW_32;
  }

  /** Uniform integer in [0, count); count at most 2^32. */
  below(count: number): number {
    return Math.floor(this.float() * count);
  }

  /** Uniform integer in [min, max] (inclusive). */
  between(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  chance(probability: number): boolean {
    return this.float() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }

  /** Uniform 64-bit unsigned integer. */
  uint64(): bigint {
    return (BigInt(this.uint32()) << 32n) | BigInt(this.uint32());
  }

  /** Uniform bigint in [0, bound) for 0 < bound <= 2^64 (rejection sampling keeps it uniform). */
  bigBelow(bound: bigint): bigint {
    const bits = bound.toString(2).length;
    const mask = (1n << BigInt(bits)) - 1n;
    while (true) {
      const candidate = this.uint64() & mask;
      if (candidate < bound) return candidate;
    }
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = this.uint32() & 0xff;
    return out;
  }

  /** A generator with its own stream, seeded from this one (for independent sub-runs). */
  fork(): Random {
    return new Random(this.uint32());
  }
}
