// In-memory fakes of the operator core's ports: a control store with resourceVersions,
// conflicts and uids, and a data plane whose pods keep the owned ranges and routes they are
// told, as dataplane/server/pod.ts does. Both count writes and can be told to fail.

import type { Route } from '../../proto/keyspace/routes.js';
import type { ViewedRange } from '../../proto/messages.js';
import {
  StoreError, type ControlStore, type DataPlaneAdmin, type PodHealth, type PodStats, type StatusKind,
} from '../../operator/core/ports.js';
import type { Kind, KindMap, KVCluster, ObjectMeta } from '../../operator/core/types.js';

type AnyObject = KindMap[Kind];

export class FakeStore implements ControlStore {
  readonly objects = new Map<string, AnyObject>();
  writes = 0;
  private version = 0;
  /** When set, every call throws it (a port outage). */
  failWith: Error | null = null;
  /** Names (kind/ns/name) whose next updateStatus conflicts once. */
  readonly conflictOnce = new Set<string>();

  private static key(kind: Kind, namespace: string, name: string): string {
    return `${kind}/${namespace}/${name}`;
  }

  private check(): void {
    if (this.failWith !== null) throw this.failWith;
  }

  async get<K extends Kind>(kind: K, namespace: string, name: string): Promise<KindMap[K] | null> {
    this.check();
    return (this.objects.get(FakeStore.key(kind, namespace, name)) as KindMap[K] | undefined) ?? null;
  }

  async list<K extends Kind>(kind: K, namespace: string, labels: Readonly<Record<string, string>>): Promise<KindMap[K][]> {
    this.check();
    const prefix = `${kind}/${namespace}/`;
    return [...this.objects.entries()]
      .filter(([key, object]) => key.startsWith(prefix) && Object.entries(labels).every(([k, v]) => object.meta.labels?.[k] === v))
      .map(([, object]) => object as KindMap[K]);
  }

  async create<K extends Kind>(kind: K, object: KindMap[K]): Promise<KindMap[K]> {
    this.check();
    const key = FakeStore.key(kind, object.meta.namespace, object.meta.name);
    if (this.objects.has(key)) throw new StoreError('AlreadyExists', `${key} exists`);
    const meta: ObjectMeta = { ...object.meta, uid: `uid-${++this.version}`, resourceVersion: String(this.version), generation: 1 };
    const stored = { ...object, meta } as KindMap[K];
    this.objects.set(key, stored);
    this.writes++;
    return stored;
  }

  async update<K extends Kind>(kind: K, object: KindMap[K]): Promise<KindMap[K]> {
    return this.replace(kind, object, false);
  }

  async updateStatus<K extends StatusKind>(kind: K, object: KindMap[K]): Promise<KindMap[K]> {
    return this.replace(kind, object, true);
  }

  private async replace<K extends Kind>(kind: K, object: KindMap[K], statusOnly: boolean): Promise<KindMap[K]> {
    this.check();
    const key = FakeStore.key(kind, object.meta.namespace, object.meta.name);
    const existing = this.objects.get(key);
    if (existing === undefined) throw new StoreError('NotFound', `${key} not found`);
    if (statusOnly && this.conflictOnce.delete(key)) throw new StoreError('Conflict', `${key}: injected conflict`);
    if (object.meta.resourceVersion !== existing.meta.resourceVersion) throw new StoreError('Conflict', `${key}: stale resourceVersion`);
    const meta = { ...existing.meta, ...(statusOnly ? {} : { labels: object.meta.labels, annotations: object.meta.annotations }), resourceVersion: String(++this.version) };
    const stored = (statusOnly ? { ...existing, status: (object as KVCluster).status, meta } : { ...object, meta }) as KindMap[K];
    this.objects.set(key, stored);
    this.writes++;
    return stored;
  }

  async delete(kind: Kind, namespace: string, name: string): Promise<void> {
    this.check();
    if (this.objects.delete(FakeStore.key(kind, namespace, name))) this.writes++;
  }

  /** Test helper: a direct write (as the kubelet or a user would make). */
  put(kind: Kind, object: AnyObject): void {
    this.objects.set(FakeStore.key(kind, object.meta.namespace, object.meta.name), { ...object, meta: { ...object.meta, resourceVersion: String(++this.version) } });
  }

  all<K extends Kind>(kind: K): KindMap[K][] {
    return [...this.objects.entries()].filter(([key]) => key.startsWith(`${kind}/`)).map(([, o]) => o as KindMap[K]);
  }
}

export interface FakePod {
  name: string;
  serving: boolean;
  owned: ViewedRange[];
  routes: Route[];
  keysPerRange: number;
}

export class FakeDataPlane implements DataPlaneAdmin {
  readonly pods = new Map<string, FakePod>();
  pushes: { address: string; owned: ViewedRange[] }[] = [];
  calls = 0;
  failWith: Error | null = null;
  /** When set, AssignRanges alone fails with it. */
  failAssignWith: Error | null = null;

  /** A fresh process at `address` (a recreated pod starts empty). */
  start(address: string, name: string): FakePod {
    const pod: FakePod = { name, serving: true, owned: [], routes: [], keysPerRange: 0 };
    this.pods.set(address, pod);
    return pod;
  }

  private pod(address: string): FakePod {
    this.calls++;
    if (this.failWith !== null) throw this.failWith;
    const pod = this.pods.get(address);
    if (pod === undefined) throw new Error(`connect ECONNREFUSED ${address}`);
    return pod;
  }

  async assignRanges(address: string, owned: readonly ViewedRange[], routes: readonly Route[]): Promise<readonly ViewedRange[]> {
    const pod = this.pod(address);
    if (this.failAssignWith !== null) throw this.failAssignWith;
    pod.owned = [...owned];
    pod.routes = [...routes];
    this.pushes.push({ address, owned: [...owned] });
    return pod.owned;
  }

  async stats(address: string): Promise<PodStats> {
    const pod = this.pod(address);
    return { pod: pod.name, ranges: pod.owned.map((range) => ({ range, keyCount: pod.keysPerRange, bytes: pod.keysPerRange * 100, opsPerSecond: 0 })) };
  }

  async health(address: string): Promise<PodHealth> {
    const pod = this.pod(address);
    return { serving: pod.serving, pod: pod.name, reason: pod.serving ? '' : 'lease lost' };
  }

  async routes(address: string): Promise<readonly Route[]> {
    return this.pod(address).routes;
  }
}
