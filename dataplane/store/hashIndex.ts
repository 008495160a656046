// The hash index: SHARD_COUNT shards chosen by the top bits of the key hash (indexShard.ts), each
// an open hash table of 8-byte entries that doubles on its own (layout in indexTable.ts). Buckets
// still follow hash order across shards, so a hash range is a contiguous run of buckets.
//
// Why shards (see "Event-loop bounds" in docs/design-notes.md): with one table, the table a
// doubling empties is freed whole when V8 collects it, by one munmap on a V8 worker thread: at 10M
// keys 128 MiB, ~10 ms inside the kernel holding the process's memory-map lock. Any mprotect (V8
// installing optimised code), mmap or first page fault the main thread makes meanwhile waits for
// it: a 4096-get chunk that runs ~5 ms took 13 ms. Sixteen shards free sixteen tables of 1/16 the
// size, one munmap each, and the lock is released between them. They allocate 1/16 the size per
// doubling too. Lookups pay one array load to find the shard.
//
// The facade keeps the single-table interface the store uses: `foundTable` is the table of the
// last entry found or reserved, and insertAt/remove/findNext act on that entry's shard.

import { assert } from './assert.js';
import {
  BUCKET_BITS_MAX, BUCKET_BITS_MIN, ENTRIES_PER_BUCKET_PRESIZE, ENTRY_TOMBSTONE, ENTRY_USED, SEGMENT_ID_MASK, SHARD_BITS, SHARD_COUNT,
  type KeyHashSource,
} from './indexTable.js';
import { IndexShard, type ResizeCounter } from './indexShard.js';
import { IndexTable } from './indexTable.js';

export {
  BUCKET_WORDS, ENTRIES_PER_BUCKET, ENTRY_TOMBSTONE, ENTRY_USED, SEGMENT_ID_MASK, SHARD_BITS, SHARD_COUNT, TAG_MASK, TAG_SHIFT,
  IndexTable, packEntry, type KeyHashSource,
} from './indexTable.js';
export { IndexShard } from './indexShard.js';

/** presize() goes no further (2^24 buckets over all shards: 1 GiB of address space, touched only where keys land). */
const PRESIZE_BUCKET_BITS_MAX = 24 - SHARD_BITS;
assert(PRESIZE_BUCKET_BITS_MAX <= BUCKET_BITS_MAX, 'a presized shard table is a valid table');
/** Maintenance ticks between two allocations of a shard's next table (see prepareOne). */
const PREPARE_TICKS_APART = 4;

export class HashIndex implements ResizeCounter {
  readonly shards: IndexShard[] = [];
  /** Table of the last entry returned by findFirst / findNext / reserve... */
  foundTable: Uint32Array;
  /** ...and its shard. */
  private found: IndexShard;
  /** Used entries (objects and tombstones) over all shards. */
  entryCount = 0;
  /** Shards with a doubling under way (kept by the shards). */
  resizingShardCount = 0;
  /** Where maintenance moves buckets next when the written shard is not doubling... */
  private migrateNext = 0;
  /** ...and where it looks for a shard near its doubling next. */
  private prepareNext = 0;
  private ticksSincePrepare = 0;

  constructor(bucketCountInitial: number, hashSource: KeyHashSource) {
    const bits = Math.max(BUCKET_BITS_MIN, Math.log2(bucketCountInitial) - SHARD_BITS);
    for (let shard = 0; shard < SHARD_COUNT; shard++) this.shards.push(new IndexShard(bits, shard, hashSource, this));
    this.found = this.shards[0];
    this.foundTable = this.found.foundTable;
  }

  /** The shard of a hash whose top word is `hi` (also a scan position, in top-word units). */
  shardFor(hi: number): IndexShard {
    return this.shards[hi >>> (32 - SHARD_BITS)];
  }

  /** First entry whose tag matches the hash's top word, as a word index into `foundTable`; -1 if none. */
  findFirst(hi: number): number {
    const shard = this.shardFor(hi);
    this.found = shard;
    const wi = shard.findFirst(hi);
    this.foundTable = shard.foundTable;
    return wi;
  }

  /** Next entry after `wordIndex` with the same tag in the same chain; -1 if none. */
  findNext(wordIndex: number): number {
    return this.found.findNext(wordIndex);
  }

  /**
   * Reserves a free slot for a new entry of this hash: returns its word index into
   * `foundTable`, or -1 when the bucket chain cannot grow (the caller reports INDEX_FULL).
   * The slot stays free until insertAt() writes it.
   */
  reserve(hi: number): number {
    const shard = this.shardFor(hi);
    this.found = shard;
    const wi = shard.reserve(hi);
    this.foundTable = shard.foundTable;
    return wi;
  }

  /** Writes a new entry into a slot from reserve() for the same hash. */
  insertAt(wordIndex: number, hi: number, segmentId: number, offsetBytes: number, tombstone: boolean): void {
    const shard = this.shardFor(hi);
    assert(shard === this.found && shard.foundTable === this.foundTable, 'insertAt follows reserve() of the same hash');
    shard.insertAt(wordIndex, hi, segmentId, offsetBytes, tombstone);
    this.entryCount++;
  }

  /** IndexShard.insertAbsent in the hash's shard: a new entry for a key known not to be indexed; false when that shard cannot take it so. */
  insertAbsent(hi: number, segmentId: number, offsetBytes: number): boolean {
    if (!this.shardFor(hi).insertAbsent(hi, segmentId, offsetBytes)) return false;
    this.entryCount++;
    return true;
  }

