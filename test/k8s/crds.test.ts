// The CRDs in crds/ against a real kube-apiserver (test/k8s/support/controlPlane.ts): they are
// accepted as structural, valid objects are stored with their defaults, and invalid ones are
// refused with the schema's or the CEL rules' own messages. The ShardRange bound rules (decimal
// strings compared by length, then lexicographically) are also checked against BigInt on seeded
// random bounds, through dry-run creates.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane, type CommandResult } from './support/controlPlane.js';
import { REPO_ROOT } from './support/k8sTools.js';
import { Random } from '../support/random.js';
import { replayHint, seedFromEnvironment } from '../support/environment.js';

const NAMESPACE = 'slicekv-crds';
const GROUP_VERSION = 'slicekv.io/v1alpha1';
const KEYSPACE_END = 1n << 64n;
/** Building the tools on a machine with no Go caches takes minutes; bounded generously. */
const START_TIMEOUT_MS = 40 * 60_000;
/** Bound on each group of tests once the control plane is up. */
const SUITE_TIMEOUT_MS = 5 * 60_000;
const CRD_NAMES = ['kvclusters.slicekv.io', 'shardranges.slicekv.io', 'migrations.slicekv.io'];

function kvCluster(name: string, spec: Record<string, unknown>): object {
  return { apiVersion: GROUP_VERSION, kind: 'KVCluster', metadata: { name, namespace: NAMESPACE }, spec: { pods: 3, ...spec } };
}

function shardRange(name: string, start: string, end: string, extra: Record<string, unknown> = {}): object {
  return { apiVersion: GROUP_VERSION, kind: 'ShardRange', metadata: { name, namespace: NAMESPACE }, spec: { cluster: 'c1', start, end, ...extra } };
}

function migration(name: string, spec: Record<string, unknown>): object {
  return {
    apiVersion: GROUP_VERSION, kind: 'Migration', metadata: { name, namespace: NAMESPACE },
    spec: { cluster: 'c1', range: 'r1', source: 'c1-pod-0', target: 'c1-pod-1', reason: 'manual', ...spec },
  };
}

let controlPlane: ControlPlane | undefined;
const cp = (): ControlPlane => {
  assert.ok(controlPlane !== undefined, 'control plane not started');
  return controlPlane;
};
const kubectl = (args: string[], input?: string): Promise<CommandResult> =>
  cp().kubectl(['-n', NAMESPACE, ...args], input === undefined ? {} : { input });
