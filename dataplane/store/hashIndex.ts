// The hash index (FASTER style): an open hash table of 8-byte entries in typed arrays. It stores
// no keys, only a tag from the key hash and the record's log address; key comparison happens in
// the log. Buckets are chosen by the TOP bits of the hash, so a hash range is a contiguous run
// of buckets and migration, checkpoints and accounting of a range visit only its buckets.
//
//  entry word 0: [1 used][1 tombstone][14-bit tag][16-bit segment id]
//  entry word 1: [32-bit byte offset of the record in its segment]
//
//  bucket (64 bytes, one cache line): 16 words
//  +---------+---------+-----+---------+-------------------+-------+
//  | entry 0 | entry 1 | ... | entry 6 | overflow link (w14) | spare |
//  +---------+---------+-----+---------+-------------------+-------+
//
// The tag is the low 14 bits of the hash's top word (`hi`). Buckets take the top bits of that
// word, so below 2^18 buckets tag and bucket bits are disjoint; from 2^19 buckets up they
// overlap, and the overlap is what makes large doublings cheap: the bit that splits a bucket of
// a 2^k-bucket table is bit 31 - k of `hi`, which for k >= 18 is a tag bit, so the entry moves
// without reading its key from the log. (At 2^21 buckets, 10M keys, 11 tag bits still tell keys
// of a bucket apart: a false match costs one key comparison in 1 of ~2000 entries.) Several
// entries of a bucket may share a tag (unlike FASTER, which chains colliding keys through the
// records): that keeps records free of a previous-address field, 8 bytes per key.
//
// Overflow buckets live in the same array after the main buckets; the overflow area has as many
// buckets as the main area but costs no resident memory until used (large typed arrays are
// calloc'd, so untouched pages are never faulted in). Links hold the overflow bucket's number.
//
// Growth is incremental (see "Index growth" in docs/design-notes.md): past 5 entries per bucket
// on average, or once a quarter of the overflow area is in use (keys crowded into few buckets: a
// pod that owns a narrow hash range), a table of twice the buckets is allocated, and old buckets
// move over a few at a time (on every insert and in maintenance), each entry's new bucket read
// from its tag (tables of 2^18 buckets and more) or found by rehashing its key from the log
// (smaller tables). An insert into a bucket that has not moved yet goes into the old table if
// its chain has room or the old overflow area is less than half used; otherwise it moves that
// bucket first, so the old table cannot fill up during a doubling. Old buckets below
// `resizeCursor`, and those marked in `moved`, have moved; a lookup picks its table from that.

import { assert } from './assert.js';

export const BUCKET_WORDS = 16;
export const ENTRIES_PER_BUCKET = 7;
const LINK_WORD = 14;
export const ENTRY_USED = 0x8000_0000;
export const ENTRY_TOMBSTONE = 0x4000_0000;
export const TAG_SHIFT = 16;
export const TAG_MASK = 0x3fff;
export const SEGMENT_ID_MASK = 0xffff;
/** The tag holds bits 0..13 of the hash's top word. */
const TAG_BITS_TOP = 13;
/** Bits compared when matching a tag: used + tag, not the tombstone bit nor the segment id. */
const MATCH_MASK = (ENTRY_USED | (TAG_MASK << TAG_SHIFT)) | 0;
/** Average entries per bucket that starts a doubling. */
export const ENTRIES_PER_BUCKET_GROW = 5;
const BUCKET_BITS_MAX = 26;
/** presize() goes no further (2^24 buckets: 1 GiB of address space, touched only where keys land). */
const PRESIZE_BUCKET_BITS_MAX = 24;
/** A doubling starts once more than 1/OVERFLOW_SHARE_GROW of the overflow area is in use. */
const OVERFLOW_SHARE_GROW = 4;
/** During a doubling the old table extends chains only while less than 1/this of its overflow area is in use. */
const OLD_OVERFLOW_SHARE_MAX = 2;

assert(LINK_WORD === ENTRIES_PER_BUCKET * 2, 'the link follows the last entry');
assert(TAG_MASK === 2 ** (TAG_BITS_TOP + 1) - 1, 'the tag is the low bits of the top hash word');
assert((ENTRY_USED | ENTRY_TOMBSTONE | (TAG_MASK << TAG_SHIFT) | SEGMENT_ID_MASK) === -1, 'entry word 0 bits are all assigned');

