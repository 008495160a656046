// The ownership side of a partitioned recovery (Durability.recoverFrom): the ranges are owned
// and recovering (ops get UNAVAILABLE) while they load, then served, or given up again if the
// recovery fails. Each step changes only the recovery's own ranges in the owned set as it is at
// that moment, so a change made meanwhile to other ranges (a split, a merge, an adoption) is kept.

import type { OwnedRange, OwnedRanges } from '../ranges/ownedRanges.js';

export class RecoveryTaking {
  private claimed = false;

  constructor(private readonly owned: OwnedRanges, readonly ranges: readonly OwnedRange[]) {}

  /** Owns the ranges, recovering. Throws (nothing changed) if one overlaps a range owned here. */
  claim(): void {
    this.owned.assign([...this.owned.list(), ...this.ranges.map((r) => ({ start: r.start, end: r.end, view: r.view, recovering: true }))]);
    this.claimed = true;
  }

  /** Loaded and recorded: the ranges are served. */
  settle(): void {
    this.owned.assign(this.owned.list().map((r) => (this.isOwn(r) ? { start: r.start, end: r.end, view: r.view } : r)));
  }

  /** Failed: the ranges are not owned here (ops on them get WRONG_RANGE). Nothing to do if the claim failed. */
  giveUp(): void {
    if (!this.claimed) return;
    this.owned.assign(this.owned.list().filter((r) => !this.isOwn(r)));
  }

  /** One of this recovery's ranges, still recovering (not replaced by an assignment meanwhile). */
  private isOwn(range: OwnedRange): boolean {
    return range.recovering === true && this.ranges.some((r) => r.start === range.start && r.end === range.end && r.view === range.view);
  }
}
