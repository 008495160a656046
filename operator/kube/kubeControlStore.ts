// The control-store port (operator/core/ports.ts) over the Kubernetes API with client-node 1.4.
// Reads go to the API server, not to an informer cache: a reconcile then always starts from the
// newest state, and a stale cache cannot make it undo its own last write (the informers only
// wake reconciles up). Status goes through the status subresource with the resourceVersion
// read, so a concurrent writer yields a 409 that the work queue requeues.

import {
  CoreV1Api, CustomObjectsApi, PolicyV1Api, type ConfigurationOptions, type KubeConfig, type ObservableMiddleware,
} from '@kubernetes/client-node';
import type { ControlStore, StatusKind } from '../core/ports.js';
import { StoreError } from '../core/ports.js';
import { API_GROUP, type Kind, type KindMap, type ObjectMeta } from '../core/types.js';
import { readOrNull, storeCall } from './apiErrors.js';
import {
  budgetFromApi, budgetToApi, claimFromApi, claimToApi, kvClusterFromApi, podFromApi, podToApi, serviceFromApi, serviceToApi,
  shardRangeFromApi, shardRangeToApi, type AdapterDefaults, type CustomObject,
} from './convert.js';
import { timeoutOptions } from './requestTimeout.js';

const VERSION = 'v1alpha1';
const PLURALS = { KVCluster: 'kvclusters', ShardRange: 'shardranges' } as const;

export function labelSelector(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
}

export class KubeControlStore implements ControlStore {
  private readonly core: CoreV1Api;
  private readonly policy: PolicyV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly options: ConfigurationOptions<ObservableMiddleware>;
  /** The API object each KVCluster was read from, for status writes (the core keeps `meta` by reference). */
  private readonly rawClusters = new WeakMap<ObjectMeta, CustomObject>();

  constructor(config: KubeConfig, private readonly defaults: AdapterDefaults, requestTimeoutMs = 10_000) {
    this.core = config.makeApiClient(CoreV1Api);
    this.policy = config.makeApiClient(PolicyV1Api);
    this.custom = config.makeApiClient(CustomObjectsApi);
    this.options = timeoutOptions(requestTimeoutMs);
  }

  async get<K extends Kind>(kind: K, namespace: string, name: string): Promise<KindMap[K] | null> {
    const o = this.options;
    const read = async (): Promise<unknown> => {
      switch (kind) {
        case 'KVCluster': case 'ShardRange':
          return this.fromCustom(kind, await this.custom.getNamespacedCustomObject({ group: API_GROUP, version: VERSION, namespace, plural: PLURALS[kind as StatusKind], name }, o) as CustomObject);
        case 'Pod': return podFromApi(await this.core.readNamespacedPod({ name, namespace }, o));
        case 'Service': return serviceFromApi(await this.core.readNamespacedService({ name, namespace }, o));
        case 'PodDisruptionBudget': return budgetFromApi(await this.policy.readNamespacedPodDisruptionBudget({ name, namespace }, o));
        case 'PersistentVolumeClaim': return claimFromApi(await this.core.readNamespacedPersistentVolumeClaim({ name, namespace }, o));
      }
      throw new StoreError('Invalid', `unknown kind ${String(kind)}`);
    };
    return readOrNull(read) as Promise<KindMap[K] | null>;
  }

