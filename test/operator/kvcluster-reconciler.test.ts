import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KEYSPACE_END } from '../../proto/keyspace/range.js';
import { RouteTable } from '../../proto/keyspace/routes.js';
import { StoreError } from '../../operator/core/ports.js';
import { conditionOf } from '../../operator/core/conditions.js';
import { Harness, kvCluster } from './fixture.js';

async function settled(): Promise<Harness> {
  const h = new Harness();
  await h.reconcile();
  h.runPods();
  await h.reconcile();
  return h;
}

test('reconcile: the first round creates Services, the volume claim, pods, the PDB and an even split of ShardRanges', async () => {
  const h = new Harness();
  const outcome = await h.reconcile();
  assert.deepEqual(outcome, { kind: 'requeue', afterMs: 1000 }, 'pods are starting: come back soon');
  assert.deepEqual(h.store.all('Service').map((s) => [s.meta.name, s.headless]).sort(), [['demo', false], ['demo-pods', true]]);
  assert.equal(h.store.all('PersistentVolumeClaim').length, 1);
  assert.deepEqual(h.store.all('PersistentVolumeClaim')[0].accessModes, ['ReadWriteMany']);
  assert.equal(h.store.all('PodDisruptionBudget')[0].maxUnavailable, 1);
  const pods = h.store.all('Pod');
  assert.deepEqual(pods.map((p) => p.meta.name).sort(), ['demo-0', 'demo-1', 'demo-2']);
  for (const pod of pods) {
    assert.equal(pod.meta.ownerReferences?.[0].uid, 'cluster-uid-demo');
    assert.deepEqual(pod.spec.command.slice(0, 9), ['node', '/app/bin/slicekv.js', 'dataplane', '--listen', '$(POD_IP):7000', '--metrics-port', '9100',
    '--bulk-port', '7001']);
    assert.deepEqual(pod.spec.command.slice(-6), ['--data-dir', '/data', '--wal', 'sync', '--fsync-interval-ms', '10']);
    assert.equal(pod.spec.claimName, 'demo-wal');
    assert.ok(pod.spec.command.includes('--lease-name') && pod.spec.command.includes(pod.meta.name));
    assert.deepEqual(pod.spec.env.find((e) => e.name === 'POD_IP'), { name: 'POD_IP', fieldPath: 'status.podIP' });
  }
  const ranges = h.store.all('ShardRange').sort((a, b) => (BigInt(a.spec.start) < BigInt(b.spec.start) ? -1 : 1));
  assert.equal(ranges.length, 12);
  assert.equal(ranges[0].spec.start, '0');
  assert.equal(ranges[11].spec.end, KEYSPACE_END.toString());
  const width = BigInt(ranges[0].spec.end);
  for (const r of ranges) assert.ok(BigInt(r.spec.end) - BigInt(r.spec.start) - width <= 1n, 'equal widths');
  assert.deepEqual(ranges.slice(0, 4).map((r) => r.spec.desiredOwner), ['demo-0', 'demo-1', 'demo-2', 'demo-0']);
  const cluster = h.clusterNow();
  assert.equal(cluster.status.phase, 'Creating');
  assert.equal(conditionOf(cluster.status.conditions, 'Ready')?.status, 'False');
  assert.equal(conditionOf(cluster.status.conditions, 'Progressing')?.status, 'True');
  assert.equal(conditionOf(cluster.status.conditions, 'Progressing')?.reason, 'PodsStarting');
  assert.equal(h.dataPlane.pushes.length, 0, 'no pod is running yet');
});

