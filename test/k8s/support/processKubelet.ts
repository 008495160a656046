// A "process kubelet" for tests against the real API server (controlPlane.ts): it plays the
// scheduler and the kubelet of one fake Node, `process-kubelet`, running each Pod's containers
// as local child processes on a loopback pod IP (containerLaunch.ts says how a container maps to
// a command, podRuntime.ts how it is run and reported).
//
// Loop: list Pods (one namespace or all, optionally by label selector), then watch from the
// list's resourceVersion; when a watch ends, list again. Every event stores the newest copy of
// its Pod and reconciles that Pod's key from it, one reconcile per key at a time:
//   gone from the API           -> kill its processes (SIGTERM, then SIGKILL after the grace period)
//   deletionTimestamp set       -> same, then delete it with gracePeriodSeconds 0 (as a kubelet does)
//   no spec.nodeName            -> bind it to our Node (pods/binding, as the scheduler does)
//   on our Node, not yet run    -> allocate 127.0.0.N, start it, report status as it changes
// It does not: pull images, enforce resources, run liveness/startup probes or init containers,
// or mount configMap/secret/projected volumes; a Pod's ServiceAccount token is a kubeconfig
// passed as KUBECONFIG (serviceAccountKubeconfig) instead of a mounted file
// (docs/k8s-test-harness.md).

import {
  CoreV1Api, KubeConfig, PatchStrategy, Watch, setHeaderOptions, type V1Pod, type V1PodStatus,
} from '@kubernetes/client-node';
import { rmSync } from 'node:fs';
import { defaultCommandMapper, podFolder, type CommandMapper, type EnvLookups } from './containerLaunch.js';
import { LoopbackIpPool } from './loopbackIpPool.js';
import { PodRuntime } from './podRuntime.js';

export const PROCESS_KUBELET_NODE_NAME = 'process-kubelet';
const HOST_IP = '127.0.0.1';
const RELIST_DELAY_MS = 500;
const RESTART_LIMIT_DEFAULT = 5;
const GRACE_SECONDS_DEFAULT = 30;

export interface ProcessKubeletOptions {
  /** A kubeconfig allowed to bind, patch status of and delete Pods, and create Nodes (admin). */
  kubeconfigPath: string;
  /** Per-test folder: logs/, pvc/, hostpath/, pods/. */
  rootDir: string;
  /** Watch Pods of this namespace only; all namespaces when absent. */
  namespace?: string;
  /** e.g. "app.kubernetes.io/name=slicekv"; all Pods when absent. */
  labelSelector?: string;
  nodeName?: string;
  /** Restarts per container before the Pod is Failed (restartPolicy Always/OnFailure). */
  restartLimit?: number;
  commandMapper?: CommandMapper;
  /** Pod IPs are <prefix>2, <prefix>3, ... (default "127.0.0."). Two kubelets at once need different ones. */
  podIpPrefix?: string;
  /**
   * Stands in for the mounted ServiceAccount token: a kubeconfig path for the Pod's
   * serviceAccountName (e.g. ControlPlane.serviceAccountKubeconfig), given to its containers as
   * KUBECONFIG unless automountServiceAccountToken is false or the container sets KUBECONFIG.
   */
  serviceAccountKubeconfig?: (namespace: string, serviceAccount: string) => string | undefined;
}

export interface RunningPod {
  namespace: string;
  name: string;
  uid: string;
  podIP: string;
  pids: number[];
}

export interface ProcessKubelet {
  nodeName: string;
  /** Pods this kubelet is running now (their processes may be between restarts). */
  pods(): RunningPod[];
  /** The log file of a container (its stdout and stderr, across restarts). */
  logPath(podName: string, containerName: string, namespace?: string): string;
  /** SIGKILL the Pod's processes now; its restartPolicy decides what follows. */
  kill9(podName: string, namespace?: string): void;
  /** Stop watching and SIGKILL every process (Pods are left as they are in the API). */
  stop(): Promise<void>;
}

function apiCode(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? Number((error as { code: unknown }).code) : undefined;
}

async function ignoreNotFound(work: Promise<unknown>): Promise<void> {
  try {
    await work;
  } catch (error) {
    if (apiCode(error) !== 404) throw error;
  }
}

function isBeingDeleted(pod: V1Pod): boolean {
  return pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null;
}

function nodeNameOf(pod: V1Pod): string {
  return pod.spec?.nodeName ?? '';
}

function hasFinished(pod: V1Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

function podKey(pod: V1Pod): string {
  return `${pod.metadata?.namespace ?? 'default'}/${pod.metadata?.name ?? ''}`;
}

async function registerNode(api: CoreV1Api, nodeName: string): Promise<void> {
  try {
    await api.createNode({ body: { metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName } } } });
  } catch (error) {
    if (apiCode(error) !== 409) throw error;
  }
  const now = new Date().toISOString();
  await api.patchNodeStatus({
    name: nodeName,
    body: {
      status: {
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'process kubelet is running', lastHeartbeatTime: now, lastTransitionTime: now }],
        addresses: [{ type: 'InternalIP', address: HOST_IP }, { type: 'Hostname', address: nodeName }],
        capacity: { cpu: '2', memory: '24Gi', pods: '250' },
        allocatable: { cpu: '2', memory: '24Gi', pods: '250' },
      },
    },
  }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
}

