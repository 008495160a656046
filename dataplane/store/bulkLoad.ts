// Bulk load: records that arrive already in the engine's own layout (layout.ts) — a segment
// image such as a checkpoint frame — go into log segments as whole runs, and only the index is
// built per record. Recovery uses it instead of one put per record: no per-record copy through
// the write path and no checksum recomputed (each record keeps the checksum it was written with,
// so reads still verify it; the caller vouches for the run as a whole, e.g. by a frame CRC).
//
// Two ways in:
//   claim(length) -> write the run's bytes at (segmentId, offsetBytes) -> install(claim, keep)
//     The caller reads a run straight into segment memory (no copy on the JavaScript thread).
//     Several claims may be outstanding (read-ahead); they are installed or abandoned in the
//     order they were made.
//   copyRecords(bytes, start, end, keep)
//     Copies the kept records of a run from any buffer, packed (no dead space for the records
//     left out). For runs that are filtered heavily or larger than a segment.
//
// Load segments are taken from the pool in the HEAD state (writers' state: the cleaner never
// touches them) and closed when full, so they become cleaning candidates like any head. A record
// that `keep` rejects, or a key replaced by a later record of the same load, is dead space there
// and the cleaner reclaims it. Invariants: fillBytes of a load segment only covers installed runs
// (never bytes still being written); the index, live bytes, key counts and range accounting are
// updated by the store's installLoaded() (installAbsentRun() for a stretch of records whose keys are
// known not to be indexed), exactly as a put of the same record would.
//
// Until finish(), a load vouches for the records of the segments it took (vouchesFor): each was
// installed from a run the caller checked (recovery: a frame CRC computed over that very memory)
// or overwritten in place by the engine since, which wrote a fresh checksum. Recovery's merged
// restores rely on it to skip re-verifying a record they overwrite (see Store.restoreHashed).

import { assert } from './assert.js';
import { HEADER_BYTES, keyLengthOf, objectBytesAt, recordBytesAt, versionOf } from './layout.js';
import type { SegmentPool } from './segments.js';
import { Status } from './status.js';
import { KeyHasher } from '../../proto/keyspace/hash.js';

/** Whether to install the record whose key is bytes[keyOffset, +keyLength) with hash (hi, lo). */
export type KeepRecord = (bytes: Buffer, keyOffset: number, keyLength: number, hi: number, lo: number) => boolean;

/** What the store gives a bulk load (implemented by Store). */
export interface BulkLoadHost {
  readonly segments: SegmentPool;
  /** A free segment in the HEAD state for loaded runs (cleaning first if needed); -1 when none. */
  takeLoadSegment(): number;
  closeLoadSegment(segmentId: number): void;
  /** Points the key of the record at this address (hash top word `hi`) at it, as a put would; `absent`: known not indexed. */
  installLoaded(segmentId: number, offsetBytes: number, size: number, hi: number, absent: boolean): Status;
  /**
   * Installs, in order, the records `run` describes whose keys are known not to be indexed, as
   * installLoaded(..., absent = true) would one by one; stops at the first that does not qualify
   * (see AbsentRun) and says how far it got in `run`.
   */
  installAbsentRun(run: AbsentRun): void;
  /** Entries in the index now. */
  readonly indexEntryCount: number;
  /** New index entries made so far, by any write or bulk load. */
  readonly keyInserts: number;
  observeVersion(version: number): void;
}

/**
 * Records first .. last - 1 of a claimed run, the first at byte `atBytes` of segment `segmentId`,
 * the run ending by `endBytes`, their hashes' top words in `hashHi`: installed by the host while
 * each is a plausible OBJECT record whose top word exceeds `hiAbove` and the one before (so, in a
 * fresh load, its key cannot be indexed yet: see BulkLoad's `fresh`) and its shard takes it
 * without a doubling under way. The host reports how many it installed, where the next record
 * starts and their largest version. One object per load, reused: nothing is allocated per call.
 */
export interface AbsentRun {
  segmentId: number;
  atBytes: number;
  endBytes: number;
  hashHi: Uint32Array;
  first: number;
  last: number;
  hiAbove: number;
  installed: number;
  nextBytes: number;
  versionMax: number;
}

/** Where a claimed run goes: write its bytes at segments.bytes[segmentId][offsetBytes, +length). */
export interface LoadClaim {
  readonly segmentId: number;
  readonly offsetBytes: number;
  readonly length: number;
}

/** With stored hashes, one key in this many is hashed again and checked against its stored hash. */
const HASH_CHECK_EVERY = 64;
const HASH_CHECK_MASK = HASH_CHECK_EVERY - 1;
/** copyRecords copies at most this many records in one piece. */
const STRETCH_RECORDS_MAX = 4096;
assert((HASH_CHECK_EVERY & HASH_CHECK_MASK) === 0, 'the check interval is a power of two');

