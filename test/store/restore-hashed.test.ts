// Store.restoreHashed() is restore() for a caller that already hashed the key (recovery's log
// read): driven with the same random restores (new keys, same-size overwrites in place, size
// changes, a memory limit small enough that writes clean), a store given the hashes must end
// exactly like one that hashes each key itself. A wrong hash is caught by the sampled rehash.
// Given the bulk load under way, it does not verify again the checksum of a record that load
// installed (recovery's merged restores: the frame CRC checked it moments before); every other
// record it replaces is still verified, so damage there is still detected.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvariantError } from '../../dataplane/store/assert.js';
import { BulkLoad, MIB, SCAN_DONE, Status, Store, statusName } from '../../dataplane/store/index.js';
import type { BulkLoadHost } from '../../dataplane/store/bulkLoad.js';
import { SegmentPool, SegmentState } from '../../dataplane/store/segments.js';
import { KeyHasher } from '../../proto/keyspace/hash.js';
import { Random } from '../support/random.js';
import { replayHint, seedFromEnvironment } from '../support/environment.js';

function smallStore(): Store {
  return new Store({ memoryLimitBytes: 2 * MIB, segmentSizeBytes: 64 * 1024, valueLengthMax: 4096, indexBucketCountInitial: 16 });
}

test('restoreHashed: leaves the same keys, values, versions and stats as restore, through overwrites and cleaning', () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const plain = smallStore();
  const hashed = smallStore();
  const hasher = new KeyHasher();
  const keys = Array.from({ length: 3000 }, (_, i) => Buffer.from(i % 7 === 0 ? `user:{${i % 50}}:${i}` : `key-${i}`));
  let version = 1;
  for (let step = 0; step < 60_000; step++) {
    const key = keys[random.below(keys.length)];
    const value = Buffer.alloc(random.below(4) === 0 ? random.between(1, 300) : 32, step & 0xff);
    version += random.between(1, 3);
    hasher.hashKey(key, 0, key.length);
    const a = plain.restore(key, 0, key.length, value, 0, value.length, version);
    const b = hashed.restoreHashed(key, 0, key.length, hasher.hi, hasher.lo, value, 0, value.length, version);
    assert.equal(statusName(b), statusName(a), `${replayHint(seed)}: step ${step}`);
  }
  assert.ok(plain.stats().inPlaceUpdates > 0 && plain.stats().cleanerSegmentsCleaned > 0, 'the run overwrote in place and cleaned');
  assert.deepEqual(hashed.stats(), plain.stats(), replayHint(seed));
  for (const key of keys) {
    const a = plain.get(key, 0, key.length);
    const aValue = a === Status.OK ? Buffer.from(plain.resultValue()) : null;
    const aVersion = plain.resultVersion;
    assert.equal(statusName(hashed.get(key, 0, key.length)), statusName(a), `${replayHint(seed)}: ${key.toString()}`);
    if (aValue === null) continue;
    assert.deepEqual(Buffer.from(hashed.resultValue()), aValue, `${replayHint(seed)}: ${key.toString()}`);
    assert.equal(hashed.resultVersion, aVersion, `${replayHint(seed)}: ${key.toString()}`);
  }
});

test('restoreHashed: a hash that is not the key\'s is refused by the sampled check (the first call is checked)', () => {
  const store = smallStore();
  const key = Buffer.from('some-key');
  const value = Buffer.from('v');
  const hasher = new KeyHasher();
  hasher.hashKey(key, 0, key.length);
  assert.throws(() => store.restoreHashed(key, 0, key.length, hasher.hi ^ 1, hasher.lo, value, 0, value.length, 5), InvariantError);
  assert.equal(store.restoreHashed(key, 0, key.length, hasher.hi, hasher.lo, value, 0, value.length, 5), Status.OK);
  assert.equal(store.get(key, 0, key.length), Status.OK);
  assert.equal(store.resultVersion, 5);
});

const HEADER = 20;

/** A key's record in the engine's layout (scanned out of a scratch store), and its hash. */
function recordOf(key: Buffer, value: Buffer): { bytes: Buffer; hi: number; lo: number } {
  const scratch = smallStore();
  assert.equal(scratch.put(key, 0, key.length, value, 0, value.length), Status.OK);
  let bytes = Buffer.alloc(0);
  const cursor = scratch.scan({ start: 0n, end: 1n << 64n }, -1, { recordCountMax: Infinity, includeTombstones: false }, (r) => {
    bytes = Buffer.from(r.bytes.subarray(r.recordOffset, r.recordOffset + r.recordBytes));
  });
  assert.equal(cursor, SCAN_DONE);
  const hasher = new KeyHasher();
  hasher.hashKey(key, 0, key.length);
  return { bytes, hi: hasher.hi, lo: hasher.lo };
}

