// The storage engine: log-structured memory (RAMCloud) under a FASTER-style hash index.
// See dataplane/store/README.md for the invariants this file keeps.
//
// Hot-path conventions: keys and values are passed as (bytes, offset, length) so a server can
// hand over slices of a request frame without allocating; operations return a Status; the
// result of a successful get/incrBy is left in the result fields (resultBytes, resultValueOffset,
// resultValueLength, resultVersion), valid until the next call into the store.

import { assert } from './assert.js';
import { BulkLoad, type AbsentRun, type BulkLoadHost } from './bulkLoad.js';
import { Cleaner, type CleanerHost } from './cleaner.js';
import { resolveStoreConfig, type StoreConfig } from './config.js';
import { ENTRY_TOMBSTONE, HashIndex, SEGMENT_ID_MASK, SHARD_BITS, type IndexTable, type KeyHashSource } from './hashIndex.js';
import { INTEGER_TEXT_BYTES_MAX, addInt64, formatInt64, parseInt64 } from './integerValue.js';
import {
  HEADER_BYTES, RecordKind, VERSION_MAX, WORD_CHECKSUM, WORD_KEY_LENGTH_KIND_FLAGS, WORD_VALUE_LENGTH,
  checksum, keyLengthOf, kindOf, objectBytesAt, packKeyLengthKind, recordBytes, recordBytesAt, recordIntact, recordPlausible, valueLengthOf, versionOf,
  writeVersion,
} from './layout.js';
import { RangeAccounting, type RangeFigures } from './rangeAccounting.js';
import { RangeScanner, RecordRef, SCAN_DONE, type ScanOptions } from './scan.js';
import { SegmentPool, SegmentState } from './segments.js';
import { ErrorDetail, Status } from './status.js';
import { KeyHasher } from '../../proto/keyspace/hash.js';
import { copyBytes } from '../../proto/copyBytes.js';
import { KEYSPACE_END, boundsContain, rangesOverlap, toBounds, type HashRange, type HashRangeBounds } from '../../proto/keyspace/range.js';

const EMPTY_BYTES = new Uint8Array(0);
/** Expected-version argument meaning "no condition". */
export const ANY_VERSION = -1;
/** The cleaner's relocations copy records of up to this many words with a JS loop, longer ones with TypedArray.set. */
const COPY_LOOP_WORDS_MAX = 32;
/** Free segments above the reserve below which writers pay for cleaning on every write. */
const CLEAN_TRIGGER_FREE_SEGMENTS = 2;
/** Records a maintain() tick visits while dropping tombstones of a lifted retention. */
const TOMBSTONE_PURGE_RECORDS_PER_TICK = 2048;
/**
 * While the index doubles, every RESIZE_INSERTS_PER_BUCKET-th write moves one old bucket. A
 * doubling from B to 2B buckets starts at 5B entries and the next one is due at 10B, so moving
 * one bucket per 4 writes finishes (after at most 4B writes, at 9B entries) before it is due,
 * even with no maintain() ticks at all.
 */
const RESIZE_INSERTS_PER_BUCKET = 4;
/** restoreHashed() hashes one key in this many again (the first included) and asserts the caller's hash matches. */
const HASHED_RESTORE_CHECK_EVERY = 64;
const HASHED_RESTORE_CHECK_MASK = HASHED_RESTORE_CHECK_EVERY - 1;
assert((HASHED_RESTORE_CHECK_EVERY & HASHED_RESTORE_CHECK_MASK) === 0, 'the check interval is a power of two');

/** Index tables made for an expected load, not installed yet (Store.presizedIndexTables). */
export interface PresizedIndex {
  readonly tables: readonly IndexTable[];
  /** Their home buckets' memory, to fault in before adoptPresizedIndex(); nothing but zeros may be written there. */
  readonly memory: readonly Uint8Array[];
}

/** Decides which completion records are still needed; implemented by the RIFL layer. */
export interface CompletionTracker {
  /** Whether the completion record `record` (payload = its value) is still needed. */
  isLive(record: RecordRef): boolean;
  /** The cleaner moved live completion record `record` to (segmentId, offsetBytes). */
  moved(record: RecordRef, segmentId: number, offsetBytes: number): void;
}

export interface StoreStats {
  keyCount: number;
  tombstoneCount: number;
  /** Completion records held for exactly-once (not keys, not in the index). */
  completionCount: number;
  /** Bytes of records the index or the completion tracker references. */
  liveBytes: number;
  memoryLimitBytes: number;
  /** Segment memory the log may use: whole segments within memoryLimitBytes. */
  logCapacityBytes: number;
  /** liveBytes / logCapacityBytes. */
  utilisation: number;
  segmentBytesAllocated: number;
  segmentsFree: number;
  segmentsQuarantined: number;
  indexBytes: number;
  /** Segment memory allocated + index memory in use + accounting arrays. */
  engineBytes: number;
  cleanerSegmentsCleaned: number;
  cleanerBytesRelocated: number;
  cleanerBytesWalked: number;
  indexResizing: boolean;
  corruptRecordsSeen: number;
  /** Index entries whose key no longer hashes to their bucket (corrupt key bytes), set aside. */
  indexMisplacedEntries: number;
  /** Writes that replaced a same-size record in place instead of appending. */
  inPlaceUpdates: number;
  /** Cleaner slices writers had to wait for because pay-as-you-go cleaning fell behind. */
  cleanerEmergencyRounds: number;
}

export class Store implements KeyHashSource, CleanerHost, BulkLoadHost {
  readonly config: StoreConfig;
  readonly segments: SegmentPool;
  private readonly index: HashIndex;
  private readonly hasher = new KeyHasher();
  private readonly rehasher = new KeyHasher();
  private readonly accounting = new RangeAccounting();
  private readonly cleaner: Cleaner;
  private readonly scanner: RangeScanner;
  private readonly integerScratch = new Uint8Array(INTEGER_TEXT_BYTES_MAX);
  private versionNext = 1;
  /** Set only inside restore(): the version the write must carry instead of a new one. */
  private restoringVersion = 0;
  /** Set only inside restoreHashed(): the bulk load whose records the write need not verify again. */
  private vouchingLoad: BulkLoad | null = null;
  private headId = -1;
  private survivorId = -1;
  private tombstoneRetention: HashRangeBounds[] = [];
  private tombstoneRetentionRanges: readonly HashRange[] = [];
  /** Objects the last dropInPlace() call removed. */
  droppedCount = 0;
  private readonly tombstonePurges: { bounds: HashRangeBounds; cursor: number }[] = [];
  private objectCount = 0;
  private tombstoneCount = 0;
  private liveBytesTotal = 0;
  private corruptRecordsSeen = 0;
  private inPlaceUpdates = 0;
  private emergencyCleanRounds = 0;
  private writesSinceResizeStep = 0;
  private completionTracker: CompletionTracker | null = null;
  /** New index entries made so far (writes and bulk loads): a bulk load's "nobody else inserted" check. */
  private keysInserted = 0;
  /** restoreHashed() calls so far (every HASHED_RESTORE_CHECK_EVERY-th rehashes its key). */
  private hashedRestores = 0;
  private completionCount = 0;
  private readonly completionRef = new RecordRef();
  /** What inspectFound() learnt about the record of the entry a write found. */
  private foundIntact = true;
  private foundVersion = 0;
  private foundBytes = 0;
  /** The value the next append() writes: staged in fields to keep the hot path free of objects. */
  private stagedValue: Uint8Array = EMPTY_BYTES;
  private stagedValueOffset = 0;
  private stagedValueLength = 0;

