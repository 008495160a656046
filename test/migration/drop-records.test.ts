// dropRecords (dataplane/migration/dropRecords.ts) and the KeyList it collects keys in: what a
// drop deletes and spares, slice by slice, with the list reused across calls and grown past what
// it keeps between them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SCAN_DONE, Status, Store } from '../../dataplane/store/index.js';
import { KEYSPACE_END, type HashRange } from '../../proto/keyspace/range.js';
import { keyHash64 } from '../../proto/keyspace/hash.js';
import { dropRecords } from '../../dataplane/migration/dropRecords.js';
import { KeyList } from '../../dataplane/migration/keyList.js';
import { locate } from '../support/locateRecord.js';
import { RECORD_HEADER_BYTES } from '../support/recordSize.js';
import { scanAll } from '../support/scanAll.js';

const LOWER: HashRange = { start: 0n, end: 1n << 63n };

function storeWith(keyCount: number, keyBytes: number): { store: Store; keys: Buffer[] } {
  const store = new Store({ memoryLimitBytes: 256 * 1024 * 1024, segmentSizeBytes: 1024 * 1024, valueLengthMax: 4096 });
  const keys: Buffer[] = [];
  for (let i = 0; i < keyCount; i++) {
    const key = Buffer.alloc(keyBytes, 0x61);
    key.write(String(i));
    keys.push(key);
    assert.equal(store.put(key, 0, key.length, Buffer.from([i & 0xff]), 0, 1), Status.OK);
  }
  return { store, keys };
}

const inLower = (key: Buffer): boolean => keyHash64(key) < LOWER.end;

test('dropRecords: deletes exactly the range\'s keys, slice by slice, sparing what spare keeps', () => {
  const { store, keys } = storeWith(20_000, 24);
  // Spare every key whose first digit is 7.
  const spared = (key: Buffer): boolean => key[0] === 0x37;
  let cursor = Number(LOWER.start >> 32n);
  let deleted = 0;
  let calls = 0;
  while (cursor !== SCAN_DONE) {
    const outcome = dropRecords(store, LOWER, cursor, 500, (bytes, offset, length) => bytes[offset] === 0x37 && length === 24);
    assert.equal(outcome.status, Status.OK);
    deleted += outcome.keysDeleted;
    cursor = outcome.next;
    calls++;
  }
  assert.ok(calls > 10, `the drop went in slices (${calls} calls)`);
  let expectDeleted = 0;
  for (const key of keys) {
    const found = store.get(key, 0, key.length) === Status.OK;
    const gone = inLower(key) && !spared(key);
    if (gone) expectDeleted++;
    assert.equal(found, !gone, `key ${key.toString('latin1').trim()} ${gone ? 'dropped' : 'kept'}`);
  }
  assert.equal(deleted, expectDeleted);
});

test('dropRecords: one call over more keys than the list keeps between calls, then small ones, all exact', () => {
  // 300k keys of 32 bytes: ~4.8 MB in the lower half, past what the list keeps between calls.
  const { store, keys } = storeWith(300_000, 32);
  const outcome = dropRecords(store, LOWER, 0, Infinity);
  assert.equal(outcome.status, Status.OK);
  assert.equal(outcome.next, SCAN_DONE);
  assert.equal(outcome.keysDeleted, keys.filter(inLower).length);
  for (const key of keys) assert.equal(store.get(key, 0, key.length) === Status.OK, !inLower(key));
  const upper: HashRange = { start: 1n << 63n, end: KEYSPACE_END };
  let cursor = Number(upper.start >> 32n);
  while (cursor !== SCAN_DONE) cursor = dropRecords(store, upper, cursor, 1000).next;
  assert.equal(store.stats().keyCount, 0);
});

test('KeyList: keys keep their bytes through growth; copyOf outlives clear; a large list is given back', () => {
  const list = new KeyList();
  const source = Buffer.alloc(70_000);
  for (let i = 0; i < source.length; i++) source[i] = i % 251;
  for (let i = 0; i < 10_000; i++) list.add(source, i * 7, 1 + (i % 7));
  assert.equal(list.count, 10_000);
  for (let i = 0; i < 10_000; i += 997) {
    const key = list.bytes.subarray(list.offsetOf(i), list.offsetOf(i) + list.lengthOf(i));
    assert.deepEqual(key, source.subarray(i * 7, i * 7 + 1 + (i % 7)));
  }
  const copy = list.copyOf(9_999);
  list.clear();
  assert.equal(list.count, 0);
  list.add(Buffer.from('zz'), 0, 2);
  assert.deepEqual(copy, source.subarray(9_999 * 7, 9_999 * 7 + 1 + (9_999 % 7)));
  const big = Buffer.alloc(8 * 1024 * 1024, 1);
  list.add(big, 0, big.length);
  assert.ok(list.bytes.length >= big.length);
  list.clear();
  assert.ok(list.bytes.length < 1024 * 1024, `the 8 MiB buffer was given back (${list.bytes.length} bytes kept)`);
});

