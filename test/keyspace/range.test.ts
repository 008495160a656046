// Hash range arithmetic: half-open [start, end) over [0, 2^64), with the exclusive end 2^64
// represented as hi = 2^32 in the 32-bit bounds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  KEYSPACE_END, assertValidRange, boundsContain, evenSplit, formatRange, isValidRange, rangeContains, rangesOverlap, toBounds, type HashRange,
} from '../../proto/keyspace/range.js';
import { Random } from '../support/random.js';
import { replayHint, seedFromEnvironment } from '../support/environment.js';

const TWO_POW_32 = 0x1_0000_0000;
const MAX_HASH = KEYSPACE_END - 1n;

function contains(range: HashRange, hash: bigint): boolean {
  return boundsContain(toBounds(range), Number(hash >> 32n), Number(hash & 0xffff_ffffn));
}

test('evenSplit: one range is the whole keyspace', () => {
  assert.deepEqual(evenSplit(1), [{ start: 0n, end: KEYSPACE_END }]);
});

test('evenSplit: ranges are contiguous, cover [0, 2^64) and differ in width by at most one', () => {
  for (const count of [2, 3, 5, 7, 16, 100, 1000, 4097]) {
    const ranges = evenSplit(count);
    assert.equal(ranges.length, count);
    assert.equal(ranges[0].start, 0n);
    assert.equal(ranges[count - 1].end, KEYSPACE_END);
    let widthMin = KEYSPACE_END;
    let widthMax = 0n;
    for (let i = 0; i < count; i++) {
      assert.ok(isValidRange(ranges[i]), `range ${i} of ${count} valid`);
      if (i > 0) assert.equal(ranges[i].start, ranges[i - 1].end, `range ${i} of ${count} starts where the previous ends`);
      const width = ranges[i].end - ranges[i].start;
      if (width < widthMin) widthMin = width;
      if (width > widthMax) widthMax = width;
    }
    assert.ok(widthMax - widthMin <= 1n, `widths of ${count} ranges within 1: ${widthMin}..${widthMax}`);
  }
  assert.deepEqual(evenSplit(2), [{ start: 0n, end: 1n << 63n }, { start: 1n << 63n, end: KEYSPACE_END }]);
});

test('evenSplit: rejects counts that are not positive integers', () => {
  for (const count of [0, -1, 1.5, Number.NaN, Infinity]) assert.throws(() => evenSplit(count), RangeError, String(count));
});

test('toBounds: splits bounds into 32-bit halves; end 2^64 becomes hi 2^32, lo 0', () => {
  assert.deepEqual(toBounds({ start: 0n, end: KEYSPACE_END }), { startHi: 0, startLo: 0, endHi: TWO_POW_32, endLo: 0 });
  assert.deepEqual(toBounds({ start: MAX_HASH, end: KEYSPACE_END }), {
    startHi: 0xffff_ffff, startLo: 0xffff_ffff, endHi: TWO_POW_32, endLo: 0,
  });
  assert.deepEqual(toBounds({ start: 0x1234_5678_9abc_def0n, end: 0xffff_ffff_0000_0001n }), {
    startHi: 0x1234_5678, startLo: 0x9abc_def0, endHi: 0xffff_ffff, endLo: 1,
  });
  assert.deepEqual(toBounds({ start: 0n, end: 1n }), { startHi: 0, startLo: 0, endHi: 0, endLo: 1 });
  assert.deepEqual(toBounds({ start: 0n, end: 1n << 32n }), { startHi: 0, startLo: 0, endHi: 1, endLo: 0 });
});

test('toBounds: rejects empty, reversed, negative and beyond-2^64 ranges', () => {
  const invalid: HashRange[] = [
    { start: 5n, end: 5n }, { start: 6n, end: 5n }, { start: -1n, end: 5n },
    { start: 0n, end: KEYSPACE_END + 1n }, { start: KEYSPACE_END, end: KEYSPACE_END },
  ];
  for (const range of invalid) {
    assert.equal(isValidRange(range), false, `${range.start}..${range.end}`);
    assert.throws(() => toBounds(range), RangeError);
    assert.throws(() => assertValidRange(range), RangeError);
  }
});

