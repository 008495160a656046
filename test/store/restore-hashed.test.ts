// Store.restoreHashed() is restore() for a caller that already hashed the key (recovery's log
// read): driven with the same random restores (new keys, same-size overwrites in place, size
// changes, a memory limit small enough that writes clean), a store given the hashes must end
// exactly like one that hashes each key itself. A wrong hash is caught by the sampled rehash.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvariantError } from '../../dataplane/store/assert.js';
import { MIB, Status, Store, statusName } from '../../dataplane/store/index.js';
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
