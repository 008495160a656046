// Writes one range's checkpoint in bounded slices: each slice scans at most sliceRecordsMax
// records and copies them verbatim (engine layout, a segment image) into frames of ~256 KiB;
// frames are written with async I/O; between slices the event loop runs, so serving never waits
// for a checkpoint. See checkpointFile.ts for the format.

import { open, rename, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KeyHasher } from '../../proto/keyspace/hash.js';
import { boundsContain, toBounds, type HashRange } from '../../proto/keyspace/range.js';
import { assert } from '../store/assert.js';
import { RecordRef, SCAN_DONE, Status, type Store } from '../store/index.js';
import type { ClientTable } from '../rifl/clientTable.js';
import { CHECKPOINT_FORMAT, CheckpointFrame, type CheckpointEnd, type CheckpointMeta } from './checkpointFile.js';
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
    await put(jsonFrame(CheckpointFrame.META, { format: CHECKPOINT_FORMAT, start: String(range.start), end: String(range.end), ...meta }));
    const entryCount = await scanRecords(target.store, range, sliceRecordsMax, put);
    const builder = new EntryBuffer(FRAME_HEADER_BYTES);
    const completionCount = copyCompletions(target, range, builder);
    if (builder.payloadBytes > 0) await put(takeFrame(builder, CheckpointFrame.COMPLETIONS));
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

/** RECORDS frames being built: records verbatim, and the top word of each one's key hash. */
class RecordFrames {
  private readonly records = new EntryBuffer();
  private hashes = new Uint32Array(4096);
  private count = 0;
  private readonly hasher = new KeyHasher();

  get payloadBytes(): number {
    return this.count * 4 + this.records.payloadBytes;
  }

  add(record: RecordRef): void {
    this.hasher.hashKey(record.bytes, record.keyOffset, record.keyLength);
    if (this.count === this.hashes.length) {
      const grown = new Uint32Array(this.hashes.length * 2);
      grown.set(this.hashes);
      this.hashes = grown;
    }
    this.hashes[this.count++] = this.hasher.hi;
    this.records.record(record);
  }

  /** The frame of what was added (hashes, then records); starts empty again. */
  take(): Buffer {
    const payloadBytes = this.payloadBytes;
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadBytes);
    for (let i = 0; i < this.count; i++) frame.writeUInt32LE(this.hashes[i], FRAME_HEADER_BYTES + i * 4);
    this.records.buffer.copy(frame, FRAME_HEADER_BYTES + this.count * 4, 0, this.records.used);
    assert(this.count < 2 ** 20, 'a frame\'s record count fits the lsn high word');
    sealFrame(frame, 0, payloadBytes, CheckpointFrame.RECORDS + this.count * 2 ** 32);
    this.count = 0;
    this.records.take();
    return frame;
  }
}

/** Writes the range's live records as RECORDS frames of at most ~256 KiB (or one record). */
async function scanRecords(store: Store, range: HashRange, sliceRecordsMax: number, put: (frame: Buffer) => Promise<void>): Promise<number> {
  const builder = new RecordFrames();
  const frames: Buffer[] = [];
  let cursor = toBounds(range).startHi;
  let count = 0;
  const visit = (record: RecordRef): void => {
    if (!record.checksumValid || record.tombstone) return;
    if (builder.payloadBytes > 0 && builder.payloadBytes + 4 + record.recordBytes > FRAME_PAYLOAD_BYTES_TARGET) frames.push(builder.take());
    builder.add(record);
    count++;
  };
  while (cursor !== SCAN_DONE) {
    cursor = store.scan(range, cursor, { recordCountMax: sliceRecordsMax, includeTombstones: false }, visit);
    if (frames.length === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    for (const frame of frames.splice(0)) await put(frame);
  }
  if (builder.payloadBytes > 0) await put(builder.take());
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
