// A partitioned recovery (Admin RecoverRanges) that failed after it took the ranges — while
// reading the dead pod's manifest or log end, writing its hold, loading (the engine refused a
// record: RecoveryError), or writing the manifest — and gave them up again: they are not owned
// here, the manifest does not name them, and this pod's hold on the dead pod's files is as it was
// before the call (`hold`: none written yet, or released; kept only when the new manifest may be
// on disk). The dead pod's
// files are never changed by a recovery, so another pod can recover the ranges fully. The server
// drops what was loaded of them and answers FAILED_PRECONDITION with details starting with
// NOT_RECOVERED_PREFIX (docs/durability.md, "Recovery").

import type { OwnedRange } from '../ranges/ownedRanges.js';

export class RangesNotRecoveredError extends Error {
  override readonly name = 'RangesNotRecoveredError';

  constructor(readonly deadPod: string, readonly ranges: readonly OwnedRange[], readonly hold: 'none' | 'released' | 'kept', cause: Error) {
    const names = ranges.map((r) => `[${r.start}, ${r.end}) at view ${r.view}`).join(', ');
    const holdSaid = {
      none: `no hold on ${deadPod}'s files was written, and they are unchanged for another recoverer`,
      released: `this recovery's hold on ${deadPod}'s files is released, and they are unchanged for another recoverer`,
      kept: `the hold on ${deadPod}'s files is kept (the manifest naming the ranges may be on disk, for the next restart)`,
    }[hold];
    super(`${NOT_RECOVERED_PREFIX}RecoverRanges of ${names} from ${deadPod} failed, and this pod gave the ranges up (not owned here; ${holdSaid}): ${cause.message}`,
      { cause });
  }
}

/** Starts the details of such a failure on the wire, so a caller can tell it from a refusal that changed nothing. */
export const NOT_RECOVERED_PREFIX = 'ranges not recovered: ';