  /**
   * Result fields. After get / incrBy: the value's location and version. After a successful put
   * or compare-and-set: the version written. After VERSION_MISMATCH: the current version (0 when
   * absent).
   */
  resultBytes: Buffer = Buffer.alloc(0);
  resultValueOffset = 0;
  resultValueLength = 0;
  resultVersion = 0;
  /** Address of the record the last appendCompletion wrote. */
  resultSegmentId = 0;
  resultRecordOffset = 0;
  /** The integer left by the last successful incrBy. */
  resultInteger: number | bigint = 0;
  /** Why the last call that returned INVALID_ARGUMENT or OUT_OF_MEMORY did; not reset by calls that succeed. */
  errorDetail: ErrorDetail = ErrorDetail.NONE;

  constructor(config: Partial<StoreConfig> = {}) {
    this.config = resolveStoreConfig(config);
    const segmentCount = Math.floor(this.config.memoryLimitBytes / this.config.segmentSizeBytes);
    this.segments = new SegmentPool(this.config.segmentSizeBytes, segmentCount);
    this.index = new HashIndex(this.config.indexBucketCountInitial, this);
    this.cleaner = new Cleaner(this, this.config.keyLengthMax, this.config.valueLengthMax);
    this.scanner = new RangeScanner(this.index, this.segments);
  }

  get versionNow(): number {
    return this.versionNext;
  }

  // ---- reads ---------------------------------------------------------------------------------

  get(key: Uint8Array, keyOffset: number, keyLength: number): Status {
    if (!this.keyValid(keyLength)) return Status.INVALID_ARGUMENT;
    const wi = this.lookup(key, keyOffset, keyLength);
    if (wi < 0) return Status.NOT_FOUND;
    const w0 = this.index.foundTable[wi];
    if ((w0 & ENTRY_TOMBSTONE) !== 0) return Status.NOT_FOUND;
    return this.loadResult(w0 & SEGMENT_ID_MASK, this.index.foundTable[wi + 1]);
  }

  /** The value of the last successful get as a view into segment memory (allocates a view). */
  resultValue(): Buffer {
    return this.resultBytes.subarray(this.resultValueOffset, this.resultValueOffset + this.resultValueLength);
  }

  private loadResult(segmentId: number, offsetBytes: number): Status {
    const words = this.segments.words[segmentId];
    const w = offsetBytes >> 2;
    const intact = this.config.verifyChecksumOnRead
      ? recordIntact(words, w, this.segments.fillBytes[segmentId])
      : recordPlausible(words, w, this.segments.fillBytes[segmentId]);
    return this.fillResult(segmentId, offsetBytes, intact);
  }

  /** Points the result fields at a checked record's value (CORRUPT, counted, if the check failed). */
  private fillResult(segmentId: number, offsetBytes: number, intact: boolean): Status {
    if (!intact) {
      this.corruptRecordsSeen++;
      return Status.CORRUPT;
    }
    const words = this.segments.words[segmentId];
    const w = offsetBytes >> 2;
    this.resultBytes = this.segments.bytes[segmentId];
    this.resultValueOffset = offsetBytes + HEADER_BYTES + keyLengthOf(words, w);
    this.resultValueLength = valueLengthOf(words, w);
    this.resultVersion = versionOf(words, w);
    return Status.OK;
  }

  // ---- writes --------------------------------------------------------------------------------

  put(key: Uint8Array, keyOffset: number, keyLength: number, value: Uint8Array, valueOffset: number, valueLength: number): Status {
    return this.write(key, keyOffset, keyLength, value, valueOffset, valueLength, ANY_VERSION);
  }

  /** Compare-and-set: writes only if the object's version equals `expectedVersion` (0 = absent). */
  putIfVersion(key: Uint8Array, keyOffset: number, keyLength: number, value: Uint8Array, valueOffset: number,
    valueLength: number, expectedVersion: number): Status {
    if (!this.versionArgumentValid(expectedVersion)) return Status.INVALID_ARGUMENT;
    return this.write(key, keyOffset, keyLength, value, valueOffset, valueLength, expectedVersion);
  }

  delete(key: Uint8Array, keyOffset: number, keyLength: number): Status {
    return this.remove(key, keyOffset, keyLength, ANY_VERSION);
  }

  /** Deletes only if the object's version equals `expectedVersion`. */
  deleteIfVersion(key: Uint8Array, keyOffset: number, keyLength: number, expectedVersion: number): Status {
    if (!this.versionArgumentValid(expectedVersion) || expectedVersion === 0) return this.invalid(ErrorDetail.VERSION_INVALID);
    return this.remove(key, keyOffset, keyLength, expectedVersion);
  }

  /**
   * Adds `delta` to the decimal int64 value of the key (a missing key counts as 0) and leaves
   * the new value in resultInteger. Non-integer value or overflow: INVALID_ARGUMENT.
   */
  incrBy(key: Uint8Array, keyOffset: number, keyLength: number, delta: number): Status {
    if (!this.keyValid(keyLength)) return Status.INVALID_ARGUMENT;
    if (!Number.isSafeInteger(delta)) return this.invalid(ErrorDetail.DELTA_NOT_SAFE_INTEGER);
    const wi = this.lookup(key, keyOffset, keyLength);
    let current: number | bigint | null = 0;
    let expectedVersion = 0;
    if (wi >= 0 && (this.index.foundTable[wi] & ENTRY_TOMBSTONE) === 0) {
      const status = this.loadResult(this.index.foundTable[wi] & SEGMENT_ID_MASK, this.index.foundTable[wi + 1]);
      if (status !== Status.OK) return status;
      current = parseInt64(this.resultBytes, this.resultValueOffset, this.resultValueLength);
      if (current === null) return this.invalid(ErrorDetail.VALUE_NOT_INTEGER);
      expectedVersion = this.resultVersion;
    }
    const next = addInt64(current, delta);
    if (next === null) return this.invalid(ErrorDetail.INCREMENT_OVERFLOW);
    const length = formatInt64(next, this.integerScratch);
    const status = this.write(key, keyOffset, keyLength, this.integerScratch, 0, length, expectedVersion);
    assert(status !== Status.VERSION_MISMATCH, 'incrBy reads and writes in one step');
    if (status !== Status.OK) return status;
    this.resultInteger = next;
    return this.get(key, keyOffset, keyLength);
  }

