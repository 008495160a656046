// Hash ranges: the keyspace [0, 2^64) cut into half-open ranges [start, end).
//
// Bounds are bigints at the edges (configuration, routing tables, custom resources) and
// pairs of unsigned 32-bit numbers on hot paths. The exclusive end 2^64 does not fit in 64 bits,
// so its `hi` half is 2^32, which a JavaScript number holds exactly and which compares greater
// than every real `hi` half.

export const KEYSPACE_END = 1n << 64n;
const TWO_POW_32 = 0x1_0000_0000;

export interface HashRange {
  /** Inclusive lower bound, 0 ≤ start < end. */
  readonly start: bigint;
  /** Exclusive upper bound, end ≤ 2^64. */
  readonly end: bigint;
}

/** A range's bounds split into 32-bit halves for comparisons without BigInt. */
export interface HashRangeBounds {
  readonly startHi: number;
  readonly startLo: number;
  /** 2^32 when end is 2^64. */
  readonly endHi: number;
  readonly endLo: number;
}

export function isValidRange(range: HashRange): boolean {
  return range.start >= 0n && range.start < range.end && range.end <= KEYSPACE_END;
}

export function assertValidRange(range: HashRange): void {
  if (!isValidRange(range)) {
    throw new RangeError(`invalid hash range [${range.start}, ${range.end}): need 0 <= start < end <= 2^64`);
  }
}

export function toBounds(range: HashRange): HashRangeBounds {
  assertValidRange(range);
  return {
    startHi: Number(range.start >> 32n),
    startLo: Number(range.start & 0xffff_ffffn),
    endHi: range.end === KEYSPACE_END ? TWO_POW_32 : Number(range.end >> 32n),
    endLo: range.end === KEYSPACE_END ? 0 : Number(range.end & 0xffff_ffffn),
  };
}

/** Whether the hash (hi, lo) lies in [start, end). */
export function boundsContain(bounds: HashRangeBounds, hi: number, lo: number): boolean {
  const aboveStart = hi > bounds.startHi || (hi === bounds.startHi && lo >= bounds.startLo);
  const belowEnd = hi < bounds.endHi || (hi === bounds.endHi && lo < bounds.endLo);
  return aboveStart && belowEnd;
}

export function rangeContains(range: HashRange, hash: bigint): boolean {
  return hash >= range.start && hash < range.end;
}

/** Whether two ranges share a hash (half-open: ranges that only touch do not). */
export function rangesOverlap(a: HashRange, b: HashRange): boolean {
  return a.start < b.end && b.start < a.end;
}

/** Cuts the whole keyspace into `count` contiguous ranges of (nearly) equal width. */
export function evenSplit(count: number): HashRange[] {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`range count must be a positive integer, got ${count}`);
  const ranges: HashRange[] = [];
  const n = BigInt(count);
  for (let i = 0n; i < n; i++) {
    ranges.push({ start: (KEYSPACE_END * i) / n, end: (KEYSPACE_END * (i + 1n)) / n });
  }
  return ranges;
}

export function formatRange(range: HashRange): string {
  const hex = (v: bigint): string => '0x' + v.toString(16).padStart(16, '0');
  return `[${hex(range.start)}, ${range.end === KEYSPACE_END ? '2^64' : hex(range.end)})`;
}
