// Tombstones (see "Tombstones" in docs/design-notes.md): deletes in a tombstone-retaining range
// leave a tombstone record that reads as absent, shows in scans that ask for tombstones, and is
// replaced by a later put; elsewhere deletes remove the entry at once. Once retention is lifted,
// the cleaner drops the tombstones it meets.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIB, Status, Store, statusName } from '../../dataplane/store/index.js';
import { KEYSPACE_END, evenSplit, rangeContains, type HashRange } from '../../proto/keyspace/range.js';
import { keyHash64 } from '../../proto/keyspace/hash.js';
import { numberedKey } from '../support/keys.js';
import { expectedRecordBytes } from '../support/recordSize.js';
import { scanAll, type ScannedRecord } from '../support/scanAll.js';

const WHOLE: HashRange = { start: 0n, end: KEYSPACE_END };
const SEGMENT_SIZE_BYTES = 64 * 1024;

function smallStore(memoryLimitBytes = MIB): Store {
  return new Store({ memoryLimitBytes, segmentSizeBytes: SEGMENT_SIZE_BYTES, valueLengthMax: 4096, indexBucketCountInitial: 16 });
}

function keys(prefix: string, count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => numberedKey(prefix, i));
}

function put(store: Store, key: Buffer, value: Buffer): void {
  assert.equal(statusName(store.put(key, 0, key.length, value, 0, value.length)), 'OK', `put ${key.toString()}`);
}

function versionOf(store: Store, key: Buffer): number {
  assert.equal(statusName(store.get(key, 0, key.length)), 'OK', `get ${key.toString()}`);
  return store.resultVersion;
}

function tombstonesIn(records: ScannedRecord[]): Map<string, ScannedRecord> {
  return new Map(records.filter((r) => r.tombstone).map((r) => [r.key, r]));
}

test('delete: in a retaining range leaves a tombstone that reads as absent; outside it leaves nothing', () => {
  const store = smallStore();
  const all = keys('t', 400);
  for (const key of all) put(store, key, Buffer.from(`value of ${key.toString()}`));
  const retaining = evenSplit(4)[1];
  store.setTombstoneRetention([retaining]);
  const inside = all.filter((key) => rangeContains(retaining, keyHash64(key)));
  assert.ok(inside.length > 50 && inside.length < 150, `about a quarter of the keys are in the range: ${inside.length}`);
  for (const key of all) assert.equal(store.delete(key, 0, key.length), Status.OK);

  const stats = store.stats();
  assert.equal(stats.keyCount, 0);
  assert.equal(stats.tombstoneCount, inside.length);
  const tombstoneBytes = inside.reduce((sum, key) => sum + expectedRecordBytes(key.length, 0), 0);
  assert.equal(stats.liveBytes, tombstoneBytes, 'only tombstones are live');
  for (const key of all) assert.equal(store.get(key, 0, key.length), Status.NOT_FOUND);
  assert.deepEqual(store.rangeFigures([WHOLE, retaining]), [{ keyCount: 0, bytes: 0 }, { keyCount: 0, bytes: 0 }], 'tombstones are not keys');

  const scanned = scanAll(store, WHOLE, { includeTombstones: true, recordCountMax: 7 });
  assert.deepEqual(scanned.map((r) => r.key).sort(), inside.map((key) => key.toString('latin1')).sort(), 'the scan shows exactly the tombstones');
  for (const record of scanned) {
    assert.ok(record.tombstone && record.checksumValid && record.value.length === 0, `tombstone record of ${record.key}`);
    assert.equal(record.recordBytes, expectedRecordBytes(record.key.length, 0));
  }
  assert.deepEqual(scanAll(store, WHOLE), [], 'without includeTombstones the scan shows nothing');

  // A tombstone is absent for every operation: delete and deleteIfVersion find nothing.
  const key = inside[0];
  const tombstoneVersion = scanned.find((r) => r.key === key.toString('latin1'))?.version ?? -1;
  assert.equal(store.delete(key, 0, key.length), Status.NOT_FOUND);
  assert.equal(store.deleteIfVersion(key, 0, key.length, tombstoneVersion), Status.NOT_FOUND);
  assert.equal(store.stats().tombstoneCount, inside.length, 'deleting a tombstone changes nothing');
});

test('put: replaces a tombstone; a key\'s versions keep increasing across delete and re-create', () => {
  const store = smallStore();
  store.setTombstoneRetention([WHOLE]);
  const key = Buffer.from('recreated');
  put(store, key, Buffer.from('one'));
  const v1 = versionOf(store, key);
  assert.equal(store.delete(key, 0, key.length), Status.OK);
  const tombstone = tombstonesIn(scanAll(store, WHOLE, { includeTombstones: true })).get('recreated');
  assert.ok(tombstone !== undefined, 'tombstone present');
  assert.ok(tombstone.version > v1, `tombstone version ${tombstone.version} > ${v1}`);
  // Expected version 0 means "absent": a tombstoned key is absent, its tombstone version is not a match.
  const two = Buffer.from('two');
  assert.equal(store.putIfVersion(key, 0, key.length, two, 0, two.length, tombstone.version), Status.VERSION_MISMATCH);
  assert.equal(store.putIfVersion(key, 0, key.length, two, 0, two.length, 0), Status.OK);
  const v2 = versionOf(store, key);
  assert.ok(v2 > tombstone.version, `re-created version ${v2} > tombstone ${tombstone.version}`);
  assert.ok(store.resultValue().equals(two));
  const stats = store.stats();
  assert.equal(stats.tombstoneCount, 0, 'the put replaced the tombstone');
  assert.equal(stats.keyCount, 1);
  assert.equal(stats.liveBytes, expectedRecordBytes(key.length, two.length));

  // incrBy on a tombstoned key counts from 0.
  assert.equal(store.delete(key, 0, key.length), Status.OK);
  assert.equal(store.incrBy(key, 0, key.length, 5), Status.OK);
  assert.equal(store.resultInteger, 5);
  assert.ok(store.resultVersion > v2);
  assert.equal(store.stats().tombstoneCount, 0);

  // Without retention, versions also keep increasing across delete and re-create.
  store.setTombstoneRetention([]);
  const v3 = store.resultVersion;
  assert.equal(store.delete(key, 0, key.length), Status.OK);
  assert.equal(store.stats().tombstoneCount, 0);
  put(store, key, Buffer.from('three'));
  assert.ok(versionOf(store, key) > v3);
});