  /** `hashed`: the key's hash is already in `hasher` (restoreHashed), so it is only looked up. */
  // eslint-disable-next-line max-params -- the hot path: flat arguments, no object per write.
  private write(key: Uint8Array, keyOffset: number, keyLength: number, value: Uint8Array, valueOffset: number,
    valueLength: number, expectedVersion: number, hashed = false): Status {
    if (!this.keyValid(keyLength)) return Status.INVALID_ARGUMENT;
    if (valueLength > this.config.valueLengthMax) return this.invalid(ErrorDetail.VALUE_TOO_LARGE);
    const size = recordBytes(keyLength, valueLength);
    let wi = hashed ? this.findHashed(this.hasher.hi, key, keyOffset, keyLength) : this.lookup(key, keyOffset, keyLength);
    let table = this.index.foundTable;
    if (wi >= 0) this.inspectFound(table, wi);
    const live = wi >= 0 && (table[wi] & ENTRY_TOMBSTONE) === 0;
    const oldVersion = wi >= 0 ? this.foundVersion : 0;
    const condition = this.checkVersion(wi >= 0, live, expectedVersion);
    if (condition !== Status.OK) return condition;
    if (live && this.foundIntact && this.config.updateInPlace && this.foundBytes === size) {
      this.overwriteValue(table, wi, value, valueOffset, valueLength, this.nextVersion(oldVersion), size);
      this.resultVersion = this.versionNext - 1;
      return Status.OK;
    }
    if (!this.headHasRoom(size)) {
      if (!this.ensureHeadSpace(size)) return Status.OUT_OF_MEMORY;
      // Cleaning may have moved or dropped the entry and used the hasher: look up again.
      wi = this.lookup(key, keyOffset, keyLength);
      table = this.index.foundTable;
    }
    this.stagedValue = value;
    this.stagedValueOffset = valueOffset;
    this.stagedValueLength = valueLength;
    return this.appendObject(table, wi, key, keyOffset, keyLength, oldVersion, size);
  }

  /** Appends a new object record (value staged) and points the key's entry at it. */
  private appendObject(table: Uint32Array, wi: number, key: Uint8Array, keyOffset: number, keyLength: number,
    oldVersion: number, size: number): Status {
    const hi = this.hasher.hi;
    let slot = wi;
    if (wi < 0) {
      slot = this.index.reserve(hi);
      if (slot < 0) return this.outOfMemory(ErrorDetail.INDEX_FULL);
    }
    const slotTable = this.index.foundTable;
    const offset = this.append(this.headId, RecordKind.OBJECT, key, keyOffset, keyLength, this.nextVersion(oldVersion), size);
    if (wi >= 0) {
      this.retire(table, wi, hi, this.foundBytes);
      this.index.swing(table, wi, this.headId, offset, false);
    } else {
      this.index.insertAt(slot, hi, this.headId, offset, false);
      this.keysInserted++;
      assert(slotTable === this.index.foundTable, 'the slot table did not change under an insert');
    }
    this.objectCount++;
    this.accounting.add(hi, size);
    this.resultVersion = this.versionNext - 1;
    this.afterWrite(size);
    return Status.OK;
  }

  private remove(key: Uint8Array, keyOffset: number, keyLength: number, expectedVersion: number): Status {
    if (!this.keyValid(keyLength)) return Status.INVALID_ARGUMENT;
    let wi = this.lookup(key, keyOffset, keyLength);
    let table = this.index.foundTable;
    if (wi < 0 || (table[wi] & ENTRY_TOMBSTONE) !== 0) return Status.NOT_FOUND;
    this.inspectFound(table, wi);
    const condition = this.checkVersion(true, true, expectedVersion);
    if (condition !== Status.OK) return condition;
    const hi = this.hasher.hi;
    if (!this.retainsTombstone(hi, this.hasher.lo)) {
      this.retire(table, wi, hi, this.foundBytes);
      this.index.remove(table, wi);
      this.afterWrite(0);
      return Status.OK;
    }
    const tombstoneSize = recordBytes(keyLength, 0);
    if (!this.headHasRoom(tombstoneSize)) {
      if (!this.ensureHeadSpace(tombstoneSize)) return Status.OUT_OF_MEMORY;
      // Cleaning may have relocated the object (never removed it): find its entry again.
      wi = this.lookup(key, keyOffset, keyLength);
      table = this.index.foundTable;
      assert(wi >= 0, 'cleaning never removes a live object');
    }
    this.retire(table, wi, hi, this.foundBytes);
    const version = this.nextVersion(this.foundVersion);
    this.stagedValueLength = 0;
    const offset = this.append(this.headId, RecordKind.TOMBSTONE, key, keyOffset, keyLength, version, tombstoneSize);
    this.index.swing(table, wi, this.headId, offset, true);
    this.tombstoneCount++;
    this.afterWrite(tombstoneSize);
    return Status.OK;
  }

  /**
   * The compare-and-set condition: OK when there is none or the version matches (an absent or
   * deleted key has version 0); CORRUPT when the found record cannot be trusted.
   */
  private checkVersion(found: boolean, live: boolean, expectedVersion: number): Status {
    if (expectedVersion === ANY_VERSION) return Status.OK;
    if (found && !this.foundIntact) return Status.CORRUPT;
    const current = live ? this.foundVersion : 0;
    if (current === expectedVersion) return Status.OK;
    this.resultVersion = current;
    return Status.VERSION_MISMATCH;
  }

  /**
   * Reads the version and size of the record a found entry references, after checking that its
   * header can be trusted. A corrupt record is never read further: its version counts as 0 (the
   * next version exceeds every version this store assigned or observed), and its bytes are left
   * counted in its segment, which the cleaner will then quarantine. See "Corruption" in
   * docs/design-notes.md.
   */
  private inspectFound(table: Uint32Array, wi: number): void {
    const segmentId = table[wi] & SEGMENT_ID_MASK;
    const words = this.segments.words[segmentId];
    const w = table[wi + 1] >> 2;
    const fillBytes = this.segments.fillBytes[segmentId];
    // A record the restoring bulk load vouches for is only checked for plausibility (see restoreHashed).
    const vouched = this.vouchingLoad !== null && this.vouchingLoad.vouchesFor(segmentId);
    this.foundIntact = vouched ? recordPlausible(words, w, fillBytes) : recordIntact(words, w, fillBytes);
    if (this.foundIntact) {
      this.foundVersion = versionOf(words, w);
      this.foundBytes = recordBytes(keyLengthOf(words, w), valueLengthOf(words, w));
    } else {
      this.corruptRecordsSeen++;
      this.foundVersion = 0;
      this.foundBytes = 0;
    }
  }

  /**
   * Accounts for the record an index entry stops referencing, of `size` bytes (0 for a corrupt
   * record, whose bytes stay counted in its segment: see inspectFound).
   */
  private retire(table: Uint32Array, wi: number, hi: number, size: number): void {
    const w0 = table[wi];
    const segmentId = w0 & SEGMENT_ID_MASK;
    this.segments.liveBytes[segmentId] -= size;
    this.liveBytesTotal -= size;
    this.cleaner.noteFreed(size);
    assert(this.segments.liveBytes[segmentId] >= 0, 'segment live bytes stay non-negative');
    if ((w0 & ENTRY_TOMBSTONE) !== 0) {
      this.tombstoneCount--;
    } else {
      this.objectCount--;
      this.accounting.remove(hi, size);
    }
  }

  private nextVersion(oldVersion: number): number {
    if (this.restoringVersion !== 0) return this.restoringVersion;
    const version = Math.max(this.versionNext, oldVersion + 1);
    assert(version < VERSION_MAX, 'versions stay below 2^53');
    this.versionNext = version + 1;
    return version;
  }

  /**
   * Writes `value` under `key` with exactly `version` (recovery and, later, migration: records
   * keep the version they were given where they were first written). Later versions exceed it.
   * The caller replays records in their original order, so no version check is made here.
   */
  restore(key: Uint8Array, keyOffset: number, keyLength: number, value: Uint8Array, valueOffset: number, valueLength: number,
    version: number): Status {
    return this.writeRestored(key, keyOffset, keyLength, value, valueOffset, valueLength, version, false, null);
  }

