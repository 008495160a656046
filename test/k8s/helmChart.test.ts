// The Helm chart (helm/slicekv): lint, render with default and options-heavy values, the values
// schema, least-privilege RBAC read off the rendered objects, and a real `helm install` into the
// test control plane (test/k8s/support/controlPlane.ts), where RBAC is then exercised with the
// operator's and the data-plane's ServiceAccount identities through `kubectl auth can-i`.
// There is no controller-manager, so the operator Deployment makes no pods; that is expected.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { serviceAccountToken, startControlPlane, type CommandResult, type ControlPlane } from './support/controlPlane.js';
import { REPO_ROOT } from './support/k8sTools.js';

const CHART = join(REPO_ROOT, 'helm', 'slicekv');
const OPTIONS_VALUES = join(REPO_ROOT, 'test', 'k8s', 'fixtures', 'helm-options-values.yaml');
const RELEASE = 'slicekv';
const RELEASE_NAMESPACE = 'slicekv-system';
const TENANT = 'tenant-a';
const OTHER = 'tenant-b';
const OPERATOR = serviceAccountToken(RELEASE_NAMESPACE, 'slicekv-operator', 'operator');
const DATAPLANE = serviceAccountToken(RELEASE_NAMESPACE, 'slicekv-dataplane', 'dataplane');
const TENANT_DATAPLANE = serviceAccountToken(TENANT, 'slicekv-dataplane', 'tenant-dataplane');
/** Building the tools on a machine with no Go caches takes minutes; bounded generously. */
const START_TIMEOUT_MS = 40 * 60_000;
/** Bound on each group of tests once the control plane is up. */
const SUITE_TIMEOUT_MS = 5 * 60_000;
/** How long an RBAC change may take to reach the authorizer's cache. */
const RBAC_SETTLE_MS = 10_000;
const VAP_API = ['--api-versions', 'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy'];
const MONITORING_APIS = ['--api-versions', 'monitoring.coreos.com/v1/ServiceMonitor', '--api-versions', 'monitoring.coreos.com/v1/PodMonitor'];

interface PolicyRule { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[] }
interface RenderedObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: PolicyRule[];
  spec?: Record<string, unknown>;
}

let controlPlane: ControlPlane | undefined;
const cp = (): ControlPlane => {
  assert.ok(controlPlane !== undefined, 'control plane not started');
  return controlPlane;
};
const helm = async (args: string[]): Promise<CommandResult> => cp().helm(args, { timeoutMs: 120_000 });
const ok = (result: CommandResult, what: string): string => {
  assert.equal(result.code, 0, `${what} failed:\n${result.stderr}\n${result.stdout}`);
  return result.stdout;
};

async function render(...args: string[]): Promise<RenderedObject[]> {
  const stdout = ok(await helm(['template', RELEASE, CHART, '--namespace', RELEASE_NAMESPACE, ...args]), `helm template ${args.join(' ')}`);
  // Plain objects (client-node's loadAllYaml returns model class instances), for deepEqual.
  const objects = JSON.parse(JSON.stringify(loadAllYaml(stdout))) as (RenderedObject | null)[];
  return objects.filter((o): o is RenderedObject => o !== null);
}

