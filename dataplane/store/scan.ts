// Range scan: visits the records whose key hash lies in [start, end), bucket run by bucket run,
// resumable by a cursor. See "Range scan semantics" in docs/design-notes.md.
//
// The cursor is a position in hash space: the top 32 bits of the hash at which the next
// unvisited bucket starts. Buckets are visited whole, so a position is always a bucket boundary;
// boundaries survive index doublings (a boundary of a table is a boundary of every larger one),
// so a scan resumes correctly across growth. During a doubling the scan walks the old table's
// granularity: an old bucket that has moved is visited as its two new buckets.
//
// A visitor may remove the entry of the record it is given (Store.dropInPlace): removing an entry
// only clears its two words, so the rest of the bucket and its chain are walked as before. It must
// not insert, move or resize anything.
//
// Records written during a scan: a record is reported iff it is live when its bucket is visited,
// with its value at that moment. So every key live for the whole scan is reported exactly once;
// a key written or deleted during the scan is reported (once, current value) iff its bucket is
// visited after the write. Callers that need the changes made behind the cursor (migration,
// checkpoints) capture them otherwise: the source stops writing first, or the WAL redo covers them.

import { BUCKET_WORDS, ENTRY_TOMBSTONE, ENTRY_USED, HashIndex, SEGMENT_ID_MASK } from './hashIndex.js';
import { HEADER_BYTES, keyLengthOf, recordIntact, recordPlausible, valueLengthOf, versionOf, recordBytes } from './layout.js';
import type { SegmentPool } from './segments.js';
import { KeyHasher } from '../../proto/keyspace/hash.js';
import { boundsContain, type HashRangeBounds } from '../../proto/keyspace/range.js';

const EMPTY_TABLE = new Uint32Array(0);

/** Returned as the cursor when the range has been visited completely. */
export const SCAN_DONE = -1;

/** One record, reused between visits: read its fields before the visitor returns. */
export class RecordRef {
  bytes: Buffer = Buffer.alloc(0);
  keyOffset = 0;
  keyLength = 0;
  valueOffset = 0;
  valueLength = 0;
  version = 0;
  tombstone = false;
  /** False when the record's header is implausible or its checksum does not match: never copy it on. */
  checksumValid = true;
  recordBytes = 0;
  /** Where the record lives in the log (engine-internal use: purges, diagnostics). */
  segmentId = 0;
  recordOffset = 0;
  /** The index entry that references it: table and word index (engine-internal use: drops in place). */
  entryWords: Uint32Array = EMPTY_TABLE;
  entryIndex = 0;

  key(): Buffer {
    return this.bytes.subarray(this.keyOffset, this.keyOffset + this.keyLength);
  }

  value(): Buffer {
    return this.bytes.subarray(this.valueOffset, this.valueOffset + this.valueLength);
  }
}

export interface ScanOptions {
  /** Stop after the bucket in which this many records have been visited. */
  readonly recordCountMax: number;
  /** Also stop after the bucket in which the records visited reach this many bytes (large records). */
  readonly recordBytesMax?: number;
  readonly includeTombstones: boolean;
}

/** Whether a bucket starting at hash (positionHi, 0) begins before the range's end. */
function startsBeforeEnd(positionHi: number, bounds: HashRangeBounds): boolean {
  return positionHi < bounds.endHi || (positionHi === bounds.endHi && bounds.endLo > 0);
}

/** Whether the bucket [startHi, startHi + width) (in top-word units) lies wholly inside the range. */
function bucketInside(startHi: number, width: number, bounds: HashRangeBounds): boolean {
  const startCovered = bounds.startHi < startHi || (bounds.startHi === startHi && bounds.startLo === 0);
  return startCovered && startHi + width <= bounds.endHi;
}

export class RangeScanner {
  private readonly record = new RecordRef();
  private readonly hasher = new KeyHasher();
  /** touch()'s result, kept so the reads it makes are not optimized away. */
  touchedSum = 0;
  /** Bytes of the records the current scan() call has visited. */
  private visitedBytes = 0;

  constructor(private readonly index: HashIndex, private readonly segments: SegmentPool) {}

  /**
   * Visits records of `bounds` from `cursor` (start with `bounds.startHi`); returns the cursor to
   * resume from, or SCAN_DONE.
   */
  scan(bounds: HashRangeBounds, cursor: number, options: ScanOptions, visit: (record: RecordRef) => void): number {
    let position = Math.max(cursor, bounds.startHi);
    let visited = 0;
    const bytesMax = options.recordBytesMax ?? Number.POSITIVE_INFINITY;
    this.visitedBytes = 0;
    while (startsBeforeEnd(position, bounds)) {
      const shard = this.index.shardFor(position);
      const old = shard.oldTable;
      const table = shard.table;
      const width = 2 ** (32 - (old ?? table).hashBits);
      const bucketStartHi = Math.floor(position / width) * width;
      const coarse = (old ?? table).bucketOf(bucketStartHi);
      const filter = bucketInside(bucketStartHi, width, bounds) ? null : bounds;
      if (old !== null && !shard.oldBucketMoved(coarse)) {
        visited += this.visitChain(old.words, coarse, filter, options, visit);
      } else if (old !== null) {
        visited += this.visitChain(table.words, coarse * 2, filter, options, visit);
        visited += this.visitChain(table.words, coarse * 2 + 1, filter, options, visit);
      } else {
        visited += this.visitChain(table.words, coarse, filter, options, visit);
      }
      position = bucketStartHi + width;
      if (visited >= options.recordCountMax || this.visitedBytes >= bytesMax) break;
    }
    return startsBeforeEnd(position, bounds) ? position : SCAN_DONE;
  }

