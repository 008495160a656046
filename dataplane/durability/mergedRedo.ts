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
  /** Queued entries, by place (seq), [0, count): the buffer each lies in, its position there... */
  private bufferOf: Uint32Array = new Uint32Array(4096);
  private positions: Uint32Array = new Uint32Array(4096);
  /** ...the top word of its key's hash... */
  private his: Uint32Array = new Uint32Array(4096);
  /** ...and the bottom word (the store takes both rather than hashing the key again). */
  private los: Uint32Array = new Uint32Array(4096);
  private count = 0;
  /**
   * How many queued entries have each value of the top word's low and high 16 bits (at digit + 1):
   * the radix sort's two counting passes, done as entries are queued. At seal() they were two cold
   * loops over the tail, run once each (~3-5 ms of a 100k-entry tail: "Session 9" in docs/durability.md).
   */
  private readonly lowDigits = new Uint32Array(RADIX_MASK + 2);
  private readonly highDigits = new Uint32Array(RADIX_MASK + 2);
  private sealed = false;
  /** Once sealed: the same four, in hash order (log order within a hash), read front to back. */
  private sorted: SortedEntries | null = null;
  private next = 0;
  private readonly entry = new WalEntryCursor();
  /** Sum of the bytes touch() read (kept so the reads stay). */
  touchSum = 0;

  /** `apply` replays an entry whose key hashes to (hi, lo). */
  constructor(private readonly apply: (entry: WalEntryCursor, hi: number, lo: number) => void) {}

  /** Queues the data entry the cursor is on (its bytes are kept); (hi, lo) is its key's hash. */
  add(entry: WalEntryCursor, hi: number, lo: number): void {
    assert(!this.sealed, 'entries are queued before the load starts');
    assert(entry.at <= 0xffff_ffff, 'log buffers stay below 4 GiB');
    if (this.buffers[this.buffers.length - 1] !== entry.bytes) this.buffers.push(entry.bytes);
    const seq = this.count;
    if (seq === this.his.length) {
      this.his = grown(this.his);
      this.los = grown(this.los);
      this.positions = grown(this.positions);
      this.bufferOf = grown(this.bufferOf);
    }
    this.his[seq] = hi;
    this.lowDigits[(hi & RADIX_MASK) + 1]++;
    this.highDigits[(hi >>> RADIX_BITS) + 1]++;
    this.los[seq] = lo;
    this.positions[seq] = entry.at;
    this.bufferOf[seq] = this.buffers.length - 1;
    this.count++;
  }

  /** Sorts the queued entries by hash; nothing may be added after. */
  seal(): void {
    const by = { his: this.his, los: this.los, positions: this.positions, bufferOf: this.bufferOf };
    this.sorted = hashOrder(by, this.count, this.lowDigits, this.highDigits);
    this.sealed = true;
    this.his = this.los = this.positions = this.bufferOf = new Uint32Array(0);
  }

  /** Replays queued entries whose hash's top word is below `hi` (at most APPLY_PER_CALL_MAX). */
  applyBelow(hi: number): void {
    assert(this.sealed && this.sorted !== null, 'the merge starts once the log was read');
    const { his, los, positions, bufferOf } = this.sorted;
    const end = Math.min(this.count, this.next + APPLY_PER_CALL_MAX);
    let touchedTo = this.next;
    while (this.next < end && his[this.next] < hi) {
      if (this.next === touchedTo) touchedTo = this.touch(this.sorted, this.next, Math.min(end, this.next + TOUCH_AHEAD_ENTRIES));
      const bytes = this.buffers[bufferOf[this.next]];
      this.entry.reset(bytes, positions[this.next], bytes.length);
      this.entry.next();
      this.apply(this.entry, his[this.next], los[this.next]);
      this.next++;
    }
  }

  /**
   * Reads a byte of each cache line of the next entries [from, to) before any is applied: the
   * entries lie in hash order all over the log's buffers, so each one's first access misses the
   * cache; independent loads in one loop overlap their misses instead of paying them one by one.
   * Returns `to`. (The sum only keeps the loads from being optimised away.)
   */
  private touch(sorted: SortedEntries, from: number, to: number): number {
    let sum = 0;
    for (let i = from; i < to; i++) {
      const bytes = this.buffers[sorted.bufferOf[i]];
      const at = sorted.positions[i];
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

/** Queued entries' fields, one array each, indexed alike. */
interface SortedEntries {
  readonly his: Uint32Array;
  readonly los: Uint32Array;
  readonly positions: Uint32Array;
  readonly bufferOf: Uint32Array;
}

/**
 * The entries [0, count) of `by` ordered by his, entries of equal his in their order: a
 * least-significant-digit radix sort, two stable counting passes of 16 bits. Stable by
 * construction, with no bound on the entry count (packed float keys needed one). The second pass
 * writes the entries' fields themselves in hash order, not their places, so applyBelow reads four
 * arrays front to back instead of gathering from them at random (walking a 100k-entry tail took
 * 40 -> 22 ms: "Session 8" in docs/durability.md).
 */
function hashOrder(by: SortedEntries, count: number, lowDigits: Uint32Array, highDigits: Uint32Array): SortedEntries {
  const byLow = new Uint32Array(count);
  const lowStarts = startsOf(lowDigits, count);
  for (let i = 0; i < count; i++) byLow[lowStarts[by.his[i] & RADIX_MASK]++] = i;
  const starts = startsOf(highDigits, count);
  const sorted: SortedEntries = { his: new Uint32Array(count), los: new Uint32Array(count), positions: new Uint32Array(count), bufferOf: new Uint32Array(count) };
  for (let i = 0; i < count; i++) {
    const place = byLow[i];
    const hi = by.his[place];
    const to = starts[hi >>> RADIX_BITS]++;
    sorted.his[to] = hi;
    sorted.los[to] = by.los[place];
    sorted.positions[to] = by.positions[place];
    sorted.bufferOf[to] = by.bufferOf[place];
  }
  return sorted;
}

/**
 * Turns digit counts (the count of digit d at d + 1, as MergedRedo.add keeps them) into starts:
 * starts[d] = entries whose digit is below d. Asserts the counts cover the `count` entries.
 */
function startsOf(digits: Uint32Array, count: number): Uint32Array {
  assert(digits[0] === 0, 'digit counts start at index 1');
  for (let digit = 1; digit <= RADIX_MASK + 1; digit++) digits[digit] += digits[digit - 1];
  assert(digits[RADIX_MASK + 1] === count, 'every queued entry was counted once');
  return digits;
}
