// The objects the operator core reasons about, as plain typed values. The Kubernetes adapter
// (operator/kube/) converts between these and the API's objects; the core never sees the API's
// types, so it runs the same against the in-memory fakes of the tests and, later, local mode.

export const API_GROUP = 'slicekv.io';
export const API_VERSION = 'slicekv.io/v1alpha1';

export interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller: boolean;
}

export interface ObjectMeta {
  readonly name: string;
  readonly namespace: string;
  /** Set by the store on create. */
  readonly uid?: string;
  /** Optimistic concurrency token; an update with a stale one fails with a conflict. */
  readonly resourceVersion?: string;
  /** Bumped by the store when the spec changes. */
  readonly generation?: number;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly ownerReferences?: readonly OwnerReference[];
  /** Set when deletion has begun (graceful termination). */
  readonly deletionTimestamp?: string;
}

export interface Condition {
  readonly type: 'Ready' | 'Progressing' | 'Degraded';
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration: number;
  /** RFC 3339; changes only when `status` changes. */
  readonly lastTransitionTime: string;
}

export type ClusterPhase = 'Pending' | 'Creating' | 'Running' | 'Degraded';

export interface DurabilitySpec {
  readonly mode: 'off' | 'async' | 'sync';
  readonly fsyncIntervalMs: number;
  /** An existing shared (ReadWriteMany) claim; when unset the operator creates <cluster>-wal of `size`. */
  readonly claimName?: string;
  readonly size?: string;
  readonly storageClassName?: string;
}

/** crds/slicekv.io_kvclusters.yaml, with defaults applied and quantities in bytes. */
export interface KVClusterSpec {
  readonly pods: number;
  readonly rangesPerPod: number;
  readonly image: string;
  /** Engine memory per pod in bytes (`slicekv dataplane --memory`). */
  readonly memoryPerPodBytes: number;
  /** Shared data volume (DESIGN.md §7): one claim all pods mount; each writes <dir>/pods/<pod>/. */
  readonly durability: DurabilitySpec;
  readonly serviceAccountName?: string;
  /** The data-plane pods' self-fencing Lease duration (dataplane/lease/). */
  readonly leaseDurationSeconds: number;
  readonly clientPort: number;
  /** spec.ports.admin: the pods' pod-to-pod port, the bulk channel of live migrations (docs/migration.md). */
  readonly adminPort: number;
  readonly metricsPort: number;
}

export interface KVClusterStatus {
  readonly phase?: ClusterPhase;
  readonly observedGeneration?: number;
  readonly readyPods?: number;
  readonly ranges?: number;
  readonly conditions?: readonly Condition[];
}

export interface KVCluster {
  readonly meta: ObjectMeta;
  readonly spec: KVClusterSpec;
  readonly status: KVClusterStatus;
}

export type RangePhase = 'Pending' | 'Assigned' | 'Unavailable';

export interface ShardRangeSpec {
  readonly cluster: string;
  /** Decimal text of the inclusive start hash. */
  readonly start: string;
  /** Decimal text of the exclusive end hash; "18446744073709551616" is 2^64. */
  readonly end: string;
  readonly desiredOwner: string;
}

export interface ShardRangeStatus {
  readonly owner?: string;
  readonly view?: number;
  readonly phase?: RangePhase;
  readonly keys?: number;
  readonly bytes?: number;
  readonly opsPerSecond?: number;
}

export interface ShardRange {
  readonly meta: ObjectMeta;
  readonly spec: ShardRangeSpec;
  readonly status: ShardRangeStatus;
}

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  /** e.g. "status.podIP". */
  readonly fieldPath?: string;
}

/** A data-plane Pod as the operator wants it (create) and observes it (status). */
export interface PodSpecModel {
  readonly image: string;
  readonly command: readonly string[];
  readonly env: readonly EnvVar[];
  readonly clientPort: number;
  readonly metricsPort: number;
  /** Readiness: GET /metrics on this port answers once the pod finished starting (and recovering). */
  readonly readinessHttpPort: number;
  readonly memoryRequestBytes: number;
  /** The shared data volume, when durability is on. */
  readonly claimName?: string;
  readonly dataMountPath: string;
  readonly serviceAccountName?: string;
  readonly hostname: string;
  readonly subdomain: string;
}

export interface PodStatusModel {
  readonly phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  readonly podIP?: string;
  readonly ready: boolean;
}

export interface PodObject {
  readonly meta: ObjectMeta;
  readonly spec: PodSpecModel;
  readonly status?: PodStatusModel;
}

export interface ServicePort {
  readonly name: string;
  readonly port: number;
}

export interface ServiceObject {
  readonly meta: ObjectMeta;
  readonly headless: boolean;
  readonly selector: Readonly<Record<string, string>>;
  readonly ports: readonly ServicePort[];
}

export interface DisruptionBudgetObject {
  readonly meta: ObjectMeta;
  readonly selector: Readonly<Record<string, string>>;
  readonly maxUnavailable: number;
}

export interface VolumeClaimObject {
  readonly meta: ObjectMeta;
  readonly size: string;
  readonly accessModes: readonly string[];
  readonly storageClassName?: string;
}

/** The kinds the control store holds, by name. */
export interface KindMap {
  KVCluster: KVCluster;
  ShardRange: ShardRange;
  Pod: PodObject;
  Service: ServiceObject;
  PodDisruptionBudget: DisruptionBudgetObject;
  PersistentVolumeClaim: VolumeClaimObject;
}

export type Kind = keyof KindMap;
