// One shard of the hash index: the keys whose hash starts with the shard's SHARD_BITS, in a table
// of its own that grows by doubling (layout in indexTable.ts, why shards in hashIndex.ts).
//
// Growth is incremental (see "Index growth" in docs/design-notes.md): past 5 entries per bucket
// on average, or once a quarter of the overflow area is in use (keys crowded into few buckets: a
// pod that owns a narrow hash range), a table of twice the buckets is allocated, and old buckets
// move over a few at a time (on inserts and in maintenance), each entry's new bucket read from
// its tag (tables of 2^18 buckets over all shards and more), from the high bits its bucket keeps
// for it (2^14 to 2^17 buckets), or found by rehashing its key from the log (smaller tables). An
// insert into a bucket that has not moved yet goes into the old table if its chain has room or
// the old overflow area is less than half used; otherwise it moves that bucket first, so the old
// table cannot fill up during a doubling. Old buckets below
// `resizeCursor`, and those marked in `moved`, have moved; a lookup picks its table from that.

import { assert } from './assert.js';
import {
  BUCKET_BITS_MAX, BUCKET_WORDS, ENTRIES_PER_BUCKET_GROW, ENTRIES_PER_BUCKET_PRESIZE, ENTRY_USED, IndexTable, LINK_WORD, MATCH_MASK, SEGMENT_ID_MASK,
  HIGH_BITS_TOP, SHARD_BITS, TAG_BITS_TOP, TAG_MASK, TAG_SHIFT, highBitsOf, setHighBits, writeEntry, type KeyHashSource,
} from './indexTable.js';

/** A doubling starts once more than 1/OVERFLOW_SHARE_GROW of the overflow area is in use. */
const OVERFLOW_SHARE_GROW = 4;
/** During a doubling the old table extends chains only while less than 1/this of its overflow area is in use. */
const OLD_OVERFLOW_SHARE_MAX = 2;
/**
 * The next table is allocated ahead, in a maintenance tick, once a shard is this close to a
 * doubling: 3 of the 5 entries per bucket, or a sixth of the overflow area instead of a quarter.
 */
const ENTRIES_PER_BUCKET_PREPARE = 3;
const OVERFLOW_SHARE_PREPARE = 6;
/** A doubling placing entries by their stored high bits rehashes one key in this many from the log and checks it. */
const HIGH_BITS_CHECK_EVERY = 64;
const HIGH_BITS_CHECK_MASK = HIGH_BITS_CHECK_EVERY - 1;

/** Counts the shards with a doubling under way (the index's `resizing`). */
export interface ResizeCounter {
  resizingShardCount: number;
}

export class IndexShard {
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
  /** Entries a doubling placed by their high bits (one in HIGH_BITS_CHECK_EVERY is checked against the log). */
  private highBitsTaken = 0;
  /** Table of the last entry returned by findFirst / findNext / reserve. */
  foundTable: Uint32Array;
  /** The next doubling's table and moved-marks, allocated ahead by prepare() (the table untouched but for one page). */
  private spare: IndexTable | null = null;
  private spareMoved: Uint8Array | null = null;
  private want = 0;

  constructor(bucketBits: number, readonly shard: number, private readonly hashSource: KeyHashSource,
    private readonly counter: ResizeCounter) {
    this.table = new IndexTable(bucketBits, shard);
    this.foundTable = this.table.words;
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
   * The slot stays free until insertAt() writes it.
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
    writeEntry(words, wordIndex, hi, segmentId, offsetBytes, tombstone);
    this.entryCount++;
    if (this.oldTable === null && this.crowded()) this.startResize();
  }

  /**
   * reserve() and insertAt() in one step, for a key known not to be indexed (a fresh bulk load's
   * ascending records). False, with nothing changed, while the shard is doubling or when the
   * chain cannot grow: the caller then takes the general path. `foundTable` is left as it was.
   */
  insertAbsent(hi: number, segmentId: number, offsetBytes: number): boolean {
    if (this.oldTable !== null) return false;
    const t = this.table;
    const wi = t.freeSlot(t.bucketOf(hi));
    if (wi < 0) return false;
    const words = t.words;
    assert(words[wi] === 0, 'insert into a used slot');
    writeEntry(words, wi, hi, segmentId, offsetBytes, false);
    this.entryCount++;
    if (this.crowded()) this.startResize();
    return true;
  }

