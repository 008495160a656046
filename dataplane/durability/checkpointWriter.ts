// Writes one range's checkpoint in bounded slices: each slice scans at most sliceRecordsMax
// records and copies them into a frame; frames are written with async I/O; between slices the
// event loop runs, so serving never waits for a checkpoint. See checkpointFile.ts for the format.

import { open, rename, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KeyHasher } from '../../proto/keyspace/hash.js';
import { boundsContain, toBounds, type HashRange } from '../../proto/keyspace/range.js';
import { assert } from '../store/assert.js';
import { RecordRef, SCAN_DONE, Status, type Store } from '../store/index.js';
import type { ClientTable } from '../rifl/clientTable.js';
import { CheckpointFrame, type CheckpointEnd, type CheckpointMeta } from './checkpointFile.js';
import { WalEntryKind } from './walEntry.js';
import { EntryBuffer } from './entryBuffer.js';
import { FRAME_HEADER_BYTES, sealFrame } from './walFrame.js';
import { fsyncDirectory } from './fsyncDirectory.js';

export interface CheckpointTarget {
  readonly store: Store;
  readonly clients: ClientTable;
}

export interface CheckpointResult {
  readonly path: string;
  readonly bytes: number;
  readonly entryCount: number;
  readonly completionCount: number;
  readonly seconds: number;
}

/** Frames of ~256 KiB: one damaged byte costs at most this much of a checkpoint. */
const FRAME_PAYLOAD_BYTES_TARGET = 256 * 1024;

/** Seals the buffered entries as one frame (a copy); the buffer starts empty again. */
function takeFrame(builder: EntryBuffer, kind: CheckpointFrame): Buffer {
  sealFrame(builder.buffer, 0, builder.payloadBytes, kind);
  return builder.take();
}

function jsonFrame(kind: CheckpointFrame, value: object): Buffer {
  const payload = Buffer.from(JSON.stringify(value));
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  payload.copy(frame, FRAME_HEADER_BYTES);
  sealFrame(frame, 0, payload.length, kind);
  return frame;
}

/**
 * Writes the checkpoint of `range` to `path`. `walLsn` must be the log position at which the
 * scan starts (every entry from it on is replayed over this file at recovery).
 */
export async function writeCheckpoint(target: CheckpointTarget, range: HashRange, path: string, meta: Omit<CheckpointMeta, 'format' | 'start' | 'end'>,
  sliceRecordsMax: number): Promise<CheckpointResult> {
  const started = performance.now();
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.tmp`;
  const file = await open(temporary, 'w');
  let bytes = 0;
  const put = async (frame: Buffer): Promise<void> => {
    await file.write(frame);
    bytes += frame.length;
  };
  try {
    await put(jsonFrame(CheckpointFrame.META, { format: 1, start: String(range.start), end: String(range.end), ...meta }));
    const builder = new EntryBuffer(FRAME_HEADER_BYTES);
    const entryCount = await scanRecords(target.store, range, builder, sliceRecordsMax, put);
    const completionCount = copyCompletions(target, range, builder);
    if (builder.payloadBytes > 0) await put(takeFrame(builder, CheckpointFrame.ENTRIES));
    const end: CheckpointEnd = { entryCount, completionCount };
    await put(jsonFrame(CheckpointFrame.END, end));
    await file.sync();
    await file.close();
    await rename(temporary, path);
    await fsyncDirectory(dirname(path));
    return { path, bytes, entryCount, completionCount, seconds: (performance.now() - started) / 1000 };
  } catch (error) {
    await file.close().catch(() => undefined);
    throw error;
  }
}

async function scanRecords(store: Store, range: HashRange, builder: EntryBuffer, sliceRecordsMax: number,
  put: (frame: Buffer) => Promise<void>): Promise<number> {
  let cursor = toBounds(range).startHi;
  let count = 0;
  const visit = (record: RecordRef): void => {
    if (!record.checksumValid || record.tombstone) return;
    builder.entry(WalEntryKind.PUT, record);
    count++;
  };
  while (cursor !== SCAN_DONE) {
    cursor = store.scan(range, cursor, { recordCountMax: sliceRecordsMax, includeTombstones: false }, visit);
    if (builder.payloadBytes >= FRAME_PAYLOAD_BYTES_TARGET) await put(takeFrame(builder, CheckpointFrame.ENTRIES));
    else await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return count;
}

/** Copies the live completion records keyed in `range` (one pass, at the end of the scan). */
function copyCompletions(target: CheckpointTarget, range: HashRange, builder: EntryBuffer): number {
  const bounds = toBounds(range);
  const hasher = new KeyHasher();
  const ref = new RecordRef();
  let count = 0;
  target.clients.forEachCompletion((segmentId, offsetBytes) => {
    if (target.store.completionRecord(segmentId, offsetBytes, ref) !== Status.OK) return;
    hasher.hashKey(ref.bytes, ref.keyOffset, ref.keyLength);
    if (!boundsContain(bounds, hasher.hi, hasher.lo)) return;
    builder.entry(WalEntryKind.COMPLETION, ref);
    count++;
  });
  assert(count >= 0, 'completion count is a count');
  return count;
}
