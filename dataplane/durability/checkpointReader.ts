// Reads a checkpoint file (format: checkpointFile.ts) into the engine. Every frame is checked
// (its CRC-32); reading stops at the first bad frame and says so: what came before it is loaded,
// the rest is reported as dropped, and nothing from a bad frame is ever installed.
//
// RECORDS frames are segment images: their payload is read from the file straight into a log
// segment claimed from the engine's bulk load (dataplane/store/bulkLoad.ts), and the engine only
// builds the index. Reads run ahead: while frame k is checked and installed, the next frames are
// already being read (each into its own claim) on the thread pool, so the disk, the kernel's copy
// and the page faults on fresh segment memory overlap the index building — up to
// READ_AHEAD_FRAMES at once by a format-3 file's directory (checkpointDirectory.ts), one ahead
// otherwise (a frame's header then comes with the read of the frame before it). Recovery's loads
// (loadRanges: restarts, partitioned recovery, a migration target finishing from the source's
// files) have format-3 frames read by worker threads instead (frameReaders.ts: why), 16 at once. A file whose records
// must be filtered hard (a split range's share of its parent's checkpoint), or a frame larger
// than a segment, is read into a scratch buffer and only the kept records are copied.

import { open, type FileHandle } from 'node:fs/promises';
import { sharedBuffer, type FrameReaders } from './frameReaders.js';
import { Status, type BulkLoad, type KeepRecord, type LoadClaim } from '../store/index.js';
import { CHECKPOINT_FORMATS_READ, CheckpointFrame, RECORDS_PREFIX_BYTES, RecordsWatermark, type CheckpointEnd, type CheckpointMeta } from './checkpointFile.js';
import { readFrameDirectory, type FrameSlot } from './checkpointDirectory.js';
import { WalEntryCursor, WalEntryKind, WalFormatError } from './walEntry.js';
import { endianness } from 'node:os';
import { assert } from '../store/assert.js';
import { FRAME_HEADER_BYTES, FrameCheck, FrameHeader, frameChecksumMatches } from './walFrame.js';

const TWO_POW_32 = 0x1_0000_0000;
// Record hashes are read through a Uint32Array (platform order); the file's words are little-endian.
assert(endianness() === 'LE', 'checkpoint record hashes are read on a little-endian machine');

/** How to load a file's records, decided from its META frame. */
export interface CheckpointPlan {
  /** Null: every record is wanted. */
  readonly keep: KeepRecord | null;
  /** Copy kept records packed instead of reading frames into segments (when many are left out). */
  readonly compact: boolean;
}

export interface CheckpointSink {
  readonly bulk: BulkLoad;
  plan(meta: CheckpointMeta): CheckpointPlan;
  completion(entry: WalEntryCursor): void;
  /** Every record of this file whose hash's top word is below `hi` has been loaded (RECORDS watermarks). */
  recordsBelow?(hi: number): void;
  /** A status other than OK or CORRUPT from the engine (it is out of memory): throws. */
  refused(status: Status): never;
}

export interface CheckpointReadResult {
  meta: CheckpointMeta | null;
  end: CheckpointEnd | null;
  /** Records and completion records read from intact frames (kept or filtered out). */
  entriesVisited: number;
  /** Null when the file was whole; otherwise what was wrong and how many bytes were not read. */
  problem: { offsetBytes: number; reason: string; droppedBytes: number } | null;
}

/** One frame being read: its header fields, where its payload goes, and the next frame's header. */
interface FrameRead {
  readonly at: number;
  readonly header: Buffer;
  readonly kind: number;
  /** RECORDS: records in the frame (their hashes come first). */
  readonly recordCount: number;
  readonly payloadBytes: number;
  /** The records' run, when it goes straight into a load segment. */
  readonly claim: LoadClaim | null;
  /** Where the payload lands, in file order: [hashes, records in the claim], or all of it in scratch. */
  readonly parts: Buffer[];
  /** The next frame's header, read by the same call (one read per frame). */
  readonly nextHeader: Buffer;
  /** Bytes read: the payload, then as much of the next frame's header as the file holds (by directory: header and payload). */
  readonly read: Promise<number>;
  /** Read by the directory: the lsn it lists for the frame. */
  readonly slotLsn?: number;
}

