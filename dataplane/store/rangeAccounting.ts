// Per-range key counts and bytes, for any list of ranges, without walking every key.
//
// The keyspace is cut into 2^16 fixed accounting blocks by the top 16 bits of the hash
// (independent of the index size). Each block keeps the number of live objects and their record
// bytes, updated on every write. A range's figures are the sum of the blocks it covers whole,
// plus an exact count of its two partly covered edge blocks, found by scanning only their keys
// (on average keyCount / 65536 each). Memory: 65536 × 12 bytes, fixed.

import type { HashRangeBounds } from '../../proto/keyspace/range.js';

export const ACCOUNTING_BLOCK_BITS = 16;
const BLOCK_COUNT = 1 << ACCOUNTING_BLOCK_BITS;
const BLOCK_SHIFT = 32 - ACCOUNTING_BLOCK_BITS;

export interface RangeFigures {
  keyCount: number;
  bytes: number;
}

/** Counts the objects of a sub-range exactly (the store scans their keys). */
export type ExactCounter = (bounds: HashRangeBounds) => RangeFigures;

export class RangeAccounting {
  private readonly keyCounts = new Uint32Array(BLOCK_COUNT);
  private readonly byteCounts = new Float64Array(BLOCK_COUNT);

  add(hi: number, recordBytes: number): void {
    const block = hi >>> BLOCK_SHIFT;
    this.keyCounts[block]++;
    this.byteCounts[block] += recordBytes;
  }

  remove(hi: number, recordBytes: number): void {
    const block = hi >>> BLOCK_SHIFT;
    this.keyCounts[block]--;
    this.byteCounts[block] -= recordBytes;
  }

  get memoryBytes(): number {
    return this.keyCounts.byteLength + this.byteCounts.byteLength;
  }

  figures(bounds: HashRangeBounds, countExactly: ExactCounter): RangeFigures {
    const result: RangeFigures = { keyCount: 0, bytes: 0 };
    const firstBlock = bounds.startHi >>> BLOCK_SHIFT;
    // The block holding end - 1: when end's low half is 0, end - 1 lies in the hi word below.
    const lastHi = bounds.endLo === 0 ? bounds.endHi - 1 : bounds.endHi;
    const lastBlock = lastHi >>> BLOCK_SHIFT;
    for (let block = firstBlock; block <= lastBlock; block++) {
      const blockStartHi = block * 2 ** BLOCK_SHIFT;
      const blockEndHi = (block + 1) * 2 ** BLOCK_SHIFT;
      const coveredBelow = bounds.startHi < blockStartHi || (bounds.startHi === blockStartHi && bounds.startLo === 0);
      const coveredAbove = bounds.endHi >= blockEndHi;
      if (coveredBelow && coveredAbove) {
        result.keyCount += this.keyCounts[block];
        result.bytes += this.byteCounts[block];
        continue;
      }
      const exact = countExactly({
        startHi: coveredBelow ? blockStartHi : bounds.startHi,
        startLo: coveredBelow ? 0 : bounds.startLo,
        endHi: coveredAbove ? blockEndHi : bounds.endHi,
        endLo: coveredAbove ? 0 : bounds.endLo,
      });
      result.keyCount += exact.keyCount;
      result.bytes += exact.bytes;
    }
    return result;
  }
}
