// The SDK against real pods over loopback gRPC: every call, routing across pods, re-routing
// when the assignment changes, and exactly-once when the connection breaks after a pod applied
// an incrBy but before its reply arrived.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, SlicekvError, type SlicekvClient } from '../../client/index.js';
import { DEFAULT_POD_CONFIG, Pod } from '../../dataplane/server/pod.js';
import { MIB } from '../../dataplane/store/index.js';
import { keyHash64 } from '../../proto/keyspace/hash.js';
import { KEYSPACE_END, evenSplit, type HashRange } from '../../proto/keyspace/range.js';
import { adminClient } from '../../proto/adminClient.js';


interface Cluster {
  pods: Pod[];
  assign(owners: number[], views: number[]): Promise<void>;
  stop(): Promise<void>;
}

const wireEnd = (end: bigint): string => (end === KEYSPACE_END ? '0' : end.toString());

/** Pods on loopback; range i of an even split is owned by pod owners[i] at views[i]. */
async function startCluster(podCount: number, rangeCount: number): Promise<Cluster> {
  const pods: Pod[] = [];
  for (let i = 0; i < podCount; i++) {
    const pod = new Pod({ ...DEFAULT_POD_CONFIG, podName: `pod-${i}`, store: { memoryLimitBytes: 16 * MIB, segmentSizeBytes: MIB, valueLengthMax: 64 * 1024 } });
    await pod.start();
    pods.push(pod);
  }
  const ranges = evenSplit(rangeCount);
  const assign = async (owners: number[], views: number[]): Promise<void> => {
    const spec = (r: HashRange, i: number): { start: string; end: string; view: number } => ({ start: r.start.toString(), end: wireEnd(r.end), view: views[i] });
    const routes = ranges.map((r, i) => ({ ...spec(r, i), owner: pods[owners[i]].podName, address: pods[owners[i]].address }));
    await Promise.all(pods.map(async (pod, p) => {
      const admin = adminClient(pod.address);
      const owned = ranges.map(spec).filter((_, i) => owners[i] === p);
      await admin.call('AssignRanges', { owned, routes }).finally(() => admin.close());
    }));
  };
  await assign(ranges.map((_, i) => i % podCount), ranges.map(() => 1));
  return { pods, assign, stop: async () => { await Promise.all(pods.map((p) => p.stop())); } };
}

async function withClient(cluster: Cluster, body: (client: SlicekvClient) => Promise<void>): Promise<void> {
  const client = createClient({ seeds: [cluster.pods[0].address], timeoutMs: 5000 });
  try {
    await body(client);
  } finally {
    client.close();
  }
}

test('client: every call round-trips, across the pods that own the keys', async () => {
  const cluster = await startCluster(3, 6);
  try {
    await withClient(cluster, async (client) => {
      const put = await client.put('user:1', 'alice');
      assert.deepEqual(await client.get('user:1'), { value: Buffer.from('alice'), version: put.version });
      assert.equal(await client.get('nobody'), null);
      assert.deepEqual(await client.putIfVersion('user:1', 'bob', put.version + 1000), { ok: false, currentVersion: put.version });
      const cas = await client.putIfVersion('user:1', 'bob', put.version);
      assert.equal(cas.ok, true);
      assert.deepEqual(await client.putIfVersion('fresh', 'x', 0), { ok: true, version: (await client.get('fresh'))?.version });
      assert.equal(await client.incrBy('hits', 5), 5);
      assert.equal(await client.incrBy('hits', -2), 3);
      assert.equal(await client.delete('user:1'), true);
      assert.equal(await client.delete('user:1'), false);
      const version = (await client.get('fresh'))?.version ?? 0;
      assert.equal((await client.deleteIfVersion('fresh', version + 1)).ok, false);
      assert.equal((await client.deleteIfVersion('fresh', version)).ok, true);
      const keys = [...Array(300).keys()].map((i) => `k${i}`);
      await client.mput(keys.map((k) => [k, `v-${k}`]));
      const values = await client.mget(keys);
      assert.deepEqual(values.map((v) => v?.value.toString()), keys.map((k) => `v-${k}`));
      const served = cluster.pods.map((p) => p.ops);
      assert.ok(served.every((n) => n > 0), `every pod served some ops: ${served.join(', ')}`);
    });
  } finally {
    await cluster.stop();
  }
});

/** A key whose hash falls in range 0 of a two-range split (the lower half). */
function keyInRange0(): string {
  return [...Array(100).keys()].map((i) => `key-${i}`).find((k) => keyHash64(Buffer.from(k)) < 1n << 63n) ?? 'none';
}

test('client: after the test moves a range to another pod, WRONG_RANGE re-routes the client', async () => {
  const cluster = await startCluster(2, 2);
  try {
    await withClient(cluster, async (client) => {
      const key = keyInRange0();
      await client.put(key, 'before');
      assert.ok(cluster.pods[0].ops > 0);
      // Range 0 moves from pod 0 to pod 1 at view 2 (data is not migrated here: a fresh write follows).
      await cluster.assign([1, 1], [2, 1]);
      const opsBefore = cluster.pods[1].ops;
      await client.put(key, 'after');
      assert.equal((await client.get(key))?.value.toString(), 'after');
      assert.ok(cluster.pods[1].ops > opsBefore, 'the new owner served the re-routed ops');
    });
  } finally {
    await cluster.stop();
  }
});