export class BulkLoad {
  /** Records installed, and records left out by `keep` (both counted by install/copyRecords). */
  recordsInstalled = 0;
  recordsSkipped = 0;
  private readonly hasher = new KeyHasher();
  /** copyRecords: the hash top word of each record of the stretch being gathered. */
  private readonly stretchHi = new Uint32Array(STRETCH_RECORDS_MAX);
  private readonly pending: LoadClaim[] = [];
  /** The segment new claims go to, and the end of what has been claimed in it. */
  private segmentId = -1;
  private claimedEnd = 0;
  private versionMax = 0;
  private finished = false;
  /**
   * Whether records may be installed without looking their keys up: while (1) the index was empty
   * when the load began and (2) nothing but this load has inserted a key since (a write, another
   * bulk load), the index holds only keys this load installed, so a record whose hash's top word
   * exceeds every one installed so far (`hiMax`) cannot be indexed yet. Checkpoint frames are
   * sorted by hash and come range after range, so nearly every record of a restart qualifies; it
   * saves a chain walk each (~30 ns).
   */
  private fresh: boolean;
  /** host.keyInserts after this load's last install: any other change is someone else's insert. */
  private insertsSeen: number;
  private hiMax = -1;
  /** By segment id: the segment's tenancy (SegmentPool.takes) when this load took it, else 0. */
  private readonly tenancy: Uint32Array;
  /** The stretch handed to host.installAbsentRun (reused). */
  private readonly absent: AbsentRun = {
    segmentId: 0, atBytes: 0, endBytes: 0, hashHi: new Uint32Array(0), first: 0, last: 0, hiAbove: 0, installed: 0, nextBytes: 0, versionMax: 0,
  };

  constructor(private readonly host: BulkLoadHost) {
    this.fresh = host.indexEntryCount === 0;
    this.insertsSeen = host.keyInserts;
    this.tenancy = new Uint32Array(host.segments.segmentCountMax);
  }

  /**
   * Whether every record the index references in `segmentId` was installed by this load (or
   * overwritten in place by the engine since): the load is not finished and took the segment,
   * which has not been recycled since (emptied by the cleaner and taken again, by anyone).
   */
  vouchesFor(segmentId: number): boolean {
    const tenancy = this.tenancy[segmentId];
    return !this.finished && tenancy !== 0 && tenancy === this.host.segments.takes[segmentId];
  }

  get segmentSizeBytes(): number {
    return this.host.segments.segmentSizeBytes;
  }

  /** The memory of a claim's segment: write the run at [claim.offsetBytes, + claim.length). */
  segmentBytes(claim: LoadClaim): Buffer {
    return this.host.segments.bytes[claim.segmentId];
  }

  /** Space for a run of `length` bytes (a multiple of 4, at most a segment); null when the log is full. */
  claim(length: number): LoadClaim | null {
    assert(!this.finished, 'claim after finish');
    assert(length > 0 && length % 4 === 0 && length <= this.segmentSizeBytes, `claimed run of ${length} bytes fits a segment`);
    if (!this.roomFor(length)) return null;
    const claim: LoadClaim = { segmentId: this.segmentId, offsetBytes: this.claimedEnd, length };
    this.claimedEnd += length;
    this.pending.push(claim);
    return claim;
  }

  /**
   * Installs the records of the oldest outstanding claim, whose bytes are now in place. Stops at
   * the first record that is not a plausible OBJECT record ending inside the run (CORRUPT) or
   * that the index cannot take (OUT_OF_MEMORY); what came before it stays installed.
   *
   * `hashHi`, when given, holds the top word of each record's key hash, in order (the run's
   * writer computed them): with no `keep` filter the keys are then not hashed again, except one
   * in HASH_CHECK_EVERY, which must match (CORRUPT otherwise: the run cannot be trusted).
   */
  install(claim: LoadClaim, keep: KeepRecord | null, hashHi: Uint32Array | null = null): Status {
    assert(this.pending[0] === claim, 'claims are installed in the order they were made');
    this.pending.shift();
    const segments = this.host.segments;
    const id = claim.segmentId;
    assert(segments.fillBytes[id] === claim.offsetBytes, 'a claim starts where the installed part of its segment ends');
    const stored = keep === null ? hashHi : null;
    const words = segments.words[id];
    const end = claim.offsetBytes + claim.length;
    let at = claim.offsetBytes;
    let status: Status = Status.OK;
    let i = 0;
    while (at < end) {
      const installed = stored === null ? 0 : this.installAbsent(id, at, end, stored, i);
      if (installed > 0) {
        at = this.absent.nextBytes;
        i += installed;
        continue;
      }
      const size = objectBytesAt(words, at, end);
      if (size === 0) {
        status = Status.CORRUPT;
      } else {
        status = stored !== null ? this.installStored(id, at, size, stored, i) : this.installOne(id, at, size, keep);
      }
      if (status !== Status.OK) break;
      at += size;
      i++;
    }
    segments.fillBytes[id] = at;
    if (status === Status.OK && stored !== null && i !== stored.length) status = Status.CORRUPT;
    // Claims after a failed run would leave garbage between installed runs: give them all up.
    if (status !== Status.OK) this.abandon();
    this.closeIfDone(id);
    return status;
  }