test('boundsContain: edges of ranges, incl. end = 2^64 and ends on 32-bit word boundaries', () => {
  const whole = { start: 0n, end: KEYSPACE_END };
  for (const hash of [0n, 1n, 0xffff_ffffn, 1n << 32n, MAX_HASH]) assert.ok(contains(whole, hash), hex(hash));
  const top = { start: MAX_HASH, end: KEYSPACE_END };
  assert.ok(contains(top, MAX_HASH));
  assert.ok(!contains(top, MAX_HASH - 1n));
  const wordEdge = { start: 3n << 32n, end: 5n << 32n };
  assert.ok(!contains(wordEdge, (3n << 32n) - 1n));
  assert.ok(contains(wordEdge, 3n << 32n));
  assert.ok(contains(wordEdge, (5n << 32n) - 1n));
  assert.ok(!contains(wordEdge, 5n << 32n));
  const inWord = { start: (7n << 32n) | 10n, end: (7n << 32n) | 20n };
  assert.ok(!contains(inWord, (7n << 32n) | 9n));
  assert.ok(contains(inWord, (7n << 32n) | 10n));
  assert.ok(contains(inWord, (7n << 32n) | 19n));
  assert.ok(!contains(inWord, (7n << 32n) | 20n));
  assert.ok(!contains(inWord, (6n << 32n) | 15n));
  assert.ok(!contains(inWord, (8n << 32n) | 15n));
});

function hex(value: bigint): string {
  return '0x' + value.toString(16);
}

/** A random range; ends often on or next to 32-bit word boundaries and at 0 and 2^64. */
function randomRange(random: Random): HashRange {
  const point = (): bigint => {
    switch (random.below(5)) {
      case 0: return random.uint64();
      case 1: return BigInt(random.uint32()) << 32n;
      case 2: return (BigInt(random.uint32()) << 32n) + BigInt(random.pick([-1, 1, 2]));
      case 3: return random.pick([0n, 1n, MAX_HASH, KEYSPACE_END]);
      default: return random.bigBelow(1n << 40n);
    }
  };
  while (true) {
    const a = point();
    const b = point();
    const range = { start: a < b ? a : b, end: a < b ? b : a };
    if (range.start >= 0n && range.end <= KEYSPACE_END && range.start < range.end) return range;
  }
}

test('boundsContain: agrees with bigint rangeContains for random ranges and probe hashes', () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  for (let round = 0; round < 5000; round++) {
    const range = randomRange(random);
    const probes = [range.start, range.start - 1n, range.end, range.end - 1n, random.uint64(), range.start + random.bigBelow(range.end - range.start)];
    for (const hash of probes) {
      if (hash < 0n || hash > MAX_HASH) continue;
      assert.equal(contains(range, hash), rangeContains(range, hash), `${formatRange(range)} hash ${hex(hash)} (${replayHint(seed)})`);
    }
  }
});

test('formatRange: prints 16 hex digits and 2^64 for the keyspace end', () => {
  assert.equal(formatRange({ start: 0n, end: KEYSPACE_END }), '[0x0000000000000000, 2^64)');
  assert.equal(formatRange({ start: 1n, end: 0xabcn }), '[0x0000000000000001, 0x0000000000000abc)');
});

test('rangesOverlap: ranges sharing a hash overlap, either way round; ranges that only touch do not', () => {
  const r = (start: bigint, end: bigint): HashRange => ({ start, end });
  const cases: [HashRange, HashRange, boolean][] = [
    [r(0n, 10n), r(5n, 15n), true],
    [r(0n, 10n), r(10n, 20n), false],
    [r(0n, 10n), r(9n, 10n), true],
    [r(0n, 10n), r(2n, 3n), true],
    [r(0n, 10n), r(0n, 10n), true],
    [r(0n, 10n), r(20n, 30n), false],
    [r(0n, KEYSPACE_END), r(MAX_HASH, KEYSPACE_END), true],
    [r(0n, MAX_HASH), r(MAX_HASH, KEYSPACE_END), false],
  ];
  for (const [a, b, expected] of cases) {
    assert.equal(rangesOverlap(a, b), expected, `${formatRange(a)} ${formatRange(b)}`);
    assert.equal(rangesOverlap(b, a), expected, `${formatRange(b)} ${formatRange(a)}`);
  }
});
