// Checkpoint files: the live records and completion records of one hash range, taken from the
// engine's range scan while the pod keeps serving (a fuzzy checkpoint: see "Checkpoints and redo"
// in docs/durability.md), plus the write-ahead log position from which redo must start.
//
// Format 2 (segment images). A file is a run of frames (walFrame.ts: magic, length, CRC-32); the
// frame's lsn field says what the frame holds:
//   META (1):        JSON { format: 2, start, end, walLsn, pod, createdAt }; always the first frame
//   RECORDS (4):     n live OBJECT records, ~256 KiB per frame, sorted by key hash, cut where a
//                    scan slice ended; the frame's lsn high word is n.
//                    +-----------+-----------+---------------------+------------------------------+
//                    | watermark | watermark | n x u32: top word   | the n records in the engine's |
//                    | kind u32  | hi u32    | of each record's    | own layout (dataplane/store/  |
//                    |           |           | key hash            | layout.ts), verbatim from     |
//                    |           |           |                     | segment memory (checksums in) |
//                    +-----------+-----------+---------------------+------------------------------+
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

/** A RECORDS frame's payload starts with its watermark: kind (u32) and top hash word (u32). */
export const RECORDS_PREFIX_BYTES = 8;

/**
 * What a RECORDS frame says about the records after it in the file: CURSOR — every later record's
 * hash has a top word >= the watermark (the frame ends where a scan slice ended, at a bucket
 * boundary), so every record below it has been read; RANGE_END — it is the file's last; NONE —
 * nothing (a frame cut mid-slice). Recovery replays log entries below it while the records are
 * still in the cache (recovery.ts, "merged redo").
 */
export const enum RecordsWatermark {
  NONE = 0,
  CURSOR = 1,
  RANGE_END = 2,
}

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
