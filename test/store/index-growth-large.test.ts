// Index doublings of tables of 2^18 buckets and more move entries by the split bit cached in
// their tag instead of rehashing keys from the log (see dataplane/store/hashIndex.ts). Those
// doublings only start past 5 × 2^18 = 1,310,720 entries, so this test inserts 1.45M small keys:
// it crosses the last rehashing doubling (2^17 -> 2^18) and the first tag-split one (2^18 -> 2^19).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIB, Status, Store } from '../../dataplane/store/index.js';

const KEY_COUNT = 1_450_000;
const KEY_BYTES = 8;

function writeKey(target: Buffer, index: number): void {
  target.writeUInt32LE(index, 0);
  target.writeUInt32LE(index ^ 0x5bd1e995, 4);
}

test('index growth: the doublings from 2^17 and 2^18 buckets keep every key reachable', () => {
  const store = new Store({ memoryLimitBytes: 96 * MIB, segmentSizeBytes: 8 * MIB, indexBucketCountInitial: 1 << 17 });
  const key = Buffer.alloc(KEY_BYTES);
  const value = Buffer.alloc(4);
  let doublingsSeen = 0;
  let resizingBefore = false;
  for (let i = 0; i < KEY_COUNT; i++) {
    writeKey(key, i);
    value.writeUInt32LE(i, 0);
    assert.equal(store.put(key, 0, KEY_BYTES, value, 0, 4), Status.OK, `put ${i}`);
    const resizing = store.stats().indexResizing;
    if (resizing && !resizingBefore) doublingsSeen++;
    resizingBefore = resizing;
    if (i % 4096 === 0) store.maintain(0, 256);
  }
  while (store.maintain(0, 1 << 20));
  assert.equal(doublingsSeen, 2, 'one doubling from 2^17 buckets, one from 2^18');
  assert.equal(store.stats().indexMisplacedEntries, 0);
  for (let i = 0; i < KEY_COUNT; i++) {
    writeKey(key, i);
    assert.equal(store.get(key, 0, KEY_BYTES), Status.OK, `key ${i} after the doublings`);
    assert.equal(store.resultBytes.readUInt32LE(store.resultValueOffset), i);
  }
  assert.equal(store.stats().keyCount, KEY_COUNT);
});
