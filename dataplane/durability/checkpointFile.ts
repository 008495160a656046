// Checkpoint files: the live records and completion records of one hash range, taken from the
// engine's range scan while the pod keeps serving (a fuzzy checkpoint: see "Checkpoints and redo"
// in docs/durability.md), plus the write-ahead log position from which redo must start.
//
// Format 2 (segment images). A file is a run of frames (walFrame.ts: magic, length, CRC-32); the
// frame's lsn field says what the frame holds:
//   META (1):        JSON { format: 2, start, end, walLsn, pod, createdAt }; always the first frame
//   RECORDS (4):     n live OBJECT records, ~256 KiB per frame; the frame's lsn high word is n.
//                    +---------------------------+-------------------------------------------+
//                    | n x u32: top word of each | the n records in the engine's own layout  |
//                    | record's key hash         | (dataplane/store/layout.ts), verbatim from |
//                    |                           | segment memory (engine checksum included)  |
//                    +---------------------------+-------------------------------------------+
//                    Recovery reads the records straight into log segments and only builds the
//                    index, from the stored hashes (dataplane/store/bulkLoad.ts): the frame CRC
//                    vouches for the bytes, so no record checksum is recomputed and no key rehashed
//                    (but one in 64, checked against its stored hash).
//   COMPLETIONS (2): RIFL completion records as write-ahead log entries (walEntry.ts, COMPLETION)
//   END (3):         JSON { entryCount, completionCount }; a file without END is incomplete and is
//                    never trusted whole.
// Files are written under a temporary name, fsynced and renamed into place. Format 1 (every
// record as a PUT log entry in ENTRIES frames) is not read any more: a pod upgraded over format-1
// files must be checkpointed by the old version first (docs/durability.md).

import { assert } from '../store/assert.js';

export const enum CheckpointFrame {
  META = 1,
  COMPLETIONS = 2,
  END = 3,
  RECORDS = 4,
}

export const CHECKPOINT_FORMAT = 2;

export interface CheckpointMeta {
  readonly format: number;
  /** Range as decimal strings (end may be 2^64). */
  readonly start: string;
  readonly end: string;
  /** Redo starts here: every WAL entry at or after it must be replayed over this checkpoint. */
  readonly walLsn: number;
  readonly pod: string;
  readonly createdAt: string;
}

export interface CheckpointEnd {
  /** Records in RECORDS frames. */
  readonly entryCount: number;
  readonly completionCount: number;
}

/** Folder-safe id of a range: 16 hex digits of its start and of its last hash. */
export function rangeId(start: bigint, end: bigint): string {
  assert(start < end, 'ranges are not empty');
  return `${start.toString(16).padStart(16, '0')}-${(end - 1n).toString(16).padStart(16, '0')}`;
}