  /**
   * restore() of a key whose hash the caller already computed (KeyHasher.hashKey of the same
   * bytes: `hi`, `lo`), so it is not hashed again; the key's bytes are still compared with the
   * stored key's. Recovery hashes every log entry's key to find its range and replays the entry
   * later (merged redo): hashing it a second time here cost ~2 ms of a 100k-write tail. A wrong
   * hash would index the key where no lookup finds it, so one call in HASHED_RESTORE_CHECK_EVERY
   * (the first included) hashes the key again and asserts that it matches.
   *
   * `loaded`: the bulk load under way whose runs the caller checked as a whole (recovery: each
   * checkpoint frame's CRC, computed over the segment memory the frame was read into, before its
   * records were installed). The record this restore replaces is then only checked for
   * plausibility, not checksummed again, if that load vouches for its segment
   * (BulkLoad.vouchesFor). Why that is safe: its bytes were checked moments ago, by the frame CRC,
   * in the memory they are in now, and since then only the engine wrote there (in-place updates,
   * which write a fresh checksum); and an in-place overwrite keeps of the old record only its key,
   * key length, kind and reserved flags byte, the first two of which the lookup has just compared
   * with the restored key (from a CRC-checked log frame) and the third the plausibility check has
   * checked. Every other write, and every
   * read, still verifies the checksum. (~4 ms of the merged restores of a 100k-write tail.)
   */
  // eslint-disable-next-line max-params -- the hot path: flat arguments, no object per restore.
  restoreHashed(key: Uint8Array, keyOffset: number, keyLength: number, hi: number, lo: number, value: Uint8Array, valueOffset: number,
    valueLength: number, version: number, loaded: BulkLoad | null = null): Status {
    if ((this.hashedRestores++ & HASHED_RESTORE_CHECK_MASK) === 0) {
      this.rehasher.hashKey(key, keyOffset, keyLength);
      assert(this.rehasher.hi === hi && this.rehasher.lo === lo, 'a restore\'s given hash is its key\'s hash');
    }
    if (loaded !== null && this.restoreInPlace(key, keyOffset, keyLength, hi, value, valueOffset, valueLength, version, loaded)) return Status.OK;
    this.hasher.hi = hi;
    this.hasher.lo = lo;
    return this.writeRestored(key, keyOffset, keyLength, value, valueOffset, valueLength, version, true, loaded);
  }

  /**
   * restoreHashed()'s common case during a load, in one step: the key's entry is live, its record
   * is one `loaded` vouches for, plausible and of the restored record's size, so the value is
   * overwritten in place, as write() would, without write()'s generic steps (the condition, the
   * version choice, restore()'s state). Returns false, having changed nothing, in every other case
   * (the caller takes the general path). A 1M-key restart's 100k merged restores took ~6 ms less of
   * the JavaScript thread this way ("Session 9" in docs/durability.md).
   */
  // eslint-disable-next-line max-params -- the hot path: flat arguments, no object per restore.
  private restoreInPlace(key: Uint8Array, keyOffset: number, keyLength: number, hi: number, value: Uint8Array, valueOffset: number,
    valueLength: number, version: number, loaded: BulkLoad): boolean {
    if (!this.config.updateInPlace || keyLength < 1 || keyLength > this.config.keyLengthMax || valueLength > this.config.valueLengthMax) return false;
    const wi = this.findHashed(hi, key, keyOffset, keyLength);
    if (wi < 0) return false;
    const table = this.index.foundTable;
    const segmentId = table[wi] & SEGMENT_ID_MASK;
    if ((table[wi] & ENTRY_TOMBSTONE) !== 0 || !loaded.vouchesFor(segmentId)) return false;
    const words = this.segments.words[segmentId];
    const w = table[wi + 1] >> 2;
    const size = recordBytes(keyLength, valueLength);
    if (!recordPlausible(words, w, this.segments.fillBytes[segmentId]) || recordBytesAt(words, w) !== size) return false;
    assert(Number.isSafeInteger(version) && version > 0 && version < VERSION_MAX, 'restored versions are positive safe integers');
    this.observeVersion(version);
    this.overwriteValue(table, wi, value, valueOffset, valueLength, version, size);
    this.resultVersion = version;
    return true;
  }

  /** restore() and restoreHashed(): the write at exactly `version`; `hashed`: the key's hash is in `hasher` already. */
  // eslint-disable-next-line max-params -- the hot path: flat arguments, no object per restore.
  private writeRestored(key: Uint8Array, keyOffset: number, keyLength: number, value: Uint8Array, valueOffset: number, valueLength: number,
    version: number, hashed: boolean, loaded: BulkLoad | null): Status {
    assert(Number.isSafeInteger(version) && version > 0 && version < VERSION_MAX, 'restored versions are positive safe integers');
    this.observeVersion(version);
    this.restoringVersion = version;
    this.vouchingLoad = loaded;
    try {
      return this.write(key, keyOffset, keyLength, value, valueOffset, valueLength, ANY_VERSION, hashed);
    } finally {
      this.restoringVersion = 0;
      this.vouchingLoad = null;
    }
  }

  /** Recovery hint to an empty store: about `keyCount` keys are coming, in `hashFraction` of the hash space. */
  presizeIndex(keyCount: number, hashFraction: number): void {
    this.index.presize(keyCount, hashFraction);
  }

  /**
   * presizeIndex() in two steps, so the caller can fault the tables' memory in off the event loop
   * in between (see HashIndex.presizedTables), for `keyCount` keys in `ranges`: new tables for
   * the shards the ranges touch (the others keep theirs), not installed (null: nothing to do),
   * and their memory...
   */
  presizedIndexTables(keyCount: number, ranges: readonly HashRange[]): PresizedIndex | null {
    if (!(keyCount > 0)) return null;
    const width = ranges.reduce((sum, r) => sum + (r.end - r.start), 0n);
    // A hint from elsewhere (a migration's source) is no reason to size past what the log can hold.
    const keysMax = Math.floor(this.config.memoryLimitBytes / recordBytes(1, 0));
    const touched = new Set(ranges.flatMap((r) => shardsOf(r)));
    const current = new Set(this.index.shards.map((shard) => shard.table));
    const tables = this.index.presizedTables(Math.min(keyCount, keysMax), Number(width) / Number(KEYSPACE_END), (shard) => touched.has(shard));
    if (tables === null) return null;
    return { tables, memory: tables.filter((table) => !current.has(table)).map((table) => table.homeBucketBytes()) };
  }

  /** ...and installed, if the store has indexed nothing meanwhile; returns whether they were. */
  adoptPresizedIndex(presized: PresizedIndex): boolean {
    return this.index.adoptPresized(presized.tables);
  }

  /**
   * Starts a bulk load of records already in the engine's layout (recovery of segment images:
   * see bulkLoad.ts). Records are installed as a put of the same record at its own version would
   * be; the caller calls finish() at the end.
   */
  beginBulkLoad(): BulkLoad {
    return new BulkLoad(this);
  }

  /** BulkLoadHost: a free segment for loaded runs, in the HEAD state so the cleaner leaves it alone. */
  takeLoadSegment(): number {
    if (!this.cleanForFreeSegment()) return -1;
    const id = this.segments.take(SegmentState.HEAD);
    assert(id >= 0, 'a free segment exists above the reserve');
    return id;
  }

