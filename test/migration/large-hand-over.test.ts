// Every completion record of a range goes with its ownership (docs/migration.md, "Why every
// completion record travels with ownership"). Clients with large keys and many writes
// unacknowledged can hold more of them than one bulk frame (16 MiB) or a ReceiveOwnership call
// (the pods' 8 MiB message bound) carries: the hand-over then goes in OWNERSHIP_PART frames
// (dataplane/migration/bulkListener.ts). Before, such a migration failed at the switch and the
// source took the range back until the clients acknowledged.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FRAME_RECORDS_BYTES_MAX } from '../../dataplane/migration/bulkFrame.js';
import { DEFAULT_POD_CONFIG, Pod } from '../../dataplane/server/pod.js';
import { MIB } from '../../dataplane/store/index.js';
import { adminClient } from '../../proto/adminClient.js';
import { untilMigration } from '../support/migrationStatus.js';
import { HELD_KEY_BYTES, completionCount, holdCompletions } from '../support/heldCompletions.js';

const CLIENTS = 5;
const PUTS_PER_CLIENT = 512;
const WHOLE = { start: '0', end: '0', view: 1 };

function bigPod(podName: string): Pod {
  return new Pod({ ...DEFAULT_POD_CONFIG, podName, listen: '127.0.0.1:0', store: { memoryLimitBytes: 256 * MIB, segmentSizeBytes: 8 * MIB } });
}

test('migration: completion records past one frame go with ownership in parts, all of them', { timeout: 120_000 }, async (t) => {
  const source = bigPod('pod-s');
  const target = bigPod('pod-t');
  const sourceAddress = await source.start();
  const targetAddress = await target.start();
  t.after(() => source.stop());
  t.after(() => target.stop());
  const admin = adminClient(sourceAddress);
  t.after(() => admin.close());
  await admin.call('AssignRanges', { owned: [WHOLE], routes: [{ ...WHOLE, owner: 'pod-s', address: sourceAddress }] });
  const clients = await holdCompletions(t, sourceAddress, CLIENTS, PUTS_PER_CLIENT);
  const held = completionCount(source);
  assert.ok(held * HELD_KEY_BYTES > 2 * FRAME_RECORDS_BYTES_MAX, `the clients hold ${held} completion records, more than two frames' worth`);

  await admin.call('StartMigration', { migrationId: 'm1', range: WHOLE, targetPod: 'pod-t', targetAddress, throttleBytesPerSecond: '0' });
  const status = await untilMigration(admin, 'm1', (i) => i.phase === 'COMPLETE' || i.phase === 'FAILED' || i.phase === 'ABORTED', 90_000);
  assert.equal(status.phase, 'COMPLETE', `the migration completes (${status.error})`);
  const channel = ((await admin.call('MigrationStatus', { migrationId: 'm1' })).migrations as { handOverChannel: string }[])[0].handOverChannel;
  assert.equal(channel, 'bulk', 'the hand-over went over the bulk channel');
  assert.equal(completionCount(target), held, 'every completion record of the range is at the target');
  assert.equal(target.store.stats().keyCount, CLIENTS * PUTS_PER_CLIENT);
  // The clients go on at the target: the next batch acknowledges the earlier ones there.
  await clients[0].put('after', 'moved');
  assert.equal((await clients[1].get('after'))?.value.toString(), 'moved');
  assert.ok(completionCount(target) < held + 2, 'acknowledged completion records are released at the target');
});