  private visitChain(words: Uint32Array, bucket: number, filter: HashRangeBounds | null, options: ScanOptions,
    visit: (record: RecordRef) => void): number {
    let visited = 0;
    let base = bucket * BUCKET_WORDS;
    while (true) {
      this.touch(words, base);
      for (let wi = base; wi < base + BUCKET_WORDS - 2; wi += 2) {
        const w0 = words[wi];
        if ((w0 & ENTRY_USED) === 0) continue;
        const tombstone = (w0 & ENTRY_TOMBSTONE) !== 0;
        if (tombstone && !options.includeTombstones) continue;
        if (!this.load(w0 & SEGMENT_ID_MASK, words[wi + 1], tombstone, filter)) continue;
        this.record.entryWords = words;
        this.record.entryIndex = wi;
        visit(this.record);
        visited++;
        this.visitedBytes += this.record.recordBytes;
      }
      const link = words[base + BUCKET_WORDS - 2];
      if (link === 0) return visited;
      base = link * BUCKET_WORDS;
    }
  }

  /**
   * Reads a word of each of the first three cache lines (192 bytes) of every record the bucket at
   * `base` points to, before any is visited: the loads are independent, so the CPU overlaps their
   * cache misses instead of taking them one record at a time (a range's records lie scattered over
   * the log in hash order). A full scan of 1M keys of 16 B / 100 B in random log order: ~300 ms
   * without, ~165 ms with (~205 ms touching the header line only), on the 2-core test machine.
   */
  private touch(words: Uint32Array, base: number): void {
    const segmentWords = this.segments.words;
    let sum = 0;
    for (let wi = base; wi < base + BUCKET_WORDS - 2; wi += 2) {
      const w0 = words[wi];
      if ((w0 & ENTRY_USED) === 0) continue;
      const record = segmentWords[w0 & SEGMENT_ID_MASK];
      const at = words[wi + 1] >> 2;
      sum += record[at] + (at + 16 < record.length ? record[at + 16] : 0) + (at + 32 < record.length ? record[at + 32] : 0);
    }
    this.touchedSum = sum;
  }

  /** Fills the reusable record; false when a filter is given and the key's hash lies outside it. */
  private load(segmentId: number, offsetBytes: number, tombstone: boolean, filter: HashRangeBounds | null): boolean {
    const words = this.segments.words[segmentId];
    const bytes = this.segments.bytes[segmentId];
    const wordIndex = offsetBytes >> 2;
    const fillBytes = this.segments.fillBytes[segmentId];
    const keyLength = keyLengthOf(words, wordIndex);
    const keyOffset = offsetBytes + HEADER_BYTES;
    // An implausible header is reported as invalid with no key or value rather than trusted.
    if (!recordPlausible(words, wordIndex, fillBytes)) return this.loadImplausible(bytes, segmentId, offsetBytes, tombstone, filter);
    if (filter !== null) {
      this.hasher.hashKey(bytes, keyOffset, keyLength);
      if (!boundsContain(filter, this.hasher.hi, this.hasher.lo)) return false;
    }
    const r = this.record;
    r.bytes = bytes;
    r.keyOffset = keyOffset;
    r.keyLength = keyLength;
    r.valueOffset = keyOffset + keyLength;
    r.valueLength = valueLengthOf(words, wordIndex);
    r.version = versionOf(words, wordIndex);
    r.tombstone = tombstone;
    r.recordBytes = recordBytes(keyLength, r.valueLength);
    r.checksumValid = recordIntact(words, wordIndex, fillBytes);
    r.segmentId = segmentId;
    r.recordOffset = offsetBytes;
    return true;
  }

  /**
   * A record whose header cannot be trusted: its hash cannot be known, so a filtered scan skips
   * it; an unfiltered one reports it, flagged invalid, so checkpoints and migrations can count it.
   */
  private loadImplausible(bytes: Buffer, segmentId: number, offsetBytes: number, tombstone: boolean,
    filter: HashRangeBounds | null): boolean {
    if (filter !== null) return false;
    const r = this.record;
    r.bytes = bytes;
    r.keyOffset = offsetBytes + HEADER_BYTES;
    r.keyLength = 0;
    r.valueOffset = offsetBytes + HEADER_BYTES;
    r.valueLength = 0;
    r.version = 0;
    r.tombstone = tombstone;
    r.recordBytes = 0;
    r.checksumValid = false;
    r.segmentId = segmentId;
    r.recordOffset = offsetBytes;
    return true;
  }
}
