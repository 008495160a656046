// Checkpoint files: the live records and completion records of one hash range, taken from the
// engine's range scan while the pod keeps serving (a fuzzy checkpoint: see "Checkpoints and redo"
// in docs/durability.md), plus the write-ahead log position from which redo must start.
//
// Format 3 (segment images and a frame directory). A file is a run of frames (walFrame.ts: magic,
// length, CRC-32), then a 16-byte trailer; the frame's lsn field says what the frame holds:
//   META (1):        JSON { format: 3, start, end, walLsn, pod, createdAt }; always the first frame
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
//   END (3):         JSON { entryCount, completionCount, frames: [[offset, lsn], ...] for every
//                    frame before END }; a file without END is incomplete and is never trusted whole.
//   trailer:         u32 magic "SKCT", u32 CRC-32 of the next 8 bytes, u64 offset of the END frame.
// The directory lets recovery read several frames at once (checkpointDirectory.ts): a frame's
// header is otherwise known only once the frame before it was read, one read at a time. Every
// frame is still checked against its own header and CRC, and the directory against each header.
// Format 2 (the same without directory and trailer) is still read, one frame after the other.
// Files are written under a temporary name, fsynced and renamed into place. Format 1 (every
// record as a PUT log entry in ENTRIES frames) is not read any more: a pod upgraded over format-1
// files must be checkpointed by the old version first (docs/durability.md).

import { crc32 } from 'node:zlib';
import { assert } from '../store/assert.js';

export const enum CheckpointFrame {
  META = 1,
  COMPLETIONS = 2,
  END = 3,
  RECORDS = 4,
}

export const CHECKPOINT_FORMAT = 3;
/** Formats this version reads: 2 one frame after the other, 3 several at once by its directory. */
export const CHECKPOINT_FORMATS_READ: readonly number[] = [2, CHECKPOINT_FORMAT];

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
  /** Format 3: [offset, lsn] of every frame before END, in file order. */
  readonly frames?: readonly (readonly [number, number])[];
}

export const CHECKPOINT_TRAILER_BYTES = 16;
const TRAILER_MAGIC = 0x54434b53; // "SKCT" little-endian
const TWO_POW_32 = 0x1_0000_0000;

/** The trailer after the END frame at `endAt`. */
export function checkpointTrailer(endAt: number): Buffer {
  const trailer = Buffer.alloc(CHECKPOINT_TRAILER_BYTES);
  trailer.writeUInt32LE(TRAILER_MAGIC, 0);
  trailer.writeUInt32LE(endAt % TWO_POW_32, 8);
  trailer.writeUInt32LE(Math.floor(endAt / TWO_POW_32), 12);
  trailer.writeUInt32LE(crc32(trailer.subarray(8, 16)), 4);
  return trailer;
}

/** Where the END frame starts according to a trailer, or null when the bytes are not a trailer. */
export function endFrameOffset(trailer: Buffer): number | null {
  if (trailer.length !== CHECKPOINT_TRAILER_BYTES || trailer.readUInt32LE(0) !== TRAILER_MAGIC) return null;
  if (trailer.readUInt32LE(4) !== crc32(trailer.subarray(8, 16))) return null;
  return trailer.readUInt32LE(12) * TWO_POW_32 + trailer.readUInt32LE(8);
}

/** Folder-safe id of a range: 16 hex digits of its start and of its last hash. */
export function rangeId(start: bigint, end: bigint): string {
  assert(start < end, 'ranges are not empty');
  return `${start.toString(16).padStart(16, '0')}-${(end - 1n).toString(16).padStart(16, '0')}`;
}

const RANGE_ID = /^([0-9a-f]{16})-([0-9a-f]{16})$/;

/** The range a rangeId() names; null for a string that is not one. */
export function rangeOfId(id: string): { start: bigint; end: bigint } | null {
  const match = RANGE_ID.exec(id);
  if (match === null) return null;
  const start = BigInt(`0x${match[1]}`);
  const end = BigInt(`0x${match[2]}`) + 1n;
  return start < end ? { start, end } : null;
}
