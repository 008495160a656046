// A restart presizes its empty index and faults the tables in on the thread pool before
// installing them (dataplane/durability/faultAhead.ts). Serving starts before recovery ends, so a
// write may come first: then the tables are dropped and nothing written is lost.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { presizeIndexAhead } from '../../dataplane/durability/faultAhead.js';
import { startedReaders } from '../support/walReadWays.js';
import { MIB, Status, Store } from '../../dataplane/store/index.js';
import { KEYSPACE_END, type HashRange } from '../../proto/keyspace/range.js';

const WHOLE: HashRange = { start: 0n, end: KEYSPACE_END };

function smallStore(): Store {
  return new Store({ memoryLimitBytes: 64 * MIB, segmentSizeBytes: MIB, valueLengthMax: 4096, indexBucketCountInitial: 1024 });
}

test('presizeIndexAhead: an empty store gets the presized index, then loads into it', async () => {
  const store = smallStore();
  const before = store.stats().indexBytes;
  await presizeIndexAhead(store, 400_000, [WHOLE]);
  assert.ok(store.stats().indexBytes > 8 * before, `index grew from ${before} to ${store.stats().indexBytes} bytes`);
  const key = Buffer.from('key-0');
  assert.equal(store.put(key, 0, key.length, Buffer.from('v'), 0, 1), Status.OK);
  assert.equal(store.get(key, 0, key.length), Status.OK);
});

test('presizeIndexAhead: with frame readers up, the workers fault the tables in; with readers closed, the thread pool does', async (t) => {
  for (const closed of [false, true]) {
    const readers = await startedReaders();
    t.after(() => readers.close());
    if (closed) await readers.close();
    const store = smallStore();
    const before = store.stats().indexBytes;
    await presizeIndexAhead(store, 400_000, [WHOLE], readers);
    assert.equal(readers.workerTouches > 0, !closed, `readers ${closed ? 'closed' : 'up'}: ${readers.workerTouches} tables touched by the workers`);
    assert.ok(store.stats().indexBytes > 8 * before, `readers ${closed ? 'closed' : 'up'}: index grew from ${before} to ${store.stats().indexBytes} bytes`);
    const keys = Array.from({ length: 1000 }, (_, i) => Buffer.from(`key-${i}`));
    for (const key of keys) assert.equal(store.put(key, 0, key.length, key, 0, key.length), Status.OK);
    for (const key of keys) assert.equal(store.get(key, 0, key.length), Status.OK, key.toString());
  }
});

test('presizeIndexAhead: a write while the tables are faulted in keeps the index it went into', async () => {
  const store = smallStore();
  const before = store.stats().indexBytes;
  const ready = presizeIndexAhead(store, 400_000, [WHOLE]);
  const keys = Array.from({ length: 100 }, (_, i) => Buffer.from(`early-${i}`));
  for (const key of keys) assert.equal(store.put(key, 0, key.length, key, 0, key.length), Status.OK);
  await ready;
  assert.equal(store.stats().indexBytes, before, 'the presized tables were dropped');
  for (const key of keys) {
    assert.equal(store.get(key, 0, key.length), Status.OK, key.toString());
    assert.equal(store.resultBytes.subarray(store.resultValueOffset, store.resultValueOffset + store.resultValueLength).toString(), key.toString());
  }
});

test('presizedIndexTables: only the tables of shards the ranges touch are handed out to be faulted in', () => {
  const store = smallStore();
  const quarter: HashRange = { start: KEYSPACE_END / 4n, end: KEYSPACE_END / 2n };
  const presized = store.presizedIndexTables(100_000, [quarter]);
  assert.ok(presized !== null);
  // 16 shards of 2^60 hashes each: a quarter of the keyspace is 4 of them.
  assert.equal(presized.tables.length, 16);
  assert.equal(presized.memory.length, 4);
  const straddling: HashRange = { start: (KEYSPACE_END / 16n) * 3n - 1n, end: (KEYSPACE_END / 16n) * 3n + 1n };
  assert.equal(store.presizedIndexTables(100_000, [straddling])?.memory.length, 2, 'a range across a shard boundary touches both shards');
});
