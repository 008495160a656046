// The KVCluster status: phase (an explicit state machine), ready pods, ranges, and the
// conditions Ready / Progressing / Degraded with observedGeneration. Written through the status
// subresource, and only when something changed, so a settled cluster costs no writes.

import { mergeConditions, type ConditionInput } from '../conditions.js';
import { isStoreError } from '../ports.js';
import type { ReconcileContext } from '../reconcileContext.js';
import { PhaseMachine, type TransitionTable } from '../stateMachine.js';
import { CONTINUE, requeueAfter, type StepResult } from '../stepResult.js';
import type { ClusterPhase, KVClusterStatus } from '../types.js';

export const CLUSTER_PHASES: TransitionTable<ClusterPhase> = {
  Pending: ['Creating', 'Degraded'],
  Creating: ['Running', 'Degraded'],
  Running: ['Creating', 'Degraded'],
  Degraded: ['Creating', 'Running'],
};

export function readyPodCount(context: ReconcileContext): number {
  let ready = 0;
  for (const view of context.podViews.values()) if (view.serving && !context.notes.unreachable.includes(view.name)) ready++;
  return ready;
}

function degradedReason(context: ReconcileContext): string | null {
  const { notes } = context;
  if (notes.error !== null) return 'ReconcileError';
  if (notes.unreachable.length > 0) return 'PodUnreachable';
  if (notes.podsFailed.length > 0) return 'PodFailed';
  return null;
}

function degradedMessage(context: ReconcileContext): string {
  const { notes } = context;
  if (notes.error !== null) return notes.error;
  if (notes.unreachable.length > 0) return `no Admin answer from ${notes.unreachable.join(', ')}`;
  return notes.podsFailed.length > 0 ? `pods ended and are recreated: ${notes.podsFailed.join(', ')}` : '';
}

/** The conditions this reconcile observed. */
export function clusterConditions(context: ReconcileContext): ConditionInput[] {
  const { cluster, notes } = context;
  const observedGeneration = cluster.meta.generation ?? 0;
  const readyPods = readyPodCount(context);
  const allReady = readyPods === cluster.spec.pods && notes.unserved === 0 && notes.error === null && context.ranges.length > 0;
  const degraded = degradedReason(context);
  const progressing = !allReady && degraded === null;
  const readyMessage = `${readyPods}/${cluster.spec.pods} pods serving, ${context.ranges.length - notes.unserved}/${context.ranges.length} ranges served`;
  const scaleIn = notes.scaleInPending.length > 0 ? `scale-in waits for range migration: ${notes.scaleInPending.join(', ')}` : null;
  return [
    { type: 'Ready', status: allReady ? 'True' : 'False', reason: allReady ? 'AllRangesServed' : 'NotAllRangesServed', message: readyMessage, observedGeneration },
    {
      type: 'Progressing', status: progressing ? 'True' : 'False',
      reason: progressing ? (notes.podsWaiting > 0 ? 'PodsStarting' : 'AssigningRanges') : 'Settled',
      message: scaleIn ?? readyMessage, observedGeneration,
    },
    { type: 'Degraded', status: degraded === null ? 'False' : 'True', reason: degraded ?? 'AsExpected', message: degradedMessage(context), observedGeneration },
  ];
}

function phaseFor(conditions: readonly ConditionInput[]): ClusterPhase {
  if (conditions[0].status === 'True') return 'Running';
  if (conditions[2].status === 'True') return 'Degraded';
  return 'Creating';
}

export async function writeClusterStatus(context: ReconcileContext): Promise<StepResult> {
  const { cluster, deps } = context;
  const conditions = clusterConditions(context);
  const machine = new PhaseMachine<ClusterPhase>(`KVCluster ${cluster.meta.name}`, CLUSTER_PHASES, cluster.status.phase ?? 'Pending', deps.log);
  machine.transitionTo(['Pending', 'Creating', 'Running', 'Degraded'], phaseFor(conditions));
  const status: KVClusterStatus = {
    phase: machine.phase,
    observedGeneration: cluster.meta.generation ?? 0,
    readyPods: readyPodCount(context),
    ranges: context.ranges.length,
    conditions: mergeConditions(cluster.status.conditions, conditions, new Date(deps.clock.nowMs()).toISOString()),
  };
  if (JSON.stringify(status) === JSON.stringify(normalised(cluster.status))) return CONTINUE;
  try {
    context.cluster = await deps.store.updateStatus('KVCluster', { ...cluster, status });
  } catch (error) {
    if (isStoreError(error, 'Conflict')) return requeueAfter(deps.config.conflictRequeueMs, 'conflict writing KVCluster status');
    throw error;
  }
  return CONTINUE;
}

/** The stored status in the field order writeClusterStatus builds, for comparison. */
function normalised(status: KVClusterStatus): Record<string, unknown> {
  return {
    phase: status.phase, observedGeneration: status.observedGeneration, readyPods: status.readyPods, ranges: status.ranges,
    conditions: status.conditions?.map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message,
      observedGeneration: c.observedGeneration, lastTransitionTime: c.lastTransitionTime })),
  };
}
