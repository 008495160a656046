// Operating errors from callers (empty or oversized keys, oversized values, invalid versions and
// deltas) come back as INVALID_ARGUMENT with an ErrorDetail and leave the store untouched.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_STORE_CONFIG, ErrorDetail, MIB, Status, Store, StoreConfigError, resolveStoreConfig, statusName, type StoreStats,
} from '../../dataplane/store/index.js';

const KEY_LENGTH_MAX = 64;
const VALUE_LENGTH_MAX = 1000;

function smallStore(): Store {
  return new Store({
    memoryLimitBytes: MIB, segmentSizeBytes: 64 * 1024, keyLengthMax: KEY_LENGTH_MAX, valueLengthMax: VALUE_LENGTH_MAX,
    indexBucketCountInitial: 16,
  });
}

interface Snapshot {
  stats: StoreStats;
  versionNow: number;
  value: Buffer;
  version: number;
}

const existingKey = Buffer.from('existing');
const existingValue = Buffer.from('value-1');

function seeded(): Store {
  const store = smallStore();
  assert.equal(store.put(existingKey, 0, existingKey.length, existingValue, 0, existingValue.length), Status.OK);
  return store;
}

function snapshot(store: Store): Snapshot {
  assert.equal(store.get(existingKey, 0, existingKey.length), Status.OK);
  return { stats: store.stats(), versionNow: store.versionNow, value: Buffer.from(store.resultValue()), version: store.resultVersion };
}

/** Runs `operation`, expects INVALID_ARGUMENT with `detail`, and that nothing changed. */
function expectInvalid(store: Store, detail: ErrorDetail, what: string, operation: () => Status): void {
  const before = snapshot(store);
  store.errorDetail = ErrorDetail.NONE;
  const status = operation();
  assert.equal(statusName(status), statusName(Status.INVALID_ARGUMENT), what);
  assert.equal(store.errorDetail, detail, `${what}: errorDetail`);
  assert.deepEqual(snapshot(store), before, `${what}: store unchanged`);
}

test('put/get/delete/incrBy/putIfVersion/deleteIfVersion: an empty key is INVALID_ARGUMENT / KEY_EMPTY', () => {
  const store = seeded();
  const key = Buffer.from('existing'); // a real key, passed with length 0
  const value = Buffer.from('v');
  expectInvalid(store, ErrorDetail.KEY_EMPTY, 'get', () => store.get(key, 0, 0));
  expectInvalid(store, ErrorDetail.KEY_EMPTY, 'put', () => store.put(key, 0, 0, value, 0, 1));
  expectInvalid(store, ErrorDetail.KEY_EMPTY, 'putIfVersion', () => store.putIfVersion(key, 0, 0, value, 0, 1, 0));
  expectInvalid(store, ErrorDetail.KEY_EMPTY, 'delete', () => store.delete(key, 0, 0));
  expectInvalid(store, ErrorDetail.KEY_EMPTY, 'deleteIfVersion', () => store.deleteIfVersion(key, 0, 0, 1));
  expectInvalid(store, ErrorDetail.KEY_EMPTY, 'incrBy', () => store.incrBy(key, 0, 0, 1));
});

test('put/get/delete/incrBy/putIfVersion/deleteIfVersion: a key over keyLengthMax is INVALID_ARGUMENT / KEY_TOO_LARGE', () => {
  const store = seeded();
  // The existing key's bytes followed by more: same prefix, one byte too long.
  const key = Buffer.concat([existingKey, Buffer.alloc(KEY_LENGTH_MAX + 1 - existingKey.length, 0x61)]);
  const n = KEY_LENGTH_MAX + 1;
  const value = Buffer.from('v');
  expectInvalid(store, ErrorDetail.KEY_TOO_LARGE, 'get', () => store.get(key, 0, n));
  expectInvalid(store, ErrorDetail.KEY_TOO_LARGE, 'put', () => store.put(key, 0, n, value, 0, 1));
  expectInvalid(store, ErrorDetail.KEY_TOO_LARGE, 'putIfVersion', () => store.putIfVersion(key, 0, n, value, 0, 1, 0));
  expectInvalid(store, ErrorDetail.KEY_TOO_LARGE, 'delete', () => store.delete(key, 0, n));
  expectInvalid(store, ErrorDetail.KEY_TOO_LARGE, 'deleteIfVersion', () => store.deleteIfVersion(key, 0, n, 1));
  expectInvalid(store, ErrorDetail.KEY_TOO_LARGE, 'incrBy', () => store.incrBy(key, 0, n, 1));
});

test('put/putIfVersion: a value over valueLengthMax is INVALID_ARGUMENT / VALUE_TOO_LARGE, for new and existing keys', () => {
  const store = seeded();
  const value = Buffer.alloc(VALUE_LENGTH_MAX + 1, 0x7a);
  const fresh = Buffer.from('fresh');
  const n = value.length;
  expectInvalid(store, ErrorDetail.VALUE_TOO_LARGE, 'put existing', () => store.put(existingKey, 0, existingKey.length, value, 0, n));
  expectInvalid(store, ErrorDetail.VALUE_TOO_LARGE, 'put new', () => store.put(fresh, 0, fresh.length, value, 0, n));
  expectInvalid(store, ErrorDetail.VALUE_TOO_LARGE, 'putIfVersion new', () => store.putIfVersion(fresh, 0, fresh.length, value, 0, n, 0));
  const version = snapshot(store).version;
  expectInvalid(store, ErrorDetail.VALUE_TOO_LARGE, 'putIfVersion existing',
    () => store.putIfVersion(existingKey, 0, existingKey.length, value, 0, n, version));
  assert.equal(store.get(fresh, 0, fresh.length), Status.NOT_FOUND);
});