function envLookups(api: CoreV1Api): EnvLookups {
  return {
    configMapKey: async (namespace, name, key) => (await api.readNamespacedConfigMap({ name, namespace })).data?.[key],
    secretKey: async (namespace, name, key) => {
      const value = (await api.readNamespacedSecret({ name, namespace })).data?.[key];
      return value === undefined ? undefined : Buffer.from(value, 'base64').toString();
    },
  };
}

/** Registers the fake Node and starts running the Pods the selection matches. */
export async function startProcessKubelet(options: ProcessKubeletOptions): Promise<ProcessKubelet> {
  const config = new KubeConfig();
  config.loadFromFile(options.kubeconfigPath);
  const api = config.makeApiClient(CoreV1Api);
  const nodeName = options.nodeName ?? PROCESS_KUBELET_NODE_NAME;
  await registerNode(api, nodeName);
  const kubelet = new Kubelet(api, new Watch(config), nodeName, options);
  await kubelet.start();
  return {
    nodeName,
    pods: () => kubelet.runningPods(),
    logPath: (podName, containerName, namespace) => kubelet.logPath(podName, containerName, namespace),
    kill9: (podName, namespace) => kubelet.kill9(podName, namespace),
    stop: () => kubelet.stop(),
  };
}

class Kubelet {
  private readonly latest = new Map<string, V1Pod>();
  private readonly runtimes = new Map<string, PodRuntime>();
  private readonly reconciling = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly statusWrites = new Map<string, { inFlight: boolean; next: V1PodStatus | undefined }>();
  private readonly ips: LoopbackIpPool;
  private readonly lookups: EnvLookups;
  private watchAbort: AbortController | undefined;
  private stopped = false;
  private firstListDone: (() => void) | undefined;

  constructor(private readonly api: CoreV1Api, private readonly watch: Watch, private readonly nodeName: string,
    private readonly options: ProcessKubeletOptions) {
    this.ips = new LoopbackIpPool(options.podIpPrefix);
    this.lookups = envLookups(api);
  }

