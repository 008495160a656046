// Range scans (see dataplane/store/scan.ts and "Range scan semantics" in docs/design-notes.md):
// a scan reports exactly the records whose key hash lies in [start, end); it resumes from its
// cursor, also across index doublings; a record written between calls is reported iff it is
// live when its bucket is visited, with its value then. rangeFigures agrees with a brute-force
// count.
//
// The per-call check is exact: a call that starts at position p (max(cursor, start's top word))
// and returns cursor q visits the buckets of top words [p, q) (q = 2^32 when done), so it must
// report exactly the model's live keys whose hash is in the range and whose top word is in [p, q).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIB, SCAN_DONE, Status, Store } from '../../dataplane/store/index.js';
import { KEYSPACE_END, evenSplit, formatRange, rangeContains, type HashRange } from '../../proto/keyspace/range.js';
import { keyHash64 } from '../../proto/keyspace/hash.js';
import { Random } from '../support/random.js';
import { replayHint, seedFromEnvironment } from '../support/environment.js';
import { expectedRecordBytes } from '../support/recordSize.js';
import { copyRecord, scanAll, type ScannedRecord } from '../support/scanAll.js';

const WHOLE: HashRange = { start: 0n, end: KEYSPACE_END };
const TWO_POW_32 = 0x1_0000_0000;

interface ModelEntry {
  readonly key: Buffer;
  readonly hash: bigint;
  /** Top 32 bits of the hash: the scan cursor's unit. */
  readonly hi: number;
  value: Buffer;
  version: number;
}

/** A store and a model of its contents, with a supply of fresh keys. */
class Fixture {
  readonly store: Store;
  readonly model = new Map<string, ModelEntry>();
  private keysMade = 0;

  constructor(readonly random: Random, indexBucketCountInitial = 16) {
    this.store = new Store({ memoryLimitBytes: 64 * MIB, segmentSizeBytes: MIB, valueLengthMax: 4096, indexBucketCountInitial });
  }

  freshKey(): Buffer {
    const n = this.keysMade++;
    // Mostly short keys, some long ones, a few sharing a {tag} (one hash for several keys).
    if (n % 50 === 7) return Buffer.from(`grp{${n % 500}}:${n}`);
    return Buffer.concat([Buffer.from(`k${n}:`), this.random.bytes(this.random.between(0, n % 9 === 0 ? 60 : 6))]);
  }

  put(key: Buffer, value: Buffer): void {
    assert.equal(this.store.put(key, 0, key.length, value, 0, value.length), Status.OK);
    assert.equal(this.store.get(key, 0, key.length), Status.OK);
    const name = key.toString('latin1');
    const entry = this.model.get(name);
    if (entry === undefined) {
      const hash = keyHash64(key);
      this.model.set(name, { key, hash, hi: Number(hash >> 32n), value, version: this.store.resultVersion });
    } else {
      Object.assign(entry, { value, version: this.store.resultVersion });
    }
  }

  insert(count: number): void {
    for (let i = 0; i < count; i++) this.put(this.freshKey(), this.random.bytes(this.random.between(0, 120)));
  }

  randomEntry(): ModelEntry {
    const names = [...this.model.keys()];
    return this.model.get(names[this.random.below(names.length)]) as ModelEntry;
  }

  /** One random write between scan calls: overwrite, delete or insert. */
  randomWrite(): void {
    const roll = this.random.float();
    if (roll < 0.4 && this.model.size > 0) {
      const entry = this.randomEntry();
      this.put(entry.key, this.random.bytes(this.random.between(0, 120)));
    } else if (roll < 0.6 && this.model.size > 0) {
      const entry = this.randomEntry();
      assert.equal(this.store.delete(entry.key, 0, entry.key.length), Status.OK);
      this.model.delete(entry.key.toString('latin1'));
    } else {
      this.insert(1);
    }
  }

  /** Model entries whose hash lies in `range` and whose top word lies in [fromHi, toHi). */
  expected(range: HashRange, fromHi = 0, toHi = TWO_POW_32): ModelEntry[] {
    const result: ModelEntry[] = [];
    for (const entry of this.model.values()) {
      if (entry.hi >= fromHi && entry.hi < toHi && rangeContains(range, entry.hash)) result.push(entry);
    }
    return result;
  }
}

