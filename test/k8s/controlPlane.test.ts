// End to end through a real kube-apiserver and etcd (test/k8s/support/controlPlane.ts) and the
// process kubelet (support/processKubelet.ts): kubectl with the admin kubeconfig, RBAC applied to
// a ServiceAccount's token for real, and a slicekv data-plane Pod run as a local process that
// the test reaches at its pod IP and that dies when the Pod is deleted.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminClient } from '../../proto/adminClient.js';
import { serviceAccountToken, startControlPlane, type ControlPlane } from './support/controlPlane.js';
import { k8sToolsPresent } from './support/k8sTools.js';
import { startProcessKubelet, type ProcessKubelet } from './support/processKubelet.js';
import { defaultCommandMapper } from './support/containerLaunch.js';

const NAMESPACE = 'slicekv-e2e';
const READER = serviceAccountToken(NAMESPACE, 'reader');
/** Building the tools on a fresh machine (no Go caches) took ~5 min; this bounds it generously. */
const BUILD_TIMEOUT_MS = 40 * 60_000;
const START_TIMEOUT_MS = 120_000;
const WAIT_MS_MAX = 30_000;

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = WAIT_MS_MAX): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last === undefined ? '' : ` (last error: ${String(last)})`}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function manifest(...objects: object[]): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects });
}

const DATAPLANE_POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'dp-0', namespace: NAMESPACE, labels: { 'app.kubernetes.io/name': 'slicekv' } },
  spec: {
    terminationGracePeriodSeconds: 10,
    containers: [{
      name: 'dataplane',
      image: 'slicekv:dev',
      command: ['slicekv', 'dataplane', '--listen', '$(POD_IP):7000', '--metrics-port', '9100', '--memory', '64MiB', '--pod-name', '$(POD_NAME)'],
      env: [
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      ],
      ports: [{ name: 'grpc', containerPort: 7000 }, { name: 'metrics', containerPort: 9100 }],
      readinessProbe: { httpGet: { path: '/metrics', port: 'metrics' }, periodSeconds: 1 },
      volumeMounts: [{ name: 'data', mountPath: '/data' }],
    }],
    volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data-dp-0' } }],
  },
};

/** A Pod that runs as ServiceAccount `reader` and lists the pods of `listIn` once. */
function kubectlPod(name: string, listIn: string): object {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NAMESPACE },
    spec: {
      serviceAccountName: 'reader', restartPolicy: 'Never',
      containers: [{ name: 'kubectl', image: 'registry.k8s.io/kubectl:v1.34.4', command: ['kubectl', 'get', 'pods', '-n', listIn, '-o', 'name'] }],
    },
  };
}

const UNKNOWN_IMAGE_POD = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: NAMESPACE }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } };

