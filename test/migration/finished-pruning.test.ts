// A pod keeps at most FINISHED_KEPT_MAX finished migrations per role (MigrationStatus history);
// older finished ones are forgotten, unfinished ones never (bounded memory however many ranges
// move through a pod over its life).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_POD_CONFIG, Pod } from '../../dataplane/server/pod.js';
import { adminClient } from '../../proto/adminClient.js';
import { FINISHED_KEPT_MAX } from '../../dataplane/migration/migrations.js';

test(`migration target: at most ${FINISHED_KEPT_MAX} finished migrations are kept`, { timeout: 60_000 }, async (t) => {
  const target = new Pod({ ...DEFAULT_POD_CONFIG, podName: 'pod-t', store: { memoryLimitBytes: 64 * 1024 * 1024, segmentSizeBytes: 1024 * 1024, valueLengthMax: 64 * 1024 } });
  const address = await target.start();
  t.after(() => target.stop());
  const admin = adminClient(address);
  t.after(() => admin.close());
  const upper = { start: (1n << 63n).toString(), end: '0', view: 3 };
  const runs = FINISHED_KEPT_MAX + 20;
  for (let i = 0; i < runs; i++) {
    await admin.call('PrepareMigration', { migrationId: `m${i}`, range: upper, sourcePod: 'pod-s', sourceAddress: '127.0.0.1:1' });
    await admin.call('FinishMigration', { migrationId: `m${i}` }); // cancelled in PREPARE
  }
  await admin.call('PrepareMigration', { migrationId: 'open', range: upper, sourcePod: 'pod-s', sourceAddress: '127.0.0.1:1' });
  const all = (await admin.call('MigrationStatus', {})).migrations as { migrationId: string; phase: string }[];
  assert.equal(all.filter((m) => m.phase === 'CANCELLED').length, FINISHED_KEPT_MAX);
  assert.deepEqual(all.filter((m) => m.phase === 'PREPARE').map((m) => m.migrationId), ['open'], 'the unfinished one stays');
  assert.ok(all.some((m) => m.migrationId === `m${runs - 1}`) && !all.some((m) => m.migrationId === 'm0'), 'the oldest went first');
});
