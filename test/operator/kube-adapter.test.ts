import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantityBytes } from '../../operator/kube/quantity.js';
import { kvClusterFromApi, podFromApi, podToApi, shardRangeFromApi, shardRangeToApi } from '../../operator/kube/convert.js';
import { keyOf } from '../../operator/kube/controller.js';
import { toStoreError } from '../../operator/kube/apiErrors.js';
import { labelSelector } from '../../operator/kube/kubeControlStore.js';
import { GrpcDataPlane } from '../../operator/kube/grpcDataPlane.js';
import { desiredPod } from '../../operator/core/clusterObjects.js';
import { DEFAULT_POD_CONFIG, Pod } from '../../dataplane/server/pod.js';
import { KEYSPACE_END, evenSplit } from '../../proto/keyspace/range.js';
import { kvCluster } from './fixture.js';

test('quantityBytes: Kubernetes quantities and byte counts', () => {
  assert.equal(quantityBytes('64Mi'), 64 * 2 ** 20);
  assert.equal(quantityBytes('1Gi'), 2 ** 30);
  assert.equal(quantityBytes('1.5Gi'), 1.5 * 2 ** 30);
  assert.equal(quantityBytes('2G'), 2e9);
  assert.equal(quantityBytes(1048576), 1048576);
  assert.throws(() => quantityBytes('1GiB'), /not a byte quantity/);
  assert.throws(() => quantityBytes(-1), /not a byte quantity/);
});

test('kvClusterFromApi: reads the CRD fields and applies its defaults', () => {
  const cluster = kvClusterFromApi({
    apiVersion: 'slicekv.io/v1alpha1', kind: 'KVCluster',
    metadata: { name: 'c', namespace: 'ns', uid: 'u1', generation: 3, resourceVersion: '7' },
    spec: { pods: 3, memoryPerPod: '256Mi', durability: { mode: 'sync', storage: { size: '2Gi' } }, ports: { client: 7100 } },
  }, { image: 'img:1', serviceAccountName: 'dp' });
  assert.deepEqual(cluster.spec, {
    pods: 3, rangesPerPod: 16, image: 'img:1', memoryPerPodBytes: 256 * 2 ** 20,
    durability: { mode: 'sync', fsyncIntervalMs: 10, size: '2Gi' }, leaseDurationSeconds: 15, clientPort: 7100, adminPort: 7001, metricsPort: 9100,
    serviceAccountName: 'dp',
  });
  assert.equal(cluster.meta.generation, 3);
  const off = kvClusterFromApi({ metadata: { name: 'd', namespace: 'ns' }, spec: { pods: 1 } }, { image: 'img:1' });
  assert.equal(off.spec.durability.mode, 'off');
  assert.equal(off.spec.memoryPerPodBytes, 2 ** 30);
});

test('podToApi: the image entrypoint as command, the rest as args, POD_IP from the downward API, the claim mounted', () => {
  const pod = podToApi(desiredPod(kvCluster(), 2));
  const container = pod.spec!.containers[0];
  assert.deepEqual(container.command, ['node', '/app/bin/slicekv.js']);
  assert.deepEqual(container.args!.slice(0, 5), ['dataplane', '--listen', '$(POD_IP):7000', '--metrics-port', '9100']);
  assert.ok(container.args!.join(' ').includes('--lease-namespace ns1 --lease-name demo-2'));
  assert.deepEqual(container.env!.find((e) => e.name === 'POD_IP')?.valueFrom, { fieldRef: { fieldPath: 'status.podIP' } });
  assert.deepEqual(container.readinessProbe?.httpGet, { path: '/metrics', port: 9100 });
  assert.deepEqual(pod.spec!.volumes, [{ name: 'data', persistentVolumeClaim: { claimName: 'demo-wal' } }]);
  assert.equal(pod.metadata!.ownerReferences![0].controller, true);
  assert.equal(pod.spec!.hostname, 'demo-2');
  assert.equal(pod.spec!.subdomain, 'demo-pods');
  const back = podFromApi({ ...pod, status: { phase: 'Running', podIP: '127.0.0.5', conditions: [{ type: 'Ready', status: 'True' }] } });
  assert.deepEqual(back.status, { phase: 'Running', ready: true, podIP: '127.0.0.5' });
  assert.deepEqual(back.spec.command, desiredPod(kvCluster(), 2).spec.command);
});