/** Frames read at once by a format-3 directory (each ~256 KiB into fresh segment memory) on libuv's pool. */
const READ_AHEAD_FRAMES = 4;
/**
 * The same with worker threads reading (frameReaders.ts): each read is a message to a worker and
 * back, so more in flight keep them busy (1M-key restarts, 6 pairs: -42 ms against 4).
 */
const READ_AHEAD_FRAMES_BY_READERS = 16;
const EMPTY = Buffer.alloc(0);

class CheckpointProblem extends Error {
  constructor(readonly offsetBytes: number, readonly reason: string) {
    super(reason);
  }
}

/** `readers`: worker threads that read format-3 frames (frameReaders.ts); null: libuv's pool does. */
export async function loadCheckpoint(path: string, sink: CheckpointSink, readers: FrameReaders | null = null): Promise<CheckpointReadResult> {
  const file = await open(path, 'r');
  try {
    return await new CheckpointLoader(file, (await file.stat()).size, sink, readers).load();
  } finally {
    await file.close();
  }
}

class CheckpointLoader {
  private readonly result: CheckpointReadResult = { meta: null, end: null, entriesVisited: 0, problem: null };
  private readonly frameHeader = new FrameHeader();
  private readonly entry = new WalEntryCursor();
  /** Scratch payload buffers, alternating: frame k is processed while frame k+1 is read. */
  private readonly scratch: Buffer[] = [Buffer.allocUnsafeSlow(0), Buffer.allocUnsafeSlow(0)];
  private readonly hashScratch: Buffer[] = [Buffer.allocUnsafeSlow(0), Buffer.allocUnsafeSlow(0)];
  private turn = 0;
  /** Hash buffers of frames read by the directory, in turn (one more than can be in flight). */
  private readonly hashRing: Buffer[];
  /** Each slot's frame header, at FRAME_HEADER_BYTES * hashTurn (one allocation, not one per frame). */
  private readonly headerRing: Buffer;
  private hashTurn = 0;
  private plan: CheckpointPlan = { keep: null, compact: true };
  /** Every record of the file has a hash whose top word is below this. */
  private rangeEndHi = TWO_POW_32;

  private readonly readAheadFrames: number;

  constructor(private readonly file: FileHandle, private readonly size: number, private readonly sink: CheckpointSink,
    private readonly readers: FrameReaders | null) {
    this.readAheadFrames = readers === null ? READ_AHEAD_FRAMES : READ_AHEAD_FRAMES_BY_READERS;
    this.hashRing = Array.from({ length: this.readAheadFrames + 1 }, () => Buffer.allocUnsafeSlow(0));
    this.headerRing = this.scratchBuffer(FRAME_HEADER_BYTES * this.hashRing.length);
  }

  async load(): Promise<CheckpointReadResult> {
    const slots = await readFrameDirectory(this.file, this.size);
    return slots === null ? this.loadInOrder() : this.loadBySlots(slots);
  }

  /** Format 2, or a file whose directory does not check out: each frame's header comes with the frame before it. */
  private async loadInOrder(): Promise<CheckpointReadResult> {
    const inFlight: { next: FrameRead | null } = { next: null };
    try {
      const header = Buffer.alloc(FRAME_HEADER_BYTES);
      inFlight.next = this.start(0, header, (await this.file.read(header, 0, FRAME_HEADER_BYTES, 0)).bytesRead);
      while (inFlight.next !== null) {
        const current: FrameRead = inFlight.next;
        inFlight.next = null;
        await this.step(current, inFlight);
      }
      if (this.result.end === null) throw new CheckpointProblem(this.size, 'no END frame: the checkpoint was not finished');
      return this.result;
    } catch (error) {
      return this.failed(error, inFlight.next === null ? [] : [inFlight.next]);
    }
  }

  /**
   * Format 3: frames are read by the directory, up to readAheadFrames at once (the META frame
   * alone first: it decides how records load), and loaded in file order.
   */
  private async loadBySlots(slots: readonly FrameSlot[]): Promise<CheckpointReadResult> {
    const inFlight: FrameRead[] = [];
    try {
      let next = 0;
      while (this.result.end === null && (next < slots.length || inFlight.length > 0)) {
        while (next < slots.length && this.mayReadAhead(inFlight)) inFlight.push(this.startSlot(slots[next++]));
        const current = inFlight.shift() as FrameRead;
        this.checkSlot(current, await current.read);
        this.process(current);
      }
      if (this.result.end === null) throw new CheckpointProblem(this.size, 'no END frame: the checkpoint was not finished');
      return this.result;
    } catch (error) {
      return this.failed(error, inFlight);
    }
  }

