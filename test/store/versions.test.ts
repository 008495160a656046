// Versions (see "Versions" in docs/design-notes.md): the store assigns them; a key's version
// strictly increases with every write (put, CAS, incrBy, in-place update, tombstone), also across
// delete and re-create; putIfVersion / deleteIfVersion compare against the current version, and
// expected version 0 means "the key must not exist".

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIB, Status, Store, statusName } from '../../dataplane/store/index.js';

function versionStore(): Store {
  return new Store({ memoryLimitBytes: 4 * MIB, segmentSizeBytes: 64 * 1024, valueLengthMax: 4096, indexBucketCountInitial: 16 });
}

const key = Buffer.from('versioned');

function versionNow(store: Store): number {
  assert.equal(statusName(store.get(key, 0, key.length)), 'OK');
  return store.resultVersion;
}

function putValue(store: Store, text: string, expectedVersion?: number): Status {
  const value = Buffer.from(text);
  return expectedVersion === undefined
    ? store.put(key, 0, key.length, value, 0, value.length)
    : store.putIfVersion(key, 0, key.length, value, 0, value.length, expectedVersion);
}

test('put/putIfVersion/incrBy: every write gives the key a higher version, in-place updates included', () => {
  const store = versionStore();
  assert.equal(putValue(store, 'aaaa'), Status.OK);
  let last = versionNow(store);
  assert.ok(last >= 1, 'versions start above 0 (0 means absent)');
  const writes: Array<[string, () => Status]> = [
    ['put, same size (in place)', () => putValue(store, 'bbbb')],
    ['put, other size', () => putValue(store, 'cccccccccc')],
    ['putIfVersion', () => putValue(store, '7', versionNow(store))],
    ['incrBy, same size', () => store.incrBy(key, 0, key.length, 1)],
    ['incrBy, other size', () => store.incrBy(key, 0, key.length, 1000)],
  ];
  for (let round = 0; round < 3; round++) {
    for (const [what, write] of writes) {
      assert.equal(statusName(write()), 'OK', what);
      const version = versionNow(store);
      assert.ok(version > last, `${what}: ${last} -> ${version}`);
      assert.ok(store.versionNow > version, `${what}: versionNow is past every assigned version`);
      last = version;
    }
  }
  assert.ok(store.stats().inPlaceUpdates > 0, 'the same-size writes were in-place updates');
});

test('putIfVersion: succeeds with the current version, VERSION_MISMATCH with any other; 0 means absent', () => {
  const store = versionStore();
  assert.equal(putValue(store, 'x', 5), Status.VERSION_MISMATCH, 'absent key, non-zero expected version');
  assert.equal(store.get(key, 0, key.length), Status.NOT_FOUND);
  assert.equal(putValue(store, 'first', 0), Status.OK, 'absent key, expected 0: created');
  const v1 = versionNow(store);
  assert.equal(putValue(store, 'again', 0), Status.VERSION_MISMATCH, 'present key, expected 0');
  for (const wrong of [v1 - 1, v1 + 1, v1 + 1000]) {
    assert.equal(putValue(store, 'wrong', wrong), Status.VERSION_MISMATCH, `expected ${wrong}, current ${v1}`);
  }
  assert.equal(versionNow(store), v1, 'refused writes change nothing');
  assert.equal(store.resultValue().toString(), 'first');
  assert.equal(putValue(store, 'second', v1), Status.OK);
  const v2 = versionNow(store);
  assert.equal(putValue(store, 'stale', v1), Status.VERSION_MISMATCH, 'the old version no longer matches');
  assert.equal(store.resultValue().toString(), 'second');
  assert.ok(v2 > v1);
});

test('deleteIfVersion: deletes only at the current version; a missing key is NOT_FOUND', () => {
  const store = versionStore();
  assert.equal(store.deleteIfVersion(key, 0, key.length, 1), Status.NOT_FOUND);
  assert.equal(putValue(store, 'value'), Status.OK);
  const v1 = versionNow(store);
  assert.equal(store.deleteIfVersion(key, 0, key.length, v1 + 1), Status.VERSION_MISMATCH);
  assert.equal(store.get(key, 0, key.length), Status.OK);
  assert.equal(store.deleteIfVersion(key, 0, key.length, v1), Status.OK);
  assert.equal(store.get(key, 0, key.length), Status.NOT_FOUND);
  assert.equal(store.deleteIfVersion(key, 0, key.length, v1), Status.NOT_FOUND);
});

test('put: a key re-created after a delete gets a version above all its earlier ones (no ABA)', () => {
  const store = versionStore();
  let last = 0;
  for (let round = 0; round < 20; round++) {
    assert.equal(putValue(store, `round ${round}`), Status.OK);
    const version = versionNow(store);
    assert.ok(version > last, `round ${round}: ${last} -> ${version}`);
    last = version;
    // A compare-and-set holding a version from before the delete must fail after re-creation.
    assert.equal(store.delete(key, 0, key.length), Status.OK);
    assert.equal(putValue(store, 'recreated', 0), Status.OK);
    assert.equal(putValue(store, 'stale CAS', version), Status.VERSION_MISMATCH);
    last = versionNow(store);
    assert.equal(store.delete(key, 0, key.length), Status.OK);
  }
});

test('observeVersion: later writes get versions above an observed one; lower ones change nothing', () => {
  const store = versionStore();
  store.observeVersion(1_000_000);
  assert.equal(putValue(store, 'after observe'), Status.OK);
  const v1 = versionNow(store);
  assert.ok(v1 > 1_000_000, `version ${v1} above the observed 1,000,000`);
  store.observeVersion(10);
  assert.equal(putValue(store, 'after a lower observe'), Status.OK);
  assert.ok(versionNow(store) > v1);
  store.observeVersion(2 ** 52);
  assert.equal(putValue(store, 'near 2^53'), Status.OK);
  assert.ok(versionNow(store) > 2 ** 52 && Number.isSafeInteger(versionNow(store)), 'versions above 2^32 survive the two-word layout');
});
