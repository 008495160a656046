// Step: the data-plane Pods, managed directly (DESIGN.md §8). A missing pod is created; a pod
// that ended (Failed / Succeeded) is deleted so the next round recreates it; a terminating pod
// is waited for. Pods beyond spec.pods are kept: scale-in must first migrate a pod's ranges
// away, which the migration driver (a later issue) does, so it is reported, not forced.

import { desiredPod, isOwnedBy, LABEL_POD_INDEX, podName, podSelector } from '../clusterObjects.js';
import { isStoreError } from '../ports.js';
import type { ReconcileContext } from '../reconcileContext.js';
import { CONTINUE, terminalError, type StepResult } from '../stepResult.js';
import type { PodObject } from '../types.js';

export async function loadPods(context: ReconcileContext): Promise<StepResult> {
  const pods = await context.deps.store.list('Pod', context.namespace, podSelector(context.cluster));
  context.pods = new Map(pods.map((pod) => [pod.meta.name, pod]));
  return CONTINUE;
}

export async function ensurePods(context: ReconcileContext): Promise<StepResult> {
  const { cluster, notes } = context;
  for (let index = 0; index < cluster.spec.pods; index++) {
    const name = podName(cluster, index);
    const pod = context.pods.get(name);
    if (pod === undefined) {
      await createPod(context, desiredPod(cluster, index));
      continue;
    }
    if (!isOwnedBy(pod.meta, cluster)) return terminalError(`Pod ${name} exists and is not owned by KVCluster ${cluster.meta.name}`);
    if (pod.meta.deletionTimestamp !== undefined) {
      notes.podsWaiting++;
      continue;
    }
    if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded') {
      notes.podsFailed.push(name);
      await context.deps.store.delete('Pod', context.namespace, name);
      context.pods.delete(name);
      context.deps.log.warn({ pod: name, phase: pod.status.phase }, `deleted ended pod ${name}; it is recreated next round`);
      continue;
    }
    if (!isPodServable(pod)) notes.podsWaiting++;
  }
  for (const pod of context.pods.values()) {
    const index = Number(pod.meta.labels?.[LABEL_POD_INDEX] ?? -1);
    if (index >= cluster.spec.pods) notes.scaleInPending.push(pod.meta.name);
  }
  return CONTINUE;
}

async function createPod(context: ReconcileContext, pod: PodObject): Promise<void> {
  try {
    const created = await context.deps.store.create('Pod', pod);
    context.pods.set(created.meta.name, created);
    context.notes.podsCreated++;
    context.notes.podsWaiting++;
    context.deps.log.info({ pod: pod.meta.name }, `created pod ${pod.meta.name}`);
  } catch (error) {
    if (!isStoreError(error, 'AlreadyExists')) throw error;
    context.notes.podsWaiting++;
  }
}

/** Running, Ready, has an IP and is not being deleted: worth asking over the Admin RPC. */
export function isPodServable(pod: PodObject): boolean {
  const status = pod.status;
  return status !== undefined && status.phase === 'Running' && status.ready && status.podIP !== undefined && status.podIP !== ''
    && pod.meta.deletionTimestamp === undefined;
}