  /** Enough entries per bucket on average, or a quarter of the overflow area in use. */
  private crowded(): boolean {
    const t = this.table;
    return this.entryCount > t.bucketCount * ENTRIES_PER_BUCKET_GROW || (t.overflowNext - t.bucketCount) * OVERFLOW_SHARE_GROW > t.bucketCount;
  }

  remove(words: Uint32Array, wordIndex: number): void {
    assert((words[wordIndex] & ENTRY_USED) !== 0, 'remove of a free entry');
    words[wordIndex] = 0;
    words[wordIndex + 1] = 0;
    this.entryCount--;
  }

  /** Whether `words` is one of this shard's tables. */
  holds(words: Uint32Array): boolean {
    return words === this.table.words || (this.oldTable !== null && words === this.oldTable.words);
  }

  get resizing(): boolean {
    return this.oldTable !== null;
  }

  get usedBytes(): number {
    return this.table.usedBytes + (this.oldTable === null ? 0 : this.oldTable.usedBytes);
  }

  /** Replaces the table of an empty shard by a larger, empty one of the same shard (recovery's presize). */
  adoptEmpty(table: IndexTable): void {
    if (table === this.table) return;
    assert(this.entryCount === 0 && this.oldTable === null, 'only an empty shard is presized');
    assert(table.shard === this.shard && table.overflowNext === table.bucketCount, 'an unused table of this shard');
    if (table.bucketBits <= this.table.bucketBits) return;
    this.spare = null;
    this.spareMoved = null;
    this.table = table;
    this.foundTable = this.table.words;
  }

  /**
   * Whether the next doubling is near and its table not allocated yet. prepare() then allocates
   * it, so the put that starts the doubling does not (see "Event-loop bounds" in
   * docs/design-notes.md: the allocation starts V8 garbage-collection work).
   *
   * A presized table was made for a load of up to ENTRIES_PER_BUCKET_PRESIZE entries per bucket
   * (a restart's checkpoints), so its next table waits until the shard holds more than that: the
   * load itself never asks for one, and a shard still has a whole entry per bucket to go before
   * its doubling when it does. At 3 per bucket, a 1M-key restart (3.8 per bucket) allocated the
   * 16 next tables (67 MB) while it loaded, and that external memory started a mark-compact in
   * the middle of the recovery ("Session 9" in docs/durability.md).
   */
  get wantsSpare(): boolean {
    const t = this.table;
    const entriesPerBucket = t.presized ? ENTRIES_PER_BUCKET_PRESIZE : ENTRIES_PER_BUCKET_PREPARE;
    return this.spare === null && this.oldTable === null && t.bucketBits < BUCKET_BITS_MAX &&
      (this.entryCount > t.bucketCount * entriesPerBucket || (t.overflowNext - t.bucketCount) * OVERFLOW_SHARE_PREPARE > t.bucketCount);
  }

  /** Whether the next doubling's table is allocated already. */
  get hasSpare(): boolean {
    return this.spare !== null;
  }

  prepare(): void {
    assert(this.wantsSpare, 'a spare table is made once, before its doubling');
    const spare = new IndexTable(this.table.bucketBits + 1, this.shard);
    // Fault in its first page now: the first fault in a new mapping takes the process's
    // memory-map lock, which a V8 thread freeing an old table may hold for milliseconds.
    spare.words[0] = 0;
    this.spare = spare;
    this.spareMoved = new Uint8Array(this.table.bucketCount);
  }

  /** Starts a doubling; false when the table is at its largest. */
  private startResize(): boolean {
    assert(this.oldTable === null, 'one doubling at a time');
    if (this.table.bucketBits === BUCKET_BITS_MAX) return false;
    this.oldTable = this.table;
    this.table = this.spare ?? new IndexTable(this.oldTable.bucketBits + 1, this.shard);
    this.moved = this.spareMoved ?? new Uint8Array(this.oldTable.bucketCount);
    this.spare = null;
    this.spareMoved = null;
    assert(this.table.bucketBits === this.oldTable.bucketBits + 1 && this.table.overflowNext === this.table.bucketCount, 'a doubling starts with an empty table of twice the buckets');
    this.resizeCursor = 0;
    this.counter.resizingShardCount++;
    return true;
  }

