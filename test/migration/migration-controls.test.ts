// Migration controls and durability: pause / resume / throttle while data moves, cancel before
// ownership moves (also in the middle of a pre-copy: the target drops what it got), and a target
// that crashes after taking ownership recovers the range from the source's durable state plus its
// own log. Tests of the copy after ownership run without pre-copy (skipPreCopy), so the copy is
// still under way once ownership has moved.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '../../client/index.js';
import { adminClient, type AdminClient } from '../../proto/adminClient.js';
import { migrationInfo, untilMigration, type MigrationInfo } from '../support/migrationStatus.js';
import { abandon, durablePod } from '../support/durablePod.js';
import { HALF, twoDurablePods, type TwoPods } from '../support/twoDurablePods.js';
import { keyHash64 } from '../../proto/keyspace/hash.js';
import { Status } from '../../dataplane/store/index.js';

const UPPER = { start: HALF, end: '0', view: 2 };
/** This file's waits are shorter than the shared default. */
const UNTIL_MS = 20_000;

function until(admin: AdminClient, id: string, ok: (i: MigrationInfo) => boolean): Promise<MigrationInfo> {
  return untilMigration(admin, id, ok, UNTIL_MS);
}

/** Two durable pods; the source owns [0, 2^63) and [2^63, 2^64) at view 2 with `keys` keys of 100 B. */
function twoPods(t: { after(fn: () => unknown): void }, keys: number): Promise<TwoPods> {
  return twoDurablePods(t, keys, (i) => `v${i}-`.padEnd(100, '.'));
}

test('migration: pause holds the data copy, resume and a new throttle finish it', { timeout: 60_000 }, async (t) => {
  const { source, target, admin } = await twoPods(t, 20_000);
  t.after(() => Promise.all([source.stop(), target.stop()]));
  await admin.call('StartMigration', { migrationId: 'p1', range: UPPER, targetPod: 'pod-t', targetAddress: target.address, throttleBytesPerSecond: '500000', skipPreCopy: true });
  await until(admin, 'p1', (i) => i.phase === 'MOVE_DATA' && Number(i.bytesMoved) > 0);
  await admin.call('ControlMigration', { migrationId: 'p1', action: 'PAUSE' });
  const paused = await until(admin, 'p1', (i) => i.paused);
  await new Promise((resolve) => setTimeout(resolve, 600));
  const still = await migrationInfo(admin, 'p1');
  assert.equal(still.phase, 'MOVE_DATA');
  assert.ok(Number(still.bytesMoved) - Number(paused.bytesMoved) <= 256 * 1024 + 4096, 'at most the chunk in flight moved while paused');
  await admin.call('ControlMigration', { migrationId: 'p1', action: 'THROTTLE', throttleBytesPerSecond: '0' });
  await admin.call('ControlMigration', { migrationId: 'p1', action: 'RESUME' });
  const done = await until(admin, 'p1', (i) => i.phase === 'COMPLETE' || i.phase === 'FAILED');
  assert.equal(done.phase, 'COMPLETE', done.error);
  const reader = createClient({ seeds: [target.address] });
  t.after(() => reader.close());
  const values = await reader.mget([...Array(20_000).keys()].map((i) => `k${i}`));
  values.forEach((entry, i) => assert.equal(entry?.value.toString(), `v${i}-`.padEnd(100, '.'), `k${i}`));
});

test('migration: cancelled before ownership moves, the source keeps serving the range', { timeout: 60_000 }, async (t) => {
  const { source, target, admin } = await twoPods(t, 2000);
  t.after(() => Promise.all([source.stop(), target.stop()]));
  await admin.call('StartMigration', { migrationId: 'c1', range: UPPER, targetPod: 'pod-t', targetAddress: target.address, throttleBytesPerSecond: '0' });
  await admin.call('ControlMigration', { migrationId: 'c1', action: 'CANCEL' });
  const done = await until(admin, 'c1', (i) => ['CANCELLED', 'COMPLETE', 'FAILED'].includes(i.phase));
  assert.equal(done.phase, 'CANCELLED');
  assert.deepEqual(source.ranges.list().map((r) => r.view), [2, 2], 'the source still owns both halves at their views');
  assert.deepEqual(target.ranges.list(), []);
  await assert.rejects(admin.call('ControlMigration', { migrationId: 'nope', action: 'PAUSE' }), /no migration nope/);
});

