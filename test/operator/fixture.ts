// A KVCluster, the reconciler wired to the fakes, and a fake kubelet that starts the pods the
// operator created (as the process-kubelet of test/k8s does for real).

import { KVClusterReconciler, clusterKey } from '../../operator/core/kvClusterReconciler.js';
import type { Logger } from '../../operator/core/ports.js';
import type { KVCluster, PodObject } from '../../operator/core/types.js';
import { DEFAULT_RECONCILER_CONFIG } from '../../operator/core/reconcileContext.js';
import { FakeDataPlane, FakeStore } from './fakes.js';

export const NAMESPACE = 'ns1';

export function kvCluster(name = 'demo', pods = 3, rangesPerPod = 4): KVCluster {
  return {
    meta: { name, namespace: NAMESPACE, uid: `cluster-uid-${name}`, generation: 1, resourceVersion: '1' },
    spec: {
      pods, rangesPerPod, image: 'slicekv:test', memoryPerPodBytes: 64 * 2 ** 20, durability: { mode: 'sync', fsyncIntervalMs: 10, size: '1Gi' },
      leaseDurationSeconds: 10, clientPort: 7000, adminPort: 7001, metricsPort: 9100,
    },
    status: {},
  };
}

export interface LogLine {
  level: string;
  message: string;
  fields: object;
}

export function recordingLogger(lines: LogLine[]): Logger {
  return {
    info: (fields, message) => lines.push({ level: 'info', message, fields }),
    warn: (fields, message) => lines.push({ level: 'warn', message, fields }),
    error: (fields, message) => lines.push({ level: 'error', message, fields }),
  };
}

export class Harness {
  readonly store = new FakeStore();
  readonly dataPlane = new FakeDataPlane();
  readonly log: LogLine[] = [];
  readonly reconciler: KVClusterReconciler;
  nowMs = 1_700_000_000_000;
  private nextIp = 1;

  constructor(readonly cluster: KVCluster = kvCluster()) {
    this.store.put('KVCluster', cluster);
    this.reconciler = new KVClusterReconciler({
      store: this.store, admin: this.dataPlane, clock: { nowMs: () => this.nowMs }, log: recordingLogger(this.log),
      config: DEFAULT_RECONCILER_CONFIG,
    });
  }

  get key(): string {
    return clusterKey(NAMESPACE, this.cluster.meta.name);
  }

  reconcile(): ReturnType<KVClusterReconciler['reconcile']> {
    return this.reconciler.reconcile(this.key);
  }

  /** Starts every pod that has no status yet: a new IP, Running and Ready, serving. */
  runPods(): string[] {
    const started: string[] = [];
    for (const pod of this.store.all('Pod')) {
      if (pod.status !== undefined) continue;
      const podIP = `10.0.0.${this.nextIp++}`;
      const running: PodObject = { ...pod, status: { phase: 'Running', podIP, ready: true } };
      this.store.put('Pod', running);
      this.dataPlane.start(`${podIP}:7000`, pod.meta.name);
      started.push(pod.meta.name);
    }
    return started;
  }

  pod(name: string): PodObject {
    const pod = this.store.all('Pod').find((p) => p.meta.name === name);
    if (pod === undefined) throw new Error(`no pod ${name}`);
    return pod;
  }

  clusterNow(): KVCluster {
    return this.store.all('KVCluster')[0];
  }
}