/** Writes so far by churn(): its value lengths cycle with it, so no overwrite is in place. */
let churnWrites = 0;

/** Overwrites `live` keys with values of changing size (so records move and garbage builds up). */
function churn(store: Store, live: Buffer[], bytes: number, maintainEvery = 0): void {
  for (let written = 0; written < bytes; churnWrites++) {
    const key = live[churnWrites % live.length];
    const length = 100 + 4 * (churnWrites % 7);
    put(store, key, Buffer.alloc(length, churnWrites & 0xff));
    written += expectedRecordBytes(key.length, length);
    if (maintainEvery > 0 && churnWrites % maintainEvery === 0) store.maintain(SEGMENT_SIZE_BYTES, 1024);
  }
}

test('cleaner: relocates tombstones while their range retains them', () => {
  const store = smallStore();
  const doomed = keys('doomed', 1000);
  const live = keys('live', 1000);
  for (const key of [...doomed, ...live]) put(store, key, Buffer.alloc(100));
  store.setTombstoneRetention([WHOLE]);
  for (const key of doomed) assert.equal(store.delete(key, 0, key.length), Status.OK);
  const before = store.stats();
  churn(store, live, 20 * MIB);
  const after = store.stats();
  assert.ok(after.cleanerSegmentsCleaned > before.cleanerSegmentsCleaned + 100, 'the cleaner ran');
  assert.equal(after.tombstoneCount, doomed.length, 'retained tombstones survive cleaning');
  const tombstones = tombstonesIn(scanAll(store, WHOLE, { includeTombstones: true }));
  assert.equal(tombstones.size, doomed.length);
  for (const key of doomed) assert.equal(store.get(key, 0, key.length), Status.NOT_FOUND);
  assert.equal(after.segmentsQuarantined, 0);
});

test('cleaner: drops tombstones it meets once retention is lifted', () => {
  const store = smallStore();
  const doomed = keys('doomed', 1000);
  const live = keys('live', 1000);
  for (const key of [...doomed, ...live]) put(store, key, Buffer.alloc(100));
  store.setTombstoneRetention([WHOLE]);
  // Deletes interleaved with overwrites: the tombstones' segments also hold records that die.
  for (let i = 0; i < doomed.length; i++) {
    assert.equal(store.delete(doomed[i], 0, doomed[i].length), Status.OK);
    churn(store, live, 3 * 100);
  }
  assert.equal(store.stats().tombstoneCount, doomed.length);
  store.setTombstoneRetention([]);
  for (let round = 0; round < 200 && store.stats().tombstoneCount > 0; round++) churn(store, live, MIB / 4, 64);
  const stats = store.stats();
  assert.equal(stats.tombstoneCount, 0, 'every tombstone dropped');
  assert.equal(stats.keyCount, live.length);
  assert.equal(stats.liveBytes, scanAll(store, WHOLE, { includeTombstones: true }).reduce((sum, r) => sum + r.recordBytes, 0));
  for (const key of doomed) assert.equal(store.get(key, 0, key.length), Status.NOT_FOUND);
});

test('maintain: drops every tombstone once retention is lifted, also those relocated while retained', () => {
  // Tombstones that survive cleanings while retained collect in survivor segments with little
  // else: such a segment looks full of live data. Once retention is lifted those bytes are
  // garbage and must be reclaimed; otherwise every migration leaks its deletes' tombstones.
  const store = smallStore();
  const doomed = keys('doomed', 1000);
  const live = keys('live', 1000);
  for (const key of [...doomed, ...live]) put(store, key, Buffer.alloc(100));
  store.setTombstoneRetention([WHOLE]);
  for (const key of doomed) assert.equal(store.delete(key, 0, key.length), Status.OK);
  churn(store, live, 20 * MIB);
  assert.equal(store.stats().tombstoneCount, doomed.length);

  store.setTombstoneRetention([]);
  let calls = 0;
  for (; calls < 1000 && store.stats().tombstoneCount > 0; calls++) store.maintain(SEGMENT_SIZE_BYTES, 1024);
  const afterMaintain = store.stats().tombstoneCount;
  // Idle maintenance alone may wait for memory pressure; give it a workload too (20x the limit).
  for (let round = 0; round < 80 && store.stats().tombstoneCount > 0; round++) churn(store, live, MIB / 4, 64);
  const stats = store.stats();
  assert.equal(stats.tombstoneCount, 0,
    `tombstones left: ${stats.tombstoneCount} of ${doomed.length} (${afterMaintain} after ${calls} maintain() calls, `
    + `${stats.cleanerSegmentsCleaned} segments cleaned in all, ${stats.segmentsFree} segments free)`);
});