  /** BulkLoadHost: a load segment is full or the load is over; it becomes a cleaning candidate. */
  closeLoadSegment(segmentId: number): void {
    assert(segmentId !== this.headId, 'load segments are not the writers\' head');
    this.segments.transition(segmentId, [SegmentState.HEAD], SegmentState.CLOSED);
  }

  /** BulkLoadHost: entries in the index, and new ones made so far (see BulkLoad's `fresh`). */
  get indexEntryCount(): number {
    return this.index.entryCount;
  }

  get keyInserts(): number {
    return this.keysInserted;
  }

  /**
   * BulkLoadHost: points the key of the loaded OBJECT record at (segmentId, offsetBytes), whose
   * hash's top word is `hi`, at that record, replacing the key's entry if it has one (last writer
   * wins, as restore() does), with the same accounting as appendObject. `absent`: the bulk load
   * has proved the key is not in the index, so it is not looked up.
   */
  installLoaded(segmentId: number, offsetBytes: number, size: number, hi: number, absent: boolean): Status {
    const wi = absent ? -1
      : this.findHashed(hi, this.segments.bytes[segmentId], offsetBytes + HEADER_BYTES, keyLengthOf(this.segments.words[segmentId], offsetBytes >> 2));
    const table = this.index.foundTable;
    if (wi >= 0) {
      this.inspectFound(table, wi);
      this.retire(table, wi, hi, this.foundBytes);
      this.index.swing(table, wi, segmentId, offsetBytes, false);
    } else {
      const slot = this.index.reserve(hi);
      if (slot < 0) return this.outOfMemory(ErrorDetail.INDEX_FULL);
      this.index.insertAt(slot, hi, segmentId, offsetBytes, false);
      this.keysInserted++;
    }
    this.objectCount++;
    this.accounting.add(hi, size);
    this.segments.liveBytes[segmentId] += size;
    this.liveBytesTotal += size;
    this.afterWrite(size);
    return Status.OK;
  }

  /**
   * BulkLoadHost: installLoaded(..., absent = true) for the records of `run` (see AbsentRun), in
   * one loop: no lookup, no per-record call chain, and the segment's and the store's counters, the
   * version and the cleaner's pacing (afterWrite) settled once for the stretch.
   */
  installAbsentRun(run: AbsentRun): void {
    const { segmentId, endBytes, hashHi, last } = run;
    const words = this.segments.words[segmentId];
    let at = run.atBytes;
    let previous = run.hiAbove;
    let i = run.first;
    let bytes = 0;
    let versionMax = 0;
    for (; i < last; i++) {
      const size = at < endBytes ? objectBytesAt(words, at, endBytes) : 0;
      const hi = hashHi[i];
      if (size === 0 || hi <= previous) break;
      const version = versionOf(words, at >> 2);
      assert(version > 0 && version < VERSION_MAX, 'loaded versions are positive safe integers');
      if (!this.index.insertAbsent(hi, segmentId, at)) break;
      this.accounting.add(hi, size);
      if (version > versionMax) versionMax = version;
      previous = hi;
      bytes += size;
      at += size;
    }
    const installed = i - run.first;
    run.installed = installed;
    run.nextBytes = at;
    run.versionMax = versionMax;
    if (installed === 0) return;
    this.keysInserted += installed;
    this.objectCount += installed;
    this.segments.liveBytes[segmentId] += bytes;
    this.liveBytesTotal += bytes;
    if (versionMax > this.segments.youngestVersion[segmentId]) this.segments.youngestVersion[segmentId] = versionMax;
    this.afterWrite(bytes);
  }

  /** Makes every later version exceed `version` (records arriving from elsewhere keep theirs). */
  observeVersion(version: number): void {
    assert(Number.isSafeInteger(version) && version >= 0, 'observed version is a safe integer');
    if (version >= this.versionNext) this.versionNext = version + 1;
  }

  /**
   * Updates a live object whose record size does not change in place (FASTER's in-place update):
   * new version, value and checksum in the same record, so the log does not grow and the cleaner
   * has nothing to do. See "In-place updates" in docs/design-notes.md.
   */
  private overwriteValue(table: Uint32Array, wi: number, value: Uint8Array, valueOffset: number, valueLength: number,
    version: number, size: number): void {
    const segmentId = table[wi] & SEGMENT_ID_MASK;
    const offset = table[wi + 1];
    const words = this.segments.words[segmentId];
    const bytes = this.segments.bytes[segmentId];
    const w = offset >> 2;
    const valueStart = offset + HEADER_BYTES + keyLengthOf(words, w);
    writeVersion(words, w, version);
    words[w + WORD_VALUE_LENGTH] = valueLength;
    copyBytes(value, valueOffset, valueLength, bytes, valueStart);
    for (let i = valueStart + valueLength; i < offset + size; i++) bytes[i] = 0;
    words[w + WORD_CHECKSUM] = checksum(words, w, size);
    if (version > this.segments.youngestVersion[segmentId]) this.segments.youngestVersion[segmentId] = version;
    this.inPlaceUpdates++;
  }

  /**
   * Appends a record with the staged value at the end of `segmentId` and returns its offset.
   * Space was ensured.
   */
  private append(segmentId: number, kind: RecordKind, key: Uint8Array, keyOffset: number, keyLength: number,
    version: number, size: number): number {
    const valueLength = this.stagedValueLength;
    const segments = this.segments;
    const offset = segments.fillBytes[segmentId];
    assert(offset + size <= segments.segmentSizeBytes, 'append fits in its segment');
    const words = segments.words[segmentId];
    const bytes = segments.bytes[segmentId];
    const w = offset >> 2;
    words[w + (size >> 2) - 1] = 0;
    writeVersion(words, w, version);
    words[w + WORD_KEY_LENGTH_KIND_FLAGS] = packKeyLengthKind(keyLength, kind);
    words[w + WORD_VALUE_LENGTH] = valueLength;
    copyBytes(key, keyOffset, keyLength, bytes, offset + HEADER_BYTES);
    copyBytes(this.stagedValue, this.stagedValueOffset, valueLength, bytes, offset + HEADER_BYTES + keyLength);
    words[w + WORD_CHECKSUM] = checksum(words, w, size);
    segments.fillBytes[segmentId] = offset + size;
    segments.liveBytes[segmentId] += size;
    if (version > segments.youngestVersion[segmentId]) segments.youngestVersion[segmentId] = version;
    this.liveBytesTotal += size;
    return offset;
  }

  // ---- space: heads, cleaning, index growth --------------------------------------------------

  private headHasRoom(size: number): boolean {
    return this.headId >= 0 && this.segments.fillBytes[this.headId] + size <= this.segments.segmentSizeBytes;
  }

  /** Makes the head segment able to take `size` bytes; false (OUT_OF_MEMORY) when it cannot. */
  private ensureHeadSpace(size: number): boolean {
    const segments = this.segments;
    if (this.headHasRoom(size)) return true;
    if (this.headId >= 0) {
      segments.transition(this.headId, [SegmentState.HEAD], SegmentState.CLOSED);
      this.headId = -1;
    }
    if (!this.cleanForFreeSegment()) return false;
    this.headId = segments.take(SegmentState.HEAD);
    assert(this.headId >= 0, 'a free segment exists above the reserve');
    return true;
  }

