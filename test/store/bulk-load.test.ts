// Bulk load (dataplane/store/bulkLoad.ts, "Bulk load" in docs/design-notes.md): records in the
// engine's own layout, scanned verbatim out of one store, go into another as whole runs. After
// the load every key reads back with its value and version, and the accounting (key count, live
// bytes, per-range figures) equals that of a store given the same records by put; keys already
// present are replaced; `keep` leaves records out; a damaged run stops at the damage.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulkLoad, MIB, RecordRef, SCAN_DONE, Status, Store } from '../../dataplane/store/index.js';
import type { AbsentRun } from '../../dataplane/store/bulkLoad.js';
import { KeyHasher } from '../../proto/keyspace/hash.js';
import { KEYSPACE_END, evenSplit, type HashRange } from '../../proto/keyspace/range.js';
import { Random } from '../support/random.js';
import { replayHint, seedFromEnvironment } from '../support/environment.js';

const WHOLE: HashRange = { start: 0n, end: KEYSPACE_END };
/** Record header bytes (dataplane/store/layout.ts): the key follows. */
const HEADER = 20;
const config = { memoryLimitBytes: 64 * MIB, segmentSizeBytes: MIB, valueLengthMax: 4096, indexBucketCountInitial: 16 };

interface Image {
  /** The records, packed, as a checkpoint frame holds them. */
  bytes: Buffer;
  /** Top word of each record's key hash, in order. */
  hashes: Uint32Array;
  /** Offsets where records start. */
  starts: number[];
}

function fill(random: Random, count: number): { store: Store; keys: Buffer[] } {
  const store = new Store(config);
  const keys: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const key = Buffer.from(`key-${i}-${random.below(1e9)}`);
    const value = Buffer.alloc(random.below(300), i & 0xff);
    assert.equal(store.put(key, 0, key.length, value, 0, value.length), Status.OK);
    keys.push(key);
  }
  return { store, keys };
}

/** The live records of `range`, verbatim. */
function image(store: Store, range: HashRange): Image {
  const parts: Buffer[] = [];
  const hashes: number[] = [];
  const starts: number[] = [];
  const hasher = new KeyHasher();
  let at = 0;
  const cursor = store.scan(range, -1, { recordCountMax: Infinity, includeTombstones: false }, (r: RecordRef) => {
    parts.push(Buffer.from(r.bytes.subarray(r.recordOffset, r.recordOffset + r.recordBytes)));
    hasher.hashKey(r.bytes, r.keyOffset, r.keyLength);
    hashes.push(hasher.hi);
    starts.push(at);
    at += r.recordBytes;
  });
  assert.equal(cursor, SCAN_DONE);
  return { bytes: Buffer.concat(parts), hashes: Uint32Array.from(hashes), starts };
}

/** Loads the image through claims of at most `runBytesMax` bytes, as the checkpoint reader does. */
function loadByClaims(bulk: BulkLoad, img: Image, runBytesMax: number, stored: boolean): Status {
  let first = 0;
  while (first < img.starts.length) {
    let last = first;
    const from = img.starts[first];
    while (last + 1 < img.starts.length && img.starts[last + 1] - from <= runBytesMax) last++;
    const to = last + 1 < img.starts.length ? img.starts[last + 1] : img.bytes.length;
    const claim = bulk.claim(to - from);
    assert.ok(claim !== null);
    img.bytes.copy(bulk.segmentBytes(claim), claim.offsetBytes, from, to);
    const status = bulk.install(claim, null, stored ? img.hashes.subarray(first, last + 1) : null);
    if (status !== Status.OK) return status;
    first = last + 1;
  }
  return Status.OK;
}