test('shardRange conversion: status.opsPerSec is an integer on the API side', () => {
  const range = shardRangeFromApi({ metadata: { name: 'r', namespace: 'ns' }, spec: { cluster: 'c', start: '0', end: KEYSPACE_END.toString(), desiredOwner: 'c-0' },
    status: { owner: 'c-0', view: 4, phase: 'Assigned', keys: 10, bytes: 100, opsPerSec: 3 } });
  assert.deepEqual(range.status, { owner: 'c-0', view: 4, phase: 'Assigned', keys: 10, bytes: 100, opsPerSecond: 3 });
  const api = shardRangeToApi({ ...range, status: { ...range.status, opsPerSecond: 2.6 } });
  assert.equal(api.status?.opsPerSec, 3);
  assert.equal(api.apiVersion, 'slicekv.io/v1alpha1');
});

test('keyOf: events on KVClusters, ShardRanges and data-plane Pods wake their KVCluster', () => {
  assert.equal(keyOf('kvclusters', 'ns', { metadata: { name: 'c' } }), 'ns/c');
  assert.equal(keyOf('shardranges', 'ns', { metadata: { name: 'c-r0001' }, spec: { cluster: 'c' } } as never), 'ns/c');
  assert.equal(keyOf('pods', 'ns', { metadata: { name: 'c-1', labels: { 'slicekv.io/cluster': 'c' } } }), 'ns/c');
  assert.equal(keyOf('pods', 'ns', { metadata: { name: 'other' } }), null);
});

test('toStoreError: HTTP codes become StoreError codes; 409 on create is AlreadyExists, else Conflict', () => {
  const api = (code: number): object => Object.assign(new Error(`HTTP ${code}`), { code, body: JSON.stringify({ message: `m${code}` }) });
  assert.equal(toStoreError(api(409), true).code, 'AlreadyExists');
  assert.equal(toStoreError(api(409)).code, 'Conflict');
  assert.equal(toStoreError(api(404)).code, 'NotFound');
  assert.equal(toStoreError(api(403)).code, 'Forbidden');
  assert.equal(toStoreError(api(422)).code, 'Invalid');
  assert.equal(toStoreError(api(500)).code, 'Unavailable');
  assert.match(toStoreError(api(403)).message, /m403/);
  assert.equal(labelSelector({ a: '1', b: '2' }), 'a=1,b=2');
});

test('GrpcDataPlane: AssignRanges, Stats, Health and GetRoutes against a real pod', async () => {
  const pod = new Pod({ ...DEFAULT_POD_CONFIG, podName: 'p0', store: { memoryLimitBytes: 64 * 2 ** 20 } });
  const address = await pod.start();
  const dataPlane = new GrpcDataPlane(2000);
  try {
    const ranges = evenSplit(2);
    const routes = ranges.map((r, i) => ({ ...r, view: 3, owner: i === 0 ? 'p0' : 'p1', address: i === 0 ? address : '127.0.0.1:1' }));
    const owned = await dataPlane.assignRanges(address, [{ ...ranges[0], view: 3 }], routes);
    assert.deepEqual(owned, [{ ...ranges[0], view: 3 }]);
    const stats = await dataPlane.stats(address);
    assert.equal(stats.pod, 'p0');
    assert.deepEqual(stats.ranges.map((r) => [r.range, r.keyCount]), [[{ ...ranges[0], view: 3 }, 0]]);
    assert.deepEqual(await dataPlane.health(address), { serving: true, pod: 'p0', reason: '' });
    assert.deepEqual(await dataPlane.routes(address), routes);
  } finally {
    dataPlane.close();
    await pod.stop(100);
  }
  const unreachable = new GrpcDataPlane(300);
  await assert.rejects(unreachable.health('127.0.0.1:1'));
  unreachable.close();
});

test('OperatorMetrics: /metrics with the slicekv_operator_ names, /healthz, and /readyz once informers synced', async () => {
  const { OperatorMetrics } = await import('../../operator/kube/operatorMetrics.js');
  const metrics = new OperatorMetrics();
  metrics.depthSource = () => 7;
  metrics.isLeader.set(1);
  metrics.reconciles.inc({ kind: 'KVCluster', result: 'requeue' });
  const { server, port } = await metrics.serve('127.0.0.1', 0);
  try {
    const get = (path: string): Promise<Response> => fetch(`http://127.0.0.1:${port}${path}`);
    assert.equal((await get('/healthz')).status, 200);
    assert.equal((await get('/readyz')).status, 503);
    metrics.ready = true;
    assert.equal((await get('/readyz')).status, 200);
    const text = await (await get('/metrics')).text();
    assert.match(text, /^slicekv_operator_queue_depth 7$/m);
    assert.match(text, /^slicekv_operator_is_leader 1$/m);
    assert.match(text, /^slicekv_operator_reconciles_total\{kind="KVCluster",result="requeue"\} 1$/m);
    assert.match(text, /^# TYPE slicekv_operator_reconcile_errors_total counter$/m);
    assert.equal((await get('/other')).status, 404);
  } finally {
    server.close();
  }
});
