// The operator end to end against a real kube-apiserver + etcd (support/controlPlane.ts) with the
// process kubelet running the Pods it creates (support/processKubelet.ts):
//   helm install the chart (CRDs + least-privilege RBAC); two `slicekv operator` processes run
//   with the operator ServiceAccount's token, so RBAC is exercised for real; a 3-pod KVCluster
//   is applied; the operator creates pods and ShardRanges and assigns them; the SDK writes and
//   reads 10k keys; `kubectl get shardranges` shows owner, view and keys; the leading operator is
//   killed with SIGKILL and the standby takes the Lease and carries on while the data plane keeps
//   serving; a deleted data-plane Pod is recreated and its ranges come back at a higher view.
//
// The chart's data-plane lease guard (a ValidatingAdmissionPolicy that needs the pod-name claim
// of a bound ServiceAccount token) is turned off: the harness authenticates pods with static
// tokens, which carry no such claim.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createClient, type SlicekvClient } from '../../client/index.js';
import { adminClient } from '../../proto/adminClient.js';
import { serviceAccountToken, startControlPlane, type ControlPlane } from './support/controlPlane.js';
import { startProcessKubelet, type ProcessKubelet } from './support/processKubelet.js';

const NAMESPACE = 'slicekv-operator-e2e';
const RELEASE = 'slicekv';
const OPERATOR = serviceAccountToken(NAMESPACE, `${RELEASE}-operator`, 'operator');
const DATAPLANE = serviceAccountToken(NAMESPACE, `${RELEASE}-dataplane`, 'dataplane');
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(REPO, 'bin', 'slicekv.js');
const BUILD_TIMEOUT_MS = 40 * 60_000;
const KEY_COUNT = 10_000;

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last === undefined ? '' : ` (last error: ${String(last)})`}`);
}

interface OperatorProcess {
  identity: string;
  child: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
}

function startOperator(kubeconfig: string, identity: string): OperatorProcess {
  const child = spawn(process.execPath, [BIN, 'operator', '--kubeconfig', kubeconfig, '--namespace', NAMESPACE, '--lease-namespace', NAMESPACE,
    '--metrics-port', '0', '--metrics-host', '127.0.0.1', '--identity', identity, '--image', 'slicekv:dev',
    '--dataplane-service-account', `${RELEASE}-dataplane`], { stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: process.env.PATH, HOME: process.env.HOME } });
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      lines.push({ msg: line });
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { identity, child, lines, exited };
}

/** Runs `work`; on failure adds the operators' last log lines to the error. */
async function withOperatorLogs(operators: readonly OperatorProcess[], work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    const logs = operators.map((o) => `--- ${o.identity}\n${o.lines.filter((l) => Number(l.level) >= 40 || /assigned|serving|answer|->|created/.test(String(l.msg))).slice(-40).map((l) => JSON.stringify(l)).join('\n')}`).join('\n');
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${logs}`);
  }
}

/** The operator's /metrics text (its port is in the 'starting' log line). */
async function operatorMetrics(operator: OperatorProcess): Promise<string> {
  const port = operator.lines.find((line) => line.event === 'starting')?.metricsPort;
  assert.ok(typeof port === 'number', `${operator.identity} logged no metrics port`);
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(response.status, 200);
  return response.text();
}

function logged(operator: OperatorProcess, message: RegExp): boolean {
  return operator.lines.some((line) => message.test(String(line.msg ?? '')));
}

interface ShardRangeJson {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { start: string; end: string; desiredOwner: string };
  status?: { owner?: string; view?: number; keys?: number; phase?: string };
}

interface PodJson {
  metadata: { name: string; uid: string };
  status: { podIP?: string; conditions?: { type: string; status: string }[] };
}

const KVCLUSTER = {
  apiVersion: 'slicekv.io/v1alpha1', kind: 'KVCluster', metadata: { name: 'demo', namespace: NAMESPACE },
  // Durability on: the operator creates the shared claim (the process kubelet maps it to one local
  // folder all pods see), so a recreated pod recovers its ranges from it (docs/durability.md).
  spec: { pods: 3, rangesPerPod: 4, memoryPerPod: '64Mi', leaseDurationSeconds: 6, durability: { mode: 'sync', storage: { size: '1Gi' } } },
};

let controlPlane: ControlPlane | undefined;
let kubelet: ProcessKubelet | undefined;
let client: SlicekvClient | undefined;
const operators: OperatorProcess[] = [];

function cp(): ControlPlane {
  assert.ok(controlPlane !== undefined, 'control plane not started');
  return controlPlane;
}

