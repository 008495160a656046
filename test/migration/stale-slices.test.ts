// After a pre-copy, ownership names the slices written at the source since the last round as
// pending; the target's copies of them are stale and are dropped as their data comes, not when
// ownership arrives (dataplane/migration/staleSlices.ts). Driven on IncomingMigration with real
// engines for both sides: a key deleted at the source must never be served from its stale copy,
// whichever way its slice resolves (on-demand fetch, MOVE_DATA, the source's files), and a key
// written at the target after it resolved keeps that write.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordRef, SCAN_DONE, Status, Store } from '../../dataplane/store/index.js';
import { KEYSPACE_END, type HashRange } from '../../proto/keyspace/range.js';
import { keyHash64 } from '../../proto/keyspace/hash.js';
import { IncomingMigration, MigrationInstallError, type IncomingPeer } from '../../dataplane/migration/incomingMigration.js';
import { RangeSlices, encodeSlices } from '../../dataplane/migration/rangeSlices.js';
import { RecordRun } from '../../dataplane/migration/recordRun.js';
import { EntryBuffer } from '../../dataplane/durability/entryBuffer.js';
import { WalEntryKind } from '../../dataplane/durability/walEntry.js';
import type { OwnedRange } from '../../dataplane/ranges/ownedRanges.js';
import type { ClientTable } from '../../dataplane/rifl/clientTable.js';

const UPPER: OwnedRange = { start: 1n << 63n, end: KEYSPACE_END, view: 3 };
const SLICES = new RangeSlices(UPPER);
const EMPTY = Buffer.alloc(0);

function smallStore(): Store {
  return new Store({ memoryLimitBytes: 1024 * 1024, segmentSizeBytes: 64 * 1024, valueLengthMax: 4096, indexBucketCountInitial: 16 });
}

/** Keys whose hashes lie in UPPER, each in a slice of its own. */
function upperKeys(names: readonly string[]): Record<string, Buffer> {
  const keys: Record<string, Buffer> = {};
  const slices = new Set<number>();
  for (let i = 0; Object.keys(keys).length < names.length; i++) {
    const key = Buffer.from(`k-${String(i).padStart(7, '0')}`);
    if (keyHash64(key) < UPPER.start || slices.has(sliceOf(key))) continue;
    slices.add(sliceOf(key));
    keys[names[Object.keys(keys).length]] = key;
  }
  return keys;
}

function sliceOf(key: Buffer): number {
  return SLICES.sliceOf(Number(keyHash64(key) >> 32n));
}

function put(store: Store, key: Buffer, value: string): void {
  assert.equal(store.put(key, 0, key.length, Buffer.from(value), 0, value.length), Status.OK, `put ${key.toString()}`);
}

function valueOf(store: Store, key: Buffer): string | null {
  const status = store.get(key, 0, key.length);
  if (status === Status.NOT_FOUND) return null;
  assert.equal(status, Status.OK);
  return store.resultBytes.subarray(store.resultValueOffset, store.resultValueOffset + store.resultValueLength).toString();
}

/** PUT entries of those `keys` the store holds (what FetchKeys and the hot records carry). */
function putEntries(store: Store, keys: readonly Buffer[]): Buffer {
  const buffer = new EntryBuffer();
  const ref = new RecordRef();
  for (const key of keys) {
    if (store.get(key, 0, key.length) !== Status.OK) continue;
    Object.assign(ref, { bytes: store.resultBytes, keyOffset: store.resultValueOffset - key.length, keyLength: key.length,
      valueOffset: store.resultValueOffset, valueLength: store.resultValueLength, version: store.resultVersion });
    buffer.entry(WalEntryKind.PUT, ref);
  }
  return buffer.take();
}

/** The source's records of `slices`, in the engine's layout (what a MOVE_DATA chunk carries). */
function chunkOf(store: Store, slices: readonly number[]): Buffer {
  const run = new RecordRun();
  for (const slice of slices) {
    const range: HashRange = SLICES.hashRange(slice, slice + 1);
    for (let cursor = Number(range.start >> 32n); cursor !== SCAN_DONE;) {
      cursor = store.scan(range, cursor, { recordCountMax: 256, includeTombstones: false }, (record) => run.append(record, store.segments.words[record.segmentId]));
    }
  }
  return Buffer.from(run.view());
}

interface Scene {
  source: Store;
  target: Store;
  migration: IncomingMigration;
  keys: Record<string, Buffer>;
  pending: number[];
  fetched: string[];
}

/**
 * Pre-copied to the target: a-e at v1. Written at the source since: a and e deleted, b and d at
 * v2 (d hot: it comes with ownership), c unchanged (its slice pending all the same). Ownership
 * arrives with all five slices pending.
 */
function scene(): Scene {
  const source = smallStore();
  const target = smallStore();
  const keys = upperKeys(['a', 'b', 'c', 'd', 'e']);
  for (const key of Object.values(keys)) {
    put(source, key, 'v1');
    put(target, key, 'v1');
  }
  for (const name of ['a', 'e']) assert.equal(source.delete(keys[name], 0, keys[name].length), Status.OK);
  for (const name of ['b', 'd']) put(source, keys[name], 'v2');
  const fetched: string[] = [];
  const peer: IncomingPeer = {
    fetchKeys: (_id, asked) => {
      fetched.push(...asked.map(String));
      return Promise.resolve(putEntries(source, asked));
    },
  };
  const migration = new IncomingMigration({ id: 'm1', range: UPPER, sourcePod: 'pod-s', peer, store: target, clients: {} as ClientTable },
    () => undefined, Date.now());
  const pending = Object.values(keys).map(sliceOf).sort((x, y) => x - y);
  migration.receiveOwnership(putEntries(source, [keys.d]), { preCopied: true, replacedSlices: EMPTY, sliceRecords: EMPTY, pendingSlices: encodeSlices(pending) });
  return { source, target, migration, keys, pending, fetched };
}

