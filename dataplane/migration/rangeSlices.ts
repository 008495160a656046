// A migrating range cut into at most SLICES_MAX slices of equal width in hash space (by the
// hash's top 32 bits), and sets of slices as bitmaps. The pre-copy (docs/migration.md, "Pre-copy")
// tracks which parts of the range were written after they were copied at this granularity: a
// bounded bitmap, however many keys are written. Both pods compute the same slices from the range.

import { toBounds, type HashRange, type HashRangeBounds } from '../../proto/keyspace/range.js';

/** 32 KiB of bitmap per migration; ~4 keys per slice for 1M keys in the whole keyspace. */
export const SLICES_MAX = 1 << 18;

export class RangeSlices {
  readonly bounds: HashRangeBounds;
  /** Width of a slice in top-word units. */
  readonly widthHi: number;
  readonly count: number;

  constructor(readonly range: HashRange) {
    this.bounds = toBounds(range);
    const { startHi, endHi, endLo } = this.bounds;
    const spanHi = (endLo > 0 ? endHi + 1 : endHi) - startHi;
    this.widthHi = Math.max(1, Math.ceil(spanHi / SLICES_MAX));
    this.count = Math.ceil(spanHi / this.widthHi);
  }

  /** The slice a hash of the range falls in (by its top word). */
  sliceOf(hi: number): number {
    return Math.floor(((hi >>> 0) - this.bounds.startHi) / this.widthHi);
  }

  /** The top word at which slice `slice` starts (slice `count`: past the range). */
  startHiOf(slice: number): number {
    return this.bounds.startHi + slice * this.widthHi;
  }

  /** The slices [first, end) as a hash range, clipped to the range. */
  hashRange(first: number, end: number): HashRange {
    const start = BigInt(this.startHiOf(first)) << 32n;
    const stop = BigInt(this.startHiOf(end)) << 32n;
    return { start: start > this.range.start ? start : this.range.start, end: stop < this.range.end ? stop : this.range.end };
  }
}

/** A set of slices of one range, as a bitmap. */
export class SliceSet {
  private readonly bits: Uint32Array;
  size = 0;

  constructor(readonly capacity: number) {
    this.bits = new Uint32Array(Math.ceil(capacity / 32));
  }

  static of(capacity: number, slices: Iterable<number>): SliceSet {
    const set = new SliceSet(capacity);
    for (const slice of slices) set.add(slice);
    return set;
  }

  has(slice: number): boolean {
    return (this.bits[slice >>> 5] & (1 << (slice & 31))) !== 0;
  }

  add(slice: number): void {
    if (slice < 0 || slice >= this.capacity) throw new RangeError(`slice ${slice} outside [0, ${this.capacity})`);
    const word = slice >>> 5;
    const bit = 1 << (slice & 31);
    if ((this.bits[word] & bit) !== 0) return;
    this.bits[word] |= bit;
    this.size++;
  }

  delete(slice: number): void {
    if (!this.has(slice)) return;
    this.bits[slice >>> 5] &= ~(1 << (slice & 31));
    this.size--;
  }

  /** The slices in increasing order. */
  *[Symbol.iterator](): IterableIterator<number> {
    for (let word = 0; word < this.bits.length; word++) {
      let w = this.bits[word];
      while (w !== 0) {
        const low = w & -w;
        yield word * 32 + 31 - Math.clz32(low);
        w ^= low;
      }
    }
  }
}

/** A list of slices on the wire: packed little-endian uint32s. */
export function encodeSlices(slices: Iterable<number>): Buffer {
  const list = Uint32Array.from(slices);
  return Buffer.from(list.buffer, list.byteOffset, list.byteLength);
}

export function decodeSlices(bytes: Uint8Array, capacity: number): number[] {
  if (bytes.length % 4 !== 0) throw new RangeError(`a slice list of ${bytes.length} bytes is not a list of uint32s`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const slices: number[] = [];
  for (let at = 0; at < bytes.length; at += 4) {
    const slice = view.getUint32(at, true);
    if (slice >= capacity) throw new RangeError(`slice ${slice} outside the range's ${capacity} slices`);
    slices.push(slice);
  }
  return slices;
}