/** Computes the top 32 bits of the hash of the key stored at a log address. */
export interface KeyHashSource {
  hashHiAt(segmentId: number, offsetBytes: number): number;
}

export class IndexTable {
  readonly bucketBits: number;
  readonly bucketCount: number;
  readonly words: Uint32Array;
  /** Next unused overflow bucket number; overflow buckets are [bucketCount, overflowEnd). */
  overflowNext: number;
  readonly overflowEnd: number;

  constructor(bucketBits: number) {
    assert(bucketBits >= 4 && bucketBits <= BUCKET_BITS_MAX, `bucket bits ${bucketBits} out of range`);
    this.bucketBits = bucketBits;
    this.bucketCount = 2 ** bucketBits;
    this.overflowNext = this.bucketCount;
    this.overflowEnd = this.bucketCount * 2;
    this.words = new Uint32Array(this.overflowEnd * BUCKET_WORDS);
  }

  bucketOf(hi: number): number {
    return hi >>> (32 - this.bucketBits);
  }

  /** Bytes of index memory in use: main buckets plus overflow buckets handed out. */
  get usedBytes(): number {
    return this.overflowNext * BUCKET_WORDS * 4;
  }

  /**
   * Word index of a free entry slot in `bucket`'s chain, extending the chain with an overflow
   * bucket if needed and `mayExtend`; -1 if there is none.
   */
  freeSlot(bucket: number, mayExtend = true): number {
    const words = this.words;
    let base = bucket * BUCKET_WORDS;
    while (true) {
      for (let wi = base; wi < base + LINK_WORD; wi += 2) {
        if (words[wi] === 0) return wi;
      }
      const link = words[base + LINK_WORD];
      if (link !== 0) {
        base = link * BUCKET_WORDS;
        continue;
      }
      if (!mayExtend || this.overflowNext === this.overflowEnd) return -1;
      const added = this.overflowNext++;
      words[base + LINK_WORD] = added;
      return added * BUCKET_WORDS;
    }
  }
}

export class HashIndex {
  table: IndexTable;
  /** The table being emptied into `table` during a doubling, else null. */
  oldTable: IndexTable | null = null;
  /** Old buckets below this number have moved to `table`... */
  resizeCursor = 0;
  /** ...and so have those marked here (moved early because an insert needed them). */
  private moved: Uint8Array = new Uint8Array(0);
  /** Used entries (objects and tombstones). */
  entryCount = 0;
  /** Entries met during a doubling whose key no longer hashes to their bucket (corrupt keys). */
  misplacedEntries = 0;
  /** Table of the last entry returned by findFirst / findNext / reserve. */
  foundTable: Uint32Array;
  private want = 0;
  private readonly hashSource: KeyHashSource;

  constructor(bucketCountInitial: number, hashSource: KeyHashSource) {
    this.table = new IndexTable(Math.log2(bucketCountInitial));
    this.foundTable = this.table.words;
    this.hashSource = hashSource;
  }

  /** The table that holds entries for a hash whose top word is `hi`. */
  tableFor(hi: number): IndexTable {
    const old = this.oldTable;
    if (old !== null && !this.oldBucketMoved(old.bucketOf(hi))) return old;
    return this.table;
  }

  /** During a doubling: whether old bucket `bucket` has moved to the new table. */
  oldBucketMoved(bucket: number): boolean {
    return bucket < this.resizeCursor || this.moved[bucket] === 1;
  }

  /** First entry whose tag matches the hash's top word, as a word index into `foundTable`; -1 if none. */
  findFirst(hi: number): number {
    const t = this.tableFor(hi);
    this.foundTable = t.words;
    this.want = (ENTRY_USED | ((hi & TAG_MASK) << TAG_SHIFT)) | 0;
    return this.scanChain(t.words, t.bucketOf(hi) * BUCKET_WORDS);
  }

  /** Next entry after `wordIndex` with the same tag in the same chain; -1 if none. */
  findNext(wordIndex: number): number {
    return this.scanChain(this.foundTable, wordIndex + 2);
  }

