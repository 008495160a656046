// The objects a KVCluster owns, built from its spec: names, labels, the data-plane Pod (managed
// directly, not by a StatefulSet, so that scale-in can drain a chosen pod first: DESIGN.md §8),
// the headless and client Services, the shared data volume claim (DESIGN.md §7) and the
// PodDisruptionBudget. Pure functions: the reconcile steps compare these with what exists.

import { API_VERSION, type DisruptionBudgetObject, type KVCluster, type ObjectMeta, type OwnerReference, type PodObject,
  type ServiceObject, type VolumeClaimObject } from './types.js';

export const CLIENT_PORT = 7000;
export const METRICS_PORT = 9100;
export const DATA_MOUNT_PATH = '/data';

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

export function claimName(cluster: KVCluster): string {
  return `${cluster.meta.name}-data`;
}

export function shardRangeName(cluster: KVCluster, index: number): string {
  return `${cluster.meta.name}-r${String(index).padStart(4, '0')}`;
}

/** The address a pod serves clients and Admin on; a DNS name while its IP is unknown. */
export function podAddress(cluster: KVCluster, pod: PodObject | undefined, name: string): string {
  const ip = pod?.status?.podIP;
  if (ip !== undefined && ip !== '') return `${ip}:${CLIENT_PORT}`;
  return `${name}.${headlessServiceName(cluster)}.${cluster.meta.namespace}.svc:${CLIENT_PORT}`;
}

/**
 * The data-plane command. `$(POD_IP)` is expanded by the kubelet from the env var of that name.
 * The pod renews a Lease named after itself and stops serving when it cannot (dataplane/lease/).
 */
export function dataplaneCommand(cluster: KVCluster, name: string): string[] {
  return [
    'slicekv', 'dataplane',
    '--listen', `$(POD_IP):${CLIENT_PORT}`,
    '--metrics-port', String(METRICS_PORT),
    '--memory', cluster.spec.memoryPerPod,
    '--pod-name', name,
    '--lease-namespace', cluster.meta.namespace,
    '--lease-name', name,
    '--lease-duration-ms', String(cluster.spec.leaseDurationSeconds * 1000),
  ];
}

export function desiredPod(cluster: KVCluster, index: number): PodObject {
  const name = podName(cluster, index);
  return {
    meta: ownedMeta(cluster, name, { ...podSelector(cluster), [LABEL_POD_INDEX]: String(index) }),
    spec: {
      image: cluster.spec.image,
      command: dataplaneCommand(cluster, name),
      env: [{ name: 'POD_IP', fieldPath: 'status.podIP' }, { name: 'SLICEKV_DATA_DIR', value: `${DATA_MOUNT_PATH}/pods/${name}` }],
      clientPort: CLIENT_PORT,
      metricsPort: METRICS_PORT,
      readinessTcpPort: CLIENT_PORT,
      memoryRequest: cluster.spec.memoryPerPod,
      claimName: claimName(cluster),
      dataMountPath: DATA_MOUNT_PATH,
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
      ports: [{ name: 'client', port: CLIENT_PORT }, { name: 'metrics', port: METRICS_PORT }] },
    { meta: ownedMeta(cluster, cluster.meta.name, clusterLabels(cluster)), headless: false, selector,
      ports: [{ name: 'client', port: CLIENT_PORT }] },
  ];
}

/** One claim every pod mounts (ReadWriteMany); each pod writes under <mount>/pods/<pod>/. */
export function desiredVolumeClaim(cluster: KVCluster): VolumeClaimObject {
  return {
    meta: ownedMeta(cluster, claimName(cluster), clusterLabels(cluster)),
    size: cluster.spec.storage.size,
    accessModes: ['ReadWriteMany'],
    ...(cluster.spec.storage.storageClassName === undefined ? {} : { storageClassName: cluster.spec.storage.storageClassName }),
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