  /** Makes a free segment exist above the cleaner's reserve; false (LOG_FULL) when it cannot. */
  private cleanForFreeSegment(): boolean {
    const segments = this.segments;
    // Emergency cleaning: writers outran the pay-as-you-go cleaner. Bounded by the segment count.
    for (let round = 0; segments.freeCount <= this.config.cleanerReserveSegments; round++) {
      this.emergencyCleanRounds++;
      if (round > segments.segmentCountMax) return this.logFull();
      // With no other candidate, the open survivor segment (never cleaned while open) is closed
      // so its dead space can be reclaimed: small stores would otherwise stall with space free.
      if (this.cleaner.step(segments.segmentSizeBytes) === 0 && !this.closeSurvivor()) return this.logFull();
    }
    return true;
  }

  /** Pays for cleaning and index growth in proportion to the bytes just written. */
  private afterWrite(size: number): void {
    if (this.index.resizing && ++this.writesSinceResizeStep === RESIZE_INSERTS_PER_BUCKET) {
      this.writesSinceResizeStep = 0;
      this.index.migrateBuckets(1);
    }
    if (this.segments.freeCount >= this.config.cleanerReserveSegments + CLEAN_TRIGGER_FREE_SEGMENTS) return;
    // Walking w bytes of a segment at utilisation u frees (1 - u)·w: walk enough to free 1.25x
    // what was written, so free space grows while writers keep writing.
    const u = this.cleaner.active ? this.cleaner.utilisationOfCurrent : 0.5;
    this.cleaner.step(Math.ceil((size * 1.25) / Math.max(1 - u, 0.05)) + 1);
  }

  /**
   * Background work for idle time: index growth, dropping tombstones whose retention was lifted,
   * and cleaning ahead of writers. Does at most `walkBytesMax` bytes of cleaning, moves at most
   * `indexBucketsMax` index buckets, and visits about TOMBSTONE_PURGE_RECORDS_PER_TICK records.
   * Returns whether more work is pending.
   */
  maintain(walkBytesMax = 128 * 1024, indexBucketsMax = 1024): boolean {
    const resizing = this.index.migrateBuckets(indexBucketsMax);
    const purging = this.purgeTombstones(TOMBSTONE_PURGE_RECORDS_PER_TICK);
    const wantFree = this.config.cleanerReserveSegments + 2 * CLEAN_TRIGGER_FREE_SEGMENTS;
    let cleaning = false;
    if (this.segments.freeCount < wantFree) cleaning = this.cleaner.step(walkBytesMax) > 0;
    return resizing || purging || cleaning;
  }

  /** CleanerHost: relocates a live record into the survivor segment. */
  relocateIfLive(segmentId: number, offsetBytes: number, size: number): boolean {
    if (kindOf(this.segments.words[segmentId], offsetBytes >> 2) === RecordKind.COMPLETION) {
      return this.relocateCompletion(segmentId, offsetBytes, size);
    }
    const wi = this.findEntryAt(segmentId, offsetBytes);
    if (wi < 0) return true;
    const table = this.index.foundTable;
    const tombstone = (table[wi] & ENTRY_TOMBSTONE) !== 0;
    if (tombstone && !this.retainsTombstone(this.hasher.hi, this.hasher.lo)) {
      this.retire(table, wi, this.hasher.hi, size);
      this.index.remove(table, wi);
      return true;
    }
    const offset = this.copyToSurvivor(segmentId, offsetBytes, size);
    if (offset < 0) return false;
    this.index.swing(table, wi, this.survivorId, offset, tombstone);
    return true;
  }

  /** Copies a record verbatim to the survivor segment; returns its new offset, or -1 without space. */
  private copyToSurvivor(segmentId: number, offsetBytes: number, size: number): number {
    if (!this.ensureSurvivorSpace(size)) return -1;
    const words = this.segments.words[segmentId];
    const w = offsetBytes >> 2;
    const target = this.survivorId;
    const offset = this.segments.fillBytes[target];
    copyWords(words, w, this.segments.words[target], offset >> 2, size >> 2);
    this.segments.fillBytes[target] = offset + size;
    this.segments.liveBytes[target] += size;
    this.segments.liveBytes[segmentId] -= size;
    const version = versionOf(words, w);
    if (version > this.segments.youngestVersion[target]) this.segments.youngestVersion[target] = version;
    this.cleaner.bytesRelocated += size;
    return offset;
  }

  // ---- completion records (exactly-once, DESIGN.md §5) ---------------------------------------

  /**
   * Who decides whether a completion record is still needed (the RIFL layer). Completion records
   * are not in the index: the tracker is their index. See "Completion records" in
   * docs/design-notes.md.
   */
  setCompletionTracker(tracker: CompletionTracker): void {
    this.completionTracker = tracker;
  }

  /**
   * Makes the head segment able to take `bytes` more bytes in one piece, so that a mutation and
   * its completion record, appended one after the other, cannot fail in between. OUT_OF_MEMORY
   * (nothing changed) when it cannot.
   */
  ensureSpace(bytes: number): Status {
    if (!(bytes > 0 && bytes <= this.segments.segmentSizeBytes)) return this.invalid(ErrorDetail.VALUE_TOO_LARGE);
    return this.headHasRoom(bytes) || this.ensureHeadSpace(bytes) ? Status.OK : Status.OUT_OF_MEMORY;
  }

  /**
   * Appends a completion record: keyed by the object's key, so it lives in the object's range and
   * moves with it; `payload` is the RIFL layer's (client id, sequence number, saved result). On OK
   * its address is in resultSegmentId / resultRecordOffset for the tracker to keep.
   */
  appendCompletion(key: Uint8Array, keyOffset: number, keyLength: number, payload: Uint8Array, payloadOffset: number,
    payloadLength: number): Status {
    if (!this.keyValid(keyLength)) return Status.INVALID_ARGUMENT;
    if (payloadLength > this.config.valueLengthMax) return this.invalid(ErrorDetail.VALUE_TOO_LARGE);
    assert(this.completionTracker !== null, 'completion records need a tracker');
    const size = recordBytes(keyLength, payloadLength);
    if (!this.headHasRoom(size) && !this.ensureHeadSpace(size)) return Status.OUT_OF_MEMORY;
    this.stagedValue = payload;
    this.stagedValueOffset = payloadOffset;
    this.stagedValueLength = payloadLength;
    this.resultRecordOffset = this.append(this.headId, RecordKind.COMPLETION, key, keyOffset, keyLength, this.versionNext, size);
    this.resultSegmentId = this.headId;
    this.completionCount++;
    this.afterWrite(size);
    return Status.OK;
  }

  /** Loads a completion record's payload into the result fields; CORRUPT if it fails its checks. */
  readCompletion(segmentId: number, offsetBytes: number): Status {
    const words = this.segments.words[segmentId];
    const w = offsetBytes >> 2;
    const intact = kindOf(words, w) === RecordKind.COMPLETION && recordIntact(words, w, this.segments.fillBytes[segmentId]);
    return this.fillResult(segmentId, offsetBytes, intact);
  }

