// Which keys of a range are hottest, in bounded memory: counters for at most 2 x `capacity` keys.
// A key not counted yet gets a counter; when the counters reach 2 x capacity, the `capacity`
// largest are kept and the rest dropped (the counts go on from there). That is Space-Saving
// (Metwally et al., 2005) with its eviction done in batches: a key that keeps being accessed more
// often than the keys churning through the lower half stays counted, and each observation costs
// O(1) amortised plus a sort per `capacity` new keys — the classic one-at-a-time eviction scans
// every counter for the minimum, which at 2k counters cost the source ~0.5 s of CPU per second of
// sampling under YCSB load. Shadowfax samples before a transfer and sends the hot records with
// ownership, so the target need not fetch them on demand.

export class HotKeySampler {
  /**
   * Per key: count x 2^32 + the top word of the key's hash, one exact double (counts saturate at
   * COUNT_MAX), so that hottest() can filter by hash without hashing 2 x capacity keys again.
   */
  private counts = new Map<string, number>();

  constructor(readonly capacity: number) {}

  /** One access of the key whose hash's top word is `hi`. */
  observe(key: Uint8Array, keyOffset: number, keyLength: number, hi: number): void {
    const name = Buffer.from(key.buffer, key.byteOffset + keyOffset, keyLength).toString('latin1');
    const packed = this.counts.get(name);
    if (packed !== undefined) {
      if (packed < COUNT_MAX * TWO_POW_32) this.counts.set(name, packed + TWO_POW_32);
      return;
    }
    if (this.counts.size >= 2 * this.capacity) this.prune();
    this.counts.set(name, TWO_POW_32 + (hi >>> 0));
  }

  /** Keys counted now (at most 2 x capacity). */
  get size(): number {
    return this.counts.size;
  }

  /**
   * The sampled keys, hottest first, at most `limit`; with `keep`, only keys whose hash's top word
   * it accepts (filtered before sorting: the source asks for the few in its last written slices
   * right after it stopped serving the range, when every millisecond is in the owner-switch gap).
   */
  hottest(limit: number, keep: ((hi: number) => boolean) | null = null): Buffer[] {
    if (limit <= 0) return [];
    const entries: [string, number][] = [];
    for (const [name, packed] of this.counts) if (keep === null || keep(packed % TWO_POW_32)) entries.push([name, packed]);
    return byCount(entries).slice(0, limit).map(([k]) => Buffer.from(k, 'latin1'));
  }

  private prune(): void {
    this.counts = new Map(byCount([...this.counts.entries()]).slice(0, this.capacity));
  }
}

const TWO_POW_32 = 0x1_0000_0000;
/** Counts stop here: count x 2^32 + hi stays an exact double (below 2^53). */
const COUNT_MAX = 0x10_0000;

/** Sorted by count, highest first (the packed value's high part; equal counts in any order). */
function byCount(entries: [string, number][]): [string, number][] {
  return entries.sort((a, b) => b[1] - a[1]);
}
