// The source's record of which slices of a pre-copied range were written behind the copy
// (docs/migration.md, "Pre-copy"). The executor calls mark() for every mutation it serves in the
// range. A round copies either the whole range in hash order (round 1: `copiedBelowHi` is the
// scan's cursor) or a set of slices in order (`current`, `nextSlice`); a write lands in the next
// round's set unless the copy has yet to reach the key, in which case the copy will read it.
// Everything runs on the event loop, and the cursors move right after each synchronous scan step,
// so the rule is exact at the scan's granularity.

import type { HashRangeBounds } from '../../proto/keyspace/range.js';
import { RangeSlices, SliceSet } from './rangeSlices.js';

export class WriteTracker {
  readonly bounds: HashRangeBounds;
  /** Round 1: every key whose hash's top word is below this has been copied. */
  copiedBelowHi: number;
  /** Rounds 2+: the slices being copied again (null in round 1), and the first not yet copied. */
  private current: SliceSet | null = null;
  nextSlice = 0;
  /** Slices written behind the copy during this round: the next round's work. */
  private written: SliceSet;

  constructor(readonly migrationId: string, readonly slices: RangeSlices) {
    this.bounds = slices.bounds;
    this.copiedBelowHi = slices.bounds.startHi;
    this.written = new SliceSet(slices.count);
  }

  /** A mutation of a key with hash top word `hi` in the range was served. */
  mark(hi: number): void {
    const slice = this.slices.sliceOf(hi);
    if (this.current === null ? hi >>> 0 >= this.copiedBelowHi : slice >= this.nextSlice && this.current.has(slice)) return;
    this.written.add(slice);
  }

  /** Ends a round: returns the slices written behind it, which the next round copies. */
  nextRound(): SliceSet {
    const written = this.written;
    this.current = written;
    this.nextSlice = 0;
    this.written = new SliceSet(this.slices.count);
    return written;
  }

  /** The slices written since the last round began (the range no longer being served: final). */
  get writtenSoFar(): SliceSet {
    return this.written;
  }
}
