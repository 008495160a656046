// Every manifest change is failure-atomic in memory (Durability.commitManifest): when the manifest
// write fails, the manifest kept in memory is put back as it was, so no later, unrelated manifest
// write persists a change its caller was told had failed. Before, only a migration target's
// adoption did so; an assignment (here a split), a checkpoint, a partitioned recovery and an
// in-doubt range taken back left the change in memory for the next write to persist. The failures
// are injected with the write-fault seam (writeFaults.ts, MANIFEST_* points).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '../../client/index.js';
import { adminClient, type AdminClient } from '../../proto/adminClient.js';
import { ManifestWriteError } from '../../dataplane/durability/manifestWriteError.js';
import type { Pod } from '../../dataplane/server/pod.js';
import type { Durability } from '../../dataplane/durability/durability.js';
import type { WriteFaultPoint } from '../../dataplane/durability/writeFaults.js';
import { assignWholeKeyspace } from '../support/assignRanges.js';
import { abandon, durablePod, startedDurablePod } from '../support/durablePod.js';

const KEYS = 1000;
const HALF = (1n << 63n).toString();
const WHOLE = { start: '0', end: '0', view: 1 };

interface DiskManifest {
  ranges: { start: string; view: number; checkpoints: string[] }[];
}

function diskManifest(dataDir: string, pod: string): DiskManifest {
  return JSON.parse(readFileSync(join(dataDir, 'pods', pod, 'manifest.json'), 'utf8')) as DiskManifest;
}

/** A durable pod owning the whole keyspace at view 1 with KEYS keys k<i> = `valueOf(i)`. */
async function loadedPod(t: { after(fn: () => unknown): void }, podName: string, valueOf: (i: number) => string): Promise<{ pod: Pod; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'slicekv-manifest-fail-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const pod = durablePod(dataDir, podName);
  const address = await pod.start();
  await assignWholeKeyspace(address, podName);
  const client = createClient({ seeds: [address] });
  await client.mput([...Array(KEYS).keys()].map((i) => [`k${i}`, valueOf(i)]));
  client.close();
  return { pod, dataDir };
}

async function assertValues(address: string, valueOf: (i: number) => string): Promise<void> {
  const reader = createClient({ seeds: [address], attemptsMax: 200 });
  try {
    const values = await reader.mget([...Array(KEYS).keys()].map((i) => `k${i}`));
    values.forEach((entry, i) => assert.equal(entry?.value.toString(), valueOf(i), `k${i}`));
  } finally {
    reader.close();
  }
}

function faults(pod: Pod): Durability {
  assert.ok(pod.durability !== null);
  return pod.durability;
}

test('manifest write fails: a split\'s manifest change is undone in memory, and a later checkpoint does not persist it', { timeout: 30_000 }, async (t) => {
  const { pod, dataDir } = await loadedPod(t, 'pod-m', (i) => `v${i}`);
  t.after(() => pod.stop());
  const admin = adminClient(pod.address);
  t.after(() => admin.close());
  faults(pod).writeFaults.set('MANIFEST_WRITE', 1);
  await assert.rejects(admin.call('SplitRange', { range: WHOLE, at: HALF }), /not recorded durably: .*writing the new manifest failed, nothing written/);
  await admin.call('Checkpoint', {});
  assert.deepEqual(diskManifest(dataDir, 'pod-m').ranges.map((r) => [r.start, r.view]), [['0', 1]], 'the manifest still names the range as it was before the split');
});

test('manifest write fails: a checkpoint\'s manifest change is undone (its new file deleted); the next manifest names the old checkpoint and a restart has every write', { timeout: 60_000 }, async (t) => {
  const { pod, dataDir } = await loadedPod(t, 'pod-c', (i) => `v${i}`);
  const admin = adminClient(pod.address);
  t.after(() => admin.close());
  await admin.call('Checkpoint', {});
  const [first] = diskManifest(dataDir, 'pod-c').ranges[0].checkpoints;
  const client = createClient({ seeds: [pod.address] });
  await client.mput([...Array(KEYS).keys()].filter((i) => i % 2 === 0).map((i) => [`k${i}`, `w${i}`]));
  client.close();
  faults(pod).writeFaults.set('MANIFEST_RENAME', 1);
  await assert.rejects(admin.call('Checkpoint', {}), /renaming the new manifest into place failed, nothing written/);
  const rangeDir = join(dataDir, first, '..');
  assert.deepEqual(readdirSync(rangeDir).filter((name) => name.endsWith('.ckpt')), [first.split('/').pop()], 'the failed checkpoint\'s file is gone');
  await admin.call('SplitRange', { range: WHOLE, at: HALF });
  assert.deepEqual(diskManifest(dataDir, 'pod-c').ranges.map((r) => r.checkpoints), [[first], [first]], 'the split halves inherit the checkpoint that was recorded');
  await abandon(pod);
  const again = durablePod(dataDir, 'pod-c');
  t.after(() => again.stop());
  await again.start();
  await assertValues(again.address, (i) => (i % 2 === 0 ? `w${i}` : `v${i}`));
});

const RECOVERED = [{ ...WHOLE, view: 2 }];

/**
 * pod-r's RecoverRanges of dead pod-d's whole keyspace fails at fault `point` with `expected`:
 * the ranges are not left recovering.
 */
