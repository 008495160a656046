// AssignRanges or RecoverRanges on a pod that would give it hash space a migration is still
// pre-copying into it: refused (FAILED_PRECONDITION, RangeArrivingError) before anything changes,
// because taking the space drops what the migration copied (clearBeforeTaking) and would serve a
// range the migration goes on copying into. The migration is left intact and completes with every
// record. Through the Admin gRPC interface, two in-process durable pods. And a PrepareMigration
// that lands while a RecoverRanges that passed its checks waits for its turn is refused: the
// recovering pod owns the ranges from the moment its last check passed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '../../client/index.js';
import { adminClient } from '../../proto/adminClient.js';
import { ARRIVING_PREFIX } from '../../dataplane/migration/rangeArrivingError.js';
import { untilMigration } from '../support/migrationStatus.js';
import { HALF, twoDurablePods } from '../support/twoDurablePods.js';
import { assignWholeKeyspace } from '../support/assignRanges.js';
import { abandon, durablePod, startedDurablePod } from '../support/durablePod.js';

const KEYS = 20_000;
const UPPER = { start: HALF, end: '0', view: 2 };
/** The upper quarter of the keyspace: inside UPPER. */
const TOP_QUARTER = { start: (3n << 62n).toString(), end: '0', view: 5 };
const FINISHED = ['FAILED', 'CANCELLED', 'COMPLETE', 'ABORTED'];

const valueOf = (i: number): string => `v${i}-`.padEnd(100, '.');

/** FAILED_PRECONDITION (9) with details naming the refusal and the migration still arriving. */
function refusedFor(call: string): (error: Error & { code?: number; details?: string }) => boolean {
  return (error) => {
    assert.equal(error.code, 9, error.message);
    assert.ok(error.details?.startsWith(`${ARRIVING_PREFIX}${call} refused: `), error.details);
    assert.match(error.details ?? '', /overlaps range \[\d+, \d+\) of migration m1, still arriving here \(PREPARE\)/);
    return true;
  };
}

test('AssignRanges / RecoverRanges into a range being pre-copied to the pod are refused; the migration completes intact', { timeout: 90_000 }, async (t) => {
  const { source, target, admin } = await twoDurablePods(t, KEYS, valueOf);
  t.after(() => Promise.all([source.stop(), target.stop()]));
  const targetAdmin = adminClient(target.address);
  t.after(() => targetAdmin.close());

  await admin.call('StartMigration', { migrationId: 'm1', range: UPPER, targetPod: 'pod-t', targetAddress: target.address, throttleBytesPerSecond: '400000' });
  await untilMigration(admin, 'm1', (i) => Number(i.bytesMoved) > 0);
  const copied = target.store.stats().keyCount;
  assert.ok(copied > 0, 'the target holds pre-copied records of m1');

  const rest = { start: '0', end: TOP_QUARTER.start, view: 2 };
  const routes = [{ ...rest, owner: 'pod-s', address: source.address }, { ...TOP_QUARTER, owner: 'pod-t', address: target.address }];
  await assert.rejects(targetAdmin.call('AssignRanges', { owned: [TOP_QUARTER], routes }), refusedFor('AssignRanges'));
  await assert.rejects(targetAdmin.call('RecoverRanges', { deadPod: 'pod-s', ranges: [TOP_QUARTER] }, 30_000), refusedFor('RecoverRanges'));

  assert.deepEqual(target.ranges.list(), [], 'the target took nothing');
  assert.ok(target.store.stats().keyCount >= copied, 'nothing m1 pre-copied was dropped');
  assert.equal((await untilMigration(targetAdmin, 'm1', () => true)).phase, 'PREPARE', 'm1 still arrives');

  await admin.call('ControlMigration', { migrationId: 'm1', action: 'THROTTLE', throttleBytesPerSecond: '0' });
  const done = await untilMigration(admin, 'm1', (i) => FINISHED.includes(i.phase));
  assert.equal(done.phase, 'COMPLETE', done.error);
  assert.deepEqual(target.ranges.list().map((r) => [String(r.start), r.view]), [[HALF, 3]], 'the target owns the range m1 moved');
  const reader = createClient({ seeds: [target.address] });
  t.after(() => reader.close());
  const values = await reader.mget([...Array(KEYS).keys()].map((i) => `k${i}`));
  values.forEach((entry, i) => assert.equal(entry?.value.toString(), valueOf(i), `k${i}`));
});

test('RecoverRanges owns its ranges as soon as its second arriving check passes: a PrepareMigration while its recovery waits is refused', { timeout: 60_000 }, async (t) => {
  const { pod: dead, dir } = await startedDurablePod(t, 'slicekv-recover-prepare-', 'pod-d');
  await assignWholeKeyspace(dead.address, 'pod-d');
  const writer = createClient({ seeds: [dead.address] });
  await writer.mput([...Array(100).keys()].map((i) => [`k${i}`, valueOf(i)]));
  writer.close();
  await abandon(dead);
  const live = durablePod(dir, 'pod-r');
  await live.start();
  t.after(() => live.stop());
  const admin = adminClient(live.address);
  t.after(() => admin.close());

  // The recovery's step waits behind an earlier manifest change (here one held open by the test).
  let release = (): void => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  (live.durability as unknown as { serially(step: () => Promise<void>): Promise<void> }).serially(() => held).catch(() => undefined);
  // Counts RecoverRanges' checks for arriving ranges: the second one is the last before it takes the ranges.
  let checks = 0;
  const check = live.migrations.refuseTakingArriving.bind(live.migrations);
  live.migrations.refuseTakingArriving = (parts, call) => {
    checks++;
    check(parts, call);
  };
  const recovered = admin.call('RecoverRanges', { deadPod: 'pod-d', ranges: [{ start: '0', end: '0', view: 2 }] }, 30_000);
  try {
    while (checks < 2) await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(admin.call('PrepareMigration', {
      migrationId: 'm2', range: { start: HALF, end: '0', view: 3 }, sourcePod: 'pod-x', sourceAddress: '127.0.0.1:1', preCopy: false, bulkAddress: '',
    }), /migration refused: range \[\d+, \d+\) overlaps a range this pod owns/);
    assert.deepEqual(live.ranges.list().map((r) => [String(r.start), r.view, r.recovering]), [['0', 2, true]], 'owned and recovering while the recovery waits');
  } finally {
    release();
    await recovered;
  }
  assert.deepEqual([...live.migrations.incoming.values()].filter((m) => !m.phase.finished).map((m) => m.id), [], 'nothing arrives here');
  assert.deepEqual(live.ranges.list().map((r) => [String(r.start), r.view, r.recovering]), [['0', 2, undefined]], 'the range is recovered and served');
});
