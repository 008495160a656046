// Deletes that fail while a migration drops records (dataplane/migration/dropRecords.ts): the
// target's purge of slices the source re-sends, PrepareMigration clearing what an earlier copy
// left, the background drop of a range given away, and AssignRanges / RecoverRanges clearing
// what a pod still holds of a range it is about to take. Driven on IncomingMigration and
// Migrations directly with a real engine: a delete fails only when it must write a tombstone
// (the key's hash lies in a tombstone-retaining range) and the log is full, and nothing reachable
// through the pods' gRPC interface turns retention on, so the failure cannot be provoked there.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Status, Store } from '../../dataplane/store/index.js';
import { KEYSPACE_END, type HashRange } from '../../proto/keyspace/range.js';
import { keyHash64 } from '../../proto/keyspace/hash.js';
import { IncomingMigration, MigrationInstallError, type IncomingPeer } from '../../dataplane/migration/incomingMigration.js';
import { Migrations, type MigrationPod } from '../../dataplane/migration/migrations.js';
import { RangeSlices, encodeSlices } from '../../dataplane/migration/rangeSlices.js';
import { LeftoverRecordsError } from '../../dataplane/migration/dropRecords.js';
import type { OwnedRange, OwnedRanges } from '../../dataplane/ranges/ownedRanges.js';
import type { ClientTable } from '../../dataplane/rifl/clientTable.js';

/** The upper half of the keyspace, at its view after the move. */
const UPPER: OwnedRange = { start: 1n << 63n, end: KEYSPACE_END, view: 3 };
const EMPTY = Buffer.alloc(0);
const NO_PEER: IncomingPeer = { fetchKeys: () => Promise.reject(new Error('no source in this test')) };

function smallStore(): Store {
  return new Store({ memoryLimitBytes: 1024 * 1024, segmentSizeBytes: 64 * 1024, valueLengthMax: 4096, indexBucketCountInitial: 16 });
}

/** `count` keys of 9 bytes whose hashes lie in UPPER. */
function upperKeys(prefix: string, count: number): Buffer[] {
  const keys: Buffer[] = [];
  for (let i = 0; keys.length < count; i++) {
    const key = Buffer.from(`${prefix}-${String(i).padStart(7, '0')}`);
    if (keyHash64(key) >= UPPER.start) keys.push(key);
  }
  return keys;
}

function put(store: Store, key: Buffer, value: string): void {
  assert.equal(store.put(key, 0, key.length, Buffer.from(value), 0, value.length), Status.OK, `put ${key.toString()}`);
}

/**
 * Makes a delete in `retaining` fail: tombstones are kept there, and the log is filled with live
 * records down to records of a tombstone's size (keys of 9 bytes, empty values), so no tombstone fits.
 */
function fillSoDeletesFail(store: Store, retaining: HashRange): void {
  store.setTombstoneRetention([retaining]);
  let i = 0;
  for (const valueLength of [4096, 1024, 256, 64, 16, 0]) {
    const value = Buffer.alloc(valueLength, 0x61);
    for (;;) {
      const key = Buffer.from(`j-${String(i++).padStart(7, '0')}`);
      if (store.put(key, 0, key.length, value, 0, value.length) !== Status.OK) break;
    }
  }
}

function stalePreCopy(): { store: Store; migration: IncomingMigration; stale: Buffer; replaced: Buffer } {
  const store = smallStore();
  const [stale] = upperKeys('x', 1);
  put(store, stale, 'pre-copied, since deleted at the source');
  const migration = new IncomingMigration({ id: 'm1', range: UPPER, sourcePod: 'pod-s', peer: NO_PEER, store, clients: {} as ClientTable },
    () => undefined, Date.now());
  const slices = new RangeSlices(UPPER);
  fillSoDeletesFail(store, UPPER);
  const key = Buffer.from(stale);
  assert.equal(store.delete(key, 0, key.length), Status.OUT_OF_MEMORY, 'the setup makes deletes in the range fail');
  return { store, migration, stale, replaced: encodeSlices([slices.sliceOf(Number(keyHash64(stale) >> 32n))]) };
}

test('IncomingMigration.receiveOwnership: a re-sent slice whose record cannot be deleted fails the install instead of leaving the stale record to be served', () => {
  const { store, migration, stale, replaced } = stalePreCopy();
  // The source deleted the key after pre-copying it: its slice comes again, with no records.
  assert.throws(() => migration.receiveOwnership(EMPTY, { preCopied: true, replacedSlices: replaced, sliceRecords: EMPTY, pendingSlices: EMPTY }),
    (error: Error) => error instanceof MigrationInstallError && /re-sent slice .*OUT_OF_MEMORY/.test(error.message));
  assert.equal(store.get(stale, 0, stale.length), Status.OK, 'the record is still here (the migration fails instead of serving it)');
});

