// A checkpoint's completion records (RIFL, dataplane/durability/checkpointWriter.ts): clients whose
// unacknowledged writes have large keys can hold more completion records than one checkpoint
// frame may carry (64 MiB). The checkpoint must still be written — in frames of ~256 KiB, a client
// at a time — and a restart from it must restore every one of them (the log after the checkpoint
// holds none, so they can only come from the checkpoint file).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_DURABILITY_CONFIG } from '../../dataplane/durability/durability.js';
import { FRAME_PAYLOAD_BYTES_MAX } from '../../dataplane/durability/walFrame.js';
import { DEFAULT_POD_CONFIG, Pod } from '../../dataplane/server/pod.js';
import { MIB } from '../../dataplane/store/index.js';
import { adminClient } from '../../proto/adminClient.js';
import { assignWholeKeyspace } from '../support/assignRanges.js';
import { abandon } from '../support/durablePod.js';
import { HELD_KEY_BYTES, completionCount, holdCompletions } from '../support/heldCompletions.js';

const CLIENTS = 9;
const PUTS_PER_CLIENT = 512;

function bigPod(dataDir: string): Pod {
  return new Pod({
    ...DEFAULT_POD_CONFIG, podName: 'pod-c', listen: '127.0.0.1:0', store: { memoryLimitBytes: 512 * MIB, segmentSizeBytes: 8 * MIB },
    durability: { ...DEFAULT_DURABILITY_CONFIG, dataDir, podName: 'pod-c', mode: 'async', checkpointIntervalMs: 3_600_000 },
  });
}

test('checkpoint: more completion records than one frame may carry are written and all restored', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'slicekv-completions-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = bigPod(dataDir);
  const address = await first.start();
  let firstServing = true;
  t.after(async () => {
    if (firstServing) await first.stop();
  });
  await assignWholeKeyspace(address, 'pod-c');
  await holdCompletions(t, address, CLIENTS, PUTS_PER_CLIENT);
  const held = completionCount(first);
  assert.ok(held * HELD_KEY_BYTES > FRAME_PAYLOAD_BYTES_MAX, `the clients hold ${held} completion records, more than one frame's worth`);

  const admin = adminClient(address);
  t.after(() => admin.close());
  const checkpoint = await admin.call('Checkpoint', {});
  assert.equal(checkpoint.ranges, 1);
  assert.equal(Number(checkpoint.records), CLIENTS * PUTS_PER_CLIENT, 'every key is in the checkpoint');
  await abandon(first);
  firstServing = false;

  const second = bigPod(dataDir);
  await second.start();
  t.after(() => second.stop());
  const report = second.lastRecovery;
  assert.ok(report !== null && report.problems.length === 0, JSON.stringify(report?.problems));
  assert.equal(completionCount(second), held, 'every completion record held at the checkpoint is back');
  assert.equal(second.store.stats().keyCount, CLIENTS * PUTS_PER_CLIENT);
});
