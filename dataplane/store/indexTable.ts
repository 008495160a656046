// The hash index's table layout (FASTER style): an open hash table of 8-byte entries in typed
// arrays. It stores no keys, only a tag from the key hash and the record's log address; key
// comparison happens in the log. Buckets are chosen by the TOP bits of the hash, so a hash range
// is a contiguous run of buckets and migration, checkpoints and accounting of a range visit only
// its buckets. The index is SHARD_COUNT shards by the top SHARD_BITS of the hash, each with its
// own table (see hashIndex.ts); a table's bucket bits are the bits after the shard bits.
//
//  entry word 0: [1 used][1 tombstone][14-bit tag][16-bit segment id]
//  entry word 1: [32-bit byte offset of the record in its segment]
//
//  bucket (64 bytes, one cache line): 16 words
//  +---------+---------+-----+---------+---------------------+-------------------------+
//  | entry 0 | entry 1 | ... | entry 6 | overflow link (w14) | high bits of 0..6 (w15) |
//  +---------+---------+-----+---------+---------------------+-------------------------+
//
//  word 15: [4 unused][4 bits of entry 6]...[4 bits of entry 0]: bits 14..17 of each entry's
//  `hi`, the 4 bits just above its tag (written with the entry, left stale when it is freed).
//
// The tag is the low 14 bits of the hash's top word (`hi`). Buckets take the top bits of that
// word (shard bits, then table bits: k bits in all for 2^k buckets over all shards), so below
// 2^18 buckets tag and bucket bits are disjoint; from 2^19 buckets up they overlap, and the
// overlap is what makes large doublings cheap: the bit that splits a bucket is bit 31 - k of
// `hi`, which for k >= 18 is a tag bit, so the entry moves without reading its key from the log.
// (At 2^21 buckets, 10M keys, 11 tag bits still tell keys of a bucket apart: a false match costs
// one key comparison in 1 of ~2000 entries.) Several entries of a bucket may share a tag (unlike
// FASTER, which chains colliding keys through the records): that keeps records free of a
// previous-address field, 8 bytes per key.
//
// Overflow buckets live in the same array after the main buckets; the overflow area has as many
// buckets as the main area but costs no resident memory until used (large typed arrays are
// calloc'd, so untouched pages are never faulted in). Links hold the overflow bucket's number.

import { assert } from './assert.js';

export const BUCKET_WORDS = 16;
export const ENTRIES_PER_BUCKET = 7;
export const LINK_WORD = 14;
/** The bucket's last word: 4 high bits per entry (see the layout above). */
export const HIGH_BITS_WORD = 15;
/** Bits of `hi` above the tag kept per entry: bits TAG_BITS_TOP + 1 .. HIGH_BITS_TOP. */
export const HIGH_BITS_PER_ENTRY = 4;
const HIGH_BITS_MASK = 0xf;
export const ENTRY_USED = 0x8000_0000;
export const ENTRY_TOMBSTONE = 0x4000_0000;
export const TAG_SHIFT = 16;
export const TAG_MASK = 0x3fff;
export const SEGMENT_ID_MASK = 0xffff;
/** The tag holds bits 0..13 of the hash's top word. */
export const TAG_BITS_TOP = 13;
/** The highest bit of `hi` an entry keeps in its bucket's HIGH_BITS_WORD. */
export const HIGH_BITS_TOP = TAG_BITS_TOP + HIGH_BITS_PER_ENTRY;
/** Bits compared when matching a tag: used + tag, not the tombstone bit nor the segment id. */
export const MATCH_MASK = (ENTRY_USED | (TAG_MASK << TAG_SHIFT)) | 0;
/** Average entries per bucket that starts a doubling. */
export const ENTRIES_PER_BUCKET_GROW = 5;
/** A presized table (HashIndex.presizedTables) is made for at most this many of the expected entries per bucket. */
export const ENTRIES_PER_BUCKET_PRESIZE = 4;
/** Shards of the index, by the top bits of the hash (see hashIndex.ts). */
export const SHARD_BITS = 4;
export const SHARD_COUNT = 2 ** SHARD_BITS;
/** Bucket bits of one shard's table: from one bucket (a 16-bucket index) to 2^26 buckets over all shards. */
export const BUCKET_BITS_MIN = 0;
export const BUCKET_BITS_MAX = 26 - SHARD_BITS;

assert(LINK_WORD === ENTRIES_PER_BUCKET * 2, 'the link follows the last entry');
assert(HIGH_BITS_WORD === BUCKET_WORDS - 1 && ENTRIES_PER_BUCKET * HIGH_BITS_PER_ENTRY <= 31, 'every entry\'s high bits fit in the bucket\'s last word');
assert(ENTRIES_PER_BUCKET_PRESIZE < ENTRIES_PER_BUCKET_GROW, 'a presized table holds its expected entries without doubling');
assert(BUCKET_BITS_MIN >= 0 && SHARD_BITS + BUCKET_BITS_MAX <= 26, 'bucket numbers over all shards fit in 26 bits');
assert(TAG_MASK === 2 ** (TAG_BITS_TOP + 1) - 1, 'the tag is the low bits of the top hash word');
assert((ENTRY_USED | ENTRY_TOMBSTONE | (TAG_MASK << TAG_SHIFT) | SEGMENT_ID_MASK) === -1, 'entry word 0 bits are all assigned');

