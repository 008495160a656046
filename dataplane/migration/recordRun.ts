// A run of live records copied out of the engine as they lie in its log (header, key, value,
// padding: dataplane/store/layout.ts), packed back to back: what MoveData carries. The target
// installs them with the engine's bulk load (dataplane/store/bulkLoad.ts) — no re-encoding on
// either side and no checksum recomputed (each record keeps the one it was written with).

import type { RecordRef } from '../store/index.js';

const INITIAL_BYTES = 64 * 1024;

export class RecordRun {
  /** Word aligned (allocUnsafeSlow: never a slice of the shared pool). */
  private buffer: Buffer;
  private words: Int32Array;
  length = 0;
  records = 0;

  /**
   * `chunkBytes`: the size a scan fills the run to (a chunk); the run starts with room for that
   * plus `slackBytes` (the record that crosses it), so it rarely grows.
   */
  constructor(readonly chunkBytes = INITIAL_BYTES, slackBytes = 0) {
    const capacityBytes = chunkBytes + slackBytes;
    this.buffer = Buffer.allocUnsafeSlow(capacityBytes);
    this.words = new Int32Array(this.buffer.buffer, this.buffer.byteOffset, this.buffer.length >> 2);
  }

  /** Starts a new run in the same memory (the previous run's view must no longer be in use). */
  reset(): void {
    this.length = 0;
    this.records = 0;
  }

  /**
   * Appends the record `ref` points at (a scan's record, checksum valid), word by word from
   * `segmentWords`, the Int32 view of its segment: records are word aligned, and Buffer.copy of a
   * part of a buffer allocates a view per call (a million per range: young-generation GCs).
   */
  append(ref: RecordRef, segmentWords: Int32Array): void {
    const size = ref.recordBytes;
    if (this.length + size > this.buffer.length) this.grow(this.length + size);
    const words = this.words;
    const from = ref.recordOffset >> 2;
    const to = this.length >> 2;
    const count = size >> 2;
    for (let i = 0; i < count; i++) words[to + i] = segmentWords[from + i];
    this.length += size;
    this.records++;
  }

  /** The run so far (a view: valid until the next append). */
  view(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  private grow(needed: number): void {
    let size = this.buffer.length * 2;
    while (size < needed) size *= 2;
    const bigger = Buffer.allocUnsafeSlow(size);
    this.buffer.copy(bigger, 0, 0, this.length);
    this.buffer = bigger;
    this.words = new Int32Array(bigger.buffer, bigger.byteOffset, bigger.length >> 2);
  }
}