/** The rendered object of that kind and name; `namespace` undefined for cluster-scoped ones. */
function find(objects: RenderedObject[], kind: string, name: string, namespace: string | undefined): RenderedObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name && o.metadata.namespace === namespace);
  assert.ok(found !== undefined, `rendered ${kind} ${namespace}/${name}; have ${objects.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`).join(', ')}`);
  return found;
}

/** Every Role and ClusterRole: no "*" anywhere, and no ClusterRole at all (all permissions are namespaced). */
function assertLeastPrivilege(objects: RenderedObject[]): void {
  assert.deepEqual(objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding').map((o) => o.metadata.name), []);
  const roles = objects.filter((o) => o.kind === 'Role');
  assert.ok(roles.length >= 3, 'operator, leader-election and data-plane Roles');
  for (const role of roles) {
    for (const rule of role.rules ?? []) {
      for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames'] as const) {
        assert.ok(!(rule[field] ?? []).some((v) => v.includes('*')), `${role.metadata.namespace}/${role.metadata.name} grants "*" in ${field}: ${JSON.stringify(rule)}`);
      }
      assert.ok(!rule.verbs.some((v) => ['escalate', 'bind', 'impersonate'].includes(v)), `${role.metadata.name}: no privilege-escalation verbs`);
      assert.ok(!(rule.resources ?? []).includes('secrets'), `${role.metadata.name}: no access to secrets`);
    }
  }
}

/** The rules of a Role flattened to "group/resource:verb" strings. */
function grants(role: RenderedObject): string[] {
  return (role.rules ?? []).flatMap((r) => (r.apiGroups ?? ['']).flatMap((g) => (r.resources ?? []).flatMap((res) =>
    r.verbs.map((v) => `${g === '' ? 'core' : g}/${res}:${v}${r.resourceNames === undefined ? '' : `@${r.resourceNames.join(',')}`}`)))).sort();
}

interface Impersonation { user: string; groups: readonly string[]; podName: string }

/**
 * One API request as the admin, impersonating `as` with the pod-name extra a bound
 * ServiceAccount token carries (kubectl 1.34 has no flag for user extras).
 */
function impersonatedRequest(controlPlane: ControlPlane, method: string, path: string, body: object, as: Impersonation): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const request = httpsRequest(`${controlPlane.server}${path}`, {
      method, ca: readFileSync(controlPlane.caPath), timeout: 10_000,
      headers: {
        authorization: `Bearer ${controlPlane.tokenFor('admin')}`, 'content-type': 'application/json', accept: 'application/json',
        'Impersonate-User': as.user, 'Impersonate-Group': [...as.groups],
        'Impersonate-Extra-authentication.kubernetes.io%2fpod-name': as.podName,
      },
    }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      response.once('error', reject);
    });
    request.once('timeout', () => request.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    request.once('error', reject);
    request.end(payload);
  });
}

before(async () => {
  controlPlane = await startControlPlane({ tokens: [OPERATOR, DATAPLANE, TENANT_DATAPLANE], startTimeoutMs: 120_000 });
  for (const namespace of [RELEASE_NAMESPACE, TENANT, OTHER]) ok(await cp().kubectl(['create', 'namespace', namespace]), `create namespace ${namespace}`);
}, { timeout: START_TIMEOUT_MS });

after(async () => {
  await controlPlane?.stop();
});

describe('helm chart: lint, render, schema', { timeout: SUITE_TIMEOUT_MS }, () => {
  test('helm lint --strict: clean with default and with options-heavy values', async () => {
    ok(await helm(['lint', '--strict', CHART]), 'helm lint --strict');
    ok(await helm(['lint', '--strict', CHART, '-f', OPTIONS_VALUES]), 'helm lint --strict -f options');
  });

  test('chart crds/ is a byte-identical copy of crds/', () => {
    const names = readdirSync(join(REPO_ROOT, 'crds')).sort();
    assert.deepEqual(readdirSync(join(CHART, 'crds')).sort(), names);
    for (const name of names) {
      assert.ok(readFileSync(join(CHART, 'crds', name)).equals(readFileSync(join(REPO_ROOT, 'crds', name))),
        `helm/slicekv/crds/${name} differs from crds/${name}: cp crds/*.yaml helm/slicekv/crds/`);
    }
  });

  test('helm package: the chart packages with its CRDs', async () => {
    const out = mkdtempSync(join(tmpdir(), 'slicekv-chart-'));
    try {
      ok(await helm(['package', CHART, '--destination', out]), 'helm package');
      const archive = join(out, 'slicekv-0.1.0.tgz');
      const listing = ok(await helm(['show', 'crds', archive]), 'helm show crds');
      for (const kind of ['KVCluster', 'ShardRange', 'Migration']) assert.match(listing, new RegExp(`kind: ${kind}$`, 'm'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('helm template (defaults): operator Deployment hardened, probes on the metrics port; RBAC least privilege; no ServiceMonitor', async () => {
    const objects = await render();
    const deployment = find(objects, 'Deployment', 'slicekv-operator', RELEASE_NAMESPACE);
    const spec = deployment.spec as { replicas: number; template: { spec: { serviceAccountName: string; securityContext: Record<string, unknown>; containers: Record<string, unknown>[] } } };
    assert.equal(spec.replicas, 2);
    assert.equal(spec.template.spec.serviceAccountName, 'slicekv-operator');
    assert.equal(spec.template.spec.securityContext.runAsNonRoot, true);
    const [container] = spec.template.spec.containers as { args: string[]; image: string; securityContext: Record<string, unknown>;
      ports: { name: string; containerPort: number }[]; resources: { requests?: object; limits?: object };
      livenessProbe: { httpGet: { port: string } }; readinessProbe: { httpGet: { port: string } }; volumeMounts: { mountPath: string }[] }[];
    assert.deepEqual(container.args, ['operator']);
    assert.equal(container.image, 'slicekv/slicekv:0.1.0');
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(container.ports.map((p) => [p.name, p.containerPort]), [['metrics', 9200]]);
    assert.equal(container.livenessProbe.httpGet.port, 'metrics');
    assert.equal(container.readinessProbe.httpGet.port, 'metrics');
    assert.ok(container.resources.requests !== undefined && container.resources.limits !== undefined, 'resources set');
    assert.deepEqual(container.volumeMounts.map((m) => m.mountPath), ['/tmp']);
    const dataplaneAccount = find(objects, 'ServiceAccount', 'slicekv-dataplane', RELEASE_NAMESPACE) as RenderedObject & { automountServiceAccountToken?: boolean };
    assert.notEqual(dataplaneAccount.automountServiceAccountToken, false, 'operator-made data-plane pods get their token (they renew their Lease)');
    find(objects, 'PodDisruptionBudget', 'slicekv-operator', RELEASE_NAMESPACE);
    find(objects, 'NetworkPolicy', 'slicekv-dataplane', RELEASE_NAMESPACE);
    assert.deepEqual(objects.filter((o) => o.kind === 'ServiceMonitor' || o.kind === 'PodMonitor'), []);
    assertLeastPrivilege(objects);
    assert.deepEqual(grants(find(objects, 'Role', 'slicekv-dataplane', RELEASE_NAMESPACE)),
      ['coordination.k8s.io/leases:create', 'coordination.k8s.io/leases:get', 'coordination.k8s.io/leases:update']);
    const operator = grants(find(objects, 'Role', 'slicekv-operator', RELEASE_NAMESPACE));
    for (const needed of ['slicekv.io/kvclusters:watch', 'slicekv.io/shardranges:create', 'slicekv.io/migrations:delete', 'slicekv.io/kvclusters/status:update',
      'slicekv.io/shardranges/status:patch', 'slicekv.io/migrations/status:update', 'core/pods:create', 'core/pods:delete', 'core/pods/status:get',
      'core/services:create', 'core/persistentvolumeclaims:create', 'policy/poddisruptionbudgets:create', 'coordination.k8s.io/leases:watch',
      'core/events:create', 'events.k8s.io/events:create']) {
      assert.ok(operator.includes(needed), `operator Role grants ${needed}`);
    }
    assert.ok(!operator.some((g) => g.startsWith('coordination.k8s.io/leases:update')), 'the operator never writes data-plane leases');
    assert.deepEqual(grants(find(objects, 'Role', 'slicekv-operator-leader-election', RELEASE_NAMESPACE)),
      ['coordination.k8s.io/leases:create', 'coordination.k8s.io/leases:get@slicekv-operator-leader', 'coordination.k8s.io/leases:update@slicekv-operator-leader']);
  });

  test('helm template (options-heavy): per-namespace RBAC and policies; monitors only when the API is served', async () => {
    const objects = await render('-f', OPTIONS_VALUES, ...MONITORING_APIS);
    for (const namespace of ['tenant-a', 'tenant-b']) {
      find(objects, 'Role', 'kv-operator', namespace);
      find(objects, 'Role', 'kv-dataplane', namespace);
      find(objects, 'ServiceAccount', 'kv-dataplane-sa', namespace);
      // client-node's typed models (loadAllYaml) name a rule's `from` `_from`.
      const policy = find(objects, 'NetworkPolicy', 'kv-dataplane', namespace).spec as { ingress: { ports: { port: number }[]; _from?: object[] }[] };
      assert.deepEqual(policy.ingress.map((i) => i.ports[0].port), [8000, 8001, 8002]);
      // clientFrom, plus the operator and other data-plane pods: Admin gRPC calls (AssignRanges,
      // pod-to-pod migration calls) share the client port.
      assert.deepEqual(policy.ingress[0]._from?.[0], { namespaceSelector: { matchLabels: { 'slicekv.io/client': 'true' } } });
      assert.equal(policy.ingress[0]._from?.length, 3, 'client port: clientFrom, the operator and other data-plane pods');
      assert.equal(policy.ingress[1]._from?.length, 2, 'admin port: the operator and other data-plane pods');
      assert.deepEqual(policy.ingress[2]._from, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } } }]);
    }
    assert.equal(objects.filter((o) => o.kind === 'Role' && o.metadata.namespace === RELEASE_NAMESPACE).map((o) => o.metadata.name).join(), 'kv-operator-leader-election');
    assertLeastPrivilege(objects);
    const deployment = find(objects, 'Deployment', 'kv-operator', RELEASE_NAMESPACE).spec as { replicas: number; template: { spec: { containers: { image: string; env: { name: string; value?: string }[] }[] } } };
    assert.equal(deployment.replicas, 3);
    const env = new Map(deployment.template.spec.containers[0].env.map((e) => [e.name, e.value]));
    assert.equal(env.get('SLICEKV_WATCH_NAMESPACES'), 'tenant-a,tenant-b');
    assert.equal(env.get('SLICEKV_DATAPLANE_SERVICE_ACCOUNT'), 'kv-dataplane-sa');
    assert.match(deployment.template.spec.containers[0].image, /@sha256:[0-9a-f]{64}$/);
    find(objects, 'ServiceMonitor', 'kv-operator', RELEASE_NAMESPACE);
    find(objects, 'PodMonitor', 'kv-dataplane', RELEASE_NAMESPACE);
    const guarded = await render('-f', OPTIONS_VALUES, ...VAP_API);
    const binding = find(guarded, 'ValidatingAdmissionPolicyBinding', 'kv-slicekv-system-dataplane-leases', undefined).spec as
      { policyName: string; validationActions: string[]; matchResources: { namespaceSelector: { matchExpressions: { values: string[] }[] } } };
    assert.equal(binding.policyName, 'kv-slicekv-system-dataplane-leases');
    assert.deepEqual(binding.validationActions, ['Deny']);
    assert.deepEqual(binding.matchResources.namespaceSelector.matchExpressions[0].values, ['tenant-a', 'tenant-b']);
    const policy = find(guarded, 'ValidatingAdmissionPolicy', 'kv-slicekv-system-dataplane-leases', undefined).spec as { matchConditions: { expression: string }[] };
    assert.match(policy.matchConditions[0].expression, /':kv-dataplane-sa'$/);
    const unguarded = await render('-f', OPTIONS_VALUES, ...VAP_API, '--set', 'dataplane.leaseGuard.enabled=false');
    assert.deepEqual(unguarded.filter((o) => o.kind.startsWith('ValidatingAdmissionPolicy')), []);
    const withoutApi = await render('-f', OPTIONS_VALUES);
    assert.deepEqual(withoutApi.filter((o) => o.kind === 'ServiceMonitor' || o.kind === 'PodMonitor'), [], 'enabled, but the cluster has no monitoring.coreos.com/v1');
  });

  test('values.schema.json: refuses bad values with the schema path in the message', async () => {
    const refused = async (set: string, pattern: RegExp): Promise<void> => {
      const result = await helm(['template', RELEASE, CHART, '--set', set]);
      assert.notEqual(result.code, 0, `--set ${set} should be refused`);
      assert.match(result.stderr, pattern);
    };
    await refused('operator.replicas=0', /operator\.replicas|\/operator\/replicas/);
    await refused('operator.securityContext.readOnlyRootFilesystem=false', /readOnlyRootFilesystem/);
    await refused('dataplane.ports.admin=70000', /admin/);
    await refused('watchNamespaces={Bad_Namespace}', /watchNamespaces/);
    await refused('operator.replica=2', /replica/);
  });
});

describe('helm chart: install into a real kube-apiserver', { timeout: SUITE_TIMEOUT_MS }, () => {
  const canIOnce = async (tokenName: string, verb: string, resource: string, namespace: string): Promise<boolean> => {
    const result = await cp().kubectl(['auth', 'can-i', verb, resource, ...(namespace === '' ? [] : ['-n', namespace])], { kubeconfig: cp().kubeconfigFor(tokenName) });
    assert.ok(result.code === 0 || result.code === 1, `kubectl auth can-i ${verb} ${resource}: ${result.stderr}`);
    return result.stdout.trim() === 'yes';
  };
  /**
   * `kubectl auth can-i` as `tokenName`. The authorizer reads Roles and bindings from an informer
   * cache, so a change shows within moments: the answer is polled until it is `expected`, for
   * at most RBAC_SETTLE_MS, and the last answer is returned.
   */
  const canI = async (tokenName: string, verb: string, resource: string, namespace: string, expected: boolean): Promise<boolean> => {
    const deadline = Date.now() + RBAC_SETTLE_MS;
    let answer = await canIOnce(tokenName, verb, resource, namespace);
    while (answer !== expected && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      answer = await canIOnce(tokenName, verb, resource, namespace);
    }
    return answer;
  };

  test('rendered manifests pass the API server\'s strict server-side validation (dry run)', async () => {
    for (const values of [[], ['-f', OPTIONS_VALUES, '--set', 'metrics.serviceMonitor.enabled=false', '--set', 'operator.priorityClassName=']]) {
      const manifest = ok(await helm(['template', RELEASE, CHART, '--namespace', RELEASE_NAMESPACE, ...VAP_API, ...values]), 'helm template');
      assert.match(manifest, /^kind: ValidatingAdmissionPolicy$/m, 'the lease guard is part of what the server validates');
      const result = await cp().kubectl(['apply', '--dry-run=server', '--validate=strict', '-f', '-'], { input: manifest });
      assert.equal(result.code, 0, `server-side dry run of the ${values.length === 0 ? 'default' : 'options'} render:\n${result.stderr}`);
    }
  });

  test('helm install: succeeds; CRDs, Deployment, PDB, NetworkPolicies, ServiceAccounts and RBAC exist', async () => {
    ok(await helm(['install', RELEASE, CHART, '--namespace', RELEASE_NAMESPACE, '--set', `watchNamespaces={${RELEASE_NAMESPACE},${TENANT}}`]), 'helm install');
    const crds = ok(await cp().kubectl(['get', 'crd', '-o', 'name']), 'get crd');
    for (const name of ['kvclusters.slicekv.io', 'shardranges.slicekv.io', 'migrations.slicekv.io']) assert.match(crds, new RegExp(`^customresourcedefinition.apiextensions.k8s.io/${name.replace(/\./g, '\\.')}$`, 'm'));
    const inRelease = ok(await cp().kubectl(['get', 'deployment,poddisruptionbudget,networkpolicy,serviceaccount,role,rolebinding,service', '-n', RELEASE_NAMESPACE, '-o', 'name']), 'get');
    for (const name of ['deployment.apps/slicekv-operator', 'poddisruptionbudget.policy/slicekv-operator', 'networkpolicy.networking.k8s.io/slicekv-dataplane',
      'networkpolicy.networking.k8s.io/slicekv-operator', 'serviceaccount/slicekv-operator', 'serviceaccount/slicekv-dataplane',
      'role.rbac.authorization.k8s.io/slicekv-operator', 'role.rbac.authorization.k8s.io/slicekv-operator-leader-election',
      'role.rbac.authorization.k8s.io/slicekv-dataplane', 'rolebinding.rbac.authorization.k8s.io/slicekv-operator', 'service/slicekv-operator-metrics']) {
      assert.match(inRelease, new RegExp(`^${name.replace(/\./g, '\\.')}$`, 'm'));
    }
    const inTenant = ok(await cp().kubectl(['get', 'role,rolebinding,serviceaccount,networkpolicy', '-n', TENANT, '-o', 'name']), 'get tenant');
    for (const name of ['role.rbac.authorization.k8s.io/slicekv-operator', 'role.rbac.authorization.k8s.io/slicekv-dataplane', 'serviceaccount/slicekv-dataplane']) {
      assert.match(inTenant, new RegExp(`^${name.replace(/\./g, '\\.')}$`, 'm'));
    }
    const status = ok(await helm(['status', RELEASE, '--namespace', RELEASE_NAMESPACE]), 'helm status');
    assert.match(status, /STATUS: deployed/);
    assert.match(status, /reconciles KVClusters in: slicekv-system,tenant-a/);
  });

  test('RBAC on the API server: the operator can do its job in watched namespaces only, nothing more', async () => {
    for (const namespace of [RELEASE_NAMESPACE, TENANT]) {
      for (const [verb, resource] of [['watch', 'kvclusters.slicekv.io'], ['create', 'shardranges.slicekv.io'], ['update', 'migrations.slicekv.io/status'],
        ['create', 'pods'], ['delete', 'pods'], ['get', 'pods/status'], ['create', 'services'], ['create', 'persistentvolumeclaims'],
        ['create', 'poddisruptionbudgets.policy'], ['list', 'leases.coordination.k8s.io'], ['create', 'events']]) {
        assert.equal(await canI(OPERATOR.name, verb, resource, namespace, true), true, `operator can ${verb} ${resource} in ${namespace}`);
      }
      for (const [verb, resource] of [['get', 'secrets'], ['create', 'kvclusters.slicekv.io'], ['update', 'leases.coordination.k8s.io'],
        ['create', 'roles.rbac.authorization.k8s.io'], ['create', 'deployments.apps'], ['*', '*']]) {
        assert.equal(await canI(OPERATOR.name, verb, resource, namespace, false), false, `operator cannot ${verb} ${resource} in ${namespace}`);
      }
    }
    assert.equal(await canI(OPERATOR.name, 'create', 'pods', OTHER, false), false, 'not in an unwatched namespace');
    assert.equal(await canI(OPERATOR.name, 'list', 'nodes', '', false), false, 'nothing cluster-scoped');
    assert.equal(await canI(OPERATOR.name, 'update', 'leases/slicekv-operator-leader', RELEASE_NAMESPACE, true), true, 'its leader-election lease');
    assert.equal(await canI(OPERATOR.name, 'update', 'leases/someone-else', RELEASE_NAMESPACE, false), false, 'no other lease');
  });

  test('RBAC on the API server: a data-plane pod may read, create and renew leases in its namespace, nothing else', async () => {
    for (const [token, namespace] of [[DATAPLANE.name, RELEASE_NAMESPACE], [TENANT_DATAPLANE.name, TENANT]] as const) {
      for (const verb of ['get', 'create', 'update']) assert.equal(await canI(token, verb, 'leases.coordination.k8s.io', namespace, true), true, `${token} can ${verb} leases`);
      for (const [verb, resource] of [['list', 'leases.coordination.k8s.io'], ['delete', 'leases.coordination.k8s.io'], ['get', 'pods'],
        ['get', 'shardranges.slicekv.io'], ['get', 'secrets']]) {
        assert.equal(await canI(token, verb, resource, namespace, false), false, `${token} cannot ${verb} ${resource}`);
      }
      assert.equal(await canI(token, 'create', 'leases.coordination.k8s.io', OTHER, false), false, `${token}: not in another namespace`);
    }
  });

  test('lease guard (ValidatingAdmissionPolicy): a data-plane identity writes only the Lease named after its pod', async () => {
    const lease = (name: string, holder = name): object => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
      metadata: { name, namespace: RELEASE_NAMESPACE }, spec: { holderIdentity: holder, leaseDurationSeconds: 15 } });
    const leasesPath = `/apis/coordination.k8s.io/v1/namespaces/${RELEASE_NAMESPACE}/leases`;
    const guardMessage = /a data-plane pod may only create or renew the Lease named after itself/;
    // A token without the pod-name claim (these static tokens have none) is refused outright. The
    // API server loads policies and bindings through an informer, so this is polled (dry run).
    const deadline = Date.now() + RBAC_SETTLE_MS;
    let unclaimed: CommandResult;
    do {
      unclaimed = await cp().kubectl(['create', '--dry-run=server', '-f', '-'], { kubeconfig: cp().kubeconfigFor(DATAPLANE.name), input: JSON.stringify(lease('slicekv-0')) });
    } while (unclaimed.code === 0 && Date.now() < deadline && (await new Promise((resolve) => setTimeout(resolve, 250, true))));
    assert.notEqual(unclaimed.code, 0, 'refused');
    assert.match(unclaimed.stderr, guardMessage);
    // As the data-plane ServiceAccount of pod slicekv-0, the way a bound token authenticates.
    const asPod = (method: string, path: string, body: object): Promise<{ status: number; body: string }> =>
      impersonatedRequest(cp(), method, path, body, { user: DATAPLANE.user, groups: DATAPLANE.groups, podName: 'slicekv-0' });
    const created = await asPod('POST', leasesPath, lease('slicekv-0'));
    assert.equal(created.status, 201, created.body);
    const renewed = await asPod('PUT', `${leasesPath}/slicekv-0`, { ...lease('slicekv-0'), metadata: { ...JSON.parse(created.body).metadata } });
    assert.equal(renewed.status, 200, renewed.body);
    const other = await asPod('POST', leasesPath, lease('slicekv-1'));
    assert.equal(other.status, 403, other.body);
    assert.match(other.body, guardMessage);
    // The operator's own writes are not the policy's business: it takes its leader-election Lease.
    const leader = await cp().kubectl(['create', '-f', '-'], { kubeconfig: cp().kubeconfigFor(OPERATOR.name), input: JSON.stringify(lease('slicekv-operator-leader', 'operator-0')) });
    assert.equal(leader.code, 0, leader.stderr);
  });

  test('helm upgrade to another namespace set and helm uninstall: RBAC follows, CRDs stay', async () => {
    ok(await helm(['upgrade', RELEASE, CHART, '--namespace', RELEASE_NAMESPACE, '--set', `watchNamespaces={${OTHER}}`]), 'helm upgrade');
    assert.equal(await canI(OPERATOR.name, 'create', 'pods', OTHER, true), true, 'now watches tenant-b');
    assert.equal(await canI(OPERATOR.name, 'create', 'pods', TENANT, false), false, 'no longer tenant-a');
    ok(await helm(['uninstall', RELEASE, '--namespace', RELEASE_NAMESPACE]), 'helm uninstall');
    assert.equal(await canI(OPERATOR.name, 'create', 'pods', OTHER, false), false, 'RBAC removed with the release');
    ok(await cp().kubectl(['get', 'crd', 'kvclusters.slicekv.io']), 'CRDs outlive the release (Helm never deletes crds/)');
  });
});