  private scanChain(words: Uint32Array, wordIndex: number): number {
    const want = this.want;
    let wi = wordIndex;
    while (true) {
      if ((wi & (BUCKET_WORDS - 1)) === LINK_WORD) {
        const link = words[wi];
        if (link === 0) return -1;
        wi = link * BUCKET_WORDS;
        continue;
      }
      if (((words[wi] ^ want) & MATCH_MASK) === 0) return wi;
      wi += 2;
    }
  }

  /**
   * Reserves a free slot for a new entry of this hash: returns its word index into
   * `foundTable`, or -1 when the bucket chain cannot grow (the caller reports INDEX_FULL).
   * The slot stays free until set() writes it.
   */
  reserve(hi: number): number {
    const old = this.oldTable;
    if (old !== null && !this.oldBucketMoved(old.bucketOf(hi))) {
      // An unmoved bucket keeps taking entries while its chain has room or the old overflow area
      // is less than half used; only then does it move first (so the old table cannot fill up).
      // Moving every bucket an insert touched front-loaded the doubling: at 1M keys the 4096-put
      // chunk that started 2^17 -> 2^18 took 21 ms instead of ~3 (see "Event-loop bounds" in
      // docs/design-notes.md).
      const overflowRoom = (old.overflowNext - old.bucketCount) * OLD_OVERFLOW_SHARE_MAX < old.bucketCount;
      const slot = old.freeSlot(old.bucketOf(hi), overflowRoom);
      if (slot >= 0) {
        this.foundTable = old.words;
        return slot;
      }
      this.moveEarly(hi);
    }
    let t = this.tableFor(hi);
    let wi = t.freeSlot(t.bucketOf(hi));
    if (wi < 0 && this.oldTable === null && this.startResize()) {
      this.moveEarly(hi);
      t = this.table;
      wi = t.freeSlot(t.bucketOf(hi));
    }
    this.foundTable = t.words;
    return wi;
  }

  /** Moves the old bucket of `hi` now if it has not moved yet (the caller holds no entry of it). */
  private moveEarly(hi: number): void {
    const old = this.oldTable;
    assert(old !== null, 'early moves happen during a doubling');
    const bucket = old.bucketOf(hi);
    if (this.oldBucketMoved(bucket)) return;
    this.migrateBucket(old, bucket);
    this.moved[bucket] = 1;
  }

  /** Writes a new entry into a slot from reserve(). */
  insertAt(wordIndex: number, hi: number, segmentId: number, offsetBytes: number, tombstone: boolean): void {
    const words = this.foundTable;
    assert(words[wordIndex] === 0, 'insert into a used slot');
    words[wordIndex] = packEntry(hi, segmentId, tombstone);
    words[wordIndex + 1] = offsetBytes;
    this.entryCount++;
    if (this.oldTable === null && this.crowded()) this.startResize();
  }

  /** Enough entries per bucket on average, or a quarter of the overflow area in use. */
  private crowded(): boolean {
    const t = this.table;
    return this.entryCount > t.bucketCount * ENTRIES_PER_BUCKET_GROW || (t.overflowNext - t.bucketCount) * OVERFLOW_SHARE_GROW > t.bucketCount;
  }

  /** Points an existing entry at a new address (update or relocation). */
  swing(words: Uint32Array, wordIndex: number, segmentId: number, offsetBytes: number, tombstone: boolean): void {
    const w0 = words[wordIndex];
    assert((w0 & ENTRY_USED) !== 0, 'swing of a free entry');
    words[wordIndex] = ((w0 & ~(ENTRY_TOMBSTONE | SEGMENT_ID_MASK)) | (tombstone ? ENTRY_TOMBSTONE : 0) | segmentId) >>> 0;
    words[wordIndex + 1] = offsetBytes;
  }

  remove(words: Uint32Array, wordIndex: number): void {
    assert((words[wordIndex] & ENTRY_USED) !== 0, 'remove of a free entry');
    words[wordIndex] = 0;
    words[wordIndex + 1] = 0;
    this.entryCount--;
  }

  get resizing(): boolean {
    return this.oldTable !== null;
  }

  get usedBytes(): number {
    return this.table.usedBytes + (this.oldTable === null ? 0 : this.oldTable.usedBytes);
  }