test('reconcile: ready pods get their ranges at view 1 and the whole routing table; status turns Ready', async () => {
  const h = await settled();
  assert.equal(h.dataPlane.pushes.length, 3);
  for (const pod of h.dataPlane.pods.values()) {
    assert.equal(pod.owned.length, 4);
    assert.ok(pod.owned.every((r) => r.view === 1));
    const table = new RouteTable(pod.routes);
    assert.equal(table.routes.length, 12);
    assert.equal(new Set(table.routes.map((r) => r.address)).size, 3);
  }
  for (const range of h.store.all('ShardRange')) {
    assert.deepEqual([range.status.owner, range.status.view, range.status.phase], [range.spec.desiredOwner, 1, 'Assigned']);
  }
  const cluster = h.clusterNow();
  assert.equal(cluster.status.phase, 'Running');
  assert.equal(cluster.status.readyPods, 3);
  assert.equal(cluster.status.ranges, 12);
  assert.equal(cluster.status.observedGeneration, 1);
  for (const type of ['Ready', 'Progressing', 'Degraded'] as const) assert.equal(conditionOf(cluster.status.conditions, type)?.observedGeneration, 1);
  assert.equal(conditionOf(cluster.status.conditions, 'Ready')?.status, 'True');
  assert.equal(conditionOf(cluster.status.conditions, 'Progressing')?.status, 'False');
  assert.equal(conditionOf(cluster.status.conditions, 'Degraded')?.status, 'False');
  assert.ok(h.log.some((l) => l.message === 'KVCluster demo: Creating -> Running'), 'phase change logged as A -> B');
});

test('reconcile: a second round of a settled cluster writes nothing and pushes nothing', async () => {
  const h = await settled();
  const writes = h.store.writes;
  const pushes = h.dataPlane.pushes.length;
  h.nowMs += 60_000;
  const outcome = await h.reconcile();
  assert.equal(h.store.writes, writes, 'no store writes');
  assert.equal(h.dataPlane.pushes.length, pushes, 'no AssignRanges');
  assert.deepEqual(outcome, { kind: 'requeue', afterMs: 10_000 }, 'periodic resync only');
});

test('reconcile: ShardRange status takes keys and bytes from Admin Stats, and stays put when they do not change', async () => {
  const h = await settled();
  for (const pod of h.dataPlane.pods.values()) pod.keysPerRange = 250;
  await h.reconcile();
  for (const range of h.store.all('ShardRange')) assert.deepEqual([range.status.keys, range.status.bytes, range.status.view], [250, 25_000, 1]);
  const writes = h.store.writes;
  await h.reconcile();
  assert.equal(h.store.writes, writes);
});

test('reconcile: a deleted pod is recreated and its ranges are assigned again at a higher view', async () => {
  const h = await settled();
  const old = h.pod('demo-1');
  const oldAddress = `${old.status?.podIP}:7000`;
  await h.store.delete('Pod', old.meta.namespace, old.meta.name);
  h.dataPlane.pods.delete(oldAddress);
  await h.reconcile();
  const recreated = h.pod('demo-1');
  assert.notEqual(recreated.meta.uid, old.meta.uid, 'a new pod object');
  const mine = h.store.all('ShardRange').filter((r) => r.spec.desiredOwner === 'demo-1');
  assert.ok(mine.every((r) => r.status.phase === 'Unavailable' && r.status.view === 1), 'its ranges wait, at their old view');
  assert.equal(conditionOf(h.clusterNow().status.conditions, 'Ready')?.status, 'False');
  h.runPods();
  const pushesBefore = h.dataPlane.pushes.length;
  await h.reconcile();
  const newAddress = `${h.pod('demo-1').status?.podIP}:7000`;
  assert.notEqual(newAddress, oldAddress);
  const fresh = h.dataPlane.pods.get(newAddress);
  assert.ok(fresh !== undefined && fresh.owned.length === 4 && fresh.owned.every((r) => r.view === 2), 'ranges back at view 2');
  for (const r of h.store.all('ShardRange')) {
    assert.equal(r.status.view, r.spec.desiredOwner === 'demo-1' ? 2 : 1);
    assert.equal(r.status.phase, 'Assigned');
  }
  assert.equal(h.dataPlane.pushes.length - pushesBefore, 3, 'the new pod gets its ranges; the others the new routes');
  for (const pod of h.dataPlane.pods.values()) assert.ok(pod.routes.some((r) => r.address === newAddress && r.view === 2));
  assert.equal(conditionOf(h.clusterNow().status.conditions, 'Ready')?.status, 'True');
});