  /** Gives up every outstanding claim (their bytes are never installed); the space is reused. */
  abandon(): void {
    const dropped = this.pending.splice(0);
    if (this.segmentId >= 0) this.claimedEnd = this.host.segments.fillBytes[this.segmentId];
    // Several dropped claims may share a segment (read-ahead): each segment is closed once.
    for (const segmentId of new Set(dropped.map((claim) => claim.segmentId))) this.closeIfDone(segmentId);
  }

  /**
   * Copies the records of bytes[start, end) that `keep` accepts into load segments, packed, and
   * installs them. Stops like install() at a record that is not a plausible OBJECT record.
   * Consecutive kept records that fit the load segment go in one memory copy (a stretch).
   */
  copyRecords(bytes: Buffer, start: number, end: number, keep: KeepRecord | null): Status {
    assert(this.pending.length === 0, 'copies are not mixed with outstanding claims');
    assert(start % 4 === 0 && end <= bytes.length && bytes.byteOffset % 4 === 0, 'runs are word aligned');
    const words = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
    let at = start;
    let stretchStart = start;
    let count = 0;
    while (at < end) {
      const size = objectBytesAt(words, at, end);
      if (size === 0) return this.worst(this.flushStretch(bytes, stretchStart, at, count), Status.CORRUPT);
      const keyLength = keyLengthOf(words, at >> 2);
      this.hasher.hashKey(bytes, at + HEADER_BYTES, keyLength);
      const kept = keep === null || keep(bytes, at + HEADER_BYTES, keyLength, this.hasher.hi, this.hasher.lo);
      if (!kept || (count > 0 && (count === STRETCH_RECORDS_MAX || at + size - stretchStart > this.roomLeft()))) {
        const status = this.flushStretch(bytes, stretchStart, at, count);
        if (status !== Status.OK) return status;
        count = 0;
        stretchStart = kept ? at : at + size;
      }
      if (!kept) {
        this.recordsSkipped++;
      } else {
        if (count === 0 && !this.roomFor(size)) return Status.OUT_OF_MEMORY;
        this.stretchHi[count++] = this.hasher.hi;
      }
      at += size;
    }
    return this.flushStretch(bytes, stretchStart, at, count);
  }

  /** Closes the load segments and raises the version clock above every loaded version. */
  finish(): void {
    if (this.finished) return;
    this.abandon();
    this.finished = true;
    if (this.segmentId >= 0) this.host.closeLoadSegment(this.segmentId);
    this.segmentId = -1;
    this.host.observeVersion(this.versionMax);
  }

  private roomFor(length: number): boolean {
    if (this.segmentId >= 0 && this.claimedEnd + length <= this.segmentSizeBytes) return true;
    const id = this.host.takeLoadSegment();
    if (id < 0) return false;
    // 0 means "not taken by this load": a tenancy that wrapped to 0 is simply not vouched for.
    this.tenancy[id] = this.host.segments.takes[id];
    const previous = this.segmentId;
    this.segmentId = id;
    this.claimedEnd = 0;
    if (previous >= 0) this.closeIfDone(previous);
    return true;
  }

  /** Closes a load segment that new claims no longer go to once nothing is outstanding in it. */
  private closeIfDone(segmentId: number): void {
    if (segmentId === this.segmentId || this.pending.some((claim) => claim.segmentId === segmentId)) return;
    this.host.closeLoadSegment(segmentId);
  }

  /** Hashes the key of the checked record at `at` and installs it unless `keep` rejects it. */
  private installOne(segmentId: number, at: number, size: number, keep: KeepRecord | null): Status {
    const words = this.host.segments.words[segmentId];
    const bytes = this.host.segments.bytes[segmentId];
    const keyLength = keyLengthOf(words, at >> 2);
    this.hasher.hashKey(bytes, at + HEADER_BYTES, keyLength);
    if (keep !== null && !keep(bytes, at + HEADER_BYTES, keyLength, this.hasher.hi, this.hasher.lo)) {
      this.recordsSkipped++;
      return Status.OK;
    }
    return this.installHashed(segmentId, at, size, this.hasher.hi);
  }