  /**
   * Whether another frame may be read before those in flight are loaded: not before the META
   * frame decided how records load, not past a RECORDS frame that is copied (claims may not be
   * outstanding when it loads), and at most readAheadFrames at once.
   */
  private mayReadAhead(inFlight: readonly FrameRead[]): boolean {
    if (inFlight.length === 0) return true;
    if (this.result.meta === null || inFlight.length >= this.readAheadFrames) return false;
    const last = inFlight[inFlight.length - 1];
    return !(last.kind === CheckpointFrame.RECORDS && last.claim === null && !this.plan.compact);
  }

  /** Starts reading a frame the directory lists: header and payload in one read. */
  private startSlot(slot: FrameSlot): FrameRead {
    const kind = slot.lsn % TWO_POW_32;
    const recordCount = kind === CheckpointFrame.RECORDS ? Math.floor(slot.lsn / TWO_POW_32) : 0;
    const prefixBytes = kind === CheckpointFrame.RECORDS ? RECORDS_PREFIX_BYTES + recordCount * 4 : 0;
    if (prefixBytes > slot.payloadBytes) throw new CheckpointProblem(slot.at, 'a RECORDS frame shorter than its hashes');
    const claim = this.claimFor(kind, slot.payloadBytes - prefixBytes);
    this.hashTurn = (this.hashTurn + 1) % this.hashRing.length;
    if (claim !== null && this.hashRing[this.hashTurn].length < prefixBytes) this.hashRing[this.hashTurn] = this.scratchBuffer(2 * prefixBytes);
    const parts = claim === null ? [this.scratchBuffer(slot.payloadBytes)] : [
      this.hashRing[this.hashTurn].subarray(0, prefixBytes), this.sink.bulk.segmentBytes(claim).subarray(claim.offsetBytes, claim.offsetBytes + claim.length),
    ];
    const header = this.headerRing.subarray(this.hashTurn * FRAME_HEADER_BYTES, (this.hashTurn + 1) * FRAME_HEADER_BYTES).fill(0);
    const buffers = [header, ...parts].filter((part) => part.length > 0);
    const read = this.readers === null ? this.file.readv(buffers, slot.at).then((r) => r.bytesRead) : this.readers.readv(this.file, buffers, slot.at);
    return { at: slot.at, header, kind, recordCount, payloadBytes: slot.payloadBytes, claim, parts, nextHeader: EMPTY, read, slotLsn: slot.lsn };
  }

  /** A frame read by the directory arrived: whole, and its own header says what the directory said. */
  private checkSlot(frame: FrameRead, bytesRead: number): void {
    if (bytesRead < FRAME_HEADER_BYTES + frame.payloadBytes) throw new CheckpointProblem(frame.at, 'torn frame');
    const check = this.frameHeader.parse(frame.header, FRAME_HEADER_BYTES, frame.payloadBytes);
    if (check !== FrameCheck.OK || this.frameHeader.payloadBytes !== frame.payloadBytes || this.frameHeader.lsn !== frame.slotLsn) {
      throw new CheckpointProblem(frame.at, 'bad frame checksum');
    }
  }

  /** Ends a load at a problem: reads still in flight land first (they may be writing into claimed segments), then the claims go. */
  private async failed(error: unknown, inFlight: readonly FrameRead[]): Promise<CheckpointReadResult> {
    await Promise.all(inFlight.map((frame) => frame.read.catch(() => 0)));
    this.sink.bulk.abandon();
    if (!(error instanceof CheckpointProblem)) throw error;
    const offsetBytes = Math.min(error.offsetBytes, this.size);
    this.result.problem = { offsetBytes, reason: error.reason, droppedBytes: this.size - offsetBytes };
    return this.result;
  }