/** Bulk-loads `key`'s record into `store` and flips a byte of its value in segment memory (damage after the load's check). */
function loadDamaged(bulk: BulkLoad, key: Buffer, value: Buffer): { hi: number; lo: number } {
  const record = recordOf(key, value);
  const claim = bulk.claim(record.bytes.length);
  assert.ok(claim !== null);
  record.bytes.copy(bulk.segmentBytes(claim), claim.offsetBytes);
  assert.equal(bulk.install(claim, null), Status.OK);
  bulk.segmentBytes(claim)[claim.offsetBytes + HEADER + key.length + 1] ^= 0x40;
  return record;
}

/** Restores `value` under `key` (given hash) and returns what the store saw: corrupt records, in-place updates, the value read back. */
function restoreAndRead(store: Store, key: Buffer, hash: { hi: number; lo: number }, value: Buffer, loaded: BulkLoad | null): [number, number, string] {
  const before = store.stats();
  assert.equal(store.restoreHashed(key, 0, key.length, hash.hi, hash.lo, value, 0, value.length, 77, loaded), Status.OK);
  const after = store.stats();
  assert.equal(store.get(key, 0, key.length), Status.OK, 'the restored value reads back intact');
  assert.equal(store.resultVersion, 77);
  return [after.corruptRecordsSeen - before.corruptRecordsSeen, after.inPlaceUpdates - before.inPlaceUpdates, store.resultValue().toString()];
}

test('restoreHashed: a record its bulk load installed is overwritten in place without verifying its checksum again', () => {
  const store = smallStore();
  const bulk = store.beginBulkLoad();
  const key = Buffer.from('loaded-key');
  const hash = loadDamaged(bulk, key, Buffer.from('old-value'));
  assert.deepEqual(restoreAndRead(store, key, hash, Buffer.from('new-value'), bulk), [0, 1, 'new-value']);
  bulk.finish();
});

test('restoreHashed: a damaged record the bulk load did not install is still detected, load or no load', () => {
  const store = smallStore();
  const key = Buffer.from('written-key');
  const value = Buffer.from('old-value');
  assert.equal(store.put(key, 0, key.length, value, 0, value.length), Status.OK);
  assert.equal(store.get(key, 0, key.length), Status.OK);
  store.resultBytes[store.resultValueOffset + 1] ^= 0x40;
  const bulk = store.beginBulkLoad();
  loadDamaged(bulk, Buffer.from('another-key'), value); // the load has a segment of its own
  const hasher = new KeyHasher();
  hasher.hashKey(key, 0, key.length);
  // Detected (counted), so the new value is appended rather than written over the damaged record.
  assert.deepEqual(restoreAndRead(store, key, hasher, Buffer.from('new-value'), bulk), [1, 0, 'new-value']);
  bulk.finish();
});

test('restoreHashed: a loaded record is verified when the restore names no load, and after the load finished', () => {
  for (const when of ['no load named', 'load finished']) {
    const store = smallStore();
    const bulk = store.beginBulkLoad();
    const key = Buffer.from('loaded-key');
    const hash = loadDamaged(bulk, key, Buffer.from('old-value'));
    if (when === 'load finished') bulk.finish();
    assert.deepEqual(restoreAndRead(store, key, hash, Buffer.from('new-value'), when === 'load finished' ? bulk : null), [1, 0, 'new-value'], when);
  }
});