function needsFetch(migration: IncomingMigration, key: Buffer): boolean {
  return migration.needsFetch(Number(keyHash64(key) >> 32n), key, 0, key.length);
}

test('pending slices: ownership drops nothing; stale copies go as their data comes (fetch, then MOVE_DATA); deleted keys never come back', async () => {
  const { source, target, migration, keys, pending, fetched } = scene();
  // Ownership did no drop work: the stale copies are still here, and unresolved (ops on them wait).
  assert.equal(valueOf(target, keys.a), 'v1', 'not dropped when ownership arrived');
  for (const name of ['a', 'b', 'c', 'e']) assert.ok(needsFetch(migration, keys[name]), `${name} waits for its data`);
  assert.ok(!needsFetch(migration, keys.d), 'the hot record came with ownership');
  assert.equal(valueOf(target, keys.d), 'v2');

  // On-demand fetch of a (deleted at the source) and b (changed there).
  await Promise.all(migration.arrivals([keys.a, keys.b]));
  assert.deepEqual(fetched.sort(), [String(keys.a), String(keys.b)].sort());
  assert.equal(valueOf(target, keys.a), null, 'a key the source no longer has is gone here too');
  assert.equal(valueOf(target, keys.b), 'v2');
  assert.ok(!needsFetch(migration, keys.a) && !needsFetch(migration, keys.b));
  // Served at the target after it resolved: newer than anything the source sends.
  put(target, keys.b, 'v3 written at the target');

  // MOVE_DATA: every pending slice in one last chunk.
  migration.receiveChunk(chunkOf(source, pending), 0xffff_ffff, true);
  assert.equal(valueOf(target, keys.a), null);
  assert.equal(valueOf(target, keys.b), 'v3 written at the target', 'a key resolved here keeps its write');
  assert.equal(valueOf(target, keys.c), 'v1');
  assert.equal(valueOf(target, keys.d), 'v2');
  assert.equal(valueOf(target, keys.e), null, 'a stale copy never fetched is dropped before its slice is installed');
  migration.finish();
});

test('pending slices: MOVE_DATA chunks drop only the stale slices below their mark', () => {
  const { source, target, migration, keys, pending } = scene();
  const [first, second, ...rest] = pending;
  // The first chunk carries the two lowest slices; its mark is the third slice's start.
  migration.receiveChunk(chunkOf(source, [first, second]), SLICES.startHiOf(rest[0]), false);
  const bySlice = new Map(Object.entries(keys).map(([name, key]) => [sliceOf(key), name]));
  for (const slice of [first, second]) {
    const name = bySlice.get(slice) as string;
    assert.equal(valueOf(target, keys[name]), valueOf(source, keys[name]), `${name} arrived as the source has it`);
  }
  for (const slice of rest) {
    const name = bySlice.get(slice) as string;
    assert.equal(valueOf(target, keys[name]), name === 'd' ? 'v2' : 'v1', `${name}: slices past the mark are not touched yet (d came hot)`);
  }
  migration.receiveChunk(chunkOf(source, rest), 0xffff_ffff, true);
  for (const name of Object.keys(keys)) assert.equal(valueOf(target, keys[name]), valueOf(source, keys[name]), `${name} as the source has it`);
  migration.finish();
});

test('pending slices: the load from the source\'s files (source lost) drops the stale copies first', async () => {
  const { target, migration, keys } = scene();
  let seenAtLoad: (string | null)[] = [];
  migration.loadRestFromDisk = (skipKey) => {
    seenAtLoad = ['a', 'b', 'c', 'e'].map((name) => valueOf(target, keys[name]));
    assert.ok(skipKey(keys.d, 0, keys.d.length, Number(keyHash64(keys.d) >> 32n)), 'the hot key is kept');
    return Promise.resolve();
  };
  await migration.sourceLost(new Error('source gone'));
  assert.deepEqual(seenAtLoad, [null, null, null, null], 'no stale copy is left for the disk load to miss');
  assert.equal(valueOf(target, keys.d), 'v2');
});

test('pending slices: a stale slice whose records cannot be dropped fails the chunk and stays unresolved', () => {
  const { source, target, migration, keys, pending } = scene();
  // Tombstones retained in the range and the log full to the last byte: every delete there fails.
  target.setTombstoneRetention([UPPER]);
  for (let i = 0; ; i++) {
    const key = Buffer.from(`fill-${i}`);
    if (target.put(key, 0, key.length, EMPTY, 0, 0) !== Status.OK) break;
  }
  assert.throws(() => migration.receiveChunk(chunkOf(source, pending), 0xffff_ffff, true),
    (error: Error) => error instanceof MigrationInstallError && /OUT_OF_MEMORY/.test(error.message));
  assert.ok(needsFetch(migration, keys.e), 'the stale copy of a deleted key is not served');
  assert.equal(valueOf(target, keys.e), 'v1', '(it is still here, unresolved)');
});