test('reconcile: a recreated pod that recovered its ranges at their old views (durability) still gets them at a higher view', async () => {
  const h = await settled();
  const old = h.pod('demo-1');
  const oldPod = h.dataPlane.pods.get(`${old.status?.podIP}:7000`)!;
  const recovered = [...oldPod.owned];
  assert.ok(h.store.all('ShardRange').filter((r) => r.spec.desiredOwner === 'demo-1').every((r) => r.meta.annotations?.['slicekv.io/owner-uid'] === old.meta.uid));
  await h.store.delete('Pod', 'ns1', 'demo-1');
  await h.reconcile();
  h.runPods();
  const fresh = h.dataPlane.pods.get(`${h.pod('demo-1').status?.podIP}:7000`)!;
  fresh.owned = recovered;
  await h.reconcile();
  assert.ok(fresh.owned.length === 4 && fresh.owned.every((r) => r.view === 2), 'a new incarnation: a new view');
  const mine = h.store.all('ShardRange').filter((r) => r.spec.desiredOwner === 'demo-1');
  assert.ok(mine.every((r) => r.status.view === 2 && r.meta.annotations?.['slicekv.io/owner-uid'] === h.pod('demo-1').meta.uid));
  const writes = h.store.writes;
  await h.reconcile();
  assert.equal(h.store.writes, writes, 'settled again');
});

test('reconcile: a pod restarted in place (same IP, empty) gets its ranges again at a higher view', async () => {
  const h = await settled();
  const address = `${h.pod('demo-0').status?.podIP}:7000`;
  h.dataPlane.start(address, 'demo-0');
  await h.reconcile();
  assert.ok(h.dataPlane.pods.get(address)?.owned.every((r) => r.view === 2));
});

test('reconcile: a pod that is not serving (lease lost) is not assigned, its ranges turn Unavailable, Ready goes False', async () => {
  const h = await settled();
  const address = `${h.pod('demo-2').status?.podIP}:7000`;
  const pod = h.dataPlane.pods.get(address)!;
  pod.serving = false;
  pod.owned = [];
  const pushes = h.dataPlane.pushes.length;
  const outcome = await h.reconcile();
  assert.equal(h.dataPlane.pushes.filter((p) => p.address === address).length, h.dataPlane.pushes.slice(0, pushes).filter((p) => p.address === address).length);
  assert.ok(h.store.all('ShardRange').filter((r) => r.spec.desiredOwner === 'demo-2').every((r) => r.status.phase === 'Unavailable'));
  const cluster = h.clusterNow();
  assert.equal(conditionOf(cluster.status.conditions, 'Ready')?.status, 'False');
  assert.equal(cluster.status.readyPods, 2);
  assert.deepEqual(outcome, { kind: 'requeue', afterMs: 1000 });
  pod.serving = true;
  await h.reconcile();
  assert.ok(pod.owned.length === 4 && pod.owned.every((r) => r.view === 2));
  assert.equal(conditionOf(h.clusterNow().status.conditions, 'Ready')?.status, 'True');
});

test('reconcile: a pod that does not answer the Admin RPC marks the cluster Degraded and is retried with backoff', async () => {
  const h = await settled();
  const address = `${h.pod('demo-0').status?.podIP}:7000`;
  h.dataPlane.pods.delete(address);
  await h.reconcile();
  const cluster = h.clusterNow();
  assert.equal(cluster.status.phase, 'Degraded');
  assert.equal(conditionOf(cluster.status.conditions, 'Degraded')?.status, 'True');
  assert.equal(conditionOf(cluster.status.conditions, 'Degraded')?.reason, 'PodUnreachable');
  assert.match(conditionOf(cluster.status.conditions, 'Degraded')?.message ?? '', /demo-0/);
  assert.ok(h.log.some((l) => l.message === 'KVCluster demo: Running -> Degraded'));
});

