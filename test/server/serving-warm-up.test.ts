// A pod with nothing to recover runs batches through a scratch session before it serves
// (dataplane/server/servingWarmUp.ts), so that the first batches it serves — a new pod's, at a
// migration's owner switch — do not run cold. The scratch session leaves nothing in the pod.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_POD_CONFIG, Pod } from '../../dataplane/server/pod.js';
import { warmUpServing } from '../../dataplane/server/servingWarmUp.js';
import { DEFAULT_FRAME_LIMITS } from '../../proto/wire/index.js';

test('serving warm-up: every batch runs through a scratch session and is answered', () => {
  for (let i = 0; i < 2; i++) {
    const { ms, ops } = warmUpServing(DEFAULT_FRAME_LIMITS);
    assert.ok(ms > 0);
    assert.equal(ops, 6400);
  }
});

test('serving warm-up: a fresh pod warms up and keeps no client, key or session of it', async (t) => {
  const pod = new Pod({ ...DEFAULT_POD_CONFIG, podName: 'pod-s', store: { memoryLimitBytes: 64 * 1024 * 1024, segmentSizeBytes: 2 * 1024 * 1024 } });
  await pod.start();
  t.after(() => pod.stop());
  assert.ok(pod.warmUpMs > 0);
  const stats = pod.store.stats();
  assert.equal(stats.keyCount + stats.tombstoneCount + stats.completionCount, 0, 'nothing of the warm-up is in the pod\'s engine');
  assert.equal(pod.clients.clientCount, 0, 'the scratch client is not in the pod\'s client table');
  assert.equal(pod.sessionsOpen + pod.batches + pod.ops, 0, 'no session, batch or op counted');
});
