// A target whose durable adoption of the range fails (Durability.adopt: the hold on the source's
// files or the manifest write) after ownership was installed. When nothing can have landed it
// refuses the range, as after a failed install, and the source takes it back at a new view; when
// the new manifest may be in place (its rename happened, the folder's fsync failed) it keeps the
// range undecided ("ask again") and adopts again until that is durable, then serves the range and
// completes from the source's files (docs/migration.md, "Failures"). Two in-process durable pods
// talking gRPC; the failures are injected with the target's write-fault seam (writeFaults.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, type SlicekvClient as Client } from '../../client/index.js';
import { adminClient } from '../../proto/adminClient.js';
import { untilMigration } from '../support/migrationStatus.js';
import { keyHash64 } from '../../proto/keyspace/hash.js';
import type { WriteFaultPoint } from '../../dataplane/durability/writeFaults.js';
import { HALF, twoDurablePods, type TwoPods } from '../support/twoDurablePods.js';
import { abandon, durablePod } from '../support/durablePod.js';
import { DEFAULT_DURABILITY_CONFIG } from '../../dataplane/durability/durability.js';

const UPPER = { start: HALF, end: '0', view: 2 };
const KEY_COUNT = 2000;
const FINISHED = ['ABORTED', 'FAILED', 'COMPLETE', 'CANCELLED'];


/** The ranges of `pod`'s manifest on disk, as [start, view]. */
function manifestRanges(dataDir: string, pod: string): [string, number][] {
  const manifest = JSON.parse(readFileSync(join(dataDir, 'pods', pod, 'manifest.json'), 'utf8')) as { ranges: { start: string; view: number }[] };
  return manifest.ranges.map((r) => [r.start, r.view]);
}

/**
 * Starts migration `id` of the upper half with a pre-copy; once pre-copied, writes some keys of
 * the range at the source (they go with ownership) and arms `fault` at the target `count` times.
 */
async function migrateWithFault(t: { after(fn: () => unknown): void }, id: string, fault: WriteFaultPoint, count: number): Promise<{ pods: TwoPods; client: Client; late: Set<number> }> {
  const pods = await twoDurablePods(t, KEY_COUNT, (i) => `v${i}`);
  const { source, target, admin } = pods;
  t.after(() => Promise.all([source.stop(), target.stop()]));
  source.migrations.faultDelaysMs.set('PREPARE', 1500);
  await admin.call('StartMigration', { migrationId: id, range: UPPER, targetPod: 'pod-t', targetAddress: target.address, throttleBytesPerSecond: '0' });
  await untilMigration(admin, id, (i) => (i.preCopyRounds ?? 0) >= 1);
  const client = createClient({ seeds: [source.address], timeoutMs: 30_000, attemptsMax: 400 });
  t.after(() => client.close());
  const upper = [...Array(KEY_COUNT).keys()].filter((i) => keyHash64(Buffer.from(`k${i}`)) >= 1n << 63n);
  const late = new Set(upper.slice(0, 20));
  for (const i of late) await client.put(`k${i}`, `late-${i}`);
  const durability = target.durability;
  assert.ok(durability !== null);
  durability.writeFaults.set(fault, count);
  return { pods, client, late };
}

async function assertValues(client: Client, late: Set<number>): Promise<void> {
  const values = await client.mget([...Array(KEY_COUNT).keys()].map((i) => `k${i}`));
  values.forEach((entry, i) => assert.equal(entry?.value.toString(), late.has(i) ? `late-${i}` : `v${i}`, `k${i}`));
}

for (const fault of ['ADOPT_HOLD', 'ADOPT_MANIFEST_WRITE', 'ADOPT_MANIFEST_RENAME'] as const) {
  test(`migration: the target's adoption fails at ${fault}, nothing written; it refuses the range and the source takes it back at a new view with every acknowledged write`, { timeout: 90_000 }, async (t) => {
    const { pods: { source, target, admin, dataDir }, client, late } = await migrateWithFault(t, `a-${fault}`, fault, 1);
    const done = await untilMigration(admin, `a-${fault}`, (i) => FINISHED.includes(i.phase));
    assert.equal(done.phase, 'ABORTED', done.error);
    assert.match(done.error, /adopting the range durably failed, nothing written/);
    assert.equal(source.ranges.list().find((r) => String(r.start) === HALF)?.view, 4, 'the range is back at the source at a new view');
    assert.deepEqual(target.ranges.list(), [], 'the target owns nothing');
    const targetAdmin = adminClient(target.address);
    t.after(() => targetAdmin.close());
    const there = await untilMigration(targetAdmin, `a-${fault}`, () => true);
    assert.equal(there.phase, 'CANCELLED', 'the target decided it never took the range');
    assert.match(there.error, new RegExp(`fault injected at ${fault}`));
    // The adoption's in-memory change was undone: the target's next manifest write does not name the range.
    await targetAdmin.call('Checkpoint', {}, 60_000);
    assert.deepEqual(manifestRanges(dataDir, 'pod-t'), [], 'the target\'s manifest names no range');
    assert.equal(existsSync(join(dataDir, 'pods', 'pod-s', 'holds', 'pod-t.json')), false, 'the target holds none of the source\'s files');
    await assertValues(client, late);
    await client.put(`k${[...late][0]}`, 'after');
    assert.equal((await client.get(`k${[...late][0]}`))?.value.toString(), 'after');
  });
}