test('reconcile: an error from the control store ends in a retry (the queue backs off), and status is not lost', async () => {
  const h = await settled();
  h.store.failWith = new StoreError('Unavailable', 'apiserver down');
  const outcome = await h.reconcile();
  assert.equal(outcome.kind, 'retry');
  assert.match(outcome.kind === 'retry' ? outcome.error.message : '', /apiserver down/);
  h.store.failWith = null;
  assert.equal((await h.reconcile()).kind, 'requeue');
});

test('reconcile: an Admin failure (no Health answer) is a retry and hands out no view', async () => {
  const h = new Harness();
  await h.reconcile();
  h.runPods();
  h.dataPlane.failWith = new Error('deadline exceeded');
  const outcome = await h.reconcile();
  assert.equal(outcome.kind, 'retry');
  assert.equal(conditionOf(h.clusterNow().status.conditions, 'Degraded')?.status, 'True');
  h.dataPlane.failWith = null;
  await h.reconcile();
  const views = new Set(h.store.all('ShardRange').map((r) => r.status.view));
  assert.deepEqual([...views], [1], 'no pod answered Health, so no view was handed out');
  for (const pod of h.dataPlane.pods.values()) assert.ok(pod.owned.every((r) => r.view === 1));
});

test('reconcile: an AssignRanges failure is a retry; the next round assigns at a still higher view', async () => {
  const h = new Harness();
  await h.reconcile();
  h.runPods();
  h.dataPlane.failAssignWith = new Error('deadline exceeded');
  const outcome = await h.reconcile();
  assert.equal(outcome.kind, 'retry');
  assert.ok(h.store.all('ShardRange').every((r) => r.status.view === 1), 'the view is written before the push');
  h.dataPlane.failAssignWith = null;
  await h.reconcile();
  assert.ok(h.store.all('ShardRange').every((r) => r.status.view === 2), 'never hand out view 1 twice');
  for (const pod of h.dataPlane.pods.values()) assert.ok(pod.owned.length === 4 && pod.owned.every((r) => r.view === 2));
  assert.equal(conditionOf(h.clusterNow().status.conditions, 'Ready')?.status, 'True');
});

test('reconcile: a reconcile whose leadership ends (signal aborted) pushes nothing and writes no status', async () => {
  const h = new Harness();
  await h.reconcile();
  h.runPods();
  const abort = new AbortController();
  const health = h.dataPlane.health.bind(h.dataPlane);
  h.dataPlane.health = async (address) => {
    abort.abort();
    return health(address);
  };
  const writes = h.store.writes;
  assert.deepEqual(await h.reconciler.reconcile(h.key, abort.signal), { kind: 'done' });
  assert.equal(h.dataPlane.pushes.length, 0);
  assert.equal(h.store.writes, writes);
});

test('reconcile: a 409 conflict on a status write requeues soon instead of failing', async () => {
  const h = new Harness();
  await h.reconcile();
  h.runPods();
  const first = h.store.all('ShardRange')[0];
  h.store.conflictOnce.add(`ShardRange/${first.meta.namespace}/${first.meta.name}`);
  assert.deepEqual(await h.reconcile(), { kind: 'requeue', afterMs: 200 });
  await h.reconcile();
  assert.ok(h.store.all('ShardRange').every((r) => r.status.view === 1 && r.status.phase === 'Assigned'));
});

test('reconcile: an invalid spec is a terminal error, shown in the Degraded condition and not retried', async () => {
  const h = new Harness(kvCluster('bad', 0));
  const outcome = await h.reconcile();
  assert.deepEqual(outcome, { kind: 'done' });
  const degraded = conditionOf(h.clusterNow().status.conditions, 'Degraded');
  assert.equal(degraded?.status, 'True');
  assert.match(degraded?.message ?? '', /spec\.pods must be an integer in \[1, 256\], got 0/);
  assert.equal(h.store.all('Pod').length, 0);
});

test('reconcile: an existing object of the same name not owned by the cluster is left alone (terminal)', async () => {
  const h = new Harness();
  h.store.put('Service', { meta: { name: 'demo', namespace: 'ns1', uid: 'someone-else' }, headless: false, selector: {}, ports: [] });
  assert.deepEqual(await h.reconcile(), { kind: 'done' });
  assert.match(conditionOf(h.clusterNow().status.conditions, 'Degraded')?.message ?? '', /not owned by KVCluster demo/);
});

