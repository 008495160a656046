// The parts of some hash ranges that other ranges do not cover: what a pod is about to own that
// it does not own now (AssignRanges, RecoverRanges), so that records it still holds there — of a
// range it gave away and did not drop — are dropped before the range is served here again.

import { rangesOverlap, type HashRange } from '../../proto/keyspace/range.js';
import { sortedDisjoint } from '../../proto/keyspace/rangeSearch.js';

/** The parts of `ranges` outside every range of `covered` (both lists disjoint), in hash order. */
export function uncoveredParts(ranges: readonly HashRange[], covered: readonly HashRange[]): HashRange[] {
  const cover = sortedDisjoint(covered);
  const parts: HashRange[] = [];
  for (const range of sortedDisjoint(ranges)) {
    let start = range.start;
    for (const c of cover) {
      if (!rangesOverlap(c, { start, end: range.end })) continue;
      if (c.start > start) parts.push({ start, end: c.start });
      start = c.end;
    }
    if (start < range.end) parts.push({ start, end: range.end });
  }
  return parts;
}