/** Asserts that `records` are exactly `expected` (keys, values, versions), each once. */
function assertSameRecords(records: ScannedRecord[], expected: ModelEntry[], what: string): void {
  const byKey = new Map<string, ScannedRecord>();
  for (const record of records) {
    assert.ok(!byKey.has(record.key), `${what}: key reported twice`);
    assert.ok(record.checksumValid && !record.tombstone, `${what}: a valid object record`);
    byKey.set(record.key, record);
  }
  for (const entry of expected) {
    const record = byKey.get(entry.key.toString('latin1'));
    assert.ok(record !== undefined, `${what}: missing key ${entry.key.toString('hex')} hash 0x${entry.hash.toString(16)}`);
    assert.ok(record.value.equals(entry.value), `${what}: value of ${entry.key.toString('hex')}`);
    assert.equal(record.version, entry.version, `${what}: version of ${entry.key.toString('hex')}`);
    assert.equal(record.recordBytes, expectedRecordBytes(entry.key.length, entry.value.length), `${what}: recordBytes`);
  }
  assert.equal(records.length, expected.length, `${what}: ${records.length} reported, ${expected.length} expected`);
}

/** A random range: arbitrary, from 0, to 2^64, narrower than a bucket around a key, or one hash wide. */
function randomRange(f: Fixture): HashRange {
  const random = f.random;
  const hash = f.model.size > 0 ? f.randomEntry().hash : random.uint64();
  const around = (width: bigint): HashRange => {
    const start = hash > width / 2n ? hash - width / 2n : 0n;
    return { start, end: start + width > KEYSPACE_END ? KEYSPACE_END : start + width };
  };
  switch (random.below(8)) {
    case 0: return WHOLE;
    case 1: return { start: random.uint64(), end: KEYSPACE_END };
    case 2: return { start: 0n, end: random.uint64() + 1n };
    case 3: return around(1n << 40n);
    case 4: return around(1n << 20n);
    case 5: return { start: hash, end: hash + 1n };
    case 6: return { start: (hash >> 32n) << 32n, end: KEYSPACE_END - random.bigBelow(1n << 34n) };
    default: {
      const a = random.uint64();
      const b = random.uint64();
      return a === b ? { start: a, end: a + 1n } : { start: a < b ? a : b, end: a < b ? b : a };
    }
  }
}

test('scan: returns exactly the records whose hash is in [start, end) for random ranges', () => {
  const seed = seedFromEnvironment();
  const f = new Fixture(new Random(seed));
  f.insert(20_000);
  for (let round = 0; round < 200; round++) {
    const range = randomRange(f);
    const what = `${formatRange(range)} (${replayHint(seed)})`;
    assertSameRecords(scanAll(f.store, range), f.expected(range), what);
  }
});

test('scan: the whole keyspace, ranges ending at 2^64, and ranges narrower than one index bucket', () => {
  const f = new Fixture(new Random(7));
  f.insert(5000);
  assertSameRecords(scanAll(f.store, WHOLE), f.expected(WHOLE), 'whole keyspace');
  assertSameRecords(scanAll(f.store, WHOLE, { recordCountMax: 1 }), f.expected(WHOLE), 'whole keyspace, one record per call');
  for (const top of [{ start: KEYSPACE_END - 1n, end: KEYSPACE_END }, { start: KEYSPACE_END - (1n << 60n), end: KEYSPACE_END }, evenSplit(3)[2]]) {
    assertSameRecords(scanAll(f.store, top), f.expected(top), `top range ${formatRange(top)}`);
  }
  // The index has about 2^10 buckets here (2^54 hashes each): 2^40 is a sliver of one bucket.
  let nonEmpty = 0;
  for (const entry of [...f.model.values()].slice(0, 200)) {
    for (const width of [1n, 2n, 1n << 20n, 1n << 40n]) {
      const start = entry.hash >= width / 2n ? entry.hash - width / 2n : 0n;
      const range = { start, end: start + width > KEYSPACE_END ? KEYSPACE_END : start + width };
      const expected = f.expected(range);
      if (expected.length > 0) nonEmpty++;
      assertSameRecords(scanAll(f.store, range), expected, `narrow ${formatRange(range)}`);
    }
    const justAbove = { start: entry.hash + 1n, end: entry.hash + (1n << 40n) };
    if (justAbove.end <= KEYSPACE_END) assert.ok(!scanAll(f.store, justAbove).some((r) => r.key === entry.key.toString('latin1')), 'start is inclusive, and only');
    const justBelow = { start: entry.hash > 1n << 40n ? entry.hash - (1n << 40n) : 0n, end: entry.hash };
    if (entry.hash > 0n) assert.ok(!scanAll(f.store, justBelow).some((r) => r.key === entry.key.toString('latin1')), 'end is exclusive');
  }
  assert.ok(nonEmpty >= 800, 'every narrow range around a key holds that key');
});

