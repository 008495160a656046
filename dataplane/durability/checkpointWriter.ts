// Writes one range's checkpoint in bounded slices: each slice scans at most sliceRecordsMax
// records or ~1 MiB of them (large keys and values) and copies them verbatim (engine layout, a
// segment image) into frames of ~256 KiB; frames are written with async I/O; between slices the
// event loop runs, so serving never waits for a checkpoint. The completion records follow, a
// client at a time, in frames of the same size. See checkpointFile.ts for the format.

import { open, rename, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { endianness } from 'node:os';
import { KeyHasher } from '../../proto/keyspace/hash.js';
import { boundsContain, toBounds, type HashRange } from '../../proto/keyspace/range.js';
import { assert } from '../store/assert.js';
import { RecordRef, SCAN_DONE, Status, type Store } from '../store/index.js';
import type { ClientTable } from '../rifl/clientTable.js';
import { CHECKPOINT_FORMAT, CheckpointFrame, checkpointTrailer, RECORDS_PREFIX_BYTES, RecordsWatermark, type CheckpointEnd, type CheckpointMeta } from './checkpointFile.js';
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
/** A RECORDS frame is cut mid-slice (without a watermark) only past this (large records). */
const FRAME_PAYLOAD_BYTES_CUT = 4 * FRAME_PAYLOAD_BYTES_TARGET;

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
  /** [offset, lsn] of each frame written: the END frame's directory. */
  const frames: [number, number][] = [];
  const put = async (frame: Buffer): Promise<void> => {
    frames.push([bytes, frame.readUInt32LE(16) * 2 ** 32 + frame.readUInt32LE(12)]);
    await file.write(frame);
    bytes += frame.length;
  };
  try {
    await put(jsonFrame(CheckpointFrame.META, { format: CHECKPOINT_FORMAT, start: String(range.start), end: String(range.end), ...meta }));
    const entryCount = await scanRecords(target.store, range, sliceRecordsMax, put);
    const completionCount = await copyCompletions(target, range, put);
    const end: CheckpointEnd = { entryCount, completionCount, frames: [...frames] };
    const endAt = bytes;
    await put(jsonFrame(CheckpointFrame.END, end));
    const trailer = checkpointTrailer(endAt);
    await file.write(trailer);
    bytes += trailer.length;
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

/** Sort keys of a frame's records: hash top word x 2^RECORD_INDEX_BITS + index (exact below 2^53). */
// Hashes are written through an Int32Array (platform order); the file's words are little-endian.
assert(endianness() === 'LE', 'checkpoints are written on a little-endian machine');
const RECORD_INDEX_BITS = 20;

/**
 * RECORDS frames being built: records verbatim, and the top word of each one's key hash. A
 * frame's records are written in hash order (the scan gives them bucket by bucket, unordered
 * within a bucket), so a restart's bulk load meets rising hashes and need not look keys up
 * (dataplane/store/bulkLoad.ts, `fresh`).
 */
class RecordFrames {
  private readonly records = new EntryBuffer();
  private hashes = new Uint32Array(4096);
  private offsets = new Int32Array(4096);
  private count = 0;
  private readonly hasher = new KeyHasher();

  get payloadBytes(): number {
    return RECORDS_PREFIX_BYTES + this.count * 4 + this.records.payloadBytes;
  }

  add(record: RecordRef): void {
    this.hasher.hashKey(record.bytes, record.keyOffset, record.keyLength);
    if (this.count === this.hashes.length) this.grow();
    this.hashes[this.count] = this.hasher.hi;
    this.offsets[this.count] = this.records.used;
    this.count++;
    this.records.record(record);
  }

  /**
   * The frame of what was added (watermark, hashes, then records, both in hash order); starts
   * empty again. `watermark`: see RecordsWatermark in checkpointFile.ts.
   */
  take(watermarkKind: RecordsWatermark, watermarkHi: number): Buffer {
    const count = this.count;
    assert(count < 2 ** RECORD_INDEX_BITS, 'a frame\'s record count fits its sort keys and the lsn high word');
    const payloadBytes = this.payloadBytes;
    // Own memory (offset 0), so records are copied as 32-bit words: Buffer.copy costs ~0.2 us a call.
    const frame = Buffer.allocUnsafeSlow(FRAME_HEADER_BYTES + payloadBytes);
    const source = this.records.buffer;
    assert(source.byteOffset % 4 === 0 && this.records.used % 4 === 0, 'records are whole words');
    const from = new Int32Array(source.buffer, source.byteOffset, this.records.used >> 2);
    const to = new Int32Array(frame.buffer, 0, frame.length >> 2);
    const keys = new Float64Array(count);
    for (let i = 0; i < count; i++) keys[i] = this.hashes[i] * 2 ** RECORD_INDEX_BITS + i;
    keys.sort();
    const hashesAt = (FRAME_HEADER_BYTES + RECORDS_PREFIX_BYTES) >> 2;
    to[FRAME_HEADER_BYTES >> 2] = watermarkKind;
    to[(FRAME_HEADER_BYTES >> 2) + 1] = watermarkHi;
    let at = hashesAt + count;
    for (let j = 0; j < count; j++) {
      const i = keys[j] % 2 ** RECORD_INDEX_BITS;
      const end = (i + 1 < count ? this.offsets[i + 1] : this.records.used) >> 2;
      to[hashesAt + j] = this.hashes[i];
      for (let w = this.offsets[i] >> 2; w < end; w++) to[at++] = from[w];
    }
    assert(at * 4 === frame.length, 'every record was copied once');
    sealFrame(frame, 0, payloadBytes, CheckpointFrame.RECORDS + count * 2 ** 32);
    this.count = 0;
    this.records.clear();
    return frame;
  }

  private grow(): void {
    const hashes = new Uint32Array(this.hashes.length * 2);
    hashes.set(this.hashes);
    this.hashes = hashes;
    const offsets = new Int32Array(this.offsets.length * 2);
    offsets.set(this.offsets);
    this.offsets = offsets;
  }
}

/**
 * Writes the range's live records as RECORDS frames of ~256 KiB, cut where a scan slice ends (a
 * bucket boundary: the frame's watermark is the scan cursor there), or mid-slice only when a
 * frame would pass FRAME_PAYLOAD_BYTES_CUT (no watermark then).
 */
async function scanRecords(store: Store, range: HashRange, sliceRecordsMax: number, put: (frame: Buffer) => Promise<void>): Promise<number> {
  const builder = new RecordFrames();
  const frames: Buffer[] = [];
  let cursor = toBounds(range).startHi;
  let count = 0;
  const visit = (record: RecordRef): void => {
    if (!record.checksumValid || record.tombstone) return;
    if (builder.payloadBytes > RECORDS_PREFIX_BYTES && builder.payloadBytes + 4 + record.recordBytes > FRAME_PAYLOAD_BYTES_CUT) {
      frames.push(builder.take(RecordsWatermark.NONE, 0));
    }
    builder.add(record);
    count++;
  };
  while (cursor !== SCAN_DONE) {
    cursor = store.scan(range, cursor, { recordCountMax: sliceRecordsMax, recordBytesMax: FRAME_PAYLOAD_BYTES_CUT, includeTombstones: false }, visit);
    if (cursor === SCAN_DONE) frames.push(builder.take(RecordsWatermark.RANGE_END, 0));
    else if (builder.payloadBytes >= FRAME_PAYLOAD_BYTES_TARGET) frames.push(builder.take(RecordsWatermark.CURSOR, cursor));
    if (frames.length === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    for (const frame of frames.splice(0)) await put(frame);
  }
  return count;
}

/** The event loop runs at least this often while completion records are copied. */
const COMPLETIONS_SLICE_MS = 1;

/**
 * Writes the live completion records keyed in `range` as COMPLETIONS frames of ~256 KiB (after
 * the scan). A client's records are copied in one go (at most windowMax of them); between clients
 * the event loop runs every COMPLETIONS_SLICE_MS. Records released meanwhile (their client's ACK
 * comes after the scan started, in the log) may still be copied, and records made meanwhile are
 * in the log as well: recovery restores the log's over the checkpoint's either way.
 */
async function copyCompletions(target: CheckpointTarget, range: HashRange, put: (frame: Buffer) => Promise<void>): Promise<number> {
  const bounds = toBounds(range);
  const hasher = new KeyHasher();
  const ref = new RecordRef();
  const builder = new EntryBuffer(FRAME_HEADER_BYTES);
  const frames: Buffer[] = [];
  let count = 0;
  const visit = (segmentId: number, offsetBytes: number): void => {
    if (target.store.completionRecord(segmentId, offsetBytes, ref) !== Status.OK) return;
    hasher.hashKey(ref.bytes, ref.keyOffset, ref.keyLength);
    if (!boundsContain(bounds, hasher.hi, hasher.lo)) return;
    builder.entry(WalEntryKind.COMPLETION, ref);
    count++;
    // A frame passes the target by one record at most (a key and a mutation's result).
    if (builder.payloadBytes >= FRAME_PAYLOAD_BYTES_TARGET) frames.push(takeFrame(builder, CheckpointFrame.COMPLETIONS));
  };
  let sliceStartedMs = performance.now();
  for (const visitClient of target.clients.completionsByClient()) {
    visitClient(visit);
    for (const frame of frames.splice(0)) await put(frame);
    if (performance.now() - sliceStartedMs >= COMPLETIONS_SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStartedMs = performance.now();
    }
  }
  if (builder.payloadBytes > 0) await put(takeFrame(builder, CheckpointFrame.COMPLETIONS));
  return count;
}
