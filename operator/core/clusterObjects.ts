// The objects a KVCluster owns, built from its spec: names, labels, the data-plane Pod (managed
// directly, not by a StatefulSet, so that scale-in can drain a chosen pod first: DESIGN.md §8),
// the headless and client Services, the shared data volume claim (DESIGN.md §7) and the
// PodDisruptionBudget. Pure functions: the reconcile steps compare these with what exists.

import { API_VERSION, type DisruptionBudgetObject, type KVCluster, type ObjectMeta, type OwnerReference, type PodObject,
  type ServiceObject, type VolumeClaimObject } from './types.js';

export const DATA_MOUNT_PATH = '/data';
/** Headroom over the engine's memory for V8, gRPC buffers and the process itself. */
export const MEMORY_OVERHEAD_BYTES = 128 * 1024 * 1024;

export const LABEL_CLUSTER = 'slicekv.io/cluster';
export const LABEL_COMPONENT = 'slicekv.io/component';
export const LABEL_POD_INDEX = 'slicekv.io/pod-index';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';

export function clusterLabels(cluster: KVCluster): Record<string, string> {
  return { [LABEL_CLUSTER]: cluster.meta.name };
}

export function podSelector(cluster: KVCluster): Record<string, string> {
  return { [LABEL_CLUSTER]: cluster.meta.name, [LABEL_COMPONENT]: 'dataplane' };
}

export function ownerReference(cluster: KVCluster): OwnerReference {
  if (cluster.meta.uid === undefined) throw new Error(`KVCluster ${cluster.meta.name} has no uid`);
  return { apiVersion: API_VERSION, kind: 'KVCluster', name: cluster.meta.name, uid: cluster.meta.uid, controller: true };
}

function ownedMeta(cluster: KVCluster, name: string, labels: Record<string, string>): ObjectMeta {
  return {
    name, namespace: cluster.meta.namespace, labels: { ...labels, [LABEL_MANAGED_BY]: 'slicekv-operator' },
    ownerReferences: [ownerReference(cluster)],
  };
}

export function podName(cluster: KVCluster, index: number): string {
  return `${cluster.meta.name}-${index}`;
}

export function headlessServiceName(cluster: KVCluster): string {
  return `${cluster.meta.name}-pods`;
}

/** The shared data volume's claim: the one named in the spec, or <cluster>-wal, or none when durability is off. */
export function claimName(cluster: KVCluster): string | undefined {
  const { durability } = cluster.spec;
  if (durability.mode === 'off') return undefined;
  return durability.claimName ?? `${cluster.meta.name}-wal`;
}

export function shardRangeName(cluster: KVCluster, index: number): string {
  return `${cluster.meta.name}-r${String(index).padStart(4, '0')}`;
}

/** The address a pod serves clients and Admin on; a DNS name while its IP is unknown. */
export function podAddress(cluster: KVCluster, pod: PodObject | undefined, name: string): string {
  const ip = pod?.status?.podIP;
  const port = cluster.spec.clientPort;
  if (ip !== undefined && ip !== '') return `${ip}:${port}`;
  return `${name}.${headlessServiceName(cluster)}.${cluster.meta.namespace}.svc:${port}`;
}

/**
 * The data-plane command. `$(POD_IP)` and `$(POD_UID)` are expanded by the kubelet from the env
 * vars of those names. The pod renews a Lease named after itself (owned by its Pod, through the
 * uid) and stops serving when it cannot (dataplane/lease/).
 */