test('reconcile: a deleted KVCluster is done (ownerReferences garbage-collect the rest)', async () => {
  const h = new Harness();
  await h.store.delete('KVCluster', 'ns1', 'demo');
  assert.deepEqual(await h.reconcile(), { kind: 'done' });
  assert.equal(h.store.all('Pod').length, 0);
});

test('reconcile: a pod that ended (Failed) is deleted and then recreated', async () => {
  const h = await settled();
  const pod = h.pod('demo-0');
  h.store.put('Pod', { ...pod, status: { phase: 'Failed', ready: false } });
  await h.reconcile();
  assert.throws(() => h.pod('demo-0'));
  await h.reconcile();
  assert.equal(h.pod('demo-0').status, undefined, 'a new pod, not yet started');
});

test('reconcile through the work queue: a control store that fails is retried with growing backoff until it answers', async () => {
  const { WorkQueue } = await import('../../operator/core/workQueue.js');
  const h = new Harness();
  const failures = 3;
  let calls = 0;
  const times: number[] = [];
  const get = h.store.get.bind(h.store);
  h.store.get = (async (...args: Parameters<typeof get>) => {
    times.push(Date.now());
    if (++calls <= failures) throw new StoreError('Unavailable', `apiserver down (${calls})`);
    return get(...args);
  }) as typeof h.store.get;
  const outcomes: string[] = [];
  const queue = new WorkQueue((key, signal) => h.reconciler.reconcile(key, signal),
    { depthMax: 10, workersMax: 1, backoffBaseMs: 20, backoffMaxMs: 1000, retriesMax: 5 }, { info: () => undefined, warn: () => undefined, error: () => undefined });
  queue.listener = (_key, outcome) => outcomes.push(outcome.kind);
  queue.add(h.key);
  const deadline = Date.now() + 2000;
  while (outcomes.length < failures + 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  await queue.stop();
  assert.deepEqual(outcomes, ['retry', 'retry', 'retry', 'requeue']);
  const gaps = times.slice(1, failures + 1).map((t, i) => t - times[i]);
  assert.ok(gaps[0] >= 18 && gaps[1] >= 38 && gaps[2] >= 78, `backoff doubles: ${gaps.join(', ')} ms`);
  assert.equal(h.store.all('Pod').length, 3, 'the reconcile that got through created the pods');
});

test('reconcile: scale-out creates the new pod, which owns nothing until the assigner moves ranges; ranges are not re-split', async () => {
  const h = await settled();
  const cluster = h.clusterNow();
  h.store.put('KVCluster', { ...cluster, meta: { ...cluster.meta, generation: 2 }, spec: { ...cluster.spec, pods: 4 } });
  await h.reconcile();
  h.runPods();
  await h.reconcile();
  assert.equal(h.store.all('ShardRange').length, 12, 'the initial split happens once');
  const added = h.dataPlane.pods.get(`${h.pod('demo-3').status?.podIP}:7000`)!;
  assert.equal(added.owned.length, 0);
  assert.equal(new RouteTable(added.routes).routes.length, 12, 'it still serves the routing table');
  const status = h.clusterNow().status;
  assert.deepEqual([status.readyPods, status.observedGeneration, conditionOf(status.conditions, 'Ready')?.status], [4, 2, 'True']);
});

test('reconcile: scale-in keeps the surplus pod (its ranges must migrate first) and says so in Progressing', async () => {
  const h = await settled();
  const cluster = h.clusterNow();
  h.store.put('KVCluster', { ...cluster, spec: { ...cluster.spec, pods: 2 } });
  await h.reconcile();
  assert.equal(h.store.all('Pod').length, 3);
  assert.match(conditionOf(h.clusterNow().status.conditions, 'Progressing')?.message ?? '', /scale-in waits for range migration: demo-2/);
  assert.ok(h.store.all('ShardRange').every((r) => r.status.phase === 'Assigned'), 'demo-2 keeps serving its ranges');
});
