// The operator in a cluster: informers wake reconciles, a work queue runs them, and only the
// replica holding the leader Lease reconciles. Informers for KVClusters, ShardRanges and the
// data-plane Pods of each watched namespace map every event to its KVCluster's key; the
// reconcile itself reads the current state (operator/core). Losing the Lease stops the queue
// (reconciles in flight see their AbortSignal between steps).

import {
  CoreV1Api, CustomObjectsApi, makeInformer, type Informer, type KubeConfig, type KubernetesListObject, type KubernetesObject,
  type ObjectCache, type V1Pod,
} from '@kubernetes/client-node';
import { KVClusterReconciler, clusterKey } from '../core/kvClusterReconciler.js';
import { LeaderElector, type LeaderElectionConfig } from '../core/leaderElection.js';
import type { Logger } from '../core/ports.js';
import type { ReconcilerConfig } from '../core/reconcileContext.js';
import { API_GROUP } from '../core/types.js';
import { WorkQueue, type WorkQueueOptions } from '../core/workQueue.js';
import { LABEL_CLUSTER, LABEL_COMPONENT } from '../core/clusterObjects.js';
import type { AdapterDefaults, CustomObject } from './convert.js';
import { GrpcDataPlane } from './grpcDataPlane.js';
import { KubeControlStore } from './kubeControlStore.js';
import { KubeLeaseStore } from './kubeLeaseStore.js';
import type { OperatorMetrics } from './operatorMetrics.js';

export interface ControllerOptions {
  readonly namespaces: readonly string[];
  readonly leaseNamespace: string;
  readonly leaseName: string;
  readonly election: LeaderElectionConfig;
  readonly defaults: AdapterDefaults;
  readonly queue: WorkQueueOptions;
  readonly reconciler: ReconcilerConfig;
  readonly requestTimeoutMs: number;
  /** Delay before an informer that stopped on an error lists and watches again. */
  readonly informerRestartMs: number;
  /**
   * While leading, every KVCluster is queued this often (an informer resync): a key the queue gave
   * up on after retriesMax failures is retried at this pace rather than never.
   */
  readonly resyncMs: number;
}

type AnyInformer = Informer<KubernetesObject> & ObjectCache<KubernetesObject>;