test('scan: resumes from its cursor with a small recordCountMax: every record once, none missing', () => {
  const seed = seedFromEnvironment();
  const f = new Fixture(new Random(seed));
  f.insert(10_000);
  for (const recordCountMax of [1, 2, 3, 10, 100]) {
    for (let round = 0; round < 10; round++) {
      const range = round === 0 ? WHOLE : randomRange(f);
      let calls = 0;
      const records = scanAll(f.store, range, { recordCountMax, betweenCalls: () => calls++ });
      assertSameRecords(records, f.expected(range), `${formatRange(range)} max ${recordCountMax} (${replayHint(seed)})`);
      if (range === WHOLE) assert.ok(calls >= 10_000 / (recordCountMax + 40), `the scan stopped early and resumed (${calls} resumptions)`);
    }
  }
});

test('scan: recordBytesMax ends a call after the bucket whose records reach that many bytes; resumed, every record once', () => {
  const seed = seedFromEnvironment();
  const f = new Fixture(new Random(seed));
  // Values of up to 4 KiB, so that a few records reach the byte bound long before the count bound.
  for (let i = 0; i < 3000; i++) f.put(f.freshKey(), f.random.bytes(f.random.between(0, 4096)));
  for (const recordBytesMax of [1, 4096, 64 * 1024]) {
    const range = WHOLE;
    const records: ScannedRecord[] = [];
    let cursor = 0;
    let calls = 0;
    while (true) {
      const batch: ScannedRecord[] = [];
      const next = f.store.scan(range, cursor, { recordCountMax: Infinity, recordBytesMax, includeTombstones: false }, (r) => batch.push(copyRecord(r)));
      calls++;
      records.push(...batch);
      if (next === SCAN_DONE) break;
      const bytes = batch.reduce((sum, r) => sum + r.recordBytes, 0);
      assert.ok(bytes >= recordBytesMax, `a call that stops early reached the byte bound (${bytes} of ${recordBytesMax} bytes; ${replayHint(seed)})`);
      cursor = next;
    }
    assertSameRecords(records, f.expected(range), `recordBytesMax ${recordBytesMax} (${replayHint(seed)})`);
    const totalBytes = records.reduce((sum, r) => sum + r.recordBytes, 0);
    // A bucket holds a handful of records (~2 KiB each here): calls stop within a few KiB past the bound.
    assert.ok(calls >= totalBytes / (recordBytesMax + 64 * 1024), `${calls} calls for ${totalBytes} bytes at ${recordBytesMax} a call`);
  }
});

interface ScanRun {
  readonly callsDuringDoubling: number;
  /** Distinct index sizes (stats().indexBytes) seen at the calls. */
  readonly indexSizesSeen: Set<number>;
}

/**
 * Scans `range` with writes between calls; checks every call against the model exactly, and
 * that keys live for the whole scan are reported exactly once.
 */
function scanWithWrites(f: Fixture, range: HashRange, recordCountMax: number, writeBetween: () => void, what: string): ScanRun {
  const startHi = Number(range.start >> 32n);
  const liveThroughout = new Set(f.expected(range).map((e) => e.key.toString('latin1')));
  const reportedCount = new Map<string, number>();
  let callsDuringDoubling = 0;
  const indexSizesSeen = new Set<number>();
  let cursor = 0;
  for (let call = 0; ; call++) {
    const stats = f.store.stats();
    if (stats.indexResizing) callsDuringDoubling++;
    indexSizesSeen.add(stats.indexBytes);
    const batch: ScannedRecord[] = [];
    const next = f.store.scan(range, cursor, { recordCountMax, includeTombstones: false }, (record) => batch.push(copyRecord(record)));
    const fromHi = Math.max(cursor, startHi);
    const toHi = next === SCAN_DONE ? TWO_POW_32 : next;
    assert.ok(toHi > fromHi, `${what}: call ${call} advanced from ${fromHi} to ${toHi}`);
    assertSameRecords(batch, f.expected(range, fromHi, toHi), `${what}: call ${call} over top words [${fromHi}, ${toHi})`);
    for (const record of batch) reportedCount.set(record.key, (reportedCount.get(record.key) ?? 0) + 1);
    if (next === SCAN_DONE) break;
    cursor = next;
    writeBetween();
    // Keys touched by a write are no longer "live throughout".
    for (const name of liveThroughout) if (!f.model.has(name)) liveThroughout.delete(name);
  }
  for (const name of liveThroughout) assert.equal(reportedCount.get(name), 1, `${what}: a key live for the whole scan is reported once`);
  for (const [name, count] of reportedCount) assert.equal(count, 1, `${what}: ${Buffer.from(name, 'latin1').toString('hex')} reported ${count} times`);
  return { callsDuringDoubling, indexSizesSeen };
}