  /** Waits for `current`'s payload, starts reading the next frame (into `inFlight`) and loads `current`. */
  private async step(current: FrameRead, inFlight: { next: FrameRead | null }): Promise<void> {
    const bytesRead = await current.read;
    if (bytesRead < current.payloadBytes) throw new CheckpointProblem(current.at, 'torn frame');
    const headerBytesRead = bytesRead - current.payloadBytes;
    const nextAt = current.at + FRAME_HEADER_BYTES + current.payloadBytes;
    // Read ahead while this frame loads, unless loading it must come first: the META frame
    // decides how records load, and a copied run may not overtake an outstanding claim.
    const first = current.kind === CheckpointFrame.META || (current.claim === null && !this.plan.compact);
    // Nothing after the END frame is a frame (format 3 has its trailer there).
    const more = headerBytesRead > 0 && current.kind !== CheckpointFrame.END;
    let laterProblem: unknown = null;
    try {
      if (!first && more) inFlight.next = this.start(nextAt, current.nextHeader, headerBytesRead);
    } catch (error) {
      laterProblem = error; // a bad next frame does not cost this one
    }
    this.process(current);
    if (laterProblem !== null) throw laterProblem;
    if (first && more) inFlight.next = this.start(nextAt, current.nextHeader, headerBytesRead);
  }

  /** Checks the header of the frame at `at`, starts reading its payload and the next frame's header. */
  private start(at: number, header: Buffer, headerBytesRead: number): FrameRead {
    const check = this.frameHeader.parse(header, headerBytesRead, this.size - at - FRAME_HEADER_BYTES);
    if (check !== FrameCheck.OK) throw new CheckpointProblem(at, check === FrameCheck.TRUNCATED ? 'torn frame' : 'bad frame checksum');
    const { payloadBytes, lsn } = this.frameHeader;
    const kind = lsn % TWO_POW_32;
    const recordCount = kind === CheckpointFrame.RECORDS ? Math.floor(lsn / TWO_POW_32) : 0;
    if (at === 0 && kind !== CheckpointFrame.META) throw new CheckpointProblem(at, `unexpected frame kind ${kind}`);
    const prefixBytes = kind === CheckpointFrame.RECORDS ? RECORDS_PREFIX_BYTES + recordCount * 4 : 0;
    if (prefixBytes > payloadBytes) throw new CheckpointProblem(at, 'a RECORDS frame shorter than its hashes');
    this.turn ^= 1;
    const claim = this.claimFor(kind, payloadBytes - prefixBytes);
    const parts = claim === null ? [this.scratchFor(payloadBytes).subarray(0, payloadBytes)] : [
      this.hashScratchFor(prefixBytes), this.sink.bulk.segmentBytes(claim).subarray(claim.offsetBytes, claim.offsetBytes + claim.length),
    ];
    const nextHeader = Buffer.alloc(FRAME_HEADER_BYTES);
    const buffers = [...parts, nextHeader].filter((part) => part.length > 0);
    const read = this.file.readv(buffers, at + FRAME_HEADER_BYTES).then((r) => r.bytesRead);
    return { at, header, kind, recordCount, payloadBytes, claim, parts, nextHeader, read };
  }

  /** Fresh memory for a frame read by the directory: shared when worker threads read into it. */
  private scratchBuffer(bytes: number): Buffer {
    return this.readers === null ? Buffer.allocUnsafeSlow(bytes) : sharedBuffer(bytes);
  }

  /** A RECORDS frame's records go straight into a load segment unless they must be compacted or cannot fit one. */
  private claimFor(kind: number, recordBytes: number): LoadClaim | null {
    const bulk = this.sink.bulk;
    if (kind !== CheckpointFrame.RECORDS || this.plan.compact || recordBytes === 0 || recordBytes % 4 !== 0) return null;
    if (recordBytes > bulk.segmentSizeBytes) return null;
    const claim = bulk.claim(recordBytes);
    if (claim === null) this.sink.refused(Status.OUT_OF_MEMORY);
    return claim;
  }

  private scratchFor(bytes: number): Buffer {
    if (this.scratch[this.turn].length < bytes) this.scratch[this.turn] = Buffer.allocUnsafeSlow(Math.max(bytes, 2 * this.scratch[this.turn].length));
    return this.scratch[this.turn];
  }

  /** A word-aligned scratch view for a frame's record hashes. */
  private hashScratchFor(bytes: number): Buffer {
    if (this.hashScratch[this.turn].length < bytes) this.hashScratch[this.turn] = Buffer.allocUnsafeSlow(Math.max(bytes, 2 * this.hashScratch[this.turn].length));
    return this.hashScratch[this.turn].subarray(0, bytes);
  }

