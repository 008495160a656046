// The target's pending slices whose pre-copied records are still in its engine. After a pre-copy,
// ownership names the slices written at the source since the last round; the target's copies of
// those slices are stale (a key may have changed or been deleted at the source). They used to be
// dropped inside ReceiveOwnership, before the target served anything: ~10 us a slice, all of it in
// the owner-switch gap (9 ms for ~900 slices, profiled). Now they are dropped when their data comes
// (docs/migration.md, "Pre-copy"), which is safe because no op reads a key of a pending slice
// before that key is resolved, and every way of resolving one drops the stale copy first:
// - a MOVE_DATA chunk drops the stale slices it covers (those below its progress mark, all with the
//   last chunk) before installing, keeping keys resolved meanwhile (fetched, then maybe written);
// - an on-demand fetch deletes each fetched key's stale record (unless the key was resolved or
//   arrived meanwhile) before installing what the source sent: a key the source no longer has is
//   then gone here too;
// - the load from the source's files (the source lost) drops every stale slice first;
// - hot records sent with ownership replace their key's record as they are installed.
// A slice leaves this set only once its drop succeeded, so a drop the engine refuses leaves it
// stale and its keys unresolved.

import { assert } from '../store/assert.js';
import { SliceSet } from './rangeSlices.js';

export class StaleSlices {
  private readonly set: SliceSet;
  private next = 0;

  /** `slices` in increasing order: the order MOVE_DATA sends them in. */
  constructor(capacity: number, private readonly order: readonly number[]) {
    for (let i = 1; i < order.length; i++) assert(order[i - 1] < order[i], 'pending slices come in increasing order');
    this.set = SliceSet.of(capacity, order);
  }

  get size(): number {
    return this.set.size;
  }

  has(slice: number): boolean {
    return this.set.has(slice);
  }

  /** The lowest slice still stale (null: none). */
  first(): number | null {
    return this.next < this.order.length ? this.order[this.next] : null;
  }

  /** The lowest slice's records were dropped. */
  dropFirst(): void {
    assert(this.next < this.order.length, 'a stale slice is left to drop');
    this.set.delete(this.order[this.next++]);
  }
}
