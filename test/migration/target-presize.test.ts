// PrepareMigration carries the range's key count at the source (expected_keys): a target whose
// engine holds no keys sizes its index for them, faulted in, before the copy starts; one that
// holds keys grows as usual; a hint past what the target's memory can hold is bounded by it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_POD_CONFIG, Pod } from '../../dataplane/server/pod.js';
import { adminClient } from '../../proto/adminClient.js';
import { MIB } from '../../dataplane/store/index.js';
import { KeyHasher } from '../../proto/keyspace/hash.js';

const UPPER = { start: (1n << 63n).toString(), end: '0', view: 3 };
const MEMORY_BYTES = 64 * MIB;

async function targetPod(t: { after: (fn: () => unknown) => void }): Promise<{ pod: Pod; admin: ReturnType<typeof adminClient> }> {
  const pod = new Pod({ ...DEFAULT_POD_CONFIG, podName: 'pod-t', store: { memoryLimitBytes: MEMORY_BYTES, segmentSizeBytes: MIB, valueLengthMax: 64 * 1024 } });
  const admin = adminClient(await pod.start());
  t.after(() => pod.stop());
  t.after(() => admin.close());
  return { pod, admin };
}

function prepare(admin: ReturnType<typeof adminClient>, id: string, expectedKeys: string): Promise<unknown> {
  return admin.call('PrepareMigration', { migrationId: id, range: UPPER, sourcePod: 'pod-s', sourceAddress: '127.0.0.1:1', expectedKeys });
}

test('migration target: an empty engine sizes its index for the keys the source announces', { timeout: 30_000 }, async (t) => {
  const { pod, admin } = await targetPod(t);
  const before = pod.store.stats().indexBytes;
  await prepare(admin, 'm1', '400000');
  const after = pod.store.stats().indexBytes;
  // 400k keys in half the hash space: ~2^16 buckets of 64 bytes where they land, over all shards.
  assert.ok(after >= 8 * MIB, `index ${before} -> ${after} bytes`);
  assert.equal(pod.store.stats().indexResizing, false);
});

test('migration target: an engine that holds keys keeps its index; a hint past its memory is bounded', { timeout: 30_000 }, async (t) => {
  const { pod, admin } = await targetPod(t);
  // A key outside the migrating range (the lower half of the hash space): PrepareMigration drops
  // what the target holds of the range itself.
  const key = lowerHalfKey();
  pod.store.put(key, 0, key.length, key, 0, key.length);
  const before = pod.store.stats().indexBytes;
  await prepare(admin, 'm1', '400000');
  assert.equal(pod.store.stats().indexBytes, before, 'not presized: the engine holds a key');

  const empty = await targetPod(t);
  await prepare(empty.admin, 'm2', '18446744073709551615');
  // Unbounded, the hint would take the range's 8 shards to the presize maximum (2^20 buckets each:
  // 512 MiB). Bounded by what a 64 MiB log can hold (a few million smallest records), they reach
  // what growth would give that many keys: 2^17 buckets each, 64 MiB.
  const indexBytes = empty.pod.store.stats().indexBytes;
  assert.ok(indexBytes <= 2 * MEMORY_BYTES, `index of ${indexBytes} bytes for a 64 MiB engine`);
});

function lowerHalfKey(): Buffer {
  const hasher = new KeyHasher();
  for (let i = 0; ; i++) {
    const key = Buffer.from(`resident-${i}`);
    hasher.hashKey(key, 0, key.length);
    if (hasher.hi < 0x8000_0000) return key;
  }
}