/** A one-template chart whose ConfigMap records the Kubernetes version helm saw. */
function writeProbeChart(chart: string): string {
  mkdirSync(join(chart, 'templates'), { recursive: true });
  writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: probe\nversion: 0.1.0\n');
  writeFileSync(join(chart, 'templates', 'configmap.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-probe\ndata:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n');
  return chart;
}

describe('k8s test harness: real kube-apiserver + etcd, process kubelet', () => {
  let controlPlane: ControlPlane | undefined;
  let kubelet: ProcessKubelet | undefined;
  const rootDir = mkdtempSync(join(tmpdir(), 'slicekv-kubelet-'));
  const cp = (): ControlPlane => {
    assert.ok(controlPlane !== undefined, 'control plane not started');
    return controlPlane;
  };

  before(async () => {
    const present = await k8sToolsPresent();
    const started = Date.now();
    controlPlane = await startControlPlane({ tokens: [READER], startTimeoutMs: START_TIMEOUT_MS });
    console.log(`# control plane ready in ${Date.now() - started} ms${present ? '' : ' (tools were built first)'} at ${controlPlane.server}`);
  }, { timeout: BUILD_TIMEOUT_MS });

  after(async () => {
    await kubelet?.stop();
    await controlPlane?.stop();
    rmSync(rootDir, { recursive: true, force: true });
  });

  test('kubectl get ns: works with the admin kubeconfig', async () => {
    const result = await cp().kubectl(['get', 'ns', '-o', 'name']);
    assert.equal(result.code, 0, result.stderr);
    for (const name of ['namespace/default', 'namespace/kube-system']) assert.match(result.stdout, new RegExp(`^${name}$`, 'm'));
  });

  test('RBAC: a ServiceAccount token gets 403 listing pods until a Role and RoleBinding grant it', async () => {
    const created = await cp().kubectl(['apply', '-f', '-'], {
      input: manifest({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } },
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace: NAMESPACE } }),
    });
    assert.equal(created.code, 0, created.stderr);
    const podsPath = `/api/v1/namespaces/${NAMESPACE}/pods`;
    assert.equal((await cp().request('GET', podsPath, { tokenName: READER.name })).status, 403);
    const denied = await cp().kubectl(['get', 'pods', '-n', NAMESPACE], { kubeconfig: cp().kubeconfigFor(READER.name) });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /forbidden/i);

    const granted = await cp().kubectl(['apply', '-f', '-'], {
      input: manifest(
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'pod-reader', namespace: NAMESPACE },
          rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }] },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reader-reads-pods', namespace: NAMESPACE },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
          subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: NAMESPACE }] }),
    });
    assert.equal(granted.code, 0, granted.stderr);
    // The authorizer reads bindings from its informer cache, so the grant shows within moments.
    await eventually('pods list allowed', async () => ((await cp().request('GET', podsPath, { tokenName: READER.name })).status === 200 ? true : undefined));
    const allowed = await cp().kubectl(['get', 'pods', '-n', NAMESPACE], { kubeconfig: cp().kubeconfigFor(READER.name) });
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal((await cp().request('GET', '/api/v1/namespaces/default/pods', { tokenName: READER.name })).status, 403, 'the Role grants one namespace only');
  });

  test('helm: installs and uninstalls a chart through the API server', async () => {
    const chart = writeProbeChart(join(rootDir, 'chart'));
    const installed = await cp().helm(['install', 'demo', chart, '--namespace', 'default', '--wait', '--timeout', '30s']);
    assert.equal(installed.code, 0, installed.stderr);
    const configMap = await cp().kubectl(['get', 'configmap', 'demo-probe', '-n', 'default', '-o', 'jsonpath={.data.kube}']);
    assert.equal(configMap.stdout, 'v1.34.4', 'helm read the server version from the API server');
    assert.match((await cp().helm(['list', '--namespace', 'default', '--short'])).stdout, /^demo$/m);
    const uninstalled = await cp().helm(['uninstall', 'demo', '--namespace', 'default', '--wait']);
    assert.equal(uninstalled.code, 0, uninstalled.stderr);
  });

  test('process kubelet: runs a slicekv dataplane Pod at its pod IP, restarts it after kill9, kills it on delete', async () => {
    kubelet = await startProcessKubelet({
      kubeconfigPath: cp().adminKubeconfigPath, rootDir, namespace: NAMESPACE,
      serviceAccountKubeconfig: (namespace, serviceAccount) => cp().serviceAccountKubeconfig(namespace, serviceAccount),
      // The slicekv image maps to bin/slicekv.js (the default); a kubectl image to our kubectl.
      commandMapper: (argv, container) => (argv[0] === 'kubectl' ? [cp().tools.kubectl, ...argv.slice(1)] : defaultCommandMapper(argv, container)),
    });
    const applied = await cp().kubectl(['apply', '-f', '-'], { input: JSON.stringify(DATAPLANE_POD) });
    assert.equal(applied.code, 0, applied.stderr);
    const ready = await cp().kubectl(['wait', '--for=condition=Ready', 'pod/dp-0', '-n', NAMESPACE, '--timeout=30s'], { timeoutMs: 40_000 });
    assert.equal(ready.code, 0, `${ready.stderr}\n${existsSync(join(rootDir, 'logs')) ? readFileSync(kubelet.logPath('dp-0', 'dataplane', NAMESPACE), 'utf8') : ''}`);
    const pod = JSON.parse((await cp().kubectl(['get', 'pod', 'dp-0', '-n', NAMESPACE, '-o', 'json'])).stdout) as
      { spec: { nodeName: string }; status: { podIP: string; phase: string; containerStatuses: { restartCount: number }[] } };
    assert.equal(pod.spec.nodeName, kubelet.nodeName);
    assert.equal(pod.status.phase, 'Running');
    assert.match(pod.status.podIP, /^127\.0\.0\.([2-9]|\d{2,3})$/);
    assert.ok(existsSync(join(rootDir, 'pvc', NAMESPACE, 'data-dp-0')), 'the PVC is a local folder');

    const admin = adminClient(`${pod.status.podIP}:7000`);
    try {
      assert.deepEqual(await admin.call('Health', {}), { serving: true, pod: 'dp-0', reason: '' });
      const [firstPid] = kubelet.pods()[0].pids;
      kubelet.kill9('dp-0', NAMESPACE);
      await eventually('restarted and Ready again', async () => {
        const again = JSON.parse((await cp().kubectl(['get', 'pod', 'dp-0', '-n', NAMESPACE, '-o', 'json'])).stdout) as typeof pod & { status: { conditions: { type: string; status: string }[] } };
        const isReady = again.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True');
        return again.status.containerStatuses[0].restartCount === 1 && isReady ? true : undefined;
      });
      assert.ok(!isAlive(firstPid), 'the killed process is gone');
      assert.equal((await admin.call('Health', {})).serving, true);

      const [pid] = kubelet.pods()[0].pids;
      const logPath = kubelet.logPath('dp-0', 'dataplane', NAMESPACE);
      const deleted = await cp().kubectl(['delete', 'pod', 'dp-0', '-n', NAMESPACE, '--timeout=30s'], { timeoutMs: 40_000 });
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal(kubelet.pods().length, 0);
      assert.ok(!isAlive(pid), `pid ${pid} still alive after the Pod was deleted`);
      assert.match(readFileSync(logPath, 'utf8'), /"event":"stopped"/, 'SIGTERM let the pod drain and log its stop');
      await assert.rejects(admin.call('Health', {}, 2_000));
    } finally {
      admin.close();
    }
  });

  test('process kubelet: a Pod acts as its ServiceAccount; exit codes make Succeeded / Failed; an unknown image fails', async () => {
    const applied = await cp().kubectl(['apply', '-f', '-'], { input: manifest(kubectlPod('lists-own', NAMESPACE), kubectlPod('lists-default', 'default'), UNKNOWN_IMAGE_POD) });
    assert.equal(applied.code, 0, applied.stderr);
    const phaseOf = async (name: string): Promise<string> => (await cp().kubectl(['get', 'pod', name, '-n', NAMESPACE, '-o', 'jsonpath={.status.phase}/{.status.reason}'])).stdout;
    await eventually('lists-own Succeeded', async () => ((await phaseOf('lists-own')) === 'Succeeded/' ? true : undefined));
    await eventually('lists-default Failed', async () => ((await phaseOf('lists-default')) === 'Failed/' ? true : undefined));
    await eventually('web Failed', async () => ((await phaseOf('web')) === 'Failed/ImageNotRunnable' ? true : undefined));
    assert.ok(kubelet !== undefined);
    assert.match(readFileSync(kubelet.logPath('lists-own', 'kubectl', NAMESPACE), 'utf8'), /^pod\/lists-own$/m, 'the Role lets reader list its namespace');
    assert.match(readFileSync(kubelet.logPath('lists-default', 'kubectl', NAMESPACE), 'utf8'), /forbidden/i, 'and nothing else');
  });
});