async function recoveryFailingAt(t: { after(fn: () => unknown): void }, point: WriteFaultPoint, expected: RegExp): Promise<{ dataDir: string; live: Pod; admin: AdminClient }> {
  const { pod: dead, dataDir } = await loadedPod(t, 'pod-d', (i) => `d${i}`);
  await abandon(dead);
  const live = durablePod(dataDir, 'pod-r');
  await live.start();
  t.after(() => live.stop());
  const admin = adminClient(live.address);
  t.after(() => admin.close());
  faults(live).writeFaults.set(point, 1);
  await assert.rejects(admin.call('RecoverRanges', { deadPod: 'pod-d', ranges: RECOVERED }, 30_000), expected);
  assert.deepEqual(live.ranges.list(), [], 'the ranges are not left recovering here');
  return { dataDir, live, admin };
}

/** recoveryFailingAt, with nothing that can be on disk: the hold on pod-d's files is put back (none) too. */
async function failedRecovery(t: { after(fn: () => unknown): void }, point: WriteFaultPoint, expected: RegExp): Promise<{ dataDir: string; live: Pod; admin: AdminClient }> {
  const failed = await recoveryFailingAt(t, point, expected);
  assert.equal(existsSync(holdPath(failed.dataDir)), false, 'the hold on the dead pod\'s files is put back (none)');
  return failed;
}

function holdPath(dataDir: string): string {
  return join(dataDir, 'pods', 'pod-d', 'holds', 'pod-r.json');
}

/** The taken markers in pod-d's folder. */
function takenMarkers(dataDir: string): string[] {
  const taken = join(dataDir, 'pods', 'pod-d', 'taken');
  return existsSync(taken) ? readdirSync(taken) : [];
}

/** A retried RecoverRanges recovers every key. */
async function recoveredOnRetry(live: Pod, admin: AdminClient): Promise<void> {
  await admin.call('RecoverRanges', { deadPod: 'pod-d', ranges: RECOVERED }, 30_000);
  const routes = [{ ...WHOLE, view: 2, owner: 'pod-r', address: live.address }];
  await admin.call('AssignRanges', { owned: RECOVERED, routes });
  await assertValues(live.address, (i) => `d${i}`);
}

test('manifest write fails: a partitioned recovery is undone — ranges, hold and manifest — and a retry recovers everything', { timeout: 60_000 }, async (t) => {
  const { dataDir, live, admin } = await failedRecovery(t, 'MANIFEST_WRITE', /writing the new manifest failed, nothing written/);
  assert.deepEqual(takenMarkers(dataDir), [], 'nothing is marked taken (the markers written first are removed)');
  await admin.call('Checkpoint', {});
  assert.deepEqual(diskManifest(dataDir, 'pod-r').ranges, [], 'a later manifest names no recovered range');
  await recoveredOnRetry(live, admin);
});

test('marking taken fails: a partitioned recovery is undone — ranges, markers, hold — with no manifest written, and a retry recovers everything', { timeout: 60_000 }, async (t) => {
  const { dataDir, live, admin } = await failedRecovery(t, 'RECOVERY_TAKEN', /^Error: 9 FAILED_PRECONDITION: ranges not recovered: .*fault injected at RECOVERY_TAKEN/);
  const manifest = join(dataDir, 'pods', 'pod-r', 'manifest.json');
  assert.ok(!existsSync(manifest) || diskManifest(dataDir, 'pod-r').ranges.length === 0, 'no manifest names the ranges (the markers come first)');
  assert.deepEqual(takenMarkers(dataDir), [], 'nothing is marked taken');
  assert.equal(live.store.stats().keyCount, 0, 'what was loaded is dropped');
  await recoveredOnRetry(live, admin);
});

test('manifest write may have landed in a partitioned recovery: the ranges stay marked taken and held, so the dead pod coming back serves none of them', { timeout: 60_000 }, async (t) => {
  const { dataDir } = await recoveryFailingAt(t, 'MANIFEST_DIR_FSYNC', /ranges not recovered: .*the new manifest may be in place/);
  assert.equal(existsSync(holdPath(dataDir)), true, 'the hold stays: a manifest naming the ranges may be on disk');
  assert.equal(takenMarkers(dataDir).length, 1, 'the range is marked taken');
  const back = durablePod(dataDir, 'pod-d');
  t.after(() => back.stop());
  await back.start();
  assert.deepEqual(back.ranges.list(), [], 'the dead pod, back, owns nothing of what may have been recovered');
});

test('manifest write fails: a range taken back after an in-doubt transfer is not owned, nor in the manifest, after the failure', { timeout: 30_000 }, async (t) => {
  const { pod, dir: dataDir } = await startedDurablePod(t, 'slicekv-manifest-fail-', 'pod-s');
  faults(pod).writeFaults.set('MANIFEST_WRITE', 1);
  await assert.rejects(pod.migrations.reclaim({ start: 0n, end: 1n << 64n }, 3, '', false),
    (error: Error) => error instanceof ManifestWriteError && !error.mayHaveLanded);
  assert.deepEqual(pod.ranges.list(), [], 'the range taken back is not served');
  assert.equal(pod.routes, null, 'the routing table is as it was');
  await faults(pod).checkpoint();
  assert.deepEqual(diskManifest(dataDir, 'pod-s').ranges, [], 'a later manifest does not name it');
});