  /**
   * Points `ref` at the completion record at (segmentId, offsetBytes): key, payload (as value),
   * version. CORRUPT (ref untouched) if it fails its checks. For checkpoints, which copy
   * completion records out with their keys.
   */
  completionRecord(segmentId: number, offsetBytes: number, ref: RecordRef): Status {
    const words = this.segments.words[segmentId];
    const w = offsetBytes >> 2;
    if (kindOf(words, w) !== RecordKind.COMPLETION || !recordIntact(words, w, this.segments.fillBytes[segmentId])) {
      this.corruptRecordsSeen++;
      return Status.CORRUPT;
    }
    ref.bytes = this.segments.bytes[segmentId];
    ref.keyLength = keyLengthOf(words, w);
    ref.keyOffset = offsetBytes + HEADER_BYTES;
    ref.valueOffset = ref.keyOffset + ref.keyLength;
    ref.valueLength = valueLengthOf(words, w);
    ref.version = versionOf(words, w);
    ref.tombstone = false;
    ref.checksumValid = true;
    ref.recordBytes = recordBytesAt(words, w);
    ref.segmentId = segmentId;
    ref.recordOffset = offsetBytes;
    return Status.OK;
  }

  /** The tracker no longer needs this completion record (acknowledged or lease expired). */
  releaseCompletion(segmentId: number, offsetBytes: number): void {
    const words = this.segments.words[segmentId];
    const w = offsetBytes >> 2;
    assert(kindOf(words, w) === RecordKind.COMPLETION, 'released record is a completion record');
    const size = recordBytesAt(words, w);
    this.segments.liveBytes[segmentId] -= size;
    this.liveBytesTotal -= size;
    this.cleaner.noteFreed(size);
    this.completionCount--;
    assert(this.segments.liveBytes[segmentId] >= 0, 'segment live bytes stay non-negative');
  }

  private relocateCompletion(segmentId: number, offsetBytes: number, size: number): boolean {
    const tracker = this.completionTracker;
    if (tracker === null) return true;
    const record = this.completionRef;
    const words = this.segments.words[segmentId];
    const w = offsetBytes >> 2;
    record.bytes = this.segments.bytes[segmentId];
    record.segmentId = segmentId;
    record.recordOffset = offsetBytes;
    record.keyOffset = offsetBytes + HEADER_BYTES;
    record.keyLength = keyLengthOf(words, w);
    record.valueOffset = record.keyOffset + record.keyLength;
    record.valueLength = valueLengthOf(words, w);
    record.recordBytes = size;
    record.checksumValid = recordIntact(words, w, this.segments.fillBytes[segmentId]);
    if (!tracker.isLive(record)) return true;
    const offset = this.copyToSurvivor(segmentId, offsetBytes, size);
    if (offset < 0) return false;
    tracker.moved(record, this.survivorId, offset);
    return true;
  }

  /**
   * The index entry (word index into index.foundTable) that references the record at this log
   * address, or -1 if none does. Leaves the record key's hash in `hasher`.
   */
  private findEntryAt(segmentId: number, offsetBytes: number): number {
    const keyLength = keyLengthOf(this.segments.words[segmentId], offsetBytes >> 2);
    this.hasher.hashKey(this.segments.bytes[segmentId], offsetBytes + HEADER_BYTES, keyLength);
    const index = this.index;
    let wi = index.findFirst(this.hasher.hi);
    while (wi >= 0) {
      const table = index.foundTable;
      if ((table[wi] & SEGMENT_ID_MASK) === segmentId && table[wi + 1] === offsetBytes) return wi;
      wi = index.findNext(wi);
    }
    return -1;
  }

  private logFull(): false {
    this.errorDetail = ErrorDetail.LOG_FULL;
    return false;
  }

  /** Closes the open survivor segment, making it a cleaning candidate; false if none is open. */
  private closeSurvivor(): boolean {
    if (this.survivorId < 0) return false;
    this.segments.transition(this.survivorId, [SegmentState.SURVIVOR], SegmentState.CLOSED);
    this.survivorId = -1;
    this.cleaner.noteFreed(this.segments.segmentSizeBytes);
    return true;
  }

  private ensureSurvivorSpace(size: number): boolean {
    const segments = this.segments;
    if (this.survivorId >= 0 && segments.fillBytes[this.survivorId] + size <= segments.segmentSizeBytes) return true;
    if (this.survivorId >= 0) segments.transition(this.survivorId, [SegmentState.SURVIVOR], SegmentState.CLOSED);
    this.survivorId = segments.take(SegmentState.SURVIVOR);
    return this.survivorId >= 0;
  }

  // ---- tombstones ------------------------------------------------------------------------------

  /**
   * Ranges whose deletes must leave tombstones (a migration into this store is under way and an
   * older copy of a deleted key may still arrive). Elsewhere deletes remove the entry at once and
   * the cleaner drops tombstones. See "Tombstones" in docs/design-notes.md.
   */
  setTombstoneRetention(ranges: readonly HashRange[]): void {
    const lifted = this.tombstoneRetention;
    this.tombstoneRetention = ranges.map(toBounds);
    this.tombstoneRetentionRanges = [...ranges];
    // Tombstones of ranges no longer retained are dropped by maintain(), a slice at a time;
    // ranges still retained are skipped per tombstone.
    for (const bounds of lifted) this.tombstonePurges.push({ bounds, cursor: bounds.startHi });
  }

  /** Drops up to about `recordCountMax` visited records' worth of unretained tombstones; false when idle. */
  private purgeTombstones(recordCountMax: number): boolean {
    const job = this.tombstonePurges[0];
    if (job === undefined) return false;
    const addresses: number[] = [];
    const options = { recordCountMax, includeTombstones: true };
    job.cursor = this.scanner.scan(job.bounds, job.cursor, options, (record) => {
      if (record.tombstone && record.checksumValid) addresses.push(record.segmentId, record.recordOffset);
    });
    for (let i = 0; i < addresses.length; i += 2) this.dropTombstoneAt(addresses[i], addresses[i + 1]);
    if (job.cursor === SCAN_DONE) this.tombstonePurges.shift();
    return true;
  }

  private dropTombstoneAt(segmentId: number, offsetBytes: number): void {
    const wi = this.findEntryAt(segmentId, offsetBytes);
    if (wi < 0) return;
    const table = this.index.foundTable;
    if ((table[wi] & ENTRY_TOMBSTONE) === 0 || this.retainsTombstone(this.hasher.hi, this.hasher.lo)) return;
    this.retire(table, wi, this.hasher.hi, recordBytesAt(this.segments.words[segmentId], offsetBytes >> 2));
    this.index.remove(table, wi);
  }

  private retainsTombstone(hi: number, lo: number): boolean {
    const ranges = this.tombstoneRetention;
    for (let i = 0; i < ranges.length; i++) if (boundsContain(ranges[i], hi, lo)) return true;
    return false;
  }

  // ---- dropping a range -----------------------------------------------------------------------

  /** Whether dropInPlace() may drop `range`: no part of it retains tombstones (deletes there must write one). */
  dropsInPlace(range: HashRange): boolean {
    return !this.tombstoneRetentionRanges.some((retained) => rangesOverlap(retained, range));
  }