export class OperatorController {
  private readonly reconciler: KVClusterReconciler;
  private readonly elector: LeaderElector;
  private readonly dataPlane = new GrpcDataPlane();
  private readonly informers: { informer: AnyInformer; namespace: string; kind: string }[] = [];
  private queue: WorkQueue | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly config: KubeConfig, private readonly options: ControllerOptions, private readonly log: Logger,
    private readonly metrics: OperatorMetrics) {
    const store = new KubeControlStore(config, options.defaults, options.requestTimeoutMs);
    this.reconciler = new KVClusterReconciler({ store, admin: this.dataPlane, clock: { nowMs: () => Date.now() }, log, config: options.reconciler });
    const leases = new KubeLeaseStore(config, options.leaseNamespace, options.leaseName, Math.min(options.requestTimeoutMs, options.election.renewDeadlineMs));
    this.elector = new LeaderElector(leases, options.election, { nowMs: () => Date.now() }, log, {
      onStartedLeading: () => this.startLeading(),
      onStoppedLeading: (reason) => this.stopLeading(reason),
    });
    metrics.depthSource = () => this.queue?.depth ?? 0;
  }

  get isLeader(): boolean {
    return this.elector.isLeader;
  }

  /** Starts the informers, waits for their first lists, then joins the leader election. */
  async start(): Promise<void> {
    const core = this.config.makeApiClient(CoreV1Api);
    const custom = this.config.makeApiClient(CustomObjectsApi);
    for (const namespace of this.options.namespaces) {
      for (const plural of ['kvclusters', 'shardranges'] as const) {
        const informer = makeInformer<CustomObject>(this.config, `/apis/${API_GROUP}/v1alpha1/namespaces/${namespace}/${plural}`,
          () => custom.listNamespacedCustomObject({ group: API_GROUP, version: 'v1alpha1', namespace, plural }) as Promise<KubernetesListObject<CustomObject>>);
        this.watch(informer as unknown as AnyInformer, namespace, plural);
      }
      const selector = `${LABEL_COMPONENT}=dataplane`;
      const pods = makeInformer<V1Pod>(this.config, `/api/v1/namespaces/${namespace}/pods`,
        () => core.listNamespacedPod({ namespace, labelSelector: selector }), selector);
      this.watch(pods as unknown as AnyInformer, namespace, 'pods');
    }
    await Promise.all(this.informers.map(({ informer }) => informer.start()));
    this.metrics.ready = true;
    this.log.info({ namespaces: this.options.namespaces, informers: this.informers.length }, 'informers synced; joining leader election');
    this.elector.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.elector.stop();
    await this.queue?.stop();
    await Promise.all(this.informers.map(({ informer }) => informer.stop()));
    this.dataPlane.close();
  }

  private watch(informer: AnyInformer, namespace: string, kind: string): void {
    this.informers.push({ informer, namespace, kind });
    const wake = (object: KubernetesObject): void => {
      const key = keyOf(kind, namespace, object);
      if (key !== null) this.queue?.add(key);
    };
    informer.on('add', wake);
    informer.on('update', wake);
    informer.on('delete', wake);
    informer.on('error', (error: unknown) => {
      if (this.stopped) return;
      this.log.warn({ kind, namespace, err: error instanceof Error ? error.message : String(error) }, 'informer stopped; restarting');
      setTimeout(() => {
        if (!this.stopped) informer.start().catch(() => undefined);
      }, this.options.informerRestartMs).unref();
    });
  }

  private startLeading(): void {
    this.metrics.isLeader.set(1);
    this.metrics.leaderTransitions.inc();
    const queue = new WorkQueue((key, signal) => this.reconciler.reconcile(key, signal), this.options.queue, this.log);
    queue.listener = (_key, outcome, durationMs) => {
      this.metrics.reconciles.inc({ kind: 'KVCluster', result: outcome.kind });
      if (outcome.kind === 'retry') this.metrics.reconcileErrors.inc({ kind: 'KVCluster' });
      this.metrics.reconcileDuration.observe({ kind: 'KVCluster' }, durationMs / 1000);
    };
    this.queue = queue;
    // Everything known, now and every resyncMs: reconcile from the current state after a change of leader.
    this.enqueueAll();
    this.resyncTimer = setInterval(() => this.enqueueAll(), this.options.resyncMs);
    this.resyncTimer.unref();
  }

  private enqueueAll(): void {
    for (const { informer, namespace, kind } of this.informers) {
      if (kind !== 'kvclusters') continue;
      for (const object of informer.list()) this.queue?.add(clusterKey(namespace, object.metadata?.name ?? ''));
    }
  }

  private stopLeading(reason: string): void {
    this.metrics.isLeader.set(0);
    this.metrics.leaderTransitions.inc();
    if (this.resyncTimer !== null) clearInterval(this.resyncTimer);
    this.resyncTimer = null;
    const queue = this.queue;
    this.queue = null;
    void queue?.stop();
    this.log.warn({ reason }, 'no longer the leader: reconciling stopped');
  }
}

/** The KVCluster key an event on `object` concerns, or null. */
export function keyOf(kind: string, namespace: string, object: KubernetesObject): string | null {
  if (kind === 'kvclusters') return object.metadata?.name === undefined ? null : clusterKey(namespace, object.metadata.name);
  if (kind === 'shardranges') {
    const cluster = (object as CustomObject).spec?.cluster;
    return typeof cluster === 'string' && cluster !== '' ? clusterKey(namespace, cluster) : null;
  }
  const cluster = object.metadata?.labels?.[LABEL_CLUSTER];
  return cluster === undefined ? null : clusterKey(namespace, cluster);
}