function assertSame(loaded: Store, source: Store, keys: readonly Buffer[]): void {
  for (const key of keys) {
    const expected = source.get(key, 0, key.length);
    const expectedValue = expected === Status.OK ? Buffer.from(source.resultValue()) : null;
    const expectedVersion = source.resultVersion;
    const status = loaded.get(key, 0, key.length);
    assert.equal(status, expected, `key ${key.toString()}`);
    if (expectedValue === null) continue;
    assert.deepEqual(loaded.resultValue(), expectedValue);
    assert.equal(loaded.resultVersion, expectedVersion);
  }
  const [a, b] = [loaded.stats(), source.stats()];
  assert.equal(a.keyCount, b.keyCount);
  assert.equal(a.liveBytes, b.liveBytes);
  const ranges = evenSplit(7);
  assert.deepEqual(loaded.rangeFigures(ranges), source.rangeFigures(ranges));
  assert.ok(loaded.versionNow >= source.versionNow, 'later versions exceed every loaded one');
}

test('bulk load: claimed runs with stored hashes rebuild the index; values, versions and accounting match the source', () => {
  const seed = seedFromEnvironment();
  const { store: source, keys } = fill(new Random(seed), 5000);
  const loaded = new Store(config);
  const bulk = loaded.beginBulkLoad();
  assert.equal(loadByClaims(bulk, image(source, WHOLE), 64 * 1024, true), Status.OK, replayHint(seed));
  bulk.finish();
  assert.equal(bulk.recordsInstalled, keys.length);
  assertSame(loaded, source, keys);
  // The loaded store keeps working: overwrites, deletes and cleaning over loaded segments.
  for (let round = 0; round < 4; round++) {
    for (const key of keys) {
      assert.equal(loaded.put(key, 0, key.length, Buffer.alloc(200, round), 0, 200), Status.OK);
      assert.equal(source.put(key, 0, key.length, Buffer.alloc(200, round), 0, 200), Status.OK);
    }
  }
  assert.equal(loaded.stats().keyCount, keys.length);
  assert.equal(loaded.stats().liveBytes, source.stats().liveBytes);
});

test('bulk load: copyRecords with a keep filter loads only the kept records, packed; replaces keys already present', () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const { store: source, keys } = fill(random, 3000);
  const [left, right] = evenSplit(2);
  const loaded = new Store(config);
  // Stale copies of a few keys first: the load must replace them (last writer wins).
  for (const key of keys.slice(0, 100)) assert.equal(loaded.put(key, 0, key.length, Buffer.from('stale'), 0, 5), Status.OK);
  const bulk = loaded.beginBulkLoad();
  const img = image(source, WHOLE);
  const inLeft = (_b: Buffer, _o: number, _l: number, hi: number): boolean => hi < Number(right.start >> 32n);
  assert.equal(bulk.copyRecords(img.bytes, 0, img.bytes.length, inLeft), Status.OK, replayHint(seed));
  bulk.finish();
  const expected = new Store(config);
  const leftImage = image(source, left);
  const expectedBulk = expected.beginBulkLoad();
  assert.equal(expectedBulk.copyRecords(leftImage.bytes, 0, leftImage.bytes.length, null), Status.OK);
  expectedBulk.finish();
  for (const key of keys.slice(0, 100)) {
    if (expected.get(key, 0, key.length) === Status.NOT_FOUND) assert.equal(expected.put(key, 0, key.length, Buffer.from('stale'), 0, 5), Status.OK);
  }
  assert.equal(bulk.recordsInstalled + bulk.recordsSkipped, keys.length);
  for (const key of keys) {
    const status = loaded.get(key, 0, key.length);
    assert.equal(status, expected.get(key, 0, key.length), replayHint(seed));
    if (status === Status.OK) assert.deepEqual(Buffer.from(loaded.resultValue()), Buffer.from(expected.resultValue()));
  }
  assert.equal(loaded.stats().keyCount, expected.stats().keyCount);
  assert.equal(loaded.stats().liveBytes, expected.stats().liveBytes);
});

