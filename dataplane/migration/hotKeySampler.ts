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
  private counts = new Map<string, number>();

  constructor(readonly capacity: number) {}

  observe(key: Uint8Array, keyOffset: number, keyLength: number): void {
    const name = Buffer.from(key.buffer, key.byteOffset + keyOffset, keyLength).toString('latin1');
    const count = this.counts.get(name);
    if (count !== undefined) {
      this.counts.set(name, count + 1);
      return;
    }
    if (this.counts.size >= 2 * this.capacity) this.prune();
    this.counts.set(name, 1);
  }

  /** Keys counted now (at most 2 x capacity). */
  get size(): number {
    return this.counts.size;
  }

  /** The sampled keys, hottest first. */
  hottest(limit: number): Buffer[] {
    return this.sorted().slice(0, limit).map(([k]) => Buffer.from(k, 'latin1'));
  }

  private prune(): void {
    this.counts = new Map(this.sorted().slice(0, this.capacity));
  }

  private sorted(): [string, number][] {
    return [...this.counts.entries()].sort((a, b) => b[1] - a[1]);
  }
}
