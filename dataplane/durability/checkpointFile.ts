// Checkpoint files: the live records and completion records of one hash range, taken from the
// engine's range scan while the pod keeps serving (a fuzzy checkpoint: see "Checkpoints and redo"
// in docs/durability.md), plus the write-ahead log position from which redo must start.
//
// A file is a run of frames (walFrame.ts); the frame's lsn field says what the frame holds:
//   META (1): JSON { range, walLsn, pod, createdAt }   ENTRIES (2): WAL entries, PUT and COMPLETION
//   END (3): JSON { entryCount }  — a file without END is incomplete and is never trusted whole.
// Files are written under a temporary name, fsynced and renamed into place.

import { assert } from '../store/assert.js';

export const enum CheckpointFrame {
  META = 1,
  ENTRIES = 2,
  END = 3,
}

export interface CheckpointMeta {
  readonly format: 1;
  /** Range as decimal strings (end may be 2^64). */
  readonly start: string;
  readonly end: string;
  /** Redo starts here: every WAL entry at or after it must be replayed over this checkpoint. */
  readonly walLsn: number;
  readonly pod: string;
  readonly createdAt: string;
}

export interface CheckpointEnd {
  readonly entryCount: number;
  readonly completionCount: number;
}

/** Folder-safe id of a range: 16 hex digits of its start and of its last hash. */
export function rangeId(start: bigint, end: bigint): string {
  assert(start < end, 'ranges are not empty');
  return `${start.toString(16).padStart(16, '0')}-${(end - 1n).toString(16).padStart(16, '0')}`;
}