test('put: keys of exactly keyLengthMax and values of exactly valueLengthMax are accepted', () => {
  const store = smallStore();
  const key = Buffer.alloc(KEY_LENGTH_MAX, 0x6b);
  const value = Buffer.alloc(VALUE_LENGTH_MAX, 0x76);
  assert.equal(store.put(key, 0, key.length, value, 0, value.length), Status.OK);
  assert.equal(store.get(key, 0, key.length), Status.OK);
  assert.ok(store.resultValue().equals(value));
  const one = Buffer.from('k');
  assert.equal(store.put(one, 0, 1, value, 0, 0), Status.OK, 'one-byte key, empty value');
  assert.equal(store.get(one, 0, 1), Status.OK);
  assert.equal(store.resultValueLength, 0);
});

test('putIfVersion/deleteIfVersion: negative, fractional, NaN and unsafe versions are INVALID_ARGUMENT / VERSION_INVALID', () => {
  const store = seeded();
  const value = Buffer.from('new');
  for (const version of [-1, -2, 0.5, Number.NaN, Infinity, 2 ** 53]) {
    expectInvalid(store, ErrorDetail.VERSION_INVALID, `putIfVersion ${version}`,
      () => store.putIfVersion(existingKey, 0, existingKey.length, value, 0, value.length, version));
    expectInvalid(store, ErrorDetail.VERSION_INVALID, `deleteIfVersion ${version}`,
      () => store.deleteIfVersion(existingKey, 0, existingKey.length, version));
  }
});

test('deleteIfVersion: expected version 0 is INVALID_ARGUMENT / VERSION_INVALID (the key cannot be absent and deleted)', () => {
  const store = seeded();
  // A previous error must not leak its detail into this one.
  assert.equal(store.get(existingKey, 0, 0), Status.INVALID_ARGUMENT);
  assert.equal(store.errorDetail, ErrorDetail.KEY_EMPTY);
  const before = snapshot(store);
  assert.equal(store.deleteIfVersion(existingKey, 0, existingKey.length, 0), Status.INVALID_ARGUMENT);
  assert.equal(store.errorDetail, ErrorDetail.VERSION_INVALID, 'errorDetail names the bad version, not the previous call\'s error');
  assert.deepEqual(snapshot(store), before);
});

test('incrBy: a delta that is not a safe integer is INVALID_ARGUMENT / DELTA_NOT_SAFE_INTEGER', () => {
  const store = seeded();
  const counter = Buffer.from('counter');
  assert.equal(store.put(counter, 0, counter.length, Buffer.from('5'), 0, 1), Status.OK);
  for (const delta of [0.5, 2 ** 53, -(2 ** 53), Number.NaN, Infinity, -Infinity]) {
    expectInvalid(store, ErrorDetail.DELTA_NOT_SAFE_INTEGER, `incrBy ${delta}`, () => store.incrBy(counter, 0, counter.length, delta));
    expectInvalid(store, ErrorDetail.DELTA_NOT_SAFE_INTEGER, `incrBy ${delta} on a missing key`, () => store.incrBy(Buffer.from('nope'), 0, 4, delta));
  }
  assert.equal(store.get(counter, 0, counter.length), Status.OK);
  assert.equal(store.resultValue().toString(), '5');
});

test('Store: default limits reject a key of 16 KiB + 1 and a value of 1 MiB + 1', () => {
  const store = new Store({ memoryLimitBytes: 64 * MIB });
  const key = Buffer.alloc(DEFAULT_STORE_CONFIG.keyLengthMax + 1, 0x6b);
  assert.equal(store.put(key, 0, key.length, Buffer.alloc(1), 0, 1), Status.INVALID_ARGUMENT);
  assert.equal(store.errorDetail, ErrorDetail.KEY_TOO_LARGE);
  const value = Buffer.alloc(DEFAULT_STORE_CONFIG.valueLengthMax + 1);
  assert.equal(store.put(key, 0, 10, value, 0, value.length), Status.INVALID_ARGUMENT);
  assert.equal(store.errorDetail, ErrorDetail.VALUE_TOO_LARGE);
  assert.equal(store.put(key, 0, DEFAULT_STORE_CONFIG.keyLengthMax, value, 0, value.length - 1), Status.OK);
  assert.equal(store.stats().keyCount, 1);
});

test('resolveStoreConfig: rejects configurations the engine cannot honour', () => {
  const bad = [
    { keyLengthMax: 0 }, { keyLengthMax: 0x1_0000 }, { valueLengthMax: -1 }, { segmentSizeBytes: 1022 },
    { segmentSizeBytes: 64 * 1024, valueLengthMax: 64 * 1024 }, { memoryLimitBytes: 7 * 8 * MIB },
    { indexBucketCountInitial: 8 }, { indexBucketCountInitial: 100 }, { cleanerReserveSegments: 1 },
  ];
  for (const overrides of bad) assert.throws(() => resolveStoreConfig(overrides), StoreConfigError, JSON.stringify(overrides));
  assert.doesNotThrow(() => resolveStoreConfig({ memoryLimitBytes: 8 * 8 * MIB }));
});
