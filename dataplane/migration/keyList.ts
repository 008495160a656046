// Keys collected by a scan, to act on after it (dropRecords deletes them once the scan is done: a
// delete during the scan would change the buckets under it). The keys' bytes go one after another
// into one buffer, their places into two typed arrays, so collecting a key allocates nothing once
// the list has grown to the size of a call's keys (keys up to 32 bytes; a longer one's native copy
// makes a view in Node 20: proto/copyBytes.ts). A drop of 1M keys used to make a Buffer per key:
// ~90 MB of garbage on the source while it still served. The list is reused; its memory is
// given back after a call that grew it past RETAINED_BYTES_MAX.

import { assert } from '../store/assert.js';
import { copyBytes } from '../../proto/copyBytes.js';

const INITIAL_BYTES = 64 * 1024;
const INITIAL_KEYS = 4096;
/** Capacity kept between calls; a larger list (a purge of a big slice) is dropped after use. */
const RETAINED_BYTES_MAX = 4 * 1024 * 1024;

export class KeyList {
  private bytesCapacity: Buffer = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  private offsets = new Uint32Array(INITIAL_KEYS);
  private lengths = new Uint32Array(INITIAL_KEYS);
  private usedBytes = 0;
  count = 0;

  get bytes(): Buffer {
    return this.bytesCapacity;
  }

  add(source: Uint8Array, offset: number, length: number): void {
    if (this.usedBytes + length > this.bytesCapacity.length) this.growBytes(this.usedBytes + length);
    if (this.count === this.offsets.length) this.growKeys();
    copyBytes(source, offset, length, this.bytesCapacity, this.usedBytes);
    this.offsets[this.count] = this.usedBytes;
    this.lengths[this.count] = length;
    this.usedBytes += length;
    this.count++;
  }

  offsetOf(i: number): number {
    return this.offsets[i];
  }

  lengthOf(i: number): number {
    return this.lengths[i];
  }

  /** A copy of key i (for reports: it outlives the list's reuse). */
  copyOf(i: number): Buffer {
    assert(i < this.count, 'a listed key');
    return Buffer.from(this.bytesCapacity.subarray(this.offsets[i], this.offsets[i] + this.lengths[i]));
  }

  /** Empties the list for the next call, giving back memory past RETAINED_BYTES_MAX. */
  clear(): void {
    this.count = 0;
    this.usedBytes = 0;
    if (this.bytesCapacity.length + 8 * this.offsets.length > RETAINED_BYTES_MAX) {
      this.bytesCapacity = Buffer.allocUnsafeSlow(INITIAL_BYTES);
      this.offsets = new Uint32Array(INITIAL_KEYS);
      this.lengths = new Uint32Array(INITIAL_KEYS);
    }
  }

  private growBytes(needed: number): void {
    const bigger = Buffer.allocUnsafeSlow(Math.max(needed, 2 * this.bytesCapacity.length));
    this.bytesCapacity.copy(bigger, 0, 0, this.usedBytes);
    this.bytesCapacity = bigger;
  }

  private growKeys(): void {
    const offsets = new Uint32Array(2 * this.offsets.length);
    const lengths = new Uint32Array(2 * this.lengths.length);
    offsets.set(this.offsets);
    lengths.set(this.lengths);
    this.offsets = offsets;
    this.lengths = lengths;
  }
}
