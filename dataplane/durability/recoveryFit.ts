// Whether a partitioned recovery (Admin RecoverRanges) can fit in this pod's engine, asked before
// it loads anything. A recovery that runs out of memory part-way gives its ranges up and drops
// what it loaded (docs/durability.md, "Recovery"), but until then it has filled the engine: writes
// to the pod's own ranges get OUT_OF_MEMORY for as long as the load and the drop take. So a
// recovery whose checkpoints alone cannot fit is refused at once, with what it needs and what
// there is, and nothing is loaded, held or marked.
//
// What it needs is estimated from the checkpoint files: their records are the engine's own
// layout, so a file's size is about the engine bytes its records take. A file written for a wider
// range than the one recovered (a split child's share of its parent's checkpoint) counts with the
// share of its hash range the recovered ranges cover. The log tail is not counted: overwrites
// replace records (the cleaner takes the old ones back), and only a load can tell. So a recovery
// that passes may still run out of memory while it replays the log, and is given up as before.
// What there is: the engine's log capacity minus its live bytes (garbage can be cleaned) minus
// the segments the cleaner keeps in reserve.

import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { HashRange } from '../../proto/keyspace/range.js';
import { rangeOfId } from './checkpointFile.js';
import type { Store } from '../store/index.js';

/**
 * Refused only when this share of the estimate does not fit: a share's estimate may be a little
 * high (frame headers, keys not spread evenly), and refusing a recovery that would have fitted is
 * the worse mistake.
 */
export const FIT_ESTIMATE_SHARE = 0.9;

export class RecoveryWontFitError extends Error {
  override readonly name = 'RecoveryWontFitError';

  constructor(readonly needBytes: number, readonly roomBytes: number) {
    super(`the ranges' checkpoints hold ~${mib(needBytes)} MiB of records, and this pod's engine has room for ${mib(roomBytes)} MiB ` +
      '(its log capacity less its live records and the cleaner\'s reserve): nothing was loaded; recover them on a pod with more memory');
  }
}

/** Bytes of checkpoint records recovering `sources` loads, estimated from the files (paths relative to `dataDir`). */
export async function checkpointBytesFor(dataDir: string, sources: readonly (HashRange & { readonly checkpoints: readonly string[] })[]): Promise<number> {
  const paths = [...new Set(sources.flatMap((source) => source.checkpoints))];
  let bytes = 0;
  for (const path of paths) {
    const fileRange = rangeOfCheckpoint(path);
    // A file whose range cannot be read from its folder counts for nothing: never refuse on a guess.
    if (fileRange === null) continue;
    const covered = sources.filter((s) => s.checkpoints.includes(path)).reduce((sum, s) => sum + overlapWidth(s, fileRange), 0n);
    const share = Math.min(1, Number(covered) / Number(fileRange.end - fileRange.start));
    // A file that cannot be looked at counts for nothing here: the load says what is wrong with it.
    const sizeBytes = await stat(join(dataDir, path)).then((s) => s.size, () => 0);
    bytes += sizeBytes * share;
  }
  return Math.round(bytes);
}

/** Bytes of records the engine can still take: log capacity less live bytes less the cleaner's reserve. */
export function engineRoomBytes(store: Store): number {
  const stats = store.stats();
  return Math.max(0, stats.logCapacityBytes - stats.liveBytes - store.config.cleanerReserveSegments * store.config.segmentSizeBytes);
}

/** Throws RecoveryWontFitError when the checkpoints of `sources` cannot fit in `store`. */
export async function checkRecoveryFits(store: Store, dataDir: string, sources: readonly (HashRange & { readonly checkpoints: readonly string[] })[]): Promise<void> {
  const needBytes = await checkpointBytesFor(dataDir, sources);
  const roomBytes = engineRoomBytes(store);
  if (needBytes * FIT_ESTIMATE_SHARE > roomBytes) throw new RecoveryWontFitError(needBytes, roomBytes);
}

/** The hash range a checkpoint file was written for, from its folder's name (checkpointFile.ts rangeId); null if it is not one. */
export function rangeOfCheckpoint(path: string): HashRange | null {
  return rangeOfId(basename(dirname(path)));
}

function overlapWidth(a: HashRange, b: HashRange): bigint {
  const start = a.start > b.start ? a.start : b.start;
  const end = a.end < b.end ? a.end : b.end;
  return end > start ? end - start : 0n;
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}