test('migration: the target\'s manifest fsync fails after the rename, so its adoption may have landed; it keeps the range undecided, adopts again until durable, then serves it and completes', { timeout: 90_000 }, async (t) => {
  const { pods: { source, target, admin, dataDir }, client, late } = await migrateWithFault(t, 'm1', 'ADOPT_MANIFEST_DIR_FSYNC', 3);
  const done = await untilMigration(admin, 'm1', (i) => FINISHED.includes(i.phase));
  assert.equal(done.phase, 'COMPLETE', done.error);
  assert.deepEqual(source.ranges.list().map((r) => String(r.start)), ['0'], 'the source kept only the lower half');
  assert.deepEqual(target.ranges.list().map((r) => [String(r.start), r.view]), [[HALF, 3]], 'the target owns the range at the new view');
  const targetAdmin = adminClient(target.address);
  t.after(() => targetAdmin.close());
  const there = await untilMigration(targetAdmin, 'm1', (i) => i.phase === 'COMPLETE');
  assert.match(there.error, /may have been written.*adopted on attempt 4/s);
  assert.deepEqual(manifestRanges(dataDir, 'pod-t'), [[HALF, 3]]);
  await assertValues(client, late);
});

test('migration: the target keeps failing to make an adoption durable that may have landed, and crashes; restarted, it owns the range its manifest names, and the source completes', { timeout: 90_000 }, async (t) => {
  const { pods: { source, target, admin, dataDir }, client, late } = await migrateWithFault(t, 'm2', 'ADOPT_MANIFEST_DIR_FSYNC', 1_000_000);
  const targetAdmin = adminClient(target.address);
  t.after(() => targetAdmin.close());
  const stuck = await untilMigration(targetAdmin, 'm2', (i) => /may have been written/.test(i.error));
  assert.equal(stuck.phase, 'TRANSFER_OWNERSHIP', 'undecided: ResolveMigration gets "ask again"');
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal((await untilMigration(admin, 'm2', () => true)).phase, 'TRANSFER_OWNERSHIP', 'the source still asks');
  assert.deepEqual(target.ranges.list(), [], 'the target serves nothing of the range meanwhile');
  assert.ok(source.ranges.list().every((r) => String(r.start) !== HALF), 'nor does the source');

  await abandon(target);
  const again = durablePod(dataDir, 'pod-t', 'sync', DEFAULT_DURABILITY_CONFIG.walFileBytesMax, target.address);
  t.after(() => again.stop());
  await again.start();
  const done = await untilMigration(admin, 'm2', (i) => FINISHED.includes(i.phase));
  assert.equal(done.phase, 'COMPLETE', done.error);
  assert.deepEqual(again.ranges.list().map((r) => [String(r.start), r.view]), [[HALF, 3]], 'the restarted target owns the range its manifest names');
  assert.deepEqual(manifestRanges(dataDir, 'pod-t'), [[HALF, 3]]);
  await assertValues(client, late);
});

test('migration: an assignment pushed to the target while it adopts again keeps its routes; the adoption only moves the range there', { timeout: 90_000 }, async (t) => {
  const { pods: { source, target, admin }, client, late } = await migrateWithFault(t, 'm3', 'ADOPT_MANIFEST_DIR_FSYNC', 5);
  const targetAdmin = adminClient(target.address);
  t.after(() => targetAdmin.close());
  await untilMigration(targetAdmin, 'm3', (i) => /may have been written/.test(i.error));
  // The operator's newer table: the lower half at a view the source's table (sent with ownership) never had.
  const lower = { start: '0', end: HALF, view: 9, owner: 'pod-s', address: source.address };
  await targetAdmin.call('AssignRanges', { owned: [], routes: [lower, { ...UPPER, owner: 'pod-s', address: source.address }] });
  const done = await untilMigration(admin, 'm3', (i) => FINISHED.includes(i.phase));
  assert.equal(done.phase, 'COMPLETE', done.error);
  const routes = (target.routes?.routes ?? []).map((r) => [String(r.start), r.view, r.owner]);
  assert.deepEqual(routes, [['0', 9, 'pod-s'], [HALF, 3, 'pod-t']], 'the assignment\'s route kept, the range moved to the target');
  await assertValues(client, late);
});
