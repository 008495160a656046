// recoveryFit.ts: what a partitioned recovery's checkpoints are estimated to take in the engine,
// before it loads anything — a file's size, times the share of the file's hash range recovered;
// files it cannot read a range or a size from count for nothing (it never refuses on a guess).
// The refusal itself, end to end: test/durability/failed-recovery.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rangeId } from '../../dataplane/durability/checkpointFile.js';
import { checkpointBytesFor, engineRoomBytes, rangeOfCheckpoint } from '../../dataplane/durability/recoveryFit.js';
import { KEYSPACE_END } from '../../proto/keyspace/range.js';
import { Store } from '../../dataplane/store/store.js';

const HALF = 1n << 63n;
const QUARTER = 1n << 62n;

function checkpointFile(dataDir: string, start: bigint, end: bigint, name: string, sizeBytes: number): string {
  const relative = join('ranges', rangeId(start, end), name);
  mkdirSync(join(dataDir, 'ranges', rangeId(start, end)), { recursive: true });
  writeFileSync(join(dataDir, relative), Buffer.alloc(sizeBytes));
  return relative;
}

test('checkpointBytesFor: a file counts its size times the share of its range recovered; unreadable ones count nothing', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'slicekv-recovery-fit-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const upper = checkpointFile(dataDir, HALF, KEYSPACE_END, 'ckpt-pod-d-100.ckpt', 4000);
  const lower = checkpointFile(dataDir, 0n, HALF, 'ckpt-pod-d-100.ckpt', 1000);

  assert.deepEqual(rangeOfCheckpoint(upper), { start: HALF, end: KEYSPACE_END });
  assert.equal(rangeOfCheckpoint('ranges/not-a-range/ckpt.ckpt'), null);
  // The whole file's range: all of it.
  assert.equal(await checkpointBytesFor(dataDir, [{ start: HALF, end: KEYSPACE_END, checkpoints: [upper] }]), 4000);
  // Split children of the upper range: a quarter of the keyspace is half of its file; both children, all of it, once.
  assert.equal(await checkpointBytesFor(dataDir, [{ start: HALF, end: HALF + QUARTER, checkpoints: [upper] }]), 2000);
  assert.equal(await checkpointBytesFor(dataDir, [
    { start: HALF, end: HALF + QUARTER, checkpoints: [upper] }, { start: HALF + QUARTER, end: KEYSPACE_END, checkpoints: [upper] },
  ]), 4000);
  // A merged range over both halves lists both files.
  assert.equal(await checkpointBytesFor(dataDir, [{ start: 0n, end: KEYSPACE_END, checkpoints: [lower, upper] }]), 5000);
  // Missing file, and a folder that names no range: nothing.
  assert.equal(await checkpointBytesFor(dataDir, [{ start: 0n, end: HALF, checkpoints: ['ranges/0000000000000000-7fffffffffffffff/gone.ckpt'] }]), 0);
  const odd = join('ranges', 'odd', 'ckpt.ckpt');
  mkdirSync(join(dataDir, 'ranges', 'odd'));
  writeFileSync(join(dataDir, odd), Buffer.alloc(777));
  assert.equal(await checkpointBytesFor(dataDir, [{ start: 0n, end: HALF, checkpoints: [odd] }]), 0);
});

test('engineRoomBytes: log capacity less live records less the cleaner\'s reserve', () => {
  const store = new Store({ memoryLimitBytes: 2 * 1024 * 1024, segmentSizeBytes: 256 * 1024, keyLengthMax: 256, valueLengthMax: 4096 });
  const empty = engineRoomBytes(store);
  const reserve = store.config.cleanerReserveSegments * store.config.segmentSizeBytes;
  assert.equal(empty, store.stats().logCapacityBytes - reserve);
  const key = Buffer.from('some-key');
  const value = Buffer.alloc(1000, 7);
  store.put(key, 0, key.length, value, 0, value.length);
  assert.equal(engineRoomBytes(store), empty - store.stats().liveBytes);
  assert.ok(store.stats().liveBytes >= 1000);
});
