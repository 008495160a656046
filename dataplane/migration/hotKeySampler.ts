// Which keys of a range are hottest, in bounded memory: the Space-Saving algorithm (Metwally et
// al., 2005) over the keys of ops the pod serves while sampling. At most `capacity` counters;
// a new key replaces the smallest counter and inherits its count, so any key accessed more than
// ops/capacity times is guaranteed to be kept. Shadowfax samples for a few ms before a transfer
// and sends the hot records with ownership, so the target need not fetch them on demand.

export class HotKeySampler {
  private readonly counts = new Map<string, number>();

  constructor(readonly capacity: number) {}

  observe(key: Uint8Array, keyOffset: number, keyLength: number): void {
    const name = Buffer.from(key.buffer, key.byteOffset + keyOffset, keyLength).toString('latin1');
    const count = this.counts.get(name);
    if (count !== undefined) {
      this.counts.set(name, count + 1);
      return;
    }
    if (this.counts.size < this.capacity) {
      this.counts.set(name, 1);
      return;
    }
    let minKey = '';
    let min = Infinity;
    for (const [k, c] of this.counts) {
      if (c < min) {
        min = c;
        minKey = k;
      }
    }
    this.counts.delete(minKey);
    this.counts.set(name, min + 1);
  }

  /** The sampled keys, hottest first. */
  hottest(limit: number): Buffer[] {
    return [...this.counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([k]) => Buffer.from(k, 'latin1'));
  }
}