test('bulk load: a damaged record or a wrong stored hash stops the run there; what came before stays loaded and readable', () => {
  const seed = seedFromEnvironment();
  const { store: source } = fill(new Random(seed), 400);
  const img = image(source, WHOLE);
  const damaged = Buffer.from(img.bytes);
  const middle = img.starts[200];
  damaged[middle + 14] = 0x7f; // the kind byte of record 200
  const loaded = new Store(config);
  const bulk = loaded.beginBulkLoad();
  assert.equal(loadByClaims(bulk, { ...img, bytes: damaged }, 1 << 20, true), Status.CORRUPT, replayHint(seed));
  bulk.finish();
  assert.equal(bulk.recordsInstalled, 200);
  assert.equal(loaded.stats().keyCount, 200);

  const wrongHashes = Uint32Array.from(img.hashes);
  wrongHashes[64] ^= 1; // record 64 is one of the one-in-64 rehashed
  const other = new Store(config);
  const otherBulk = other.beginBulkLoad();
  assert.equal(loadByClaims(otherBulk, { ...img, hashes: wrongHashes }, 1 << 20, true), Status.CORRUPT);
  otherBulk.finish();
  assert.equal(otherBulk.recordsInstalled, 64);
  // Later writes land in fresh space: the abandoned claim left no garbage in a segment's filled part.
  for (let i = 0; i < 2000; i++) {
    const key = Buffer.from(`after-${i}`);
    assert.equal(other.put(key, 0, key.length, Buffer.alloc(100, 1), 0, 100), Status.OK);
  }
  assert.equal(other.stats().keyCount, 2064);
});

test('bulk load: skips lookups only while provably fresh; a write or an out-of-order run during the load makes no duplicate', () => {
  const seed = seedFromEnvironment();
  const { store: source, keys } = fill(new Random(seed), 2000);
  const img = image(source, WHOLE);
  const half = img.starts[1000];
  const firstHalf: Image = { bytes: img.bytes.subarray(0, half), hashes: img.hashes.subarray(0, 1000), starts: img.starts.slice(0, 1000) };
  const secondHalf: Image = {
    bytes: Buffer.from(img.bytes.subarray(half)), hashes: img.hashes.subarray(1000), starts: img.starts.slice(1000).map((at) => at - half),
  };
  // A write between runs inserts a key the second half holds too: the load must replace it.
  const written = new Store(config);
  const bulk = written.beginBulkLoad();
  assert.equal(loadByClaims(bulk, firstHalf, 16 * 1024, true), Status.OK);
  const laterKey = Buffer.from(secondHalf.bytes.subarray(HEADER, HEADER + secondHalf.bytes.readUInt16LE(12)));
  assert.equal(written.put(laterKey, 0, laterKey.length, Buffer.from('written'), 0, 7), Status.OK);
  assert.equal(loadByClaims(bulk, secondHalf, 16 * 1024, true), Status.OK, replayHint(seed));
  bulk.finish();
  assertSame(written, source, keys);
  // Runs out of hash order (the second half first), then the whole image again: every key replaced once.
  const unordered = new Store(config);
  const again = unordered.beginBulkLoad();
  assert.equal(loadByClaims(again, secondHalf, 16 * 1024, true), Status.OK);
  assert.equal(loadByClaims(again, firstHalf, 16 * 1024, true), Status.OK);
  assert.equal(loadByClaims(again, { ...img, bytes: Buffer.from(img.bytes) }, 16 * 1024, true), Status.OK, replayHint(seed));
  again.finish();
  assertSame(unordered, source, keys);
  // Two loads begun on the same empty store: the second sees the first's inserts, makes no duplicate.
  const shared = new Store(config);
  const first = shared.beginBulkLoad();
  const second = shared.beginBulkLoad();
  assert.equal(loadByClaims(first, secondHalf, 16 * 1024, true), Status.OK);
  assert.equal(loadByClaims(second, { ...img, bytes: Buffer.from(img.bytes) }, 16 * 1024, true), Status.OK, replayHint(seed));
  first.finish();
  second.finish();
  assertSame(shared, source, keys);
});


/** The image's records in the order of their hashes' top words, as a checkpoint frame holds them (a scan orders them by bucket only). */
function sortedByHash(img: Image): Image {
  const order = [...img.hashes.keys()].sort((a, b) => img.hashes[a] - img.hashes[b]);
  const ends = img.starts.map((_at, i) => (i + 1 < img.starts.length ? img.starts[i + 1] : img.bytes.length));
  const parts = order.map((i) => img.bytes.subarray(img.starts[i], ends[i]));
  const starts: number[] = [];
  let at = 0;
  for (const part of parts) {
    starts.push(at);
    at += part.length;
  }
  return { bytes: Buffer.concat(parts), hashes: Uint32Array.from(order.map((i) => img.hashes[i])), starts };
}

