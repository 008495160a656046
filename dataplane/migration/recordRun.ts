// A run of live records copied out of the engine as they lie in its log (header, key, value,
// padding: dataplane/store/layout.ts), packed back to back: what MoveData carries. The target
// installs them with the engine's bulk load (dataplane/store/bulkLoad.ts) — no re-encoding on
// either side and no checksum recomputed (each record keeps the one it was written with).

import type { RecordRef } from '../store/index.js';

const INITIAL_BYTES = 64 * 1024;

export class RecordRun {
  /** Word aligned (allocUnsafeSlow: never a slice of the shared pool). */
  private buffer: Buffer;
  length = 0;
  records = 0;

  /** `capacityBytes`: what a run usually reaches (a chunk's size plus a record), so it rarely grows. */
  constructor(capacityBytes = INITIAL_BYTES) {
    this.buffer = Buffer.allocUnsafeSlow(capacityBytes);
  }

  /** Starts a new run in the same memory (the previous run's view must no longer be in use). */
  reset(): void {
    this.length = 0;
    this.records = 0;
  }

  /** Appends the record `ref` points at (a scan's record, checksum valid). */
  append(ref: RecordRef): void {
    const size = ref.recordBytes;
    if (this.length + size > this.buffer.length) this.grow(this.length + size);
    ref.bytes.copy(this.buffer, this.length, ref.recordOffset, ref.recordOffset + size);
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
  }
}