  /** Points an existing entry at a new address (update or relocation). */
  swing(words: Uint32Array, wordIndex: number, segmentId: number, offsetBytes: number, tombstone: boolean): void {
    const w0 = words[wordIndex];
    assert((w0 & ENTRY_USED) !== 0, 'swing of a free entry');
    words[wordIndex] = ((w0 & ~(ENTRY_TOMBSTONE | SEGMENT_ID_MASK)) | (tombstone ? ENTRY_TOMBSTONE : 0) | segmentId) >>> 0;
    words[wordIndex + 1] = offsetBytes;
  }

  /** Frees an entry of `words`, a table of the last shard found (or of any shard). */
  remove(words: Uint32Array, wordIndex: number): void {
    let shard = this.found;
    if (!shard.holds(words)) {
      const holder = this.shards.find((s) => s.holds(words));
      assert(holder !== undefined, 'remove from a table of the index');
      shard = holder;
    }
    shard.remove(words, wordIndex);
    this.entryCount--;
  }

  /** Frees an entry of `words`, a table of the shard of hash top word `hi` (a scan's entry). */
  removeOfHash(hi: number, words: Uint32Array, wordIndex: number): void {
    const shard = this.shardFor(hi);
    assert(shard.holds(words), 'an entry is removed from a table of its hash\'s shard');
    shard.remove(words, wordIndex);
    this.entryCount--;
  }

  get resizing(): boolean {
    return this.resizingShardCount > 0;
  }

  get usedBytes(): number {
    let bytes = 0;
    for (const shard of this.shards) bytes += shard.usedBytes;
    return bytes;
  }

  get misplacedEntries(): number {
    let count = 0;
    for (const shard of this.shards) count += shard.misplacedEntries;
    return count;
  }

  /**
   * Moves up to `bucketCountMax` old buckets to the new tables of doubling shards: the shard
   * written last first (writes pace their own shard's doubling), then the others in turn.
   * Returns whether a doubling is still under way. A call that may move more than one bucket
   * (a maintain() tick, not the pay-as-you-go step of a write) also allocates at most one shard's
   * next table ahead of its doubling, so the put that starts it does not.
   */
  migrateBuckets(bucketCountMax: number): boolean {
    if (bucketCountMax > 1) this.prepareOne();
    if (this.resizingShardCount === 0) return false;
    let budget = bucketCountMax - this.found.migrateBuckets(bucketCountMax);
    for (let i = 0; i < SHARD_COUNT && budget > 0 && this.resizingShardCount > 0; i++) {
      const shard = this.shards[this.migrateNext];
      budget -= shard.migrateBuckets(budget);
      if (!shard.resizing) this.migrateNext = (this.migrateNext + 1) % SHARD_COUNT;
    }
    return this.resizingShardCount > 0;
  }

  /**
   * Allocates the next table of one shard near its doubling, taking the shards in turn, at most
   * once every PREPARE_TICKS_APART calls: each allocation may start a V8 collection, whose
   * freeing of old tables a following allocation would wait for.
   */
  private prepareOne(): void {
    if (++this.ticksSincePrepare < PREPARE_TICKS_APART) return;
    for (let i = 0; i < SHARD_COUNT; i++) {
      const shard = this.shards[this.prepareNext];
      this.prepareNext = (this.prepareNext + 1) % SHARD_COUNT;
      if (shard.wantsSpare) {
        shard.prepare();
        this.ticksSincePrepare = 0;
        return;
      }
    }
  }

  /**
   * Recovery hint: `entryCountExpected` entries are about to arrive, spread over `hashFraction`
   * of the hash space. An empty index starts at the size they will need (about 4 entries per
   * bucket they use) instead of doubling ~8 times on the way. No-op unless the index is empty.
   */
  presize(entryCountExpected: number, hashFraction: number): void {
    const tables = this.presizedTables(entryCountExpected, hashFraction);
    if (tables !== null) this.adoptPresized(tables);
  }

  /**
   * The tables presize() would install, made but not installed, so that a caller can fault their
   * memory in first, off the event loop (a restart reads zeros into them on the thread pool while
   * it reads its log: docs/durability.md "Restart time"), and install them with adoptPresized().
   * Null when the index is not empty or its tables are already as large.
   */
  presizedTables(entryCountExpected: number, hashFraction: number, shardUsed: (shard: number) => boolean = () => true): IndexTable[] | null {
    if (this.entryCount !== 0 || this.resizingShardCount !== 0 || !(hashFraction > 0)) return null;
    const bucketsWanted = entryCountExpected / (ENTRIES_PER_BUCKET_PRESIZE * Math.min(1, hashFraction) * SHARD_COUNT);
    const bits = Math.min(PRESIZE_BUCKET_BITS_MAX, Math.ceil(Math.log2(Math.max(1, bucketsWanted))));
    const grown = (shard: IndexShard): boolean => shardUsed(shard.shard) && shard.table.bucketBits < bits;
    if (!this.shards.some(grown)) return null;
    // Shards the expected keys do not use keep their tables (adoptPresized leaves them as they are).
    return this.shards.map((shard) => (grown(shard) ? new IndexTable(bits, shard.shard, true) : shard.table));
  }

  /**
   * Installs tables from presizedTables() if the index is still empty and not doubling; returns
   * whether it did (an insert since then keeps the tables in use, and these are dropped: the index
   * then grows by doubling as usual). The tables must be unused: nothing but zeros written.
   */
  adoptPresized(tables: readonly IndexTable[]): boolean {
    assert(tables.length === SHARD_COUNT, 'a table per shard');
    if (this.entryCount !== 0 || this.resizingShardCount !== 0) return false;
    this.shards.forEach((shard, i) => shard.adoptEmpty(tables[i]));
    this.foundTable = this.found.foundTable;
    return true;
  }
}