  /** Moves up to `bucketCountMax` old buckets to the new table; returns how many the cursor passed. */
  migrateBuckets(bucketCountMax: number): number {
    const old = this.oldTable;
    if (old === null) return 0;
    const start = this.resizeCursor;
    const end = Math.min(old.bucketCount, start + bucketCountMax);
    for (let bucket = start; bucket < end; bucket++) {
      if (this.moved[bucket] === 0) this.migrateBucket(old, bucket);
    }
    this.resizeCursor = end;
    if (end === old.bucketCount) {
      this.oldTable = null;
      this.moved = new Uint8Array(0);
      this.counter.resizingShardCount--;
      assert(this.counter.resizingShardCount >= 0, 'resizing shards are counted once');
    }
    return end - start;
  }

  /**
   * The bucket of the doubled table that the entry at `wi` of old `bucket` belongs in: the split
   * bit from its tag or its high bits (indexTable.ts) when they hold it, else from its key's hash,
   * read from the log. One entry in HIGH_BITS_CHECK_EVERY taken from its high bits is also rehashed
   * from the log, and the two must agree.
   */
  private newBucketOf(old: IndexTable, bucket: number, wi: number): number {
    const words = old.words;
    const w0 = words[wi];
    const splitBit = 31 - SHARD_BITS - old.bucketBits;
    if (splitBit <= TAG_BITS_TOP) return bucket * 2 + ((w0 >>> (TAG_SHIFT + splitBit)) & 1);
    if (splitBit <= HIGH_BITS_TOP) {
      const half = (highBitsOf(words, wi) >>> (splitBit - TAG_BITS_TOP - 1)) & 1;
      if ((++this.highBitsTaken & HIGH_BITS_CHECK_MASK) === 0) this.checkHighBits(old, bucket, wi, half);
      return bucket * 2 + half;
    }
    const hi = this.hashSource.hashHiAt(w0 & SEGMENT_ID_MASK, words[wi + 1]);
    if (old.bucketOf(hi) === bucket) return bucket * 2 + ((hi >>> splitBit) & 1);
    // A key that no longer hashes to its bucket has corrupt bytes in the log, and no lookup can
    // match it any more. Its entry keeps a slot under the old bucket's first half; the cleaner,
    // rehashing the same bytes, will not find it either, so the record's bytes stay counted as
    // live and its segment is quarantined rather than freed.
    this.misplacedEntries++;
    return bucket * 2;
  }

  /** Asserts that the split bit an entry's high bits gave matches its key's hash (unless the key's bytes are corrupt). */
  private checkHighBits(old: IndexTable, bucket: number, wi: number, half: number): void {
    const words = old.words;
    const hi = this.hashSource.hashHiAt(words[wi] & SEGMENT_ID_MASK, words[wi + 1]);
    if (old.bucketOf(hi) !== bucket) return;
    assert(((hi >>> (31 - SHARD_BITS - old.bucketBits)) & 1) === half, 'an entry\'s high bits match its key\'s hash');
  }

  private migrateBucket(old: IndexTable, bucket: number): void {
    const words = old.words;
    const target = this.table;
    let base = bucket * BUCKET_WORDS;
    while (true) {
      for (let wi = base; wi < base + LINK_WORD; wi += 2) {
        const w0 = words[wi];
        if (w0 === 0) continue;
        const slot = target.freeSlot(this.newBucketOf(old, bucket, wi));
        assert(slot >= 0, 'the doubled table has room for every old entry');
        target.words[slot] = w0;
        target.words[slot + 1] = words[wi + 1];
        setHighBits(target.words, slot, highBitsOf(words, wi));
      }
      const link = words[base + LINK_WORD];
      if (link === 0) return;
      base = link * BUCKET_WORDS;
    }
  }
}