const create = (object: object): Promise<CommandResult> => kubectl(['create', '-f', '-'], JSON.stringify(object));
const accepted = async (object: object): Promise<void> => {
  const result = await create(object);
  assert.equal(result.code, 0, `expected the API server to accept ${JSON.stringify(object)}:\n${result.stderr}`);
};
/** Expects a refusal whose text matches every pattern (schema or CEL messages). */
const refused = async (result: Promise<CommandResult>, ...patterns: RegExp[]): Promise<void> => {
  const { code, stderr } = await result;
  assert.notEqual(code, 0, 'expected the API server to refuse it');
  for (const pattern of patterns) assert.match(stderr, pattern);
};
const getJson = async (resource: string): Promise<Record<string, unknown>> => {
  const result = await kubectl(['get', resource, '-o', 'json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Record<string, unknown>;
};
const mergePatch = (resource: string, patch: object, subresource?: 'status'): Promise<CommandResult> =>
  kubectl(['patch', resource, '--type=merge', '-p', JSON.stringify(patch), ...(subresource === undefined ? [] : ['--subresource=status'])]);

before(async () => {
  controlPlane = await startControlPlane({ startTimeoutMs: 120_000 });
  const applied = await cp().kubectl(['apply', '--server-side', '-f', join(REPO_ROOT, 'crds')]);
  assert.equal(applied.code, 0, applied.stderr);
  const established = await cp().kubectl(['wait', '--for=condition=Established', '--timeout=30s', ...CRD_NAMES.map((n) => `crd/${n}`)], { timeoutMs: 40_000 });
  assert.equal(established.code, 0, established.stderr);
  const namespace = await cp().kubectl(['create', 'namespace', NAMESPACE]);
  assert.equal(namespace.code, 0, namespace.stderr);
}, { timeout: START_TIMEOUT_MS });

after(async () => {
  await controlPlane?.stop();
});

describe('CRDs on a real kube-apiserver: KVCluster', { timeout: SUITE_TIMEOUT_MS }, () => {
  test('crds/: one file per kind; each is Established, structural, with a status subresource', async () => {
    assert.deepEqual(readdirSync(join(REPO_ROOT, 'crds')).sort(), ['slicekv.io_kvclusters.yaml', 'slicekv.io_migrations.yaml', 'slicekv.io_shardranges.yaml']);
    for (const name of CRD_NAMES) {
      const crd = JSON.parse((await cp().kubectl(['get', 'crd', name, '-o', 'json'])).stdout) as {
        spec: { versions: { name: string; subresources?: { status?: object } }[] };
        status: { conditions: { type: string; status: string }[] };
      };
      const conditions = new Map(crd.status.conditions.map((c) => [c.type, c.status]));
      assert.equal(conditions.get('Established'), 'True', name);
      assert.equal(conditions.get('NonStructuralSchema'), undefined, `${name} is structural`);
      assert.deepEqual(crd.spec.versions.map((v) => v.name), ['v1alpha1']);
      assert.ok(crd.spec.versions[0].subresources?.status !== undefined, `${name} has a status subresource`);
    }
  });

  test('KVCluster: a minimal one is stored with defaults; printer columns show pods, ready pods, ranges, phase, Ready', async () => {
    await accepted(kvCluster('minimal', {}));
    const spec = (await getJson('kvcluster/minimal')).spec as Record<string, unknown>;
    assert.equal(spec.rangesPerPod, 16);
    assert.equal(spec.memoryPerPod, '1Gi');
    assert.deepEqual(spec.durability, { mode: 'off', fsyncIntervalMs: 10 });
    assert.deepEqual(spec.ports, { client: 7000, admin: 7001, metrics: 9100 });
    assert.deepEqual(spec.balancing, { enabled: true, imbalanceThresholdPercent: 25, churnBudgetPercent: 5, intervalSeconds: 60 });
    const status = {
      readyPods: 2, ranges: 48, phase: 'Running', observedGeneration: 1,
      conditions: [{ type: 'Ready', status: 'False', reason: 'PodsNotReady', message: '2 of 3 pods ready', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 1 }],
    };
    const patched = await mergePatch('kvcluster/minimal', { status }, 'status');
    assert.equal(patched.code, 0, patched.stderr);
    const table = await kubectl(['get', 'kvclusters', 'minimal']);
    assert.match(table.stdout, /^NAME\s+PODS\s+READY PODS\s+RANGES\s+PHASE\s+READY\s+AGE\s*$/m);
    assert.match(table.stdout, /^minimal\s+3\s+2\s+48\s+Running\s+False\s+\S+\s*$/m);
  });

  test('KVCluster: a full spec with quantities, zones, sync durability and balancing is accepted', async () => {
    await accepted(kvCluster('full', {
      pods: 1000, rangesPerPod: 4096, memoryPerPod: '64Mi', zones: ['zone-a', 'zone-b'],
      resources: { requests: { cpu: '2', memory: '2Gi' }, limits: { memory: '3Gi' } },
      durability: { mode: 'sync', fsyncIntervalMs: 10000, storage: { size: '100Gi', storageClassName: 'nfs' } },
      balancing: { enabled: false, imbalanceThresholdPercent: 10, churnBudgetPercent: 100 },
      image: 'slicekv/slicekv:0.1.0', imagePullPolicy: 'Always', ports: { client: 8000, admin: 8001, metrics: 8002 },
      leaseDurationSeconds: 10,
    }));
    await accepted(kvCluster('bytes', { pods: 1, memoryPerPod: 67108864, durability: { mode: 'async', storage: { claimName: 'shared-wal' } } }));
  });

  test('KVCluster: out-of-range sizes and bad enums are refused with their messages', async () => {
    await refused(create(kvCluster('p0', { pods: 0 })), /spec\.pods: Invalid value: 0: spec\.pods in body should be greater than or equal to 1/);
    await refused(create(kvCluster('p1001', { pods: 1001 })), /spec\.pods in body should be less than or equal to 1000/);
    await refused(create(kvCluster('r0', { rangesPerPod: 0 })), /spec\.rangesPerPod in body should be greater than or equal to 1/);
    await refused(create(kvCluster('r4097', { rangesPerPod: 4097 })), /spec\.rangesPerPod in body should be less than or equal to 4096/);
    const memoryTooSmall = /memoryPerPod must be a quantity or byte count of at least 64Mi \(the engine needs 8 segments of 8 MiB\)/;
    await refused(create(kvCluster('m-small', { memoryPerPod: '63Mi' })), memoryTooSmall);
    await refused(create(kvCluster('m-bytes', { memoryPerPod: 67108863 })), memoryTooSmall);
    await refused(create(kvCluster('m-text', { memoryPerPod: 'lots' })), memoryTooSmall);
    await refused(create(kvCluster('m-huge', { memoryPerPod: '2Ti' })), /memoryPerPod must be at most 1Ti/);
    await refused(create(kvCluster('d-mode', { durability: { mode: 'fast' } })), /spec\.durability\.mode: Unsupported value: "fast": supported values: "off", "async", "sync"/);
    await refused(create(kvCluster('f0', { durability: { fsyncIntervalMs: 0 } })), /spec\.durability\.fsyncIntervalMs in body should be greater than or equal to 1/);
    await refused(create(kvCluster('f10001', { durability: { fsyncIntervalMs: 10001 } })), /spec\.durability\.fsyncIntervalMs in body should be less than or equal to 10000/);
    await refused(create(kvCluster('sync-nostore', { durability: { mode: 'sync' } })), /durability\.mode async and sync need durability\.storage/);
    await refused(create(kvCluster('store-empty', { durability: { mode: 'async', storage: {} } })),
      /durability\.storage needs claimName \(an existing claim\) or size \(for the operator to create one\)/);
    await refused(create(kvCluster('store-small', { durability: { mode: 'async', storage: { size: '100Mi' } } })), /durability\.storage\.size must be a quantity of at least 1Gi/);
    await refused(create(kvCluster('ports', { ports: { client: 7000, admin: 7000 } })), /ports\.client, ports\.admin and ports\.metrics must be three different ports/);
    await refused(create(kvCluster('balance', { balancing: { churnBudgetPercent: 0 } })), /spec\.balancing\.churnBudgetPercent in body should be greater than or equal to 1/);
    await refused(create(kvCluster('zones', { zones: ['a', 'a'] })), /spec\.zones\[1\]: Duplicate value: "a"/);
    await refused(create(kvCluster('pull', { imagePullPolicy: 'Sometimes' })), /Unsupported value: "Sometimes"/);
  });

  test('KVCluster: durability.storage is immutable once set; pods may change', async () => {
    await accepted(kvCluster('durable', { durability: { mode: 'async', storage: { size: '10Gi' } } }));
    assert.equal((await mergePatch('kvcluster/durable', { spec: { pods: 5 } })).code, 0);
    await refused(mergePatch('kvcluster/durable', { spec: { durability: { storage: { size: '20Gi' } } } }),
      /durability\.storage is immutable once set: the logs and checkpoints live on that volume/);
  });
});

describe('CRDs on a real kube-apiserver: ShardRange', { timeout: SUITE_TIMEOUT_MS }, () => {
  test('ShardRange: [0, 2^64) and a top half ending at 2^64 are accepted; printer columns show owner, view, keys, ops/s, phase', async () => {
    await accepted(shardRange('whole', '0', '18446744073709551616', { desiredOwner: 'c1-pod-0' }));
    await accepted(shardRange('top', '9223372036854775808', '18446744073709551616'));
    const status = { owner: 'c1-pod-0', view: 7, phase: 'Assigned', keys: 1234, bytes: 99999, opsPerSec: 56 };
    const patched = await mergePatch('shardrange/whole', { status }, 'status');
    assert.equal(patched.code, 0, patched.stderr);
    const table = await kubectl(['get', 'shardranges', 'whole']);
    assert.match(table.stdout, /^NAME\s+OWNER\s+VIEW\s+KEYS\s+OPS\/S\s+PHASE\s+AGE\s*$/m);
    assert.match(table.stdout, /^whole\s+c1-pod-0\s+7\s+1234\s+56\s+Assigned\s+\S+\s*$/m);
    const wide = await kubectl(['get', 'shardranges', 'whole', '-o', 'wide']);
    assert.match(wide.stdout, /\b0\s+18446744073709551616\b/);
  });

  test('ShardRange: start >= end, out-of-keyspace and non-decimal bounds are refused with their messages', async () => {
    const order = /start must be less than end \(both decimal unsigned integers\)/;
    await refused(create(shardRange('eq', '100', '100')), order);
    // "100" < "99" as text: the rule must compare lengths first.
    await refused(create(shardRange('len', '100', '99')), order);
    await refused(create(shardRange('lex', '18446744073709551615', '18446744073709551614')), order);
    await refused(create(shardRange('start-max', '18446744073709551616', '18446744073709551616')), /start must be at most 18446744073709551615 \(2\^64-1\)/);
    await refused(create(shardRange('end-max', '0', '18446744073709551617')), /end must be at most 18446744073709551616 \(2\^64\)/);
    await refused(create(shardRange('zeros', '007', '100')), /spec\.start in body should match '\^\(0\|\[1-9\]\[0-9\]\*\)\$'/);
    await refused(create(shardRange('hex', '0', '0x10')), /spec\.end in body should match/);
    await refused(create(shardRange('long', '0', '123456789012345678901')), /spec\.end: Too long: may not be (longer than|more than) 20/);
    await refused(create(shardRange('neg', '-1', '5')), /spec\.start in body should match/);
  });

  test('ShardRange: bounds and cluster are immutable; status.view never decreases', async () => {
    await accepted(shardRange('fixed', '1000', '2000'));
    await refused(mergePatch('shardrange/fixed', { spec: { start: '1500' } }), /start is immutable: split or merge by creating new ShardRanges/);
    await refused(mergePatch('shardrange/fixed', { spec: { end: '3000' } }), /end is immutable: split or merge by creating new ShardRanges/);
    await refused(mergePatch('shardrange/fixed', { spec: { cluster: 'c2' } }), /cluster is immutable/);
    assert.equal((await mergePatch('shardrange/fixed', { spec: { desiredOwner: 'c1-pod-2' } })).code, 0, 'desiredOwner may change');
    assert.equal((await mergePatch('shardrange/fixed', { status: { view: 5 } }, 'status')).code, 0);
    assert.equal((await mergePatch('shardrange/fixed', { status: { view: 6 } }, 'status')).code, 0);
    await refused(mergePatch('shardrange/fixed', { status: { view: 4 } }, 'status'), /status\.view never decreases/);
    await refused(mergePatch('shardrange/fixed', { status: { phase: 'Lost' } }, 'status'), /Unsupported value: "Lost"/);
  });

  test('ShardRange: the API server orders bounds as BigInt does, on seeded random bounds (dry run)', async () => {
    const seed = seedFromEnvironment();
    const random = new Random(seed);
    const edges = [0n, 1n, 9n, 10n, 99n, 100n, (1n << 63n) - 1n, 1n << 63n, KEYSPACE_END - 1n, KEYSPACE_END, KEYSPACE_END + 1n];
    const bound = (): bigint => {
      if (random.below(3) === 0) return edges[random.below(edges.length)];
      const value = (BigInt(random.uint32()) << 32n) | BigInt(random.uint32());
      return value >> BigInt(random.below(64));
    };
    const path = `/apis/slicekv.io/v1alpha1/namespaces/${NAMESPACE}/shardranges?dryRun=All`;
    for (let i = 0; i < 200; i++) {
      const start = bound();
      const end = random.below(4) === 0 ? start : bound();
      const valid = start < end && end <= KEYSPACE_END;
      const response = await cp().request('POST', path, { body: shardRange(`random-${i}`, start.toString(), end.toString()) });
      const context = `[${start}, ${end}) case ${i}; ${replayHint(seed)}: ${response.body}`;
      assert.equal(response.status, valid ? 201 : 422, context);
    }
  });
});

describe('CRDs on a real kube-apiserver: Migration and conditions', { timeout: SUITE_TIMEOUT_MS }, () => {
  test('Migration: valid accepted; source == target, bad reason, bad throttle refused; what to move is immutable; pause is not', async () => {
    await accepted(migration('m1', { reason: 'balance', throttleBytesPerSecond: 10485760 }));
    const stored = (await getJson('migration/m1')).spec as Record<string, unknown>;
    assert.equal(stored.paused, false);
    await refused(create(migration('same', { target: 'c1-pod-0' })), /source and target must be different pods/);
    await refused(create(migration('why', { reason: 'whim' })),
      /spec\.reason: Unsupported value: "whim": supported values: "manual", "balance", "locality", "scale-down", "recovery"/);
    await refused(create(migration('slow', { throttleBytesPerSecond: 1000 })), /spec\.throttleBytesPerSecond in body should be greater than or equal to 1048576/);
    await refused(create(migration('pod', { target: 'Pod_1' })), /spec\.target in body should match/);
    assert.equal((await mergePatch('migration/m1', { spec: { paused: true, throttleBytesPerSecond: 2097152 } })).code, 0, 'pause and throttle may change');
    await refused(mergePatch('migration/m1', { spec: { target: 'c1-pod-2' } }), /cluster, range, source, target and reason are immutable; create a new Migration instead/);
  });

  test('Migration: phases from the enum; a terminal phase stays; printer columns show range, source, target, phase', async () => {
    await accepted(migration('m2', {}));
    for (const phase of ['Prepare', 'TransferOwnership', 'MoveData', 'Checkpoint']) {
      const result = await mergePatch('migration/m2', { status: { phase, startTime: '2026-01-01T00:00:00Z' } }, 'status');
      assert.equal(result.code, 0, result.stderr);
    }
    await refused(mergePatch('migration/m2', { status: { phase: 'Exploded' } }, 'status'), /status\.phase: Unsupported value: "Exploded"/);
    await refused(mergePatch('migration/m2', { status: { completionTime: '2026-01-01T00:01:00Z' } }, 'status'), /completionTime is set only in a terminal phase/);
    const done = await mergePatch('migration/m2', { status: { phase: 'Complete', completionTime: '2026-01-01T00:01:00Z', recordsMoved: 10, bytesMoved: 1000 } }, 'status');
    assert.equal(done.code, 0, done.stderr);
    await refused(mergePatch('migration/m2', { status: { phase: 'MoveData' } }, 'status'), /a Migration in a terminal phase \(Complete, Aborted, Failed\) keeps that phase/);
    const table = await kubectl(['get', 'migrations', 'm2']);
    assert.match(table.stdout, /^NAME\s+RANGE\s+SOURCE\s+TARGET\s+PHASE\s+AGE\s*$/m);
    assert.match(table.stdout, /^m2\s+r1\s+c1-pod-0\s+c1-pod-1\s+Complete\s+\S+\s*$/m);
  });

  test('conditions: metav1.Condition shape, a map keyed by type', async () => {
    await accepted(kvCluster('conds', {}));
    const condition = (type: string, status: string): object => ({ type, status, reason: 'Testing', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' });
    await refused(mergePatch('kvcluster/conds', { status: { conditions: [condition('Ready', 'True'), condition('Ready', 'False')] } }, 'status'),
      /status\.conditions\[1\]: Duplicate value: .*"type":"Ready"/);
    await refused(mergePatch('kvcluster/conds', { status: { conditions: [condition('Ready', 'Maybe')] } }, 'status'), /Unsupported value: "Maybe"/);
    await refused(mergePatch('kvcluster/conds', { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, 'status'), /status\.conditions\[0\]\.reason: Required value/);
    const ok = await mergePatch('kvcluster/conds', { status: { conditions: [condition('Ready', 'True'), condition('Progressing', 'False'), condition('Degraded', 'False')] } }, 'status');
    assert.equal(ok.code, 0, ok.stderr);
  });
});
