// A pod with nothing to recover runs the engine's main paths on scratch stores before it serves
// (dataplane/store/warmUp.ts), so its first copied chunks and first ops do not run cold; a
// restarting pod skips that (its recovery runs the same code). The scratch stores leave nothing
// behind in the pod's own engine.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_POD_CONFIG, Pod } from '../../dataplane/server/pod.js';
import { warmUpEngine } from '../../dataplane/store/index.js';
import { durablePod } from '../support/durablePod.js';

test('engine warm-up: a fresh pod warms up and its own engine stays empty; a restart does not warm up', { timeout: 60_000 }, async (t) => {
  const fresh = new Pod({ ...DEFAULT_POD_CONFIG, podName: 'pod-w', store: { memoryLimitBytes: 64 * 1024 * 1024, segmentSizeBytes: 2 * 1024 * 1024 } });
  await fresh.start();
  t.after(() => fresh.stop());
  assert.ok(fresh.warmUpMs > 0, 'a fresh pod warms its engine up');
  const stats = fresh.store.stats();
  assert.equal(stats.keyCount + stats.tombstoneCount + stats.completionCount, 0, 'nothing of the warm-up is in the pod\'s engine');

  const dir = mkdtempSync(join(tmpdir(), 'slicekv-warm-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const first = durablePod(dir, 'pod-d');
  await first.start();
  assert.ok(first.warmUpMs > 0, 'no manifest yet: a first start warms up');
  await first.durability?.assigned([{ start: 0n, end: 1n << 64n, view: 1 }], []);
  await first.stop();
  const restarted = durablePod(dir, 'pod-d');
  await restarted.start();
  t.after(() => restarted.stop());
  assert.equal(restarted.warmUpMs, 0, 'a restart recovers instead');
});

test('engine warm-up: runs again in the same process (scratch stores each time)', () => {
  for (let i = 0; i < 2; i++) assert.ok(warmUpEngine().ms >= 0);
});