test('client: a followed move sends the re-routed op first and refreshes routes once it is answered', async () => {
  const cluster = await startCluster(2, 2);
  try {
    await withClient(cluster, async (client) => {
      const key = keyInRange0();
      await client.put(key, 'before');
      await cluster.assign([1, 1], [2, 1]);
      // WRONG_RANGE from pod 0 names pod 1 at view 2: the client follows. What pod 1 has seen of
      // GetRoutes when it serves batches: the re-routed op must not queue behind a route refresh.
      const newOwner = cluster.pods[1];
      const routeRequestsAtBatches: number[] = [];
      const onBatch = newOwner.onBatch.bind(newOwner);
      newOwner.onBatch = (opCount, seconds) => {
        routeRequestsAtBatches.push(newOwner.routeRequests);
        onBatch(opCount, seconds);
      };
      const routeRequestsBefore = newOwner.routeRequests;
      await client.put(key, 'after');
      assert.deepEqual(routeRequestsAtBatches, [routeRequestsBefore], 'pod 1 served the re-routed op before any route refresh reached it');
      // The refresh follows the answer (asked of the new owner first).
      for (let i = 0; i < 200 && newOwner.routeRequests === routeRequestsBefore; i++) await sleep(10);
      assert.equal(newOwner.routeRequests, routeRequestsBefore + 1, 'the routes were refreshed from the new owner after the answer');
      assert.equal((await client.get(key))?.value.toString(), 'after');
    });
  } finally {
    await cluster.stop();
  }
});

test('client: a reply lost after the pod applied incrBy is retried and applied once', async () => {
  const cluster = await startCluster(1, 1);
  try {
    await withClient(cluster, async (client) => {
      assert.equal(await client.incrBy('counter', 1), 1);
      cluster.pods[0].dropNextReply = true;
      assert.equal(await client.incrBy('counter', 10), 11, 'the retry gets the saved result');
      assert.equal(cluster.pods[0].clients.duplicateHits, 1, 'the pod answered the retry from its completion record');
      assert.equal((await client.get('counter'))?.value.toString(), '11', 'the counter moved once');
    });
  } finally {
    await cluster.stop();
  }
});

test('client: typed errors for bad input, aborts and a closed client', async () => {
  const cluster = await startCluster(1, 1);
  try {
    await withClient(cluster, async (client) => {
      await assert.rejects(client.put('big', Buffer.alloc(65 * 1024)), (e: SlicekvError) => e.code === 'SLICEKV_INVALID_ARGUMENT');
      await client.put('k', '12x');
      await assert.rejects(client.incrBy('k', 1), (e: SlicekvError) => e.code === 'SLICEKV_INVALID_ARGUMENT');
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(client.get('k', { signal: controller.signal }), (e: SlicekvError) => e.code === 'SLICEKV_ABORTED');
      assert.equal((await client.get('k'))?.value.toString(), '12x', 'the client still works');
      client.close();
      await assert.rejects(client.get('k'), (e: SlicekvError) => e.code === 'SLICEKV_CLOSED');
    });
  } finally {
    await cluster.stop();
  }
});

test('client: after a pod expires its lease, the SDK fails only the ops of the old id and carries on under a new id', async () => {
  const pod = new Pod({
    ...DEFAULT_POD_CONFIG, podName: 'pod-e', store: { memoryLimitBytes: 16 * MIB, segmentSizeBytes: MIB, valueLengthMax: 64 * 1024 },
    clients: { ...DEFAULT_POD_CONFIG.clients, leaseDurationMs: 200 },
  });
  const address = await pod.start();
  const admin = adminClient(address);
  await admin.call('AssignRanges', { owned: [{ start: '0', end: '0', view: 1 }], routes: [{ start: '0', end: '0', view: 1, owner: 'pod-e', address }] });
  admin.close();
  const client = createClient({ seeds: [address], timeoutMs: 5000 });
  try {
    await client.put('lease', 'first');
    const oldId = Buffer.from(client.clientId);
    await new Promise((resolve) => setTimeout(resolve, 400));
    await assert.rejects(client.put('lease', 'second'), (error: SlicekvError) => error.code === 'SLICEKV_SESSION_EXPIRED');
    assert.equal((await client.get('lease'))?.value.toString(), 'first', 'the refused put did not run');
    await client.put('lease', 'third');
    assert.equal(await client.incrBy('after', 1), 1);
    assert.equal((await client.get('lease'))?.value.toString(), 'third', 'mutations work again under the new id');
    assert.notDeepEqual(client.clientId, oldId);
    assert.equal(client.idRotations, 1);
  } finally {
    client.close();
    await pod.stop();
  }
});
