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
// Completion records and ACKs are not part of this: they are applied while the log is read, in log
// order (see completionReplay.ts; the checkpoints' completion records are skipped by the clients'
// acknowledged marks either way).
//
// The log's bytes stay in memory until the load ends, so only tails up to
// MERGED_REDO_LOG_BYTES_MAX are merged; longer ones replay after the checkpoints.

import { assert } from '../store/assert.js';
import { WalEntryCursor } from './walEntry.js';

export const MERGED_REDO_LOG_BYTES_MAX = 48 * 1024 * 1024;
/** Sort keys are hash top word x 2^SEQ_BITS + the entry's place: exact below 2^53. */
const SEQ_BITS = 21;
const SEQ_SPAN = 2 ** SEQ_BITS;
/** Smallest log entry (header, 1-byte key): bounds the entries of a merged tail below 2^SEQ_BITS. */
const ENTRY_BYTES_MIN = 28;
assert(MERGED_REDO_LOG_BYTES_MAX / ENTRY_BYTES_MIN < SEQ_SPAN, 'a merged tail cannot outnumber its sort keys');
/** Entries one applyBelow() call replays at most (the log reader's yield interval). */
const APPLY_PER_CALL_MAX = 16_384;

export class MergedRedo {
  private readonly buffers: Buffer[] = [];
  private readonly bufferOf: number[] = [];
  private readonly positions: number[] = [];
  /** Sort keys of the queued entries, [0, count); sorted in place by seal(). */
  private keys = new Float64Array(4096);
  private count = 0;
  private sealed = false;
  private next = 0;
  private readonly entry = new WalEntryCursor();

  constructor(private readonly apply: (entry: WalEntryCursor) => void) {}

  /** Queues the data entry the cursor is on (its bytes are kept); `hi` is its key hash's top word. */
  add(entry: WalEntryCursor, hi: number): void {
    assert(!this.sealed, 'entries are queued before the load starts');
    if (this.buffers[this.buffers.length - 1] !== entry.bytes) this.buffers.push(entry.bytes);
    const seq = this.count;
    assert(seq < SEQ_SPAN, 'a merged tail stays within its sort keys');
    if (seq === this.keys.length) {
      const grown = new Float64Array(2 * seq);
      grown.set(this.keys);
      this.keys = grown;
    }
    this.keys[this.count++] = hi * SEQ_SPAN + seq;
    this.positions.push(entry.at);
    this.bufferOf.push(this.buffers.length - 1);
  }

  /** Sorts the queued entries by hash; nothing may be added after. */
  seal(): void {
    this.keys = this.keys.subarray(0, this.count).sort();
    this.sealed = true;
  }

  /** Replays queued entries whose hash's top word is below `hi` (at most APPLY_PER_CALL_MAX). */
  applyBelow(hi: number): void {
    assert(this.sealed, 'the merge starts once the log was read');
    const limit = hi * SEQ_SPAN;
    const sorted = this.keys;
    const end = Math.min(this.count, this.next + APPLY_PER_CALL_MAX);
    while (this.next < end && sorted[this.next] < limit) {
      const seq = sorted[this.next] % SEQ_SPAN;
      const bytes = this.buffers[this.bufferOf[seq]];
      this.entry.reset(bytes, this.positions[seq], bytes.length);
      this.entry.next();
      this.apply(this.entry);
      this.next++;
    }
  }

  /** Replays everything still queued, yielding to the event loop between slices. */
  async applyRest(): Promise<void> {
    while (this.next < this.count) {
      this.applyBelow(Infinity);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}
