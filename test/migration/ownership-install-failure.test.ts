// A target whose installation of ownership fails (ReceiveOwnership: the engine runs out of memory
// installing the records that come with it) before it adopted the range decides it never took
// it — as ResolveMigration does in PREPARE — and the source, resolving the broken-off transfer,
// takes the range back at a new view with every acknowledged write (docs/migration.md,
// "Failures"). Two in-process durable pods talking gRPC; the target's memory is filled through
// its engine while the source waits at its PREPARE fault point.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '../../client/index.js';
import { adminClient } from '../../proto/adminClient.js';
import { untilMigration } from '../support/migrationStatus.js';
import { keyHash64 } from '../../proto/keyspace/hash.js';
import { KEYSPACE_END } from '../../proto/keyspace/range.js';
import { Status, type Store } from '../../dataplane/store/index.js';
import { HALF, twoDurablePods, type TwoPods } from '../support/twoDurablePods.js';

const UPPER = { start: HALF, end: '0', view: 2 };
const KEY_COUNT = 2000;


/** Live keys of the upper half in `store`. */
function upperKeyCount(store: Store): number {
  return store.rangeFigures([{ start: 1n << 63n, end: KEYSPACE_END }])[0].keyCount;
}

/** Fills the engine's log with live records of the lower half (no range the pod serves) until nothing more fits. */
function fillLowerHalf(store: Store): void {
  let i = 0;
  for (const valueLength of [60_000, 4096, 256, 16, 0]) {
    const value = Buffer.alloc(valueLength, 0x61);
    for (let misses = 0; misses < 64;) {
      const key = Buffer.from(`fill-${i++}`);
      if (keyHash64(key) >= 1n << 63n) continue;
      if (store.put(key, 0, key.length, value, 0, value.length) !== Status.OK) misses++;
    }
  }
}

function twoPods(t: { after(fn: () => unknown): void }): Promise<TwoPods> {
  return twoDurablePods(t, KEY_COUNT, (i) => `v${i}`);
}

test('migration: installing ownership runs out of memory at the target; it refuses the range, drops what it got, and the source takes the range back at a new view with every acknowledged write', { timeout: 90_000 }, async (t) => {
  const { source, target, admin } = await twoPods(t);
  t.after(() => Promise.all([source.stop(), target.stop()]));
  source.migrations.faultDelaysMs.set('PREPARE', 2000);
  await admin.call('StartMigration', { migrationId: 'i1', range: UPPER, targetPod: 'pod-t', targetAddress: target.address, throttleBytesPerSecond: '0' });
  // Pre-copied: the source waits at PREPARE, still serving the range.
  await untilMigration(admin, 'i1', (i) => (i.preCopyRounds ?? 0) >= 1);
  assert.ok(upperKeyCount(target.store) > 0, 'the target holds pre-copied records');
  const client = createClient({ seeds: [source.address], timeoutMs: 30_000, attemptsMax: 200 });
  t.after(() => client.close());
  // Written behind the copy: their slices go with ownership, and their records with them.
  const upper = [...Array(KEY_COUNT).keys()].filter((i) => keyHash64(Buffer.from(`k${i}`)) >= 1n << 63n);
  const late = new Set(upper.slice(0, 20));
  for (const i of late) await client.put(`k${i}`, `late-${i}`);
  fillLowerHalf(target.store);

  const done = await untilMigration(admin, 'i1', (i) => ['ABORTED', 'FAILED', 'COMPLETE'].includes(i.phase));
  assert.equal(done.phase, 'ABORTED', done.error);
  assert.match(done.error, /installing ownership failed/);
  assert.equal(source.ranges.list().find((r) => String(r.start) === HALF)?.view, 4, 'the range is back at the source at a new view');
  assert.deepEqual(target.ranges.list(), [], 'the target owns nothing');
  const targetAdmin = adminClient(target.address);
  t.after(() => targetAdmin.close());
  const there = await untilMigration(targetAdmin, 'i1', () => true);
  assert.equal(there.phase, 'CANCELLED', 'the target decided it never took the range');
  assert.match(there.error, /installing ownership failed: .*status 3/);
  const deadline = Date.now() + 10_000;
  while (upperKeyCount(target.store) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(upperKeyCount(target.store), 0, 'the target dropped what it had of the range');

  const values = await client.mget([...Array(KEY_COUNT).keys()].map((i) => `k${i}`));
  values.forEach((entry, i) => assert.equal(entry?.value.toString(), late.has(i) ? `late-${i}` : `v${i}`, `k${i}`));
});