// A scan that reports r records per call while k keys are inserted between calls (spread over
// the keyspace) ends only once the keys have multiplied: with r = 4 and k = 28 the store grows
// from 80 keys to 5,000-12,000 (six or seven doublings, tens of calls during a doubling).
test('scan: stays correct across index doublings that happen between calls', () => {
  const seed = seedFromEnvironment();
  const f = new Fixture(new Random(seed));
  f.insert(79); // 16 buckets double past 80 entries
  const run = scanWithWrites(f, WHOLE, 4, () => f.insert(28), `whole keyspace (${replayHint(seed)})`);
  assert.ok(f.model.size > 2000, `the index doubled several times during the scan (${f.model.size} keys)`);
  assert.ok(run.callsDuringDoubling > 0, 'some calls ran while a doubling was under way');
  assert.ok(run.indexSizesSeen.size > 4, 'the index grew during the scan');
  // A partial range, with maintain() moving index buckets at random points.
  const g = new Fixture(new Random(seed + 1));
  g.insert(79);
  // At least half the keyspace, so the scan takes enough calls for the inserts to grow the index.
  const end = (1n << 63n) + g.random.uint64() / 2n;
  const run2 = scanWithWrites(g, { start: 0n, end }, 3, () => {
    g.insert(12);
    if (g.random.chance(0.3)) g.store.maintain(0, g.random.between(1, 64));
  }, `[0, ${end}) (${replayHint(seed)})`);
  assert.ok(run2.indexSizesSeen.size > 1, 'the index grew during the second scan');
});

test('scan: writes between calls are seen iff their bucket is visited after them (overwrites, deletes, inserts)', () => {
  const seed = seedFromEnvironment();
  const f = new Fixture(new Random(seed));
  f.insert(3000);
  for (let round = 0; round < 20; round++) {
    const range = round < 5 ? WHOLE : randomRange(f);
    // At most 6 writes (2.4 inserts on average) per call, at least 5 records per call: the scan ends.
    const writes = f.random.between(1, 6);
    scanWithWrites(f, range, f.random.pick([5, 20, 50]), () => {
      for (let n = 0; n < writes; n++) f.randomWrite();
    }, `round ${round} ${formatRange(range)} (${replayHint(seed)})`);
  }
});

/** Brute-force figures from the model. */
function bruteFigures(f: Fixture, range: HashRange): { keyCount: number; bytes: number } {
  let keyCount = 0;
  let bytes = 0;
  for (const entry of f.model.values()) {
    if (!rangeContains(range, entry.hash)) continue;
    keyCount++;
    bytes += expectedRecordBytes(entry.key.length, entry.value.length);
  }
  return { keyCount, bytes };
}

/** Ranges that stress the accounting blocks (top 16 bits): block-aligned, inside one block, across many. */
function accountingRange(f: Fixture): HashRange {
  const block = (n: bigint): bigint => n << 48n;
  switch (f.random.below(4)) {
    case 0: {
      const a = BigInt(f.random.below(0x1_0000));
      const b = BigInt(f.random.below(0x1_0000));
      const low = a < b ? a : b;
      const high = a < b ? b : a;
      return { start: block(low), end: block(high + 1n) };
    }
    case 1: {
      const start = block(BigInt(f.random.below(0x1_0000))) + f.random.bigBelow(1n << 47n);
      return { start, end: start + f.random.bigBelow(1n << 47n) + 1n };
    }
    case 2: return { start: block(BigInt(f.random.below(0x1_0000))) + 1n, end: KEYSPACE_END };
    default: return randomRange(f);
  }
}

test('rangeFigures: agrees with a brute-force count over the model for random ranges', () => {
  const seed = seedFromEnvironment();
  const f = new Fixture(new Random(seed));
  f.insert(20_000);
  for (let n = 0; n < 3000; n++) f.randomWrite();
  for (let round = 0; round < 300; round++) {
    const ranges = [accountingRange(f), accountingRange(f)];
    const expected = ranges.map((range) => bruteFigures(f, range));
    assert.deepEqual(f.store.rangeFigures(ranges), expected, `${ranges.map(formatRange).join(' ')} (${replayHint(seed)})`);
  }
  const split = evenSplit(7);
  const figures = f.store.rangeFigures(split);
  assert.equal(figures.reduce((sum, x) => sum + x.keyCount, 0), f.model.size, 'an even split accounts for every key once');
  assert.deepEqual(f.store.rangeFigures([WHOLE]), [bruteFigures(f, WHOLE)]);
});

test('rangeFigures: stays exact while the index doubles and after deletes and overwrites', () => {
  const seed = seedFromEnvironment();
  const f = new Fixture(new Random(seed));
  for (let step = 0; step < 60; step++) {
    f.insert(100);
    for (let n = 0; n < 50; n++) f.randomWrite();
    const range = accountingRange(f);
    assert.deepEqual(f.store.rangeFigures([range, WHOLE]), [bruteFigures(f, range), bruteFigures(f, WHOLE)],
      `step ${step}, resizing ${f.store.stats().indexResizing}, ${formatRange(range)} (${replayHint(seed)})`);
  }
});