  /** Checks a frame whose payload has arrived and loads it. */
  private process(frame: FrameRead): void {
    if (!frameChecksumMatches(frame.header, frame.parts)) throw new CheckpointProblem(frame.at, 'bad frame checksum');
    const result = this.result;
    const payload = frame.parts[0];
    if (frame.kind === CheckpointFrame.META && frame.at === 0) {
      result.meta = JSON.parse(payload.toString()) as CheckpointMeta;
      if (!CHECKPOINT_FORMATS_READ.includes(result.meta.format)) {
        throw new CheckpointProblem(frame.at, `checkpoint format ${result.meta.format} is not read (this version reads formats ${CHECKPOINT_FORMATS_READ.join(' and ')})`);
      }
      this.plan = this.sink.plan(result.meta);
      this.rangeEndHi = Number((BigInt(result.meta.end) + 0xffff_ffffn) >> 32n);
    } else if (frame.kind === CheckpointFrame.END && result.end === null) {
      result.end = JSON.parse(payload.toString()) as CheckpointEnd;
    } else if (frame.kind === CheckpointFrame.RECORDS && result.end === null) {
      this.loadRecords(frame);
    } else if (frame.kind === CheckpointFrame.COMPLETIONS && result.end === null) {
      this.loadCompletions(frame.at, payload);
    } else {
      throw new CheckpointProblem(frame.at, `unexpected frame kind ${frame.kind}`);
    }
  }

  private loadRecords(frame: FrameRead): void {
    const bulk = this.sink.bulk;
    const before = bulk.recordsInstalled + bulk.recordsSkipped;
    const [first] = frame.parts;
    const hashesAt = first.byteOffset + RECORDS_PREFIX_BYTES;
    const status = frame.claim !== null
      ? bulk.install(frame.claim, this.plan.keep, new Uint32Array(first.buffer, hashesAt, frame.recordCount))
      : bulk.copyRecords(first, RECORDS_PREFIX_BYTES + frame.recordCount * 4, first.length, this.plan.keep);
    this.result.entriesVisited += bulk.recordsInstalled + bulk.recordsSkipped - before;
    if (status === Status.CORRUPT) throw new CheckpointProblem(frame.at, 'a record in an intact frame is not a plausible record');
    if (status !== Status.OK) this.sink.refused(status);
    const watermark = first.readUInt32LE(0) as RecordsWatermark;
    if (watermark === RecordsWatermark.CURSOR) this.sink.recordsBelow?.(first.readUInt32LE(4));
    if (watermark === RecordsWatermark.RANGE_END) this.sink.recordsBelow?.(this.rangeEndHi);
  }

  private loadCompletions(at: number, payload: Buffer): void {
    this.entry.reset(payload, 0, payload.length);
    try {
      while (this.entry.next()) {
        if (this.entry.kind !== WalEntryKind.COMPLETION) throw new WalFormatError(`entry of kind ${this.entry.kind} among completion records`);
        this.sink.completion(this.entry);
        this.result.entriesVisited++;
      }
    } catch (error) {
      if (error instanceof WalFormatError) throw new CheckpointProblem(at, error.message);
      throw error;
    }
  }
}

/** The META frame of a checkpoint file (null when it cannot be read whole): recovery orders files by it. */
export async function readCheckpointMeta(path: string): Promise<CheckpointMeta | null> {
  const file = await open(path, 'r').catch(() => null);
  if (file === null) return null;
  try {
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    const { bytesRead } = await file.read(header, 0, FRAME_HEADER_BYTES, 0);
    const frame = new FrameHeader();
    if (frame.parse(header, bytesRead, META_BYTES_MAX) !== FrameCheck.OK || frame.lsn !== CheckpointFrame.META) return null;
    const payload = Buffer.alloc(frame.payloadBytes);
    if ((await file.read(payload, 0, payload.length, FRAME_HEADER_BYTES)).bytesRead !== payload.length) return null;
    if (!frameChecksumMatches(header, [payload])) return null;
    const meta = JSON.parse(payload.toString()) as CheckpointMeta;
    return CHECKPOINT_FORMATS_READ.includes(meta.format) ? meta : null;
  } finally {
    await file.close();
  }
}

const META_BYTES_MAX = 64 * 1024;