  async list<K extends Kind>(kind: K, namespace: string, labels: Readonly<Record<string, string>>): Promise<KindMap[K][]> {
    const o = this.options;
    const selector = labelSelector(labels);
    const read = async (): Promise<unknown[]> => {
      switch (kind) {
        case 'KVCluster': case 'ShardRange': {
          const list = await this.custom.listNamespacedCustomObject({ group: API_GROUP, version: VERSION, namespace, plural: PLURALS[kind as StatusKind], labelSelector: selector }, o) as { items: CustomObject[] };
          return list.items.map((item) => this.fromCustom(kind, item));
        }
        case 'Pod': return (await this.core.listNamespacedPod({ namespace, labelSelector: selector }, o)).items.map(podFromApi);
        case 'Service': return (await this.core.listNamespacedService({ namespace, labelSelector: selector }, o)).items.map(serviceFromApi);
        case 'PodDisruptionBudget': return (await this.policy.listNamespacedPodDisruptionBudget({ namespace, labelSelector: selector }, o)).items.map(budgetFromApi);
        case 'PersistentVolumeClaim': return (await this.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: selector }, o)).items.map(claimFromApi);
      }
      throw new StoreError('Invalid', `unknown kind ${String(kind)}`);
    };
    return storeCall(read) as Promise<KindMap[K][]>;
  }

  async create<K extends Kind>(kind: K, object: KindMap[K]): Promise<KindMap[K]> {
    const o = this.options;
    const namespace = object.meta.namespace;
    const write = async (): Promise<unknown> => {
      switch (kind) {
        case 'ShardRange': {
          const body = shardRangeToApi(object as KindMap['ShardRange']);
          delete body.status;
          return shardRangeFromApi(await this.custom.createNamespacedCustomObject({ group: API_GROUP, version: VERSION, namespace, plural: 'shardranges', body }, o) as CustomObject);
        }
        case 'Pod': return podFromApi(await this.core.createNamespacedPod({ namespace, body: podToApi(object as KindMap['Pod']) }, o));
        case 'Service': return serviceFromApi(await this.core.createNamespacedService({ namespace, body: serviceToApi(object as KindMap['Service']) }, o));
        case 'PodDisruptionBudget':
          return budgetFromApi(await this.policy.createNamespacedPodDisruptionBudget({ namespace, body: budgetToApi(object as KindMap['PodDisruptionBudget']) }, o));
        case 'PersistentVolumeClaim':
          return claimFromApi(await this.core.createNamespacedPersistentVolumeClaim({ namespace, body: claimToApi(object as KindMap['PersistentVolumeClaim']) }, o));
        case 'KVCluster': break;
      }
      throw new StoreError('Invalid', `the operator does not create ${kind} objects`);
    };
    return storeCall(write, true) as Promise<KindMap[K]>;
  }

  async update<K extends Kind>(kind: K, object: KindMap[K]): Promise<KindMap[K]> {
    const o = this.options;
    const { name, namespace } = object.meta;
    const write = async (): Promise<unknown> => {
      switch (kind) {
        case 'Service': {
          const existing = await this.core.readNamespacedService({ name, namespace }, o);
          const body = serviceToApi(object as KindMap['Service'], existing);
          return serviceFromApi(await this.core.replaceNamespacedService({ name, namespace, body }, o));
        }
        case 'ShardRange': {
          // Spec and metadata (the owner-incarnation annotation); the API server ignores status here.
          const body = shardRangeToApi(object as KindMap['ShardRange']);
          return shardRangeFromApi(await this.custom.replaceNamespacedCustomObject({ group: API_GROUP, version: VERSION, namespace, plural: 'shardranges', name, body }, o) as CustomObject);
        }
        case 'PodDisruptionBudget': {
          const body = budgetToApi(object as KindMap['PodDisruptionBudget']);
          return budgetFromApi(await this.policy.replaceNamespacedPodDisruptionBudget({ name, namespace, body }, o));
        }
        default: break;
      }
      throw new StoreError('Invalid', `the operator does not update ${kind} objects`);
    };
    return storeCall(write) as Promise<KindMap[K]>;
  }

  async updateStatus<K extends StatusKind>(kind: K, object: KindMap[K]): Promise<KindMap[K]> {
    const { name, namespace } = object.meta;
    let body: CustomObject;
    if (kind === 'ShardRange') body = shardRangeToApi(object as KindMap['ShardRange']);
    else {
      const raw = this.rawClusters.get(object.meta);
      if (raw === undefined) throw new StoreError('Invalid', `KVCluster ${name} was not read through this store`);
      body = { ...raw, metadata: { ...raw.metadata, ...(object.meta.resourceVersion === undefined ? {} : { resourceVersion: object.meta.resourceVersion }) }, status: { ...(object as KindMap['KVCluster']).status } };
    }
    const written = await storeCall(() => this.custom.replaceNamespacedCustomObjectStatus(
      { group: API_GROUP, version: VERSION, namespace, plural: PLURALS[kind], name, body }, this.options) as Promise<CustomObject>);
    return this.fromCustom(kind, written) as KindMap[K];
  }

  async delete(kind: Kind, namespace: string, name: string): Promise<void> {
    const o = this.options;
    const remove = async (): Promise<unknown> => {
      switch (kind) {
        case 'KVCluster': case 'ShardRange':
          return this.custom.deleteNamespacedCustomObject({ group: API_GROUP, version: VERSION, namespace, plural: PLURALS[kind], name }, o);
        case 'Pod': return this.core.deleteNamespacedPod({ name, namespace }, o);
        case 'Service': return this.core.deleteNamespacedService({ name, namespace }, o);
        case 'PodDisruptionBudget': return this.policy.deleteNamespacedPodDisruptionBudget({ name, namespace }, o);
        case 'PersistentVolumeClaim': return this.core.deleteNamespacedPersistentVolumeClaim({ name, namespace }, o);
      }
      return undefined;
    };
    await readOrNull(remove);
  }

  private fromCustom(kind: StatusKind, object: CustomObject): KindMap[StatusKind] {
    if (kind === 'ShardRange') return shardRangeFromApi(object);
    const cluster = kvClusterFromApi(object, this.defaults);
    this.rawClusters.set(cluster.meta, object);
    return cluster;
  }
}
