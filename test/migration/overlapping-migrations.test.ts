// Two migrations of overlapping ranges into one pod: the target refuses the second at
// PrepareMigration while the first is still arriving (its pre-copied records would be dropped by
// the second's clearing of the range), the second's source fails it and keeps its range, and the
// first completes with every record. A repeat of the first's PrepareMigration stays idempotent.
// The source, too, refuses a second migration of a range moving out, and fails one whose range
// was split before the transfer (giving it up then would hand over what it no longer owns as such).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '../../client/index.js';
import { adminClient, type AdminClient } from '../../proto/adminClient.js';
import { untilMigration, type MigrationInfo } from '../support/migrationStatus.js';
import { durablePod } from '../support/durablePod.js';
import { HALF, twoDurablePods } from '../support/twoDurablePods.js';

const KEYS = 20_000;
const UPPER = { start: HALF, end: '0', view: 2 };
/** The upper quarter of the keyspace: inside UPPER. */
const TOP_QUARTER = { start: (3n << 62n).toString(), end: '0', view: 5 };

const valueOf = (i: number): string => `v${i}-`.padEnd(100, '.');

async function infos(admin: AdminClient, id: string): Promise<MigrationInfo[]> {
  return (await admin.call('MigrationStatus', { migrationId: id })).migrations as MigrationInfo[];
}

test('migration: a second migration into a pod whose range overlaps one still arriving there is refused; the first completes intact', { timeout: 90_000 }, async (t) => {
  const { source, target, admin, dataDir } = await twoDurablePods(t, KEYS, valueOf);
  t.after(() => Promise.all([source.stop(), target.stop()]));
  // A third pod that (by a stale assignment) owns the upper quarter, inside the range moving to pod-t.
  const other = durablePod(dataDir, 'pod-x');
  const otherAddress = await other.start();
  t.after(() => other.stop());
  const otherAdmin = adminClient(otherAddress);
  const targetAdmin = adminClient(target.address);
  t.after(() => {
    otherAdmin.close();
    targetAdmin.close();
  });
  const rest = { start: '0', end: TOP_QUARTER.start, view: 2 };
  await otherAdmin.call('AssignRanges', {
    owned: [TOP_QUARTER], routes: [{ ...rest, owner: 'pod-s', address: source.address }, { ...TOP_QUARTER, owner: 'pod-x', address: otherAddress }],
  });

  await admin.call('StartMigration', { migrationId: 'm1', range: UPPER, targetPod: 'pod-t', targetAddress: target.address, throttleBytesPerSecond: '400000' });
  await untilMigration(admin, 'm1', (i) => Number(i.bytesMoved) > 0);
  assert.equal((await infos(admin, 'm1'))[0].phase, 'PREPARE', 'm1 is pre-copying');
  const copied = target.store.stats().keyCount;
  assert.ok(copied > 0, 'the target holds pre-copied records of m1');

  await otherAdmin.call('StartMigration', { migrationId: 'm2', range: TOP_QUARTER, targetPod: 'pod-t', targetAddress: target.address, throttleBytesPerSecond: '0' });
  const refused = await untilMigration(otherAdmin, 'm2', (i) => ['FAILED', 'CANCELLED', 'COMPLETE', 'ABORTED'].includes(i.phase));
  assert.equal(refused.phase, 'FAILED');
  assert.match(refused.error, /pod-t: migration refused: range \[\d+, \d+\) overlaps range \[\d+, \d+\) of migration m1, still arriving here \(PREPARE\)/);
  assert.deepEqual(other.ranges.list().map((r) => [String(r.start), r.view]), [[TOP_QUARTER.start, 5]], 'pod-x still owns its range, at its view');
  assert.deepEqual(await infos(targetAdmin, 'm2'), [], 'the target never took m2 on');
  assert.ok(target.store.stats().keyCount >= copied, 'nothing m1 pre-copied was dropped');

  // The same migration's PrepareMigration again (a retried call) is not a refusal.
  const again = await targetAdmin.call('PrepareMigration', { migrationId: 'm1', range: { ...UPPER, view: 3 }, sourcePod: 'pod-s', sourceAddress: source.address });
  assert.equal(again.phase, 'PREPARE');

  await admin.call('ControlMigration', { migrationId: 'm1', action: 'THROTTLE', throttleBytesPerSecond: '0' });
  const done = await untilMigration(admin, 'm1', (i) => ['FAILED', 'CANCELLED', 'COMPLETE', 'ABORTED'].includes(i.phase));
  assert.equal(done.phase, 'COMPLETE', done.error);
  const reader = createClient({ seeds: [target.address] });
  t.after(() => reader.close());
  const values = await reader.mget([...Array(KEYS).keys()].map((i) => `k${i}`));
  values.forEach((entry, i) => assert.equal(entry?.value.toString(), valueOf(i), `k${i}`));
});

test('migration: the source refuses a second migration of a range already moving out, and fails one whose range was split before the transfer', { timeout: 90_000 }, async (t) => {
  const { source, target, admin } = await twoDurablePods(t, KEYS, valueOf);
  t.after(() => Promise.all([source.stop(), target.stop()]));
  const targetAdmin = adminClient(target.address);
  t.after(() => targetAdmin.close());
  await admin.call('StartMigration', { migrationId: 's1', range: UPPER, targetPod: 'pod-t', targetAddress: target.address, throttleBytesPerSecond: '400000' });
  await untilMigration(admin, 's1', (i) => Number(i.bytesMoved) > 0);
  await assert.rejects(admin.call('StartMigration', { migrationId: 's2', range: UPPER, targetPod: 'pod-x', targetAddress: '127.0.0.1:1', throttleBytesPerSecond: '0' }),
    /overlaps range \[\d+, \d+\) of migration s1, still moving out \(PREPARE\)/);
  assert.deepEqual(await infos(admin, 's2'), [], 'no second migration was started');

  // Split while it pre-copies: giving "the range" up now would leave both halves served here.
  await admin.call('SplitRange', { range: UPPER, at: TOP_QUARTER.start });
  await admin.call('ControlMigration', { migrationId: 's1', action: 'THROTTLE', throttleBytesPerSecond: '0' });
  const failed = await untilMigration(admin, 's1', (i) => ['FAILED', 'CANCELLED', 'COMPLETE', 'ABORTED'].includes(i.phase));
  assert.equal(failed.phase, 'FAILED');
  assert.match(failed.error, /no longer owned here as such/);
  assert.deepEqual(source.ranges.list().map((r) => [String(r.start), r.view]), [['0', 2], [HALF, 3], [TOP_QUARTER.start, 3]], 'the source owns all it owned');
  assert.deepEqual(target.ranges.list(), [], 'the target owns nothing');
  assert.equal((await infos(targetAdmin, 's1'))[0].phase, 'CANCELLED');
  const deadline = Date.now() + 10_000;
  while (target.store.stats().keyCount > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(target.store.stats().keyCount, 0, 'the target dropped what was pre-copied');
  const reader = createClient({ seeds: [source.address] });
  t.after(() => reader.close());
  const values = await reader.mget([...Array(KEYS).keys()].map((i) => `k${i}`));
  values.forEach((entry, i) => assert.equal(entry?.value.toString(), valueOf(i), `k${i}`));
});