/** The store as a bulk load's host, counting the records installed through installAbsentRun and one by one. */
function countingHost(store: Store): { host: Store; counts: { absent: number; oneByOne: number } } {
  const counts = { absent: 0, oneByOne: 0 };
  const host = new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (property === 'installAbsentRun') {
        return (run: AbsentRun): void => {
          target.installAbsentRun(run);
          counts.absent += run.installed;
        };
      }
      if (property === 'installLoaded') {
        return (...args: Parameters<Store['installLoaded']>): Status => {
          counts.oneByOne++;
          return target.installLoaded(...args);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { host, counts };
}

test('bulk load: a fresh load installs its ascending records through the engine\'s absent-key runs; same keys, versions and accounting', () => {
  const seed = seedFromEnvironment();
  const { store: source, keys } = fill(new Random(seed), 5000);
  // Sized so that no shard doubles: every record with a new top word qualifies.
  const loaded = new Store({ ...config, indexBucketCountInitial: 4096 });
  const { host, counts } = countingHost(loaded);
  const bulk = new BulkLoad(host);
  assert.equal(loadByClaims(bulk, sortedByHash(image(source, WHOLE)), 64 * 1024, true), Status.OK, replayHint(seed));
  bulk.finish();
  assert.equal(counts.absent + counts.oneByOne, keys.length);
  assert.ok(counts.absent >= keys.length - 10, `${counts.absent} of ${keys.length} installed in absent runs ${replayHint(seed)}`);
  assertSame(loaded, source, keys);
});

test('bulk load: an absent run stops at a record whose top word does not ascend, at a damaged record, and at a doubling shard', () => {
  const seed = seedFromEnvironment();
  const { store: source } = fill(new Random(seed), 400);
  const img = sortedByHash(image(source, WHOLE));
  const runOf = (store: Store, hashes: Uint32Array, bytes: Buffer): AbsentRun => {
    const claim = store.beginBulkLoad().claim(bytes.length);
    assert.ok(claim !== null);
    bytes.copy(store.segments.bytes[claim.segmentId], claim.offsetBytes);
    const run: AbsentRun = {
      segmentId: claim.segmentId, atBytes: claim.offsetBytes, endBytes: claim.offsetBytes + bytes.length, hashHi: hashes, first: 0, last: hashes.length,
      hiAbove: -1, installed: 0, nextBytes: 0, versionMax: 0,
    };
    store.installAbsentRun(run);
    return run;
  };
  const big = { ...config, indexBucketCountInitial: 4096 };
  const whole = runOf(new Store(big), img.hashes, img.bytes);
  assert.equal(whole.installed, 400, replayHint(seed));
  assert.equal(whole.nextBytes - whole.atBytes, img.bytes.length);

  const repeated = Uint32Array.from(img.hashes);
  repeated[10] = repeated[9];
  const store = new Store(big);
  const stopped = runOf(store, repeated, img.bytes);
  assert.equal(stopped.installed, 10, 'record 10 does not ascend: it may be a key just installed');
  assert.equal(stopped.nextBytes - stopped.atBytes, img.starts[10]);
  assert.equal(store.stats().keyCount, 10);

  const damaged = Buffer.from(img.bytes);
  damaged[img.starts[20] + 14] = 0x7f; // the kind byte of record 20
  assert.equal(runOf(new Store(big), img.hashes, damaged).installed, 20);

  // One bucket per shard, 25 keys per shard: a shard starts doubling during the run and takes the general path from then on.
  const small = new Store({ ...config, indexBucketCountInitial: 16 });
  const partial = runOf(small, img.hashes, img.bytes);
  assert.ok(partial.installed > 0 && partial.installed < 400, `${partial.installed} installed before a shard doubled`);
  assert.equal(small.stats().keyCount, partial.installed);
});