test('dropRecords in place (no tombstones retained): the range\'s keys go, counts and live bytes follow, during index doublings too', () => {
  // A small initial index, so that the puts leave doublings under way for the drop to meet.
  const store = new Store({ memoryLimitBytes: 256 * 1024 * 1024, segmentSizeBytes: 1024 * 1024, valueLengthMax: 4096, indexBucketCountInitial: 64 });
  const keys: Buffer[] = [];
  for (let i = 0; i < 60_000; i++) {
    const key = Buffer.from(`key-${i}`);
    keys.push(key);
    assert.equal(store.put(key, 0, key.length, Buffer.alloc(1 + (i % 200), i & 0xff), 0, 1 + (i % 200)), Status.OK);
  }
  assert.ok(store.stats().indexResizing, 'a doubling is under way when the drop starts');
  assert.equal(store.dropsInPlace(LOWER), true);
  let cursor = 0;
  let deleted = 0;
  while (cursor !== SCAN_DONE) {
    const outcome = dropRecords(store, LOWER, cursor, 700, (bytes, offset, length) => length === 8 && bytes[offset + 4] === 0x37);
    assert.equal(outcome.status, Status.OK);
    deleted += outcome.keysDeleted;
    cursor = outcome.next;
  }
  const gone = (key: Buffer): boolean => inLower(key) && !(key.length === 8 && key[4] === 0x37);
  assert.equal(deleted, keys.filter(gone).length);
  for (const key of keys) assert.equal(store.get(key, 0, key.length) === Status.OK, !gone(key), `key ${key.toString()}`);
  const stats = store.stats();
  const scanned = scanAll(store, { start: 0n, end: KEYSPACE_END });
  assert.equal(stats.keyCount, scanned.length, 'the key count follows the drop');
  assert.equal(stats.liveBytes, scanned.reduce((sum, record) => sum + record.recordBytes, 0), 'live bytes follow the drop');
  assert.equal(stats.tombstoneCount, 0, 'no tombstone written');
  const [lower, upper] = store.rangeFigures([LOWER, { start: LOWER.end, end: KEYSPACE_END }]);
  assert.equal(lower.keyCount, keys.filter((key) => inLower(key) && !gone(key)).length, 'per-range accounting: the lower half keeps its spared keys');
  assert.equal(upper.keyCount, keys.filter((key) => !inLower(key)).length);
  // What was dropped is garbage the cleaner can reclaim: drop the rest and every segment's live bytes reach 0.
  cursor = 0;
  while (cursor !== SCAN_DONE) cursor = dropRecords(store, { start: 0n, end: KEYSPACE_END }, cursor, 5000).next;
  assert.equal(store.stats().keyCount, 0);
  assert.equal(store.stats().liveBytes, 0);
});

test('dropRecords where tombstones are retained: deletes, each leaving a tombstone (not dropped in place)', () => {
  const { store, keys } = storeWith(5_000, 24);
  store.setTombstoneRetention([{ start: 1n << 62n, end: 3n << 62n }]);
  assert.equal(store.dropsInPlace(LOWER), false, 'the retained range overlaps the lower half');
  const outcome = dropRecords(store, LOWER, 0, Infinity);
  assert.equal(outcome.status, Status.OK);
  const retained = (key: Buffer): boolean => keyHash64(key) >= 1n << 62n && keyHash64(key) < LOWER.end;
  assert.equal(outcome.keysDeleted, keys.filter(inLower).length);
  assert.equal(store.stats().tombstoneCount, keys.filter(retained).length, 'a tombstone for each key deleted in the retained part');
  for (const key of keys) assert.equal(store.get(key, 0, key.length) === Status.OK, !inLower(key));
});

test('dropRecords in place over corrupt records: a corrupt value is dropped by its key; a corrupt key is left, never served, and nothing throws', () => {
  const { store, keys } = storeWith(4_000, 24);
  const lower = keys.filter(inLower);
  const corruptAt = (key: Buffer, byteInRecord: number): void => {
    const { segmentId, offsetBytes } = locate(store, key);
    store.segments.bytes[segmentId][offsetBytes + byteInRecord] ^= 0xff;
  };
  const valueCorrupt = lower[0];
  const keyCorrupt = lower[1];
  corruptAt(valueCorrupt, RECORD_HEADER_BYTES + 24); // the value's one byte
  corruptAt(keyCorrupt, RECORD_HEADER_BYTES + 3); // a byte of the key
  assert.equal(store.get(valueCorrupt, 0, valueCorrupt.length), Status.CORRUPT);
  assert.equal(store.dropsInPlace(LOWER), true);
  let cursor = 0;
  let deleted = 0;
  while (cursor !== SCAN_DONE) {
    const outcome = dropRecords(store, LOWER, cursor, 300);
    assert.equal(outcome.status, Status.OK);
    deleted += outcome.keysDeleted;
    cursor = outcome.next;
  }
  // The corrupt key is deleted by its (corrupt) bytes: NOT_FOUND, which counts as deleted, as for any drop.
  assert.equal(deleted, lower.length);
  assert.equal(store.get(valueCorrupt, 0, valueCorrupt.length), Status.NOT_FOUND, 'the record with a corrupt value is gone');
  for (const key of keys) if (key !== valueCorrupt && key !== keyCorrupt) assert.equal(store.get(key, 0, key.length) === Status.OK, !inLower(key));
  assert.equal(store.stats().keyCount, keys.length - lower.length + 1, 'the unreachable corrupt-key entry is all that is left of the lower half');
});
