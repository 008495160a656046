// Conversions between the API's objects and the core's plain ones (operator/core/types.ts).
// Custom resources follow crds/*.yaml; the API server applies their defaults, and the same
// defaults are repeated here so an object written before a default existed still reads.

import type {
  KubernetesObject, V1Container, V1ObjectMeta, V1OwnerReference, V1PersistentVolumeClaim, V1Pod, V1PodDisruptionBudget, V1Service,
} from '@kubernetes/client-node';
import { API_VERSION, type KVCluster, type KVClusterSpec, type ObjectMeta, type PodObject, type ServiceObject,
  type ShardRange, type DisruptionBudgetObject, type VolumeClaimObject, type DurabilitySpec, type PodStatusModel, type PodSpecModel } from '../core/types.js';
import { quantityBytes } from './quantity.js';

export interface CustomObject extends KubernetesObject {
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export interface AdapterDefaults {
  /** Data-plane image when spec.image is unset (the operator's own image). */
  readonly image: string;
  /** Data-plane ServiceAccount when spec.serviceAccountName is unset. */
  readonly serviceAccountName?: string;
}

function optional<K extends string, V>(key: K, value: V | undefined | null): { [P in K]?: V } {
  return (value === undefined || value === null ? {} : { [key]: value }) as { [P in K]?: V };
}

export function metaFromApi(meta: V1ObjectMeta | undefined): ObjectMeta {
  return {
    name: meta?.name ?? '', namespace: meta?.namespace ?? '',
    ...optional('uid', meta?.uid), ...optional('resourceVersion', meta?.resourceVersion), ...optional('generation', meta?.generation),
    ...optional('labels', meta?.labels), ...optional('annotations', meta?.annotations),
    ...optional('deletionTimestamp', meta?.deletionTimestamp === undefined ? undefined : new Date(meta.deletionTimestamp).toISOString()),
    ...optional('ownerReferences', meta?.ownerReferences?.map((ref) => ({
      apiVersion: ref.apiVersion, kind: ref.kind, name: ref.name, uid: ref.uid, controller: ref.controller === true,
    }))),
  };
}

export function metaToApi(meta: ObjectMeta): V1ObjectMeta {
  const ownerReferences: V1OwnerReference[] | undefined = meta.ownerReferences?.map((ref) => ({
    apiVersion: ref.apiVersion, kind: ref.kind, name: ref.name, uid: ref.uid, controller: ref.controller, blockOwnerDeletion: ref.controller,
  }));
  return {
    name: meta.name, namespace: meta.namespace,
    ...optional('resourceVersion', meta.resourceVersion), ...optional('labels', meta.labels ? { ...meta.labels } : undefined),
    ...optional('annotations', meta.annotations ? { ...meta.annotations } : undefined),
    ...optional('ownerReferences', ownerReferences),
  };
}

function num(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function durabilityFromApi(raw: Record<string, unknown> | undefined): DurabilitySpec {
  const storage = (raw?.storage ?? {}) as Record<string, unknown>;
  const mode = raw?.mode === 'sync' || raw?.mode === 'async' ? raw.mode : 'off';
  const size = storage.size === undefined ? undefined : String(storage.size);
  return {
    mode, fsyncIntervalMs: num(raw?.fsyncIntervalMs, 10),
    ...optional('claimName', str(storage.claimName)), ...optional('size', size), ...optional('storageClassName', str(storage.storageClassName)),
  };
}

export function kvClusterFromApi(object: CustomObject, defaults: AdapterDefaults): KVCluster {
  const spec = object.spec ?? {};
  const ports = (spec.ports ?? {}) as Record<string, unknown>;
  const serviceAccountName = str(spec.serviceAccountName) ?? defaults.serviceAccountName;
  const clusterSpec: KVClusterSpec = {
    pods: num(spec.pods, 0),
    rangesPerPod: num(spec.rangesPerPod, 16),
    image: str(spec.image) ?? defaults.image,
    memoryPerPodBytes: quantityBytes(spec.memoryPerPod ?? '1Gi'),
    durability: durabilityFromApi(spec.durability as Record<string, unknown> | undefined),
    leaseDurationSeconds: num(spec.leaseDurationSeconds, 15),
    clientPort: num(ports.client, 7000),
    adminPort: num(ports.admin, 7001),
    metricsPort: num(ports.metrics, 9100),
    ...optional('serviceAccountName', serviceAccountName),
  };
  return { meta: metaFromApi(object.metadata), spec: clusterSpec, status: (object.status ?? {}) as KVCluster['status'] };
}

export function shardRangeFromApi(object: CustomObject): ShardRange {
  const spec = object.spec ?? {};
  const status = object.status ?? {};
  return {
    meta: metaFromApi(object.metadata),
    spec: { cluster: String(spec.cluster ?? ''), start: String(spec.start ?? '0'), end: String(spec.end ?? '0'), desiredOwner: String(spec.desiredOwner ?? '') },
    status: {
      ...optional('owner', str(status.owner)), ...optional('view', typeof status.view === 'number' ? status.view : undefined),
      ...optional('phase', str(status.phase) as ShardRange['status']['phase']),
      ...optional('keys', typeof status.keys === 'number' ? status.keys : undefined),
      ...optional('bytes', typeof status.bytes === 'number' ? status.bytes : undefined),
      ...optional('opsPerSecond', typeof status.opsPerSec === 'number' ? status.opsPerSec : undefined),
    },
  };
}

export function shardRangeToApi(range: ShardRange): CustomObject {
  const { status } = range;
  return {
    apiVersion: API_VERSION, kind: 'ShardRange', metadata: metaToApi(range.meta),
    spec: { ...range.spec },
    status: {
      ...optional('owner', status.owner), ...optional('view', status.view), ...optional('phase', status.phase),
      ...optional('keys', status.keys), ...optional('bytes', status.bytes),
      ...optional('opsPerSec', status.opsPerSecond === undefined ? undefined : Math.round(status.opsPerSecond)),
    },
  };
}

function podStatusFromApi(pod: V1Pod): PodStatusModel | undefined {
  const status = pod.status;
  if (status?.phase === undefined) return undefined;
  const ready = status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  return { phase: status.phase as PodStatusModel['phase'], ready, ...optional('podIP', str(status.podIP)) };
}

function containerSpecFromApi(container: V1Container = { name: '' }): Pick<PodSpecModel, 'image' | 'command' | 'env' | 'clientPort' | 'metricsPort' | 'readinessHttpPort' | 'dataMountPath'> {
  const ports = container.ports ?? [];
  const portOf = (name: string): number => ports.find((p) => p.name === name)?.containerPort ?? 0;
  return {
    image: container.image ?? '',
    command: [...(container.command ?? []), ...(container.args ?? [])],
    env: (container.env ?? []).map((e) => ({ name: e.name, ...optional('value', e.value), ...optional('fieldPath', e.valueFrom?.fieldRef?.fieldPath) })),
    clientPort: portOf('client'),
    metricsPort: portOf('metrics'),
    readinessHttpPort: Number(container.readinessProbe?.httpGet?.port ?? 0),
    dataMountPath: (container.volumeMounts ?? [])[0]?.mountPath ?? '',
  };
}

export function podFromApi(pod: V1Pod): PodObject {
  const spec = pod.spec;
  const claim = spec?.volumes?.find((v) => v.persistentVolumeClaim !== undefined)?.persistentVolumeClaim?.claimName;
  return {
    meta: metaFromApi(pod.metadata),
    spec: {
      ...containerSpecFromApi(spec?.containers[0]), memoryRequestBytes: 0,
      hostname: spec?.hostname ?? '', subdomain: spec?.subdomain ?? '', ...optional('claimName', claim),
    },
    ...optional('status', podStatusFromApi(pod)),
  };
}

/** The Pod to create: the image's entrypoint as command (two words), the rest as args. */
export function podToApi(pod: PodObject): V1Pod {
  const { spec } = pod;
  const claim = spec.claimName;
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: metaToApi(pod.meta),
    spec: {
      hostname: spec.hostname, subdomain: spec.subdomain, restartPolicy: 'Always', terminationGracePeriodSeconds: 30,
      ...optional('serviceAccountName', spec.serviceAccountName),
      securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{
        name: 'dataplane', image: spec.image, command: spec.command.slice(0, 2), args: spec.command.slice(2),
        env: spec.env.map((e) => (e.fieldPath === undefined ? { name: e.name, value: e.value ?? '' } : { name: e.name, valueFrom: { fieldRef: { fieldPath: e.fieldPath } } })),
        ports: [{ name: 'client', containerPort: spec.clientPort, protocol: 'TCP' }, { name: 'metrics', containerPort: spec.metricsPort, protocol: 'TCP' }],
        // /metrics is served only once the pod has started, i.e. after restart recovery finished
        // (dataplane/main.ts), so Ready means the Admin RPC may assign ranges without racing it.
        readinessProbe: { httpGet: { path: '/metrics', port: spec.readinessHttpPort }, periodSeconds: 2, failureThreshold: 3 },
        resources: { requests: { memory: String(spec.memoryRequestBytes) } },
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
        ...(claim === undefined ? {} : { volumeMounts: [{ name: 'data', mountPath: spec.dataMountPath }] }),
      }],
      ...(claim === undefined ? {} : { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }] }),
    },
  };
}