  /** Resolves after the first list (errors of that list reject). */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.firstListDone = resolve;
      this.listAndWatch().catch((error: unknown) => {
        if (this.firstListDone === undefined) {
          this.relistSoon(); // the first list went through; only its watch failed
        } else {
          this.firstListDone = undefined;
          reject(error);
        }
      });
    });
  }

  private async listAndWatch(): Promise<void> {
    const { namespace, labelSelector } = this.options;
    const selector = labelSelector === undefined ? {} : { labelSelector };
    const list = namespace === undefined
      ? await this.api.listPodForAllNamespaces(selector)
      : await this.api.listNamespacedPod({ namespace, ...selector });
    if (this.stopped) return;
    const listed = new Set<string>();
    for (const pod of list.items) {
      listed.add(podKey(pod));
      this.observe(pod);
    }
    for (const key of [...this.latest.keys()]) {
      if (!listed.has(key)) this.forget(key); // deleted while we were not watching
    }
    this.firstListDone?.();
    this.firstListDone = undefined;
    const path = namespace === undefined ? '/api/v1/pods' : `/api/v1/namespaces/${namespace}/pods`;
    this.watchAbort = await this.watch.watch(path, { ...selector, resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
      (phase, pod: V1Pod) => this.onEvent(phase, pod),
      () => this.relistSoon());
  }

  private relistSoon(): void {
    if (this.stopped) return;
    // Bounded by time, not count: one list per RELIST_DELAY_MS at most, until stop().
    setTimeout(() => {
      if (!this.stopped) this.listAndWatch().catch(() => this.relistSoon());
    }, RELIST_DELAY_MS);
  }

  private onEvent(phase: string, pod: V1Pod): void {
    if (this.stopped || phase === 'BOOKMARK' || phase === 'ERROR') return;
    if (phase === 'DELETED') this.forget(podKey(pod));
    else this.observe(pod);
  }

  private observe(pod: V1Pod): void {
    const key = podKey(pod);
    this.latest.set(key, pod);
    this.reconcileSoon(key);
  }

  private forget(key: string): void {
    this.latest.delete(key);
    this.reconcileSoon(key);
  }

  /** One reconcile per key at a time; an event during one queues exactly one more. */
  private reconcileSoon(key: string): void {
    if (this.reconciling.has(key)) {
      this.again.add(key);
      return;
    }
    const run = this.reconcile(key)
      .catch((error: unknown) => console.error(`process-kubelet: reconcile ${key}: ${String(error)}`))
      .finally(() => {
        this.reconciling.delete(key);
        if (this.again.delete(key) && !this.stopped) this.reconcileSoon(key);
      });
    this.reconciling.set(key, run);
  }

  private async reconcile(key: string): Promise<void> {
    const pod = this.latest.get(key);
    const runtime = this.runtimes.get(key);
    if (runtime !== undefined && (pod === undefined || pod.metadata?.uid !== runtime.uid)) {
      await this.kill(runtime, runtime.pod); // gone, or replaced by a new Pod of the same name
    }
    if (pod === undefined || this.stopped) return;
    if (isBeingDeleted(pod)) {
      await this.finishDeletion(pod);
    } else if (nodeNameOf(pod) === '') {
      await this.bind(pod);
    } else if (nodeNameOf(pod) === this.nodeName && !this.runtimes.has(key) && !hasFinished(pod)) {
      await this.run(pod);
    }
  }

  private async bind(pod: V1Pod): Promise<void> {
    const namespace = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    await this.api.createNamespacedBinding({
      namespace,
      body: { metadata: { name, namespace }, target: { apiVersion: 'v1', kind: 'Node', name: this.nodeName } },
    });
  }

  private async run(pod: V1Pod): Promise<void> {
    const key = podKey(pod);
    const podIP = this.ips.allocate(key);
    const runtime = new PodRuntime(pod, {
      rootDir: this.options.rootDir, podIP, hostIP: HOST_IP, nodeName: this.nodeName, lookups: this.lookups,
      commandMapper: this.options.commandMapper ?? defaultCommandMapper,
      kubeconfigPath: this.kubeconfigFor(pod),
      restartLimit: this.options.restartLimit ?? RESTART_LIMIT_DEFAULT,
      onStatus: (status) => this.writeStatus(pod, status),
    });
    this.runtimes.set(key, runtime);
    await runtime.start();
  }

  private kubeconfigFor(pod: V1Pod): string | undefined {
    if (pod.spec?.automountServiceAccountToken === false) return undefined;
    return this.options.serviceAccountKubeconfig?.(pod.metadata?.namespace ?? 'default', pod.spec?.serviceAccountName ?? 'default');
  }

  private graceMs(pod: V1Pod): number {
    const seconds = pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? GRACE_SECONDS_DEFAULT;
    return seconds * 1000;
  }

  private async kill(runtime: PodRuntime, pod: V1Pod): Promise<void> {
    await runtime.terminate(this.graceMs(pod));
    if (this.runtimes.get(runtime.key) === runtime) this.runtimes.delete(runtime.key);
    this.ips.release(runtime.podIP);
    rmSync(podFolder(runtime.pod, this.options.rootDir), { recursive: true, force: true });
  }

  private async finishDeletion(pod: V1Pod): Promise<void> {
    const runtime = this.runtimes.get(podKey(pod));
    if (runtime !== undefined && runtime.uid === pod.metadata?.uid) await this.kill(runtime, pod);
    if (pod.spec?.nodeName !== this.nodeName) return; // an unbound Pod is deleted by the API server itself
    const namespace = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    // The uid precondition keeps us from deleting a new Pod that took the same name.
    await ignoreNotFound(this.api.deleteNamespacedPod({
      name, namespace, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata?.uid ?? '' } },
    }));
  }

  /** Status writes per Pod go out one at a time; a newer status replaces a queued one. */
  private writeStatus(pod: V1Pod, status: V1PodStatus): void {
    const key = `${podKey(pod)}/${pod.metadata?.uid ?? ''}`;
    const slot = this.statusWrites.get(key) ?? { inFlight: false, next: undefined };
    this.statusWrites.set(key, slot);
    slot.next = status;
    if (slot.inFlight) return;
    const send = async (): Promise<void> => {
      while (slot.next !== undefined && !this.stopped) {
        const body = { status: slot.next };
        slot.next = undefined;
        await ignoreNotFound(this.api.patchNamespacedPodStatus({
          name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? 'default', body,
        }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))).catch((error: unknown) => {
          console.error(`process-kubelet: status of ${key}: ${String(error)}`);
        });
      }
    };
    slot.inFlight = true;
    void send().finally(() => {
      slot.inFlight = false;
      if (!this.runtimes.has(podKey(pod))) this.statusWrites.delete(key);
    });
  }

  runningPods(): RunningPod[] {
    return [...this.runtimes.values()].map((runtime) => ({
      namespace: runtime.pod.metadata?.namespace ?? 'default', name: runtime.pod.metadata?.name ?? '',
      uid: runtime.uid, podIP: runtime.podIP, pids: runtime.pids(),
    }));
  }

  private runtimeFor(podName: string, namespace: string | undefined): PodRuntime {
    const matches = [...this.runtimes.values()].filter((runtime) =>
      runtime.pod.metadata?.name === podName && (namespace === undefined || runtime.pod.metadata?.namespace === namespace));
    if (matches.length !== 1) throw new Error(`process-kubelet: ${matches.length} running pods named ${podName}${namespace === undefined ? '' : ` in ${namespace}`}`);
    return matches[0];
  }

  logPath(podName: string, containerName: string, namespace?: string): string {
    return this.runtimeFor(podName, namespace).logPath(containerName);
  }

  kill9(podName: string, namespace?: string): void {
    this.runtimeFor(podName, namespace).kill9();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watchAbort?.abort();
    await Promise.all([...this.runtimes.values()].map((runtime) => runtime.terminate(0))); // SIGKILL
    this.runtimes.clear();
  }
}