async function kubectlJson<T>(args: readonly string[]): Promise<T> {
  const result = await cp().kubectl([...args, '-n', NAMESPACE, '-o', 'json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as T;
}

async function shardRanges(): Promise<ShardRangeJson[]> {
  return (await kubectlJson<{ items: ShardRangeJson[] }>(['get', 'shardranges'])).items;
}

async function dataplanePods(): Promise<PodJson[]> {
  return (await kubectlJson<{ items: PodJson[] }>(['get', 'pods', '-l', 'slicekv.io/cluster=demo'])).items;
}

/** The data-plane pods' last log lines, for failure messages. */
function podLogs(): string {
  return ['demo-0', 'demo-1', 'demo-2'].map((name) => {
    try {
      return `--- ${name}\n${readFileSync(kubelet!.logPath(name, 'dataplane', NAMESPACE), 'utf8').split('\n').slice(-15).join('\n')}`;
    } catch (error) {
      return `--- ${name}: ${String(error)}`;
    }
  }).join('\n');
}

async function leaseHolder(): Promise<string> {
  return (await kubectlJson<{ spec: { holderIdentity?: string } }>(['get', 'lease', 'slicekv-operator-leader'])).spec.holderIdentity ?? '';
}

/** Deletes demo-1: the operator recreates it, it recovers its ranges from the shared volume, they come back at view 2. */
async function recreatedPodComesBack(): Promise<void> {
  const before = (await dataplanePods()).find((p) => p.metadata.name === 'demo-1');
  assert.ok(before !== undefined);
  const deleted = await cp().kubectl(['delete', 'pod', 'demo-1', '-n', NAMESPACE, '--timeout=60s'], { timeoutMs: 70_000 });
  assert.equal(deleted.code, 0, deleted.stderr);
  const mine = (await shardRanges()).filter((r) => r.spec.desiredOwner === 'demo-1');
  assert.equal(mine.length, 4);
  await eventually('demo-1 recreated, its ranges at view 2 and the cluster Ready', async () => {
    const pod = (await dataplanePods()).find((p) => p.metadata.name === 'demo-1');
    if (pod === undefined || pod.metadata.uid === before.metadata.uid) return undefined;
    const ranges = (await shardRanges()).filter((r) => r.spec.desiredOwner === 'demo-1');
    if (!ranges.every((r) => r.status?.view === 2 && r.status.phase === 'Assigned')) return undefined;
    const cluster = await kubectlJson<{ status: { conditions?: { type: string; status: string }[] } }>(['get', 'kvcluster', 'demo']);
    return cluster.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true ? true : undefined;
  }, 120_000);
  const recreated = (await dataplanePods()).find((p) => p.metadata.name === 'demo-1');
  for (const range of await shardRanges()) {
    if (range.spec.desiredOwner === 'demo-1') assert.equal(range.metadata.annotations?.['slicekv.io/owner-uid'], recreated?.metadata.uid, 'the new incarnation');
  }
  // The recreated pod recovered its ranges from the shared volume: every key written earlier is back.
  for (let i = 0; i < KEY_COUNT; i += 500) {
    const entries = await Promise.all(Array.from({ length: 500 }, (_, j) => client!.get(`key-${i + j}`)));
    entries.forEach((entry, j) => assert.equal(entry?.value.toString(), `value-${i + j}`, `key-${i + j} after recovery`));
  }
  for (let i = 0; i < 2000; i += 200) {
    await Promise.all(Array.from({ length: 200 }, (_, j) => client!.put(`after-${i + j}`, `v-${i + j}`)));
  }
  const values = await Promise.all(Array.from({ length: 2000 }, (_, i) => client!.get(`after-${i}`)));
  values.forEach((entry, i) => assert.equal(entry?.value.toString(), `v-${i}`));
  for (const range of (await shardRanges()).filter((r) => r.spec.desiredOwner !== 'demo-1')) assert.equal(range.status?.view, 1, 'other ranges kept view 1');
}

async function health(address: string): Promise<{ serving: boolean; reason: string }> {
  const admin = adminClient(address);
  try {
    return await admin.call('Health', {}, 1000) as unknown as { serving: boolean; reason: string };
  } finally {
    admin.close();
  }
}

/**
 * SIGKILLs demo-2's process: the kubelet restarts it in place, and the new process (a new Lease
 * holder identity) serves nothing until its predecessor's Lease lapsed — self-fencing against a
 * real API server. Then it recovers its ranges from the shared volume and the cluster is Ready.
 */
async function restartedProcessWaitsForLease(): Promise<void> {
  const pod = (await dataplanePods()).find((p) => p.metadata.name === 'demo-2');
  assert.ok(pod?.status.podIP !== undefined);
  const address = `${pod.status.podIP}:7000`;
  type Lease = { spec: { holderIdentity: string; leaseTransitions?: number } };
  const before = await kubectlJson<Lease>(['get', 'lease', 'demo-2']);
  assert.match(before.spec.holderIdentity, new RegExp(`^demo-2_${pod.metadata.uid}_[0-9a-f]{8}$`));
  kubelet!.kill9('demo-2', NAMESPACE);
  const killedAt = Date.now();
  const waiting = await eventually('the restarted process answers, not serving', async () => {
    const answer = await health(address);
    return answer.serving ? undefined : answer;
  }, 10_000);
  assert.equal(waiting.reason, 'lease not yet acquired');
  await eventually('the restarted process serves once the old Lease lapsed', async () => ((await health(address)).serving ? true : undefined), 30_000);
  const servedAfterMs = Date.now() - killedAt;
  // D = 6 s; the last renewal was at most D/7.5 = 0.8 s before the kill.
  assert.ok(servedAfterMs >= 5000, `served ${servedAfterMs} ms after the kill: it must wait out the 6 s Lease`);
  const after = await kubectlJson<Lease>(['get', 'lease', 'demo-2']);
  assert.notEqual(after.spec.holderIdentity, before.spec.holderIdentity);
  assert.equal(after.spec.leaseTransitions, (before.spec.leaseTransitions ?? 0) + 1);
  const ready = await cp().kubectl(['wait', '--for=condition=Ready', 'kvcluster/demo', '-n', NAMESPACE, '--timeout=60s'], { timeoutMs: 70_000 });
  assert.equal(ready.code, 0, ready.stderr);
  const entries = await Promise.all(Array.from({ length: 2000 }, (_, i) => client!.get(`key-${i}`)));
  entries.forEach((entry, i) => assert.equal(entry?.value.toString(), `value-${i}`));
  console.log(`# restarted data-plane process served ${servedAfterMs} ms after kill -9 (lease 6 s)`);
}

describe('operator end to end: real kube-apiserver, process kubelet, two operator replicas', () => {
  const rootDir = mkdtempSync(join(tmpdir(), 'slicekv-operator-e2e-'));

  before(async () => {
    controlPlane = await startControlPlane({ tokens: [OPERATOR, DATAPLANE] });
    const namespace = await cp().kubectl(['create', 'namespace', NAMESPACE]);
    assert.equal(namespace.code, 0, namespace.stderr);
    const installed = await cp().helm(['install', RELEASE, join(REPO, 'helm', 'slicekv'), '--namespace', NAMESPACE,
      '--set', 'dataplane.leaseGuard.enabled=false'], { timeoutMs: 120_000 });
    assert.equal(installed.code, 0, installed.stderr);
    kubelet = await startProcessKubelet({
      kubeconfigPath: cp().adminKubeconfigPath, rootDir, namespace: NAMESPACE, labelSelector: 'slicekv.io/component=dataplane',
      // Pod IPs of our own: other suites' kubelets (and other runs) use 127.0.0.N at the same time.
      podIpPrefix: `127.0.${100 + (process.pid % 150)}.`,
      serviceAccountKubeconfig: (ns, serviceAccount) => cp().serviceAccountKubeconfig(ns, serviceAccount),
    });
  }, { timeout: BUILD_TIMEOUT_MS });

  after(async () => {
    client?.close();
    for (const operator of operators) operator.child.kill('SIGKILL');
    await kubelet?.stop();
    await controlPlane?.stop();
    rmSync(rootDir, { recursive: true, force: true });
  });

  test('two operators elect one leader; a KVCluster gets pods, ShardRanges and Ready; 10k keys round-trip through the SDK', { timeout: 180_000 }, async () => {
    const kubeconfig = cp().kubeconfigFor(OPERATOR.name);
    operators.push(startOperator(kubeconfig, 'operator-a'), startOperator(kubeconfig, 'operator-b'));
    let leader = '';
    await withOperatorLogs(operators, async () => {
      leader = await eventually('a leader', async () => {
        const holder = await leaseHolder();
        return holder === 'operator-a' || holder === 'operator-b' ? holder : undefined;
      });
    });
    const applied = await cp().kubectl(['apply', '-f', '-'], { input: JSON.stringify(KVCLUSTER) });
    assert.equal(applied.code, 0, applied.stderr);
    const ready = await cp().kubectl(['wait', '--for=condition=Ready', 'kvcluster/demo', '-n', NAMESPACE, '--timeout=120s'], { timeoutMs: 130_000 });
    assert.equal(ready.code, 0, `${ready.stderr}\n${JSON.stringify(await kubectlJson(['get', 'kvcluster', 'demo']))}`);
    const leading = operators.filter((o) => logged(o, /became leader/));
    assert.deepEqual(leading.map((o) => o.identity), [leader], 'exactly one operator led');

    const cluster = await kubectlJson<{ status: { readyPods: number; ranges: number; phase: string; observedGeneration: number } }>(['get', 'kvcluster', 'demo']);
    assert.deepEqual([cluster.status.readyPods, cluster.status.ranges, cluster.status.phase, cluster.status.observedGeneration], [3, 12, 'Running', 1]);
    const pods = await dataplanePods();
    assert.deepEqual(pods.map((p) => p.metadata.name).sort(), ['demo-0', 'demo-1', 'demo-2']);
    const ranges = await shardRanges();
    assert.equal(ranges.length, 12);
    for (const range of ranges) assert.deepEqual([range.status?.owner, range.status?.view, range.status?.phase], [range.spec.desiredOwner, 1, 'Assigned'],
      `${range.metadata.name}\n${podLogs()}`);

    client = createClient({ seeds: pods.map((p) => `${p.status.podIP}:7000`) });
    for (let i = 0; i < KEY_COUNT; i += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, j) => client!.put(`key-${i + j}`, `value-${i + j}`)));
    }
    for (let i = 0; i < KEY_COUNT; i += 500) {
      const values = await Promise.all(Array.from({ length: 500 }, (_, j) => client!.get(`key-${i + j}`)));
      values.forEach((entry, j) => assert.equal(entry?.value.toString(), `value-${i + j}`));
    }
    // ShardRange status takes keys from Admin Stats on the operator's periodic resync.
    await eventually('ShardRange keys add up to the keys written', async () => {
      const total = (await shardRanges()).reduce((sum, r) => sum + (r.status?.keys ?? 0), 0);
      return total === KEY_COUNT ? true : undefined;
    }, 45_000);
    const table = await cp().kubectl(['get', 'shardranges', '-n', NAMESPACE]);
    assert.equal(table.code, 0, table.stderr);
    const [header, ...rows] = table.stdout.trim().split('\n');
    assert.match(header, /OWNER\s+VIEW\s+KEYS/);
    assert.equal(rows.length, 12);
    for (const row of rows) assert.match(row, /^demo-r\d{4}\s+demo-[012]\s+1\s+[1-9]\d*\s/, `printer columns show owner, view and keys: ${row}`);
  });

  test('SIGKILL of the leading operator: the standby takes the Lease and carries on; the data plane serves throughout', { timeout: 120_000 }, async () => {
    await withOperatorLogs(operators, async () => {
    const leaderId = await leaseHolder();
    const leader = operators.find((o) => o.identity === leaderId);
    const standby = operators.find((o) => o.identity !== leaderId);
    assert.ok(leader !== undefined && standby !== undefined);
    assert.match(await operatorMetrics(leader), /^slicekv_operator_is_leader 1$/m);
    const standbyBefore = await operatorMetrics(standby);
    assert.match(standbyBefore, /^slicekv_operator_is_leader 0$/m);
    assert.doesNotMatch(standbyBefore, /^slicekv_operator_reconciles_total\{/m, 'a standby does not reconcile');
    leader.child.kill('SIGKILL');
    await leader.exited;
    const killedAt = Date.now();
    let reads = 0;
    while (!logged(standby, /became leader/)) {
      assert.ok(Date.now() - killedAt < 40_000, 'the standby took over within 40 s');
      const key = `key-${reads % KEY_COUNT}`;
      assert.equal((await client!.get(key))?.value.toString(), `value-${reads % KEY_COUNT}`, 'reads keep working while no operator leads');
      reads++;
    }
    const tookOverMs = Date.now() - killedAt;
    assert.ok(tookOverMs >= 5000, `the standby waited out the lease (${tookOverMs} ms)`);
    assert.equal(await leaseHolder(), standby.identity);
    const metrics = await operatorMetrics(standby);
    assert.match(metrics, /^slicekv_operator_is_leader 1$/m);
    assert.match(metrics, /^slicekv_operator_queue_depth \d+$/m);
    console.log(`# standby led ${tookOverMs} ms after SIGKILL; ${reads} reads served meanwhile`);
    // Carries on: a change to the cluster's ShardRange status is reconciled back by the new leader.
    const [first] = await shardRanges();
    const broken = await cp().kubectl(['patch', 'shardrange', first.metadata.name, '-n', NAMESPACE, '--subresource=status', '--type=merge',
      '-p', JSON.stringify({ status: { phase: 'Unavailable' } })]);
    assert.equal(broken.code, 0, broken.stderr);
    await eventually('the new leader reconciles the ShardRange back to Assigned', async () => {
      const range = (await shardRanges()).find((r) => r.metadata.name === first.metadata.name);
      return range?.status?.phase === 'Assigned' ? true : undefined;
    }, 30_000);
    assert.match(await operatorMetrics(standby), /^slicekv_operator_reconciles_total\{kind="KVCluster",result="requeue"\} [1-9]\d*$/m);
    });
  });

  test('a deleted data-plane Pod is recreated and its ranges come back, served at a higher view', { timeout: 150_000 }, recreatedPodComesBack);

  test('kill -9 of a data-plane process: the restarted process serves only after its predecessor\'s Lease lapsed', { timeout: 120_000 },
    restartedProcessWaitsForLease);
});