export function serviceFromApi(service: V1Service): ServiceObject {
  return {
    meta: metaFromApi(service.metadata), headless: service.spec?.clusterIP === 'None', selector: service.spec?.selector ?? {},
    ports: (service.spec?.ports ?? []).map((p) => ({ name: p.name ?? '', port: p.port })),
  };
}

/** Onto `base` (the existing object, for an update) or a new one. */
export function serviceToApi(service: ServiceObject, base?: V1Service): V1Service {
  return {
    ...base, apiVersion: 'v1', kind: 'Service', metadata: { ...base?.metadata, ...metaToApi(service.meta) },
    spec: {
      ...base?.spec, selector: { ...service.selector },
      ports: service.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.port, protocol: 'TCP' })),
      ...(service.headless ? { clusterIP: 'None', publishNotReadyAddresses: true } : {}),
    },
  };
}

export function budgetFromApi(budget: V1PodDisruptionBudget): DisruptionBudgetObject {
  return {
    meta: metaFromApi(budget.metadata), selector: budget.spec?.selector?.matchLabels ?? {},
    maxUnavailable: Number(budget.spec?.maxUnavailable ?? 0),
  };
}

export function budgetToApi(budget: DisruptionBudgetObject): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: metaToApi(budget.meta),
    spec: { maxUnavailable: budget.maxUnavailable, selector: { matchLabels: { ...budget.selector } } },
  };
}

export function claimFromApi(claim: V1PersistentVolumeClaim): VolumeClaimObject {
  return {
    meta: metaFromApi(claim.metadata), size: String(claim.spec?.resources?.requests?.storage ?? ''), accessModes: claim.spec?.accessModes ?? [],
    ...optional('storageClassName', claim.spec?.storageClassName),
  };
}

export function claimToApi(claim: VolumeClaimObject): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: metaToApi(claim.meta),
    spec: { accessModes: [...claim.accessModes], resources: { requests: { storage: claim.size } }, ...optional('storageClassName', claim.storageClassName) },
  };
}