test('IncomingMigration.receivePreCopy: a re-sent slice whose record cannot be deleted fails the PreCopy call', () => {
  const { migration, replaced } = stalePreCopy();
  assert.throws(() => migration.receivePreCopy(EMPTY, replaced),
    (error: Error) => error instanceof MigrationInstallError && /re-sent slice .*OUT_OF_MEMORY/.test(error.message));
});

interface Harness {
  migrations: Migrations;
  store: Store;
  logged: string[];
}

/** Migrations on a pod that owns nothing (no durability, no peers). */
function podWithout(store: Store): Harness {
  const logged: string[] = [];
  const pod: MigrationPod = {
    podName: 'pod-t', address: '127.0.0.1:1', store, clients: {} as ClientTable,
    ranges: { list: () => [] } as unknown as OwnedRanges, durability: null, routes: null,
  };
  const noPeer = { ...NO_PEER, call: () => Promise.reject(new Error('no peers in this test')) };
  const migrations = new Migrations(pod, () => noPeer, (message) => logged.push(message));
  return { migrations, store, logged };
}

test('Migrations.prepare: records of the range left from before are dropped also without pre-copy', async (t) => {
  const store = smallStore();
  const left = upperKeys('old', 50);
  for (const key of left) put(store, key, 'left by an earlier copy');
  const { migrations } = podWithout(store);
  t.after(() => migrations.close());
  await migrations.prepare('m1', UPPER, 'pod-s', '127.0.0.1:2');
  // The copy after ownership never sends a key the source deleted: a record left here would come back.
  for (const key of left) assert.equal(store.get(key, 0, key.length), Status.NOT_FOUND, `${key.toString()} dropped`);
});

test('Migrations.prepare: a record left from before that cannot be deleted fails PrepareMigration and cancels the migration here', async (t) => {
  const store = smallStore();
  const [left] = upperKeys('old', 1);
  put(store, left, 'left by an earlier copy');
  fillSoDeletesFail(store, UPPER);
  const { migrations } = podWithout(store);
  t.after(() => migrations.close());
  await assert.rejects(migrations.prepare('m1', UPPER, 'pod-s', '127.0.0.1:2'), /could not be dropped: deleting key .*OUT_OF_MEMORY/);
  assert.equal(migrations.incoming.get('m1')?.phase.phase, 'CANCELLED', 'a late pre-copy or ownership is refused');
  assert.deepEqual(await migrations.resolve('m1', UPPER), { targetOwns: false, phase: 'CANCELLED' });
});

test('Migrations.dropRange: a delete that fails stops the background drop, which is logged and counted, never rejected', async (t) => {
  const store = smallStore();
  const given = upperKeys('given', 20);
  for (const key of given) put(store, key, 'of a range given away');
  fillSoDeletesFail(store, UPPER);
  const { migrations, logged } = podWithout(store);
  t.after(() => migrations.close());
  await migrations.dropRange(UPPER);
  assert.equal(migrations.dropFailureCount, 1);
  assert.ok(logged.some((line) => /dropping the records of range .* stopped: deleting key .*OUT_OF_MEMORY/.test(line)), logged.join('\n'));
  // Drops queued after a failed one still run.
  store.setTombstoneRetention([]);
  await migrations.dropRange(UPPER);
  assert.equal(migrations.dropFailureCount, 1);
  for (const key of given) assert.equal(store.get(key, 0, key.length), Status.NOT_FOUND, `${key.toString()} dropped`);
});

test('Migrations.clearBeforeTaking (AssignRanges, RecoverRanges): leftovers are dropped; one that cannot be deleted rejects, so the range is not taken', async (t) => {
  const store = smallStore();
  const left = upperKeys('left', 30);
  for (const key of left) put(store, key, 'of a range given away');
  const { migrations } = podWithout(store);
  t.after(() => migrations.close());
  await migrations.clearBeforeTaking([UPPER]);
  for (const key of left) assert.equal(store.get(key, 0, key.length), Status.NOT_FOUND, `${key.toString()} dropped`);
  const [stuck] = upperKeys('stuck', 1);
  put(store, stuck, 'cannot be deleted');
  fillSoDeletesFail(store, UPPER);
  await assert.rejects(migrations.clearBeforeTaking([UPPER]),
    (error: Error) => error instanceof LeftoverRecordsError && /could not be dropped: deleting key .*OUT_OF_MEMORY/.test(error.message));
  assert.equal(migrations.dropFailureCount, 0, 'not a background drop: the caller gets the failure');
});
