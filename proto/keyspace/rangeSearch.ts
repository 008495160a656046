// Finding the range that holds a hash among sorted, non-overlapping ranges, without BigInt:
// starts are kept as parallel arrays of 32-bit halves and searched by binary search.

import { toBounds, type HashRange } from './range.js';

export class RangeSearch {
  private readonly startHi: Float64Array;
  private readonly startLo: Float64Array;
  private readonly endHi: Float64Array;
  private readonly endLo: Float64Array;

  /** `ranges` must be sorted by start and must not overlap (callers check). */
  constructor(ranges: readonly HashRange[]) {
    const n = ranges.length;
    this.startHi = new Float64Array(n);
    this.startLo = new Float64Array(n);
    this.endHi = new Float64Array(n);
    this.endLo = new Float64Array(n);
    ranges.forEach((range, i) => {
      const b = toBounds(range);
      this.startHi[i] = b.startHi;
      this.startLo[i] = b.startLo;
      this.endHi[i] = b.endHi;
      this.endLo[i] = b.endLo;
    });
  }

  /** Index of the range holding hash (hi, lo), or -1 if none does. */
  find(hi: number, lo: number): number {
    let low = 0;
    let high = this.startHi.length - 1;
    let candidate = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const startAbove = this.startHi[mid] > hi || (this.startHi[mid] === hi && this.startLo[mid] > lo);
      if (startAbove) {
        high = mid - 1;
      } else {
        candidate = mid;
        low = mid + 1;
      }
    }
    if (candidate < 0) return -1;
    const belowEnd = hi < this.endHi[candidate] || (hi === this.endHi[candidate] && lo < this.endLo[candidate]);
    return belowEnd ? candidate : -1;
  }
}

/** Sorts a copy of `ranges` by start and checks that none overlap; throws RangeError otherwise. */
export function sortedDisjoint<T extends HashRange>(ranges: readonly T[]): T[] {
  const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (let i = 0; i < sorted.length; i++) {
    toBounds(sorted[i]);
    if (i > 0 && sorted[i].start < sorted[i - 1].end) {
      throw new RangeError(`ranges overlap: [${sorted[i - 1].start}, ${sorted[i - 1].end}) and [${sorted[i].start}, ${sorted[i].end})`);
    }
  }
  return sorted;
}
