// A pod that adopts or recovers ranges from another pod holds that pod's files (log from an LSN,
// checkpoints) until it has checkpointed the ranges itself: pods/<source>/holds/<holder>.json.
// There is one hold file per holder and source, so each new hold must keep covering the ranges
// adopted earlier that still need the source's files — a hold naming only the newest range let
// the source truncate its log and delete checkpoints an earlier range would be recovered from.
// A hold is replaced as durably as the manifest that relies on it (file and folder fsynced).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { durablePod, startedDurablePod } from '../support/durablePod.js';

const HALF = 1n << 63n;

test('holds: a second range adopted from the same source keeps the first range\'s files held', { timeout: 30_000 }, async (t) => {
  const { pod, dir } = await startedDurablePod(t, 'slicekv-holds-', 'pod-t');
  const durability = pod.durability;
  assert.ok(durability !== null);
  const lower = { start: 0n, end: HALF, view: 2 };
  const upper = { start: HALF, end: 1n << 64n, view: 2 };
  const sources = (checkpoint: string, fromLsn: number): string => JSON.stringify({ checkpoints: [checkpoint], replays: [{ pod: 'pod-s', fromLsn, toLsn: null }] });

  await durability.adopt(lower, 'pod-s', sources('ranges/lower/checkpoint-1', 100), [lower], [], 0);
  await durability.adopt(upper, 'pod-s', sources('ranges/upper/checkpoint-7', 500), [lower, upper], [], 0);

  const hold = JSON.parse(readFileSync(join(dir, 'pods', 'pod-s', 'holds', 'pod-t.json'), 'utf8')) as { fromLsn: number; checkpoints: string[] };
  assert.equal(hold.fromLsn, 100, 'the log is held from where the first range needs it');
  assert.deepEqual([...hold.checkpoints].sort(), ['ranges/lower/checkpoint-1', 'ranges/upper/checkpoint-7']);
});

test('holds: a restart releases holds no range of its manifest needs, and keeps the others', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'slicekv-holds-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const first = durablePod(dir, 'pod-t');
  await first.start();
  const lower = { start: 0n, end: HALF, view: 2 };
  // No checkpoint (the restart loads the range from pod-s's log alone: empty here).
  const sourcesJson = JSON.stringify({ checkpoints: [], replays: [{ pod: 'pod-s', fromLsn: 0, toLsn: null }] });
  await first.durability?.adopt(lower, 'pod-s', sourcesJson, [lower], [], 0);
  await first.stop();
  // A hold on pod-x's files whose range never reached pod-t's manifest (a crash between the two writes).
  const stale = join(dir, 'pods', 'pod-x', 'holds', 'pod-t.json');
  mkdirSync(join(dir, 'pods', 'pod-x', 'holds'), { recursive: true });
  writeFileSync(stale, JSON.stringify({ fromLsn: 0, checkpoints: [] }));

  const restarted = durablePod(dir, 'pod-t');
  await restarted.start();
  t.after(() => restarted.stop());
  assert.equal(existsSync(stale), false, 'the stale hold on pod-x is released');
  assert.ok(existsSync(join(dir, 'pods', 'pod-s', 'holds', 'pod-t.json')), 'the hold the adopted range needs stays');
});

/**
 * Records the path of every file or folder fsynced through a `fs/promises` FileHandle (how the
 * durability code fsyncs the manifest, its folder, checkpoints) until the returned function is
 * called. The path is read from /proc/self/fd at the time of the fsync (Linux).
 */
async function recordFsyncs(): Promise<{ paths: string[]; stop: () => void }> {
  const probe = await open(tmpdir(), 'r');
  const prototype = Object.getPrototypeOf(probe) as { sync(this: { fd: number }): Promise<void> };
  await probe.close();
  const original = prototype.sync;
  const paths: string[] = [];
  prototype.sync = function sync(this: { fd: number }): Promise<void> {
    paths.push(readlinkSync(`/proc/self/fd/${this.fd}`));
    return original.call(this);
  };
  return { paths, stop: () => { prototype.sync = original; } };
}

test('holds: a hold is replaced durably (its file and its folder fsynced) before the manifest that needs it is written', { timeout: 30_000 }, async (t) => {
  const { pod, dir } = await startedDurablePod(t, 'slicekv-holds-', 'pod-t');
  const lower = { start: 0n, end: HALF, view: 2 };
  const sourcesJson = JSON.stringify({ checkpoints: [], replays: [{ pod: 'pod-s', fromLsn: 0, toLsn: null }] });
  const fsyncs = await recordFsyncs();
  try {
    await pod.durability?.adopt(lower, 'pod-s', sourcesJson, [lower], [], 0);
  } finally {
    fsyncs.stop();
  }
  const holds = join(dir, 'pods', 'pod-s', 'holds');
  const holdFile = fsyncs.paths.findIndex((path) => path.startsWith(join(holds, 'pod-t.json')));
  const holdFolder = fsyncs.paths.indexOf(holds);
  const manifest = fsyncs.paths.findIndex((path) => path.startsWith(join(dir, 'pods', 'pod-t', 'manifest.json')));
  assert.ok(holdFile >= 0, `the hold's new content is fsynced (fsyncs: ${fsyncs.paths.join(', ')})`);
  assert.ok(holdFolder > holdFile, 'then its folder, after the rename');
  assert.ok(manifest > holdFolder, 'before the manifest naming the adopted range is written');
  assert.deepEqual(readdirSync(holds), ['pod-t.json'], 'no temporary file is left');
});
