// Ops at the new view that reach the target before ownership wait for it (Migrations.awaitingOwnership);
// once the range is adopted and served they must not start a new wait, although the migration's
// phase moves from TRANSFER_OWNERSHIP to MOVE_DATA only a moment later (the target first runs the
// ops that waited, then logs and answers the source). A wait begun then would only end with the
// one-second ownership timeout. And the first op served on the range is timed (the owner-switch
// gap) even when it comes after the migration completed; waiting ops are counted (MigrationStatus
// peak_ops_pending). Driven on Migrations with a real engine and OwnedRanges.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Store } from '../../dataplane/store/index.js';
import { KEYSPACE_END } from '../../proto/keyspace/range.js';
import { Migrations, type MigrationPod } from '../../dataplane/migration/migrations.js';
import { OwnedRanges, RangeCheck, type OwnedRange } from '../../dataplane/ranges/ownedRanges.js';
import type { ClientTable } from '../../dataplane/rifl/clientTable.js';

const UPPER: OwnedRange = { start: 1n << 63n, end: KEYSPACE_END, view: 3 };
const EMPTY = Buffer.alloc(0);
const HI = 0xc000_0000;

/** Migrations on a target pod with a real engine and owned-range table, no durability and no reachable peers. */
function targetPod(t: TestContext): { migrations: Migrations; ranges: OwnedRanges } {
  const store = new Store({ memoryLimitBytes: 1024 * 1024, segmentSizeBytes: 64 * 1024, valueLengthMax: 4096, indexBucketCountInitial: 16 });
  const ranges = new OwnedRanges();
  const pod: MigrationPod = { podName: 'pod-t', address: '127.0.0.1:1', store, clients: {} as ClientTable, ranges, durability: null, routes: null };
  const peer = { call: () => Promise.reject(new Error('no peers in this test')), fetchKeys: () => Promise.reject(new Error('no source')) };
  const migrations = new Migrations(pod, () => peer, () => undefined);
  t.after(() => migrations.close());
  return { migrations, ranges };
}

test('an op at the new view waits for ownership before it arrives, and not once the range is adopted', async (t) => {
  const { migrations } = targetPod(t);
  const migration = await migrations.prepare('m1', UPPER, 'pod-s', '127.0.0.1:2');
  const early = migrations.awaitingOwnership(HI, 0, UPPER.view);
  assert.ok(early !== null, 'before ownership, an op at the new view waits');
  const second = migrations.awaitingOwnership(HI + 1, 0, UPPER.view);
  assert.equal(migration.opsPending, 2, 'each waiting op is counted');

  const received = migrations.receiveOwnership('m1', EMPTY, '', [], 0, { preCopied: false, replacedSlices: EMPTY, sliceRecords: EMPTY, pendingSlices: EMPTY });
  await early;
  await second;
  assert.equal(migration.adopted, true, 'the ops that waited were released by the adoption');
  assert.deepEqual([migration.opsPending, migration.opsPendingPeak], [0, 2], 'released, they no longer count; the peak stays');
  assert.equal(migration.phase.phase, 'TRANSFER_OWNERSHIP', '(the phase moves on a moment later)');
  assert.equal(migrations.awaitingOwnership(HI, 0, UPPER.view), null, 'an op arriving now runs at once');
  await received;
  assert.equal(migration.phase.phase, 'MOVE_DATA');
});

test('ops waiting for keys not arrived yet are counted until their fetch settles (here: fails, no source)', async (t) => {
  const { migrations } = targetPod(t);
  const migration = await migrations.prepare('m1', UPPER, 'pod-s', '127.0.0.1:2');
  await migrations.receiveOwnership('m1', EMPTY, '', [], 0, { preCopied: false, replacedSlices: EMPTY, sliceRecords: EMPTY, pendingSlices: EMPTY });
  const arrivals = migration.arrivals([Buffer.from('k1'), Buffer.from('k2'), Buffer.from('k3')]);
  assert.equal(migration.opsPending, 3);
  const outcomes = await Promise.allSettled(arrivals);
  assert.ok(outcomes.every((o) => o.status === 'rejected'), 'no source to fetch from');
  assert.deepEqual([migration.opsPending, migration.opsPendingPeak], [0, 3]);
});

test('a migration that completes before the range served an op still times the first op served (the owner-switch gap)', async (t) => {
  const { migrations, ranges } = targetPod(t);
  const migration = await migrations.prepare('m1', UPPER, 'pod-s', '127.0.0.1:2');
  await migrations.receiveOwnership('m1', EMPTY, '', [], 0, { preCopied: false, replacedSlices: EMPTY, sliceRecords: EMPTY, pendingSlices: EMPTY });
  migrations.moveData('m1', EMPTY, 0xffff_ffff, true);
  migrations.finish('m1');
  assert.equal(migration.phase.phase, 'COMPLETE');
  assert.equal(ranges.arrivingCount, 0, 'no longer arriving');
  assert.equal(ranges.check(HI, 0, UPPER.view), RangeCheck.SERVE);
  assert.equal(ranges.servedTiming(), migration, 'its first op served is still timed');
  migration.firstServedAtMs = 1;
  ranges.check(0x1000_0000, 0, 1);
  assert.equal(ranges.servedTiming(), null, 'a range that did not arrive by migration is not timed');
});