test('migration: a cancel in the middle of a pre-copy leaves the range at the source, and the target drops what it got', { timeout: 60_000 }, async (t) => {
  const { source, target, admin } = await twoPods(t, 20_000);
  t.after(() => Promise.all([source.stop(), target.stop()]));
  await admin.call('StartMigration', { migrationId: 'pc1', range: UPPER, targetPod: 'pod-t', targetAddress: target.address, throttleBytesPerSecond: '500000' });
  await until(admin, 'pc1', (i) => Number(i.bytesMoved) > 0);
  const copying = await migrationInfo(admin, 'pc1');
  assert.equal(copying.phase, 'PREPARE', 'the pre-copy runs before ownership moves');
  assert.ok(target.store.stats().keyCount > 0, 'the target holds pre-copied records');
  const writer = createClient({ seeds: [source.address] });
  t.after(() => writer.close());
  await writer.mput([...Array(500).keys()].map((i) => [`k${i}`, `during-${i}`]));
  await admin.call('ControlMigration', { migrationId: 'pc1', action: 'CANCEL' });
  const done = await until(admin, 'pc1', (i) => ['CANCELLED', 'COMPLETE', 'FAILED'].includes(i.phase));
  assert.equal(done.phase, 'CANCELLED');
  assert.deepEqual(source.ranges.list().map((r) => r.view), [2, 2], 'the source still owns both halves at their views');
  const deadline = Date.now() + 10_000;
  while (target.store.stats().keyCount > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(target.store.stats().keyCount, 0, 'the target dropped every pre-copied record');
  const values = await writer.mget([...Array(2000).keys()].map((i) => `k${i}`));
  values.forEach((entry, i) => assert.equal(entry?.value.toString(), i < 500 ? `during-${i}` : `v${i}-`.padEnd(100, '.'), `k${i}`));
});

test('migration: clients of the source connect to the target during the pre-copy (connect hints), before any op is sent there', { timeout: 60_000 }, async (t) => {
  const { source, target, admin } = await twoPods(t, 20_000);
  t.after(() => Promise.all([source.stop(), target.stop()]));
  const client = createClient({ seeds: [source.address] });
  t.after(() => client.close());
  await client.get('k1');
  assert.equal(target.sessionsOpen, 0, 'nobody talks to the target yet');
  await admin.call('StartMigration', { migrationId: 'h1', range: UPPER, targetPod: 'pod-t', targetAddress: target.address, throttleBytesPerSecond: '500000' });
  await until(admin, 'h1', (i) => Number(i.bytesMoved) > 0);
  await client.get('k2'); // its reply carries the hint
  const deadline = Date.now() + 5000;
  while (target.sessionsOpen === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal((await migrationInfo(admin, 'h1')).phase, 'PREPARE', 'still copying: no op was sent to the target');
  assert.equal(target.sessionsOpen, 1, 'the client opened a session to the target ahead of the switch');
  await admin.call('ControlMigration', { migrationId: 'h1', action: 'CANCEL' });
});

test('migration: a target that crashes after taking ownership recovers the range from the source\'s files and its own log', { timeout: 60_000 }, async (t) => {
  const { source, target, admin, dataDir } = await twoPods(t, 20_000);
  t.after(() => source.stop());
  await admin.call('StartMigration', { migrationId: 'r1', range: UPPER, targetPod: 'pod-t', targetAddress: target.address, throttleBytesPerSecond: '300000', skipPreCopy: true });
  await until(admin, 'r1', (i) => i.phase === 'MOVE_DATA' && Number(i.bytesMoved) > 0);
  await admin.call('ControlMigration', { migrationId: 'r1', action: 'PAUSE' });
  const writer = createClient({ seeds: [target.address] });
  await writer.mput([...Array(2000).keys()].map((i) => [`k${i}`, `after-${i}`]));
  writer.close();
  await abandon(target);
  const again = durablePod(dataDir, 'pod-t');
  await again.start();
  t.after(() => again.stop());
  assert.deepEqual(again.lastRecovery?.problems, []);
  assert.deepEqual(again.ranges.list().map((r) => [String(r.start), r.view]), [[HALF, 3]], 'the target owns the moved range at the new view');
  // Read the restarted target's engine directly: every key of the moved half must be there.
  const upper = [...Array(20_000).keys()].filter((i) => keyHash64(Buffer.from(`k${i}`)) >= 1n << 63n);
  for (const i of upper) {
    const key = Buffer.from(`k${i}`);
    assert.equal(again.store.get(key, 0, key.length), Status.OK, `k${i} is back at the target`);
    assert.equal(again.store.resultValue().toString(), i < 2000 ? `after-${i}` : `v${i}-`.padEnd(100, '.'), `k${i}`);
  }
  assert.ok(upper.length > 9000, `${upper.length} keys of the moved half checked`);
});

test('migration: the target dies mid-copy and comes back; the source waits for its answer and the migration rolls forward with every acknowledged write', { timeout: 60_000 }, async (t) => {
  const { source, target, admin, dataDir } = await twoPods(t, 20_000);
  t.after(() => source.stop());
  await admin.call('StartMigration', { migrationId: 'a1', range: UPPER, targetPod: 'pod-t', targetAddress: target.address, throttleBytesPerSecond: '400000', skipPreCopy: true });
  await until(admin, 'a1', (i) => i.phase === 'MOVE_DATA' && Number(i.bytesMoved) > 0);
  const client = createClient({ seeds: [source.address], timeoutMs: 30_000, attemptsMax: 200 });
  t.after(() => client.close());
  const acknowledged = new Map<string, string>();
  for (let i = 0; i < 500; i++) {
    await client.put(`k${i}`, `at-target-${i}`);
    acknowledged.set(`k${i}`, `at-target-${i}`);
  }
  assert.ok(target.ops > 0, 'the target served writes before it died');
  await abandon(target);
  // Writes keep coming while the target is down: they must only wait.
  const during = [...Array(200).keys()].map(async (i) => {
    await client.put(`late-${i}`, `late-${i}`);
    acknowledged.set(`late-${i}`, `late-${i}`);
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal((await migrationInfo(admin, 'a1')).phase, 'MOVE_DATA', 'the source does not decide alone while the target does not answer');
  const again = durablePod(dataDir, 'pod-t', 'sync', undefined, target.address);
  await again.start();
  t.after(() => again.stop());
  const done = await until(admin, 'a1', (i) => ['ABORTED', 'FAILED', 'COMPLETE'].includes(i.phase));
  assert.equal(done.phase, 'COMPLETE', done.error);
  await Promise.all(during);
  assert.equal(source.ranges.list().find((r) => String(r.start) === HALF), undefined, 'the source no longer owns the range');
  assert.equal(again.ranges.list().find((r) => String(r.start) === HALF)?.view, 3, 'the restarted target owns it at the new view');
  for (const [key, value] of acknowledged) assert.equal((await client.get(key))?.value.toString(), value, key);
  const untouched = await client.mget([...Array(20_000).keys()].filter((i) => i >= 500).map((i) => `k${i}`));
  untouched.forEach((entry, j) => assert.equal(entry?.value.toString(), `v${j + 500}-`.padEnd(100, '.'), `k${j + 500}`));
});

test('migration: the target dies before ownership arrives (in doubt); once it answers that it never took the range, the source takes it back at a new view', { timeout: 60_000 }, async (t) => {
  const { source, target, admin, dataDir } = await twoPods(t, 2000);
  t.after(() => source.stop());
  source.migrations.faultDelaysMs.set('TRANSFER_OWNERSHIP', 500);
  await admin.call('StartMigration', { migrationId: 'd1', range: UPPER, targetPod: 'pod-t', targetAddress: target.address, throttleBytesPerSecond: '0' });
  await until(admin, 'd1', (i) => i.phase === 'TRANSFER_OWNERSHIP');
  await abandon(target);
  assert.equal(source.ranges.list().find((r) => String(r.start) === HALF), undefined, 'the source gave the range up');
  const again = durablePod(dataDir, 'pod-t', 'sync', undefined, target.address);
  await again.start();
  t.after(() => again.stop());
  const done = await until(admin, 'd1', (i) => ['ABORTED', 'FAILED', 'COMPLETE'].includes(i.phase));
  assert.equal(done.phase, 'ABORTED', done.error);
  assert.equal(source.ranges.list().find((r) => String(r.start) === HALF)?.view, 4, 'the range is back at the source at a new view');
  assert.deepEqual(again.ranges.list(), [], 'the target owns nothing');
  const client = createClient({ seeds: [source.address] });
  t.after(() => client.close());
  const values = await client.mget([...Array(2000).keys()].map((i) => `k${i}`));
  values.forEach((entry, i) => assert.equal(entry?.value.toString(), `v${i}-`.padEnd(100, '.'), `k${i}`));
});

test('migration: an assignment pushed mid-copy that names the arriving range unchanged does not cut the migration short', { timeout: 60_000 }, async (t) => {
  const { source, target, admin } = await twoPods(t, 20_000);
  t.after(() => Promise.all([source.stop(), target.stop()]));
  await admin.call('StartMigration', { migrationId: 'o1', range: UPPER, targetPod: 'pod-t', targetAddress: target.address, throttleBytesPerSecond: '600000', skipPreCopy: true });
  await until(admin, 'o1', (i) => i.phase === 'MOVE_DATA' && Number(i.bytesMoved) > 0);
  const targetAdmin = adminClient(target.address);
  t.after(() => targetAdmin.close());
  const routes = [{ start: '0', end: HALF, view: 2, owner: 'pod-s', address: source.address }, { ...UPPER, view: 3, owner: 'pod-t', address: target.address }];
  await targetAdmin.call('AssignRanges', { owned: [{ ...UPPER, view: 3 }], routes });
  const reader = createClient({ seeds: [target.address] });
  t.after(() => reader.close());
  // Keys not yet copied are still fetched on demand: none reads as missing.
  const upper = [...Array(20_000).keys()].filter((i) => keyHash64(Buffer.from(`k${i}`)) >= 1n << 63n).slice(-500);
  const values = await reader.mget(upper.map((i) => `k${i}`));
  values.forEach((entry, j) => assert.equal(entry?.value.toString(), `v${upper[j]}-`.padEnd(100, '.'), `k${upper[j]}`));
  const done = await until(admin, 'o1', (i) => i.phase === 'COMPLETE' || i.phase === 'FAILED');
  assert.equal(done.phase, 'COMPLETE', done.error);
});

test('migration: the source dies mid-copy; the target loads the rest from the source\'s files and completes', { timeout: 60_000 }, async (t) => {
  const { source, target, admin } = await twoPods(t, 20_000);
  t.after(() => target.stop());
  await admin.call('StartMigration', { migrationId: 's1', range: UPPER, targetPod: 'pod-t', targetAddress: target.address, throttleBytesPerSecond: '300000', skipPreCopy: true });
  await until(admin, 's1', (i) => i.phase === 'MOVE_DATA' && Number(i.bytesMoved) > 0);
  const writer = createClient({ seeds: [target.address], timeoutMs: 30_000, attemptsMax: 64 });
  t.after(() => writer.close());
  const upper = [...Array(20_000).keys()].filter((i) => keyHash64(Buffer.from(`k${i}`)) >= 1n << 63n);
  const written = upper.slice(0, 300);
  for (const i of written) await writer.put(`k${i}`, `at-target-${i}`);
  await abandon(source);
  // Ops on keys not copied yet: FetchKeys fails, the rest comes from disk, the ops complete.
  const values = await writer.mget(upper.map((i) => `k${i}`).filter((_, j) => j % 7 === 0 && j >= 300));
  values.forEach((entry, j) => assert.ok(entry !== null, `k${upper.filter((_, x) => x % 7 === 0 && x >= 300)[j]} present`));
  const targetAdmin = adminClient(target.address);
  t.after(() => targetAdmin.close());
  await until(targetAdmin, 's1', (i) => i.phase === 'COMPLETE' || i.error !== '');
  for (const i of upper) {
    const key = Buffer.from(`k${i}`);
    assert.equal(target.store.get(key, 0, key.length), Status.OK, `k${i} is at the target`);
    assert.equal(target.store.resultValue().toString(), written.includes(i) ? `at-target-${i}` : `v${i}-`.padEnd(100, '.'), `k${i}`);
  }
  assert.equal(target.ranges.list().find((r) => String(r.start) === HALF)?.arriving, undefined, 'the range no longer waits for anything');
});
