// Where a range's state comes from, given the manifest entries it overlaps (a split child
// overlaps its parent; a merged range overlaps both halves): every overlapping entry's
// checkpoints, and per log the earliest replay start. Replaying from an earlier position than a
// checkpoint needs is always safe: replay is in log order and last-writer-wins.

import { rangesOverlap, type HashRange } from '../../proto/keyspace/range.js';
import type { ManifestRange, ReplaySource } from './manifest.js';

export function sourcesFor(range: HashRange, entries: readonly ManifestRange[], fresh: ReplaySource | null):
  { checkpoints: string[]; replays: ReplaySource[]; records?: number } {
  const overlapping = entries.filter((e) => rangesOverlap(e, range));
  if (overlapping.length === 0) return { checkpoints: [], replays: fresh === null ? [] : [fresh] };
  // An upper bound (a split child counts its parent's records): only used to size the index.
  const records = overlapping.reduce((sum, e) => sum + (e.records ?? 0), 0);
  const checkpoints = [...new Set(overlapping.flatMap((e) => e.checkpoints))];
  const replays: ReplaySource[] = [];
  for (const source of overlapping.flatMap((e) => e.replays)) {
    const index = replays.findIndex((r) => r.pod === source.pod);
    if (index < 0) {
      replays.push(source);
      continue;
    }
    const known = replays[index];
    replays[index] = {
      pod: source.pod, fromLsn: Math.min(known.fromLsn, source.fromLsn),
      toLsn: known.toLsn === null || source.toLsn === null ? null : Math.max(known.toLsn, source.toLsn),
    };
  }
  return { checkpoints, replays, ...(records > 0 ? { records } : {}) };
}