  /**
   * Recovery hint: `entryCountExpected` entries are about to arrive, spread over `hashFraction`
   * of the hash space. An empty index starts at the size they will need (about 4 entries per
   * bucket they use) instead of doubling ~8 times on the way. No-op unless the index is empty.
   */
  presize(entryCountExpected: number, hashFraction: number): void {
    if (this.entryCount !== 0 || this.oldTable !== null || !(hashFraction > 0)) return;
    const bucketsWanted = entryCountExpected / (4 * Math.min(1, hashFraction));
    const bits = Math.min(PRESIZE_BUCKET_BITS_MAX, Math.ceil(Math.log2(Math.max(1, bucketsWanted))));
    if (bits <= this.table.bucketBits) return;
    this.table = new IndexTable(bits);
    this.foundTable = this.table.words;
  }

  /** Starts a doubling; false when the table is at its largest. */
  private startResize(): boolean {
    assert(this.oldTable === null, 'one doubling at a time');
    if (this.table.bucketBits === BUCKET_BITS_MAX) return false;
    this.oldTable = this.table;
    this.table = new IndexTable(this.oldTable.bucketBits + 1);
    this.resizeCursor = 0;
    this.moved = new Uint8Array(this.oldTable.bucketCount);
    return true;
  }

  /** Moves up to `bucketCountMax` old buckets to the new table; returns whether a doubling is still under way. */
  migrateBuckets(bucketCountMax: number): boolean {
    const old = this.oldTable;
    if (old === null) return false;
    const end = Math.min(old.bucketCount, this.resizeCursor + bucketCountMax);
    for (let bucket = this.resizeCursor; bucket < end; bucket++) {
      if (this.moved[bucket] === 0) this.migrateBucket(old, bucket);
    }
    this.resizeCursor = end;
    if (end === old.bucketCount) {
      this.oldTable = null;
      this.moved = new Uint8Array(0);
    }
    return this.oldTable !== null;
  }

  /** The bucket of the doubled table that an entry of old `bucket` belongs in. */
  private newBucketOf(old: IndexTable, bucket: number, w0: number, offsetBytes: number): number {
    const splitBit = 31 - old.bucketBits;
    if (splitBit <= TAG_BITS_TOP) return bucket * 2 + ((w0 >>> (TAG_SHIFT + splitBit)) & 1);
    const hi = this.hashSource.hashHiAt(w0 & SEGMENT_ID_MASK, offsetBytes);
    if (old.bucketOf(hi) === bucket) return bucket * 2 + ((hi >>> splitBit) & 1);
    // A key that no longer hashes to its bucket has corrupt bytes in the log, and no lookup can
    // match it any more. Its entry keeps a slot under the old bucket's first half; the cleaner,
    // rehashing the same bytes, will not find it either, so the record's bytes stay counted as
    // live and its segment is quarantined rather than freed.
    this.misplacedEntries++;
    return bucket * 2;
  }

  private migrateBucket(old: IndexTable, bucket: number): void {
    const words = old.words;
    const target = this.table;
    let base = bucket * BUCKET_WORDS;
    while (true) {
      for (let wi = base; wi < base + LINK_WORD; wi += 2) {
        const w0 = words[wi];
        if (w0 === 0) continue;
        const slot = target.freeSlot(this.newBucketOf(old, bucket, w0, words[wi + 1]));
        assert(slot >= 0, 'the doubled table has room for every old entry');
        target.words[slot] = w0;
        target.words[slot + 1] = words[wi + 1];
      }
      const link = words[base + LINK_WORD];
      if (link === 0) return;
      base = link * BUCKET_WORDS;
    }
  }
}

/**
 * Entry word 0 as an int32 (storing it in the Uint32Array wraps it to the same bits). As a uint32
 * it would exceed 2^31 (the used bit), which V8 returns as a heap number: 16 bytes of garbage
 * per insert, and scavenges inside puts.
 */
export function packEntry(hi: number, segmentId: number, tombstone: boolean): number {
  return ENTRY_USED | (tombstone ? ENTRY_TOMBSTONE : 0) | ((hi & TAG_MASK) << TAG_SHIFT) | segmentId;
}
