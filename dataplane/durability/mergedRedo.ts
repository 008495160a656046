// Merged redo: on a restart, the log tail is read first and its data entries (PUT, DELETE) are
// sorted by key hash; then, while the checkpoints load, each entry is replayed as soon as every
// checkpoint record below its hash is in (RECORDS frames carry that watermark: checkpointFile.ts),
// i.e. moments after its key's checkpoint record was installed, while that record and its index
// bucket are still in the cache. Replayed after the whole load instead, each entry missed the
// cache and the TLB twice (~1 us an entry on a VM: ~100 ms of a 100k-write tail; ~0.4 us merged).
//
// Why it is exact: entries of one key keep their log order (equal hashes sort by their place in
// the logs, logs in replay order), and each is applied after that key's checkpoint record (the
// watermark), so every key sees what sequential replay gives it: checkpoint, then its log entries
// in order, last writer wins. Entries of different keys commute (each carries the state it left).
// Completion records and ACKs are not part of this: they are applied while the log is read, at the
// end of each file (see completionReplay.ts; the checkpoints' completion records are skipped by the
// clients' acknowledged marks either way).
//
// The log's bytes stay in memory until the load ends, so only tails up to
// MERGED_REDO_LOG_BYTES_MAX are merged; longer ones replay after the checkpoints.

import { assert } from '../store/assert.js';
import { WalEntryCursor } from './walEntry.js';

export const MERGED_REDO_LOG_BYTES_MAX = 48 * 1024 * 1024;
/** hashOrder() sorts by the hash's top word in two passes of this many bits (stable: log order kept). */
const RADIX_BITS = 16;
const RADIX_MASK = (1 << RADIX_BITS) - 1;
/** Entries one applyBelow() call replays at most (the log reader's yield interval). */
const APPLY_PER_CALL_MAX = 16_384;
/** Entries whose cache lines applyBelow() touches ahead in one go, and how far into each. */
const TOUCH_AHEAD_ENTRIES = 16;
const ENTRY_TOUCH_BYTES = 192;
const CACHE_LINE_BYTES = 64;

export class MergedRedo {
  private readonly buffers: Buffer[] = [];
  private readonly bufferOf: number[] = [];
  private readonly positions: number[] = [];
  /** Hash top word of each queued entry, by place (seq), [0, count)... */
  private his: Uint32Array = new Uint32Array(4096);
  /** ...its bottom word (the store takes both rather than hashing the key again)... */
  private los: Uint32Array = new Uint32Array(4096);
  /** ...and, once sealed, the places in hash order (log order within a hash). */
  private order: Uint32Array = new Uint32Array(0);
  private count = 0;
  private sealed = false;
  private next = 0;
  private readonly entry = new WalEntryCursor();
  /** Sum of the bytes touch() read (kept so the reads stay). */
  touchSum = 0;

  /** `apply` replays an entry whose key hashes to (hi, lo). */
  constructor(private readonly apply: (entry: WalEntryCursor, hi: number, lo: number) => void) {}

  /** Queues the data entry the cursor is on (its bytes are kept); (hi, lo) is its key's hash. */
  add(entry: WalEntryCursor, hi: number, lo: number): void {
    assert(!this.sealed, 'entries are queued before the load starts');
    if (this.buffers[this.buffers.length - 1] !== entry.bytes) this.buffers.push(entry.bytes);
    const seq = this.count;
    if (seq === this.his.length) {
      this.his = grown(this.his);
      this.los = grown(this.los);
    }
    this.his[seq] = hi;
    this.los[seq] = lo;
    this.count++;
    this.positions.push(entry.at);
    this.bufferOf.push(this.buffers.length - 1);
  }

  /** Sorts the queued entries by hash; nothing may be added after. */
  seal(): void {
    this.order = hashOrder(this.his, this.count);
    this.sealed = true;
  }

  /** Replays queued entries whose hash's top word is below `hi` (at most APPLY_PER_CALL_MAX). */
  applyBelow(hi: number): void {
    assert(this.sealed, 'the merge starts once the log was read');
    const order = this.order;
    const his = this.his;
    const end = Math.min(this.count, this.next + APPLY_PER_CALL_MAX);
    let touchedTo = this.next;
    while (this.next < end && his[order[this.next]] < hi) {
      if (this.next === touchedTo) touchedTo = this.touch(this.next, Math.min(end, this.next + TOUCH_AHEAD_ENTRIES));
      const seq = order[this.next];
      const bytes = this.buffers[this.bufferOf[seq]];
      this.entry.reset(bytes, this.positions[seq], bytes.length);
      this.entry.next();
      this.apply(this.entry, his[seq], this.los[seq]);
      this.next++;
    }
  }

  /**
   * Reads a byte of each cache line of the next entries [from, to) before any is applied: the
   * entries lie in hash order all over the log's buffers, so each one's first access misses the
   * cache; independent loads in one loop overlap their misses instead of paying them one by one.
   * Returns `to`. (The sum only keeps the loads from being optimised away.)
   */
  private touch(from: number, to: number): number {
    const order = this.order;
    let sum = 0;
    for (let i = from; i < to; i++) {
      const seq = order[i];
      const bytes = this.buffers[this.bufferOf[seq]];
      const at = this.positions[seq];
      const last = Math.min(bytes.length, at + ENTRY_TOUCH_BYTES);
      for (let b = at; b < last; b += CACHE_LINE_BYTES) sum += bytes[b];
    }
    this.touchSum = sum;
    return to;
  }

  /** Replays everything still queued, yielding to the event loop between slices. */
  async applyRest(): Promise<void> {
    while (this.next < this.count) {
      this.applyBelow(Infinity);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}

/** A copy of `words` twice as long. */
function grown(words: Uint32Array): Uint32Array {
  const copy = new Uint32Array(2 * words.length);
  copy.set(words);
  return copy;
}

/**
 * The places [0, count) ordered by his[place], places of equal value in ascending order: a
 * least-significant-digit radix sort, two stable counting passes of 16 bits. Stable by
 * construction, with no bound on the entry count (packed float keys needed one). Warm it sorts
 * 100k entries in ~1.7 ms; a restart runs it once, cold, and there it costs about what sorting
 * packed float keys did (7-13 vs 8-16 ms).
 */
function hashOrder(his: Uint32Array, count: number): Uint32Array {
  const byLow = new Uint32Array(count);
  const byHigh = new Uint32Array(count);
  const starts = new Uint32Array(RADIX_MASK + 2);
  countingPass(his, count, null, byLow, starts, 0);
  countingPass(his, count, byLow, byHigh, starts, RADIX_BITS);
  return byHigh;
}

/** Writes `from` (the identity order when null) into `to`, stably ordered by the 16-bit digit of his at `shift`. */
function countingPass(his: Uint32Array, count: number, from: Uint32Array | null, to: Uint32Array, starts: Uint32Array, shift: number): void {
  starts.fill(0);
  for (let i = 0; i < count; i++) starts[((his[i] >>> shift) & RADIX_MASK) + 1]++;
  for (let digit = 1; digit <= RADIX_MASK + 1; digit++) starts[digit] += starts[digit - 1];
  for (let i = 0; i < count; i++) {
    const place = from === null ? i : from[i];
    to[starts[(his[place] >>> shift) & RADIX_MASK]++] = place;
  }
}