/** Computes the top 32 bits of the hash of the key stored at a log address. */
export interface KeyHashSource {
  hashHiAt(segmentId: number, offsetBytes: number): number;
}

/** One shard's table: 2^bucketBits main buckets and as many overflow buckets. */
export class IndexTable {
  readonly bucketBits: number;
  readonly bucketCount: number;
  readonly words: Uint32Array;
  /** Next unused overflow bucket number; overflow buckets are [bucketCount, overflowEnd). */
  overflowNext: number;
  readonly overflowEnd: number;
  /** `hi >>> shift` is the bucket's number over all shards... */
  private readonly shift: number;
  /** ...and this is the number of the shard's first bucket. */
  private readonly firstBucket: number;

  /** `presized`: made by HashIndex.presizedTables for an expected load, not by a doubling (see IndexShard.wantsSpare). */
  constructor(bucketBits: number, readonly shard: number, readonly presized = false) {
    assert(bucketBits >= BUCKET_BITS_MIN && bucketBits <= BUCKET_BITS_MAX, `bucket bits ${bucketBits} out of range`);
    assert(Number.isInteger(shard) && shard >= 0 && shard < SHARD_COUNT, `shard ${shard} out of range`);
    this.bucketBits = bucketBits;
    this.bucketCount = 2 ** bucketBits;
    this.overflowNext = this.bucketCount;
    this.overflowEnd = this.bucketCount * 2;
    // A presized table's memory is shared, so that a worker thread can fault it in (a restart's
    // FrameReaders.touch: docs/durability.md "Session 13"); shared or not, untouched pages stay unmapped.
    const bytes = this.overflowEnd * BUCKET_WORDS * 4;
    this.words = new Uint32Array(presized ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    this.shift = 32 - SHARD_BITS - bucketBits;
    this.firstBucket = shard * this.bucketCount;
  }

  /** The memory of the home buckets (the overflow area after them is used only as chains grow). */
  homeBucketBytes(): Uint8Array {
    return new Uint8Array(this.words.buffer, this.words.byteOffset, this.bucketCount * BUCKET_WORDS * 4);
  }

  /** The bucket of a hash in this shard; outside [0, bucketCount) for a hash of another shard. */
  bucketOf(hi: number): number {
    return (hi >>> this.shift) - this.firstBucket;
  }

  /** Bits of the hash's top word that choose a bucket of this table, shard bits included. */
  get hashBits(): number {
    return SHARD_BITS + this.bucketBits;
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

/**
 * Entry word 0 as an int32 (storing it in the Uint32Array wraps it to the same bits). As a uint32
 * it would exceed 2^31 (the used bit), which V8 returns as a heap number: 16 bytes of garbage
 * per insert, and scavenges inside puts.
 */
export function packEntry(hi: number, segmentId: number, tombstone: boolean): number {
  return ENTRY_USED | (tombstone ? ENTRY_TOMBSTONE : 0) | ((hi & TAG_MASK) << TAG_SHIFT) | segmentId;
}

/**
 * Writes a new entry for a key whose hash's top word is `hi` into the free slot at `wordIndex`:
 * both words, and its high bits in the bucket's HIGH_BITS_WORD. A doubling's move copies the
 * words and the high bits instead (setHighBits).
 */
export function writeEntry(words: Uint32Array, wordIndex: number, hi: number, segmentId: number, offsetBytes: number, tombstone: boolean): void {
  words[wordIndex] = packEntry(hi, segmentId, tombstone);
  words[wordIndex + 1] = offsetBytes;
  writeHighBits(words, wordIndex, hi);
}

/** Records the high bits of `hi` for the entry at `wordIndex` (its word 0) in its bucket's HIGH_BITS_WORD. */
function writeHighBits(words: Uint32Array, wordIndex: number, hi: number): void {
  setHighBits(words, wordIndex, (hi >>> (TAG_BITS_TOP + 1)) & HIGH_BITS_MASK);
}

/** The high bits stored for the entry at `wordIndex`, as written by writeHighBits. */
export function highBitsOf(words: Uint32Array, wordIndex: number): number {
  return (words[wordIndex | HIGH_BITS_WORD] >>> highBitsShift(wordIndex)) & HIGH_BITS_MASK;
}

/** Stores high bits read with highBitsOf for the entry at `wordIndex` (an entry moved to another slot). */
export function setHighBits(words: Uint32Array, wordIndex: number, highBits: number): void {
  const at = wordIndex | HIGH_BITS_WORD;
  const shift = highBitsShift(wordIndex);
  words[at] = (words[at] & ~(HIGH_BITS_MASK << shift)) | (highBits << shift);
}

/** Entry e of a bucket starts at word 2e, and its high bits at bit 4e of the bucket's last word. */
function highBitsShift(wordIndex: number): number {
  return (wordIndex & (BUCKET_WORDS - 1)) * (HIGH_BITS_PER_ENTRY / 2);
}