  /**
   * Installs records i.. of a run by their stored hashes through the host's absent-key path, up to
   * the next record whose hash is checked (one in HASH_CHECK_EVERY, checked here first); returns
   * how many (0: record i takes the one-by-one path, which also reports a failed check). A 1M-key
   * restart installed ~80 ns a record one by one through five calls each, ~50 ns this way
   * ("Session 9" in docs/durability.md).
   */
  private installAbsent(segmentId: number, at: number, end: number, stored: Uint32Array, i: number): number {
    if (!this.fresh || this.host.keyInserts !== this.insertsSeen || i >= stored.length) return 0;
    if ((i & HASH_CHECK_MASK) === 0 && !this.storedHashMatches(segmentId, at, stored[i])) return 0;
    const run = this.absent;
    run.segmentId = segmentId;
    run.atBytes = at;
    run.endBytes = end;
    run.hashHi = stored;
    run.first = i;
    run.last = Math.min(stored.length, (i | HASH_CHECK_MASK) + 1);
    run.hiAbove = this.hiMax;
    this.host.installAbsentRun(run);
    const installed = run.installed;
    if (installed === 0) return 0;
    assert(run.nextBytes > at && run.nextBytes <= end, 'an absent run ends inside its claim');
    this.insertsSeen = this.host.keyInserts;
    this.hiMax = stored[i + installed - 1];
    if (run.versionMax > this.versionMax) this.versionMax = run.versionMax;
    this.recordsInstalled += installed;
    return installed;
  }

  /** Installs the i-th record of a run by its stored hash (checking one in HASH_CHECK_EVERY). */
  private installStored(segmentId: number, at: number, size: number, stored: Uint32Array, i: number): Status {
    if (i >= stored.length || ((i & HASH_CHECK_MASK) === 0 && !this.storedHashMatches(segmentId, at, stored[i]))) return Status.CORRUPT;
    return this.installHashed(segmentId, at, size, stored[i]);
  }

  private storedHashMatches(segmentId: number, at: number, hi: number): boolean {
    const keyLength = keyLengthOf(this.host.segments.words[segmentId], at >> 2);
    this.hasher.hashKey(this.host.segments.bytes[segmentId], at + HEADER_BYTES, keyLength);
    return this.hasher.hi === hi;
  }

  /** Installs the checked record at (segmentId, at), whose key hash's top word is `hi`. */
  private installHashed(segmentId: number, at: number, size: number, hi: number): Status {
    const segments = this.host.segments;
    const version = versionOf(segments.words[segmentId], at >> 2);
    assert(version > 0 && version < Number.MAX_SAFE_INTEGER, 'loaded versions are positive safe integers');
    const status = this.host.installLoaded(segmentId, at, size, hi, this.knownAbsent(hi));
    this.insertsSeen = this.host.keyInserts;
    if (status !== Status.OK) return status;
    if (version > this.versionMax) this.versionMax = version;
    if (version > segments.youngestVersion[segmentId]) segments.youngestVersion[segmentId] = version;
    this.recordsInstalled++;
    return Status.OK;
  }

  /** Whether the key of a record whose hash's top word is `hi` is known not to be indexed (see `fresh`). */
  private knownAbsent(hi: number): boolean {
    if (!this.fresh) return false;
    if (this.host.keyInserts !== this.insertsSeen) {
      this.fresh = false;
      return false;
    }
    if (hi <= this.hiMax) return false;
    this.hiMax = hi;
    return true;
  }

  /** Bytes left in the current load segment. */
  private roomLeft(): number {
    return this.segmentId < 0 ? 0 : this.segmentSizeBytes - this.claimedEnd;
  }

  /** The first status that is not OK. */
  private worst(first: Status, then: Status): Status {
    return first !== Status.OK ? first : then;
  }

  /**
   * Copies the stretch bytes[from, to) of `count` checked records (their hashes' top words in
   * stretchHi) to the current load segment in one piece, and installs them there in order.
   */
  private flushStretch(bytes: Buffer, from: number, to: number, count: number): Status {
    if (count === 0) return Status.OK;
    const segments = this.host.segments;
    const id = this.segmentId;
    let offset = this.claimedEnd;
    assert(segments.fillBytes[id] === offset && offset + (to - from) <= this.segmentSizeBytes, 'a stretch goes where the installed part ends, and fits');
    bytes.copy(segments.bytes[id], offset, from, to);
    const target = segments.words[id];
    let status: Status = Status.OK;
    for (let i = 0; i < count && status === Status.OK; i++) {
      const size = recordBytesAt(target, offset >> 2);
      status = this.installHashed(id, offset, size, this.stretchHi[i]);
      if (status === Status.OK) offset += size;
    }
    this.claimedEnd = offset;
    segments.fillBytes[id] = offset;
    return status;
  }
}