export function dataplaneCommand(cluster: KVCluster, name: string): string[] {
  const { spec } = cluster;
  const durability = spec.durability.mode === 'off' ? [] : [
    '--data-dir', DATA_MOUNT_PATH, '--wal', spec.durability.mode, '--fsync-interval-ms', String(spec.durability.fsyncIntervalMs),
  ];
  // The image's entrypoint spelled out (Dockerfile: node /app/bin/slicekv.js): the image has no
  // `slicekv` on its PATH.
  return [
    'node', '/app/bin/slicekv.js', 'dataplane',
    '--listen', `$(POD_IP):${spec.clientPort}`,
    '--metrics-port', String(spec.metricsPort),
    // The bulk channel of live migrations (docs/migration.md) on spec.ports.admin, the port the
    // chart's NetworkPolicy opens to the operator and other data-plane pods only.
    '--bulk-port', String(spec.adminPort),
    '--memory', String(spec.memoryPerPodBytes),
    '--pod-name', name,
    '--lease-namespace', cluster.meta.namespace,
    '--lease-name', name,
    '--pod-uid', '$(POD_UID)',
    '--lease-duration-ms', String(spec.leaseDurationSeconds * 1000),
    ...durability,
  ];
}

export function desiredPod(cluster: KVCluster, index: number): PodObject {
  const name = podName(cluster, index);
  const claim = claimName(cluster);
  return {
    meta: ownedMeta(cluster, name, { ...podSelector(cluster), [LABEL_POD_INDEX]: String(index) }),
    spec: {
      image: cluster.spec.image,
      command: dataplaneCommand(cluster, name),
      env: [{ name: 'POD_IP', fieldPath: 'status.podIP' }, { name: 'POD_UID', fieldPath: 'metadata.uid' }],
      clientPort: cluster.spec.clientPort,
      metricsPort: cluster.spec.metricsPort,
      readinessHttpPort: cluster.spec.metricsPort,
      memoryRequestBytes: cluster.spec.memoryPerPodBytes + MEMORY_OVERHEAD_BYTES,
      dataMountPath: DATA_MOUNT_PATH,
      ...(claim === undefined ? {} : { claimName: claim }),
      hostname: name,
      subdomain: headlessServiceName(cluster),
      ...(cluster.spec.serviceAccountName === undefined ? {} : { serviceAccountName: cluster.spec.serviceAccountName }),
    },
  };
}

export function desiredServices(cluster: KVCluster): ServiceObject[] {
  const selector = podSelector(cluster);
  return [
    { meta: ownedMeta(cluster, headlessServiceName(cluster), clusterLabels(cluster)), headless: true, selector,
      ports: [{ name: 'client', port: cluster.spec.clientPort }, { name: 'metrics', port: cluster.spec.metricsPort }] },
    { meta: ownedMeta(cluster, cluster.meta.name, clusterLabels(cluster)), headless: false, selector,
      ports: [{ name: 'client', port: cluster.spec.clientPort }] },
  ];
}

/**
 * The claim the operator creates: one every pod mounts (ReadWriteMany); each pod writes under
 * <mount>/pods/<pod>/. None when durability is off or the spec names an existing claim.
 */
export function desiredVolumeClaim(cluster: KVCluster): VolumeClaimObject | null {
  const { durability } = cluster.spec;
  const name = claimName(cluster);
  if (name === undefined || durability.claimName !== undefined) return null;
  return {
    meta: ownedMeta(cluster, name, clusterLabels(cluster)),
    size: durability.size ?? '1Gi',
    accessModes: ['ReadWriteMany'],
    ...(durability.storageClassName === undefined ? {} : { storageClassName: durability.storageClassName }),
  };
}

/** At most one pod down by choice (drain, node upgrade) at a time. */
export function desiredDisruptionBudget(cluster: KVCluster): DisruptionBudgetObject {
  return { meta: ownedMeta(cluster, cluster.meta.name, clusterLabels(cluster)), selector: podSelector(cluster), maxUnavailable: 1 };
}

/** Whether `object` carries this cluster's controller reference (so we may change it). */
export function isOwnedBy(meta: ObjectMeta, cluster: KVCluster): boolean {
  return (meta.ownerReferences ?? []).some((ref) => ref.kind === 'KVCluster' && ref.uid === cluster.meta.uid);
}