test('BulkLoad.vouchesFor: only segments the load took, until they are recycled or the load finishes', () => {
  const segments = new SegmentPool(4096, 8);
  const host: BulkLoadHost = {
    segments,
    takeLoadSegment: () => segments.take(SegmentState.HEAD),
    closeLoadSegment: (id) => segments.transition(id, [SegmentState.HEAD], SegmentState.CLOSED),
    installLoaded: () => Status.OK,
    installAbsentRun: (run) => {
      run.installed = 0;
    },
    indexEntryCount: 0,
    keyInserts: 0,
    observeVersion: () => undefined,
  };
  const other = segments.take(SegmentState.HEAD);
  const bulk = new BulkLoad(host);
  const first = bulk.claim(64);
  const second = bulk.claim(4096); // does not fit beside the first: a second segment
  assert.ok(first !== null && second !== null && first.segmentId !== second.segmentId);
  assert.ok(bulk.vouchesFor(first.segmentId) && bulk.vouchesFor(second.segmentId));
  assert.ok(!bulk.vouchesFor(other), 'a segment someone else took');
  bulk.abandon(); // closes the first segment: new claims go to the second
  assert.equal(segments.state[first.segmentId], SegmentState.CLOSED);
  // Recycled: cleaned, freed and taken again (here by a writer).
  segments.transition(first.segmentId, [SegmentState.CLOSED], SegmentState.CLEANING);
  segments.release(first.segmentId);
  assert.equal(segments.take(SegmentState.HEAD), first.segmentId);
  assert.ok(!bulk.vouchesFor(first.segmentId), 'a recycled segment');
  assert.ok(bulk.vouchesFor(second.segmentId));
  bulk.finish();
  assert.ok(!bulk.vouchesFor(second.segmentId), 'a finished load vouches for nothing');
});

test('restoreHashed: restores over a bulk load\'s records (in place while it vouches) leave the same state as restore', () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const keys = Array.from({ length: 1500 }, (_, i) => Buffer.from(`loaded-${i}-${random.below(1e9)}`));
  const scratch = smallStore();
  for (const key of keys) assert.equal(scratch.put(key, 0, key.length, Buffer.alloc(32, 1), 0, 32), Status.OK);
  const parts: Buffer[] = [];
  scratch.scan({ start: 0n, end: 1n << 64n }, -1, { recordCountMax: Infinity, includeTombstones: false }, (r) => {
    parts.push(Buffer.from(r.bytes.subarray(r.recordOffset, r.recordOffset + r.recordBytes)));
  });
  const image = Buffer.concat(parts);
  const [plain, hashed] = [smallStore(), smallStore()];
  const [plainLoad, hashedLoad] = [plain.beginBulkLoad(), hashed.beginBulkLoad()];
  assert.equal(plainLoad.copyRecords(image, 0, image.length, null), Status.OK);
  assert.equal(hashedLoad.copyRecords(image, 0, image.length, null), Status.OK);
  const hasher = new KeyHasher();
  let version = scratch.versionNow + 1;
  // Mostly same-size overwrites of loaded records (the in-place step), some size changes and new keys; enough to clean.
  for (let step = 0; step < 20_000; step++) {
    const key = random.below(10) === 0 ? Buffer.from(`new-${random.below(500)}`) : keys[random.below(keys.length)];
    const value = Buffer.alloc(random.below(5) === 0 ? random.between(1, 200) : 32, step & 0xff);
    version += random.between(1, 3);
    hasher.hashKey(key, 0, key.length);
    const a = plain.restore(key, 0, key.length, value, 0, value.length, version);
    const b = hashed.restoreHashed(key, 0, key.length, hasher.hi, hasher.lo, value, 0, value.length, version, hashedLoad);
    assert.equal(statusName(b), statusName(a), `${replayHint(seed)}: step ${step}`);
    assert.equal(hashed.versionNow, plain.versionNow, `${replayHint(seed)}: later versions exceed the restored one (step ${step})`);
  }
  plainLoad.finish();
  hashedLoad.finish();
  assert.ok(hashed.stats().inPlaceUpdates > 10_000, `${hashed.stats().inPlaceUpdates} in-place restores`);
  assert.deepEqual(hashed.stats(), plain.stats(), replayHint(seed));
  assert.equal(hashed.versionNow, plain.versionNow);
  for (const key of [...keys, ...Array.from({ length: 500 }, (_, i) => Buffer.from(`new-${i}`))]) {
    const a = plain.get(key, 0, key.length);
    assert.equal(statusName(hashed.get(key, 0, key.length)), statusName(a), `${replayHint(seed)}: ${key.toString()}`);
    if (a !== Status.OK) continue;
    assert.deepEqual(Buffer.from(hashed.resultValue()), Buffer.from(plain.resultValue()), `${replayHint(seed)}: ${key.toString()}`);
    assert.equal(hashed.resultVersion, plain.resultVersion);
  }
});