  /**
   * Removes the live objects of `range` from `cursor` on, in scan order, stopping after the bucket
   * in which `recordCountMax` records were seen; keys `spare` accepts stay. What delete() does per
   * key, without finding each key again: each entry is removed where the scan finds it (removing
   * clears its words only, so the scan's walk is undisturbed) and its record retired as delete()
   * retires it. A record whose checksum fails may have corrupt key bytes, so its hash (the shard,
   * the accounting block) cannot be trusted: it is deleted by its key after the scan, exactly as
   * before (an entry its key no longer reaches stays, never served: the range is not owned). No
   * tombstone is written: only for ranges that retain none (dropsInPlace). The index's resize
   * steps and the cleaner's pacing that the deletes would have run come after the scan. Returns
   * the cursor to resume from (SCAN_DONE at the end); the count is left in `droppedCount`.
   */
  dropInPlace(range: HashRange, cursor: number, recordCountMax: number, spare: ((bytes: Buffer, offset: number, length: number) => boolean) | null): number {
    assert(this.dropsInPlace(range), 'a range that retains tombstones is dropped by deletes');
    let dropped = 0;
    const corruptKeys: Buffer[] = [];
    const next = this.scanner.scan(toBounds(range), cursor, { recordCountMax, includeTombstones: false }, (record) => {
      // A record whose header is implausible comes without its key: no lookup reaches it; it stays, as for delete().
      if (record.keyLength === 0 || (spare !== null && spare(record.bytes, record.keyOffset, record.keyLength))) return;
      if (!record.checksumValid) {
        corruptKeys.push(Buffer.from(record.key()));
        return;
      }
      this.hasher.hashKey(record.bytes, record.keyOffset, record.keyLength);
      this.retire(record.entryWords, record.entryIndex, this.hasher.hi, record.recordBytes);
      this.index.removeOfHash(this.hasher.hi, record.entryWords, record.entryIndex);
      dropped++;
    });
    for (let i = 0; i < dropped; i++) this.afterWrite(0);
    for (const key of corruptKeys) {
      const status = this.delete(key, 0, key.length);
      if (status === Status.OK || status === Status.NOT_FOUND) dropped++;
    }
    this.droppedCount = dropped;
    return next;
  }

  // ---- scans and accounting ------------------------------------------------------------------

  /** See scan.ts for the cursor and for what a scan sees of concurrent writes. */
  scan(range: HashRange, cursor: number, options: ScanOptions, visit: (record: RecordRef) => void): number {
    return this.scanner.scan(toBounds(range), cursor, options, visit);
  }

  /** Key count and record bytes of live objects in each range. */
  rangeFigures(ranges: readonly HashRange[]): RangeFigures[] {
    const exact = (bounds: HashRangeBounds): RangeFigures => {
      const figures: RangeFigures = { keyCount: 0, bytes: 0 };
      this.scanner.scan(bounds, bounds.startHi, { recordCountMax: Infinity, includeTombstones: false }, (record) => {
        figures.keyCount++;
        figures.bytes += record.recordBytes;
      });
      return figures;
    };
    return ranges.map((range) => this.accounting.figures(toBounds(range), exact));
  }

  stats(): StoreStats {
    const segments = this.segments;
    const indexBytes = this.index.usedBytes;
    return {
      keyCount: this.objectCount,
      tombstoneCount: this.tombstoneCount,
      completionCount: this.completionCount,
      liveBytes: this.liveBytesTotal,
      memoryLimitBytes: this.config.memoryLimitBytes,
      logCapacityBytes: segments.segmentCountMax * segments.segmentSizeBytes,
      utilisation: this.liveBytesTotal / (segments.segmentCountMax * segments.segmentSizeBytes),
      segmentBytesAllocated: segments.allocatedBytes,
      segmentsFree: segments.freeCount,
      segmentsQuarantined: segments.quarantined,
      indexBytes,
      engineBytes: segments.allocatedBytes + indexBytes + this.accounting.memoryBytes,
      cleanerSegmentsCleaned: this.cleaner.segmentsCleaned,
      cleanerBytesRelocated: this.cleaner.bytesRelocated,
      cleanerBytesWalked: this.cleaner.bytesWalked,
      indexResizing: this.index.resizing,
      corruptRecordsSeen: this.corruptRecordsSeen,
      indexMisplacedEntries: this.index.misplacedEntries,
      inPlaceUpdates: this.inPlaceUpdates,
      cleanerEmergencyRounds: this.emergencyCleanRounds,
    };
  }

  // ---- helpers -------------------------------------------------------------------------------

  /** KeyHashSource: the top hash word of the key stored at a log address (index growth). */
  hashHiAt(segmentId: number, offsetBytes: number): number {
    const words = this.segments.words[segmentId];
    this.rehasher.hashKey(this.segments.bytes[segmentId], offsetBytes + HEADER_BYTES, keyLengthOf(words, offsetBytes >> 2));
    return this.rehasher.hi;
  }

  /** Index entry (word index into index.foundTable) of the key, or -1. Leaves the hash in `hasher`. */
  private lookup(key: Uint8Array, keyOffset: number, keyLength: number): number {
    this.hasher.hashKey(key, keyOffset, keyLength);
    return this.findHashed(this.hasher.hi, key, keyOffset, keyLength);
  }

  /** Index entry (word index into index.foundTable) of the key whose hash's top word is `hi`, or -1. */
  private findHashed(hi: number, key: Uint8Array, keyOffset: number, keyLength: number): number {
    const index = this.index;
    let wi = index.findFirst(hi);
    while (wi >= 0) {
      const table = index.foundTable;
      if (this.keyEqualsAt(table[wi] & SEGMENT_ID_MASK, table[wi + 1], key, keyOffset, keyLength)) return wi;
      wi = index.findNext(wi);
    }
    return -1;
  }

  private keyEqualsAt(segmentId: number, offsetBytes: number, key: Uint8Array, keyOffset: number, keyLength: number): boolean {
    if (keyLengthOf(this.segments.words[segmentId], offsetBytes >> 2) !== keyLength) return false;
    const bytes = this.segments.bytes[segmentId];
    const start = offsetBytes + HEADER_BYTES;
    for (let i = 0; i < keyLength; i++) if (bytes[start + i] !== key[keyOffset + i]) return false;
    return true;
  }

  private keyValid(keyLength: number): boolean {
    if (keyLength >= 1 && keyLength <= this.config.keyLengthMax) return true;
    this.errorDetail = keyLength < 1 ? ErrorDetail.KEY_EMPTY : ErrorDetail.KEY_TOO_LARGE;
    return false;
  }

  private versionArgumentValid(version: number): boolean {
    if (Number.isSafeInteger(version) && version >= 0) return true;
    this.errorDetail = ErrorDetail.VERSION_INVALID;
    return false;
  }

  private invalid(detail: ErrorDetail): Status {
    this.errorDetail = detail;
    return Status.INVALID_ARGUMENT;
  }

  private outOfMemory(detail: ErrorDetail): Status {
    this.errorDetail = detail;
    return Status.OUT_OF_MEMORY;
  }
}

function copyWords(source: Int32Array, sourceIndex: number, target: Int32Array, targetIndex: number, count: number): void {
  if (count <= COPY_LOOP_WORDS_MAX) {
    for (let i = 0; i < count; i++) target[targetIndex + i] = source[sourceIndex + i];
  } else {
    target.set(source.subarray(sourceIndex, sourceIndex + count), targetIndex);
  }
}

/** The index shards whose hashes a non-empty range holds (a shard holds the hashes of one top-bits prefix). */
function shardsOf(range: HashRange): number[] {
  const first = Number(range.start >> BigInt(64 - SHARD_BITS));
  const last = Number((range.end - 1n) >> BigInt(64 - SHARD_BITS));
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}
