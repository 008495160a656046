// Steps: ask every servable pod what it serves (Health, Stats, GetRoutes), then bring it in
// line with the ShardRanges: write the new statuses first (owner, view, phase, figures), then
// push AssignRanges to each pod whose owned set or routing table differs. A recreated pod comes
// up owning nothing, so its ranges are assigned again at view + 1 (rangePlan.ts).

import { podAddress } from '../clusterObjects.js';
import { isStoreError } from '../ports.js';
import { OWNER_UID_ANNOTATION, figureKey, planRanges, type PodView } from '../rangePlan.js';
import { errorMessage, type ReconcileContext } from '../reconcileContext.js';
import { PhaseMachine, type TransitionTable } from '../stateMachine.js';
import { CONTINUE, requeueAfter, type StepResult } from '../stepResult.js';
import type { RangePhase, ShardRange, ShardRangeStatus } from '../types.js';
import { isPodServable } from './pods.js';

const NOT_LEADING: StepResult = { kind: 'error', error: new Error('no longer the leader'), terminal: true };

export const RANGE_PHASES: TransitionTable<RangePhase> = {
  Pending: ['Assigned'],
  Assigned: ['Unavailable'],
  Unavailable: ['Assigned'],
};

export async function observePods(context: ReconcileContext): Promise<StepResult> {
  const { cluster, deps } = context;
  context.podViews = new Map();
  await Promise.all([...context.pods.values()].filter(isPodServable).map(async (pod) => {
    const name = pod.meta.name;
    const address = podAddress(cluster, pod, name);
    const view: PodView = { name, uid: pod.meta.uid ?? '', address, serving: false, owned: [], routes: [], figures: new Map() };
    try {
      const health = await deps.admin.health(address);
      if (!health.serving) {
        context.notes.podsWaiting++;
        deps.log.info({ pod: name, reason: health.reason }, `pod ${name} is not serving: ${health.reason}`);
        context.podViews.set(name, view);
        return;
      }
      const [stats, routes] = await Promise.all([deps.admin.stats(address), deps.admin.routes(address)]);
      const figures = new Map(stats.ranges.map((f) => [figureKey(f.range), f]));
      context.podViews.set(name, { ...view, serving: true, owned: stats.ranges.map((f) => f.range), routes, figures });
    } catch (error) {
      context.notes.unreachable.push(name);
      context.podViews.set(name, view);
      deps.log.warn({ pod: name, address, err: errorMessage(error) }, `pod ${name} did not answer the Admin RPC`);
    }
  }));
  return CONTINUE;
}

export async function assignRanges(context: ReconcileContext): Promise<StepResult> {
  const { cluster, deps } = context;
  const plan = planRanges(context.ranges, context.podViews, (pod) => podAddress(cluster, context.pods.get(pod), pod));
  context.notes.unserved = plan.unserved;
  const byName = new Map(context.ranges.map((r) => [r.meta.name, r]));
  for (const [name, status] of plan.statuses) {
    if (context.signal?.aborted === true) return NOT_LEADING;
    const range = byName.get(name) as ShardRange;
    // A refused move means the plan and the table disagree: push nothing rather than a view not written down.
    if (!phaseMoveAllowed(context, range, status)) return { kind: 'error', error: new Error(`refused phase move of ShardRange ${name}`), terminal: false };
    try {
      // The view first, then the incarnation it belongs to: a crash in between leaves a view
      // the pod does not hold, which the next round bumps again (never a stale match).
      const written = await deps.store.updateStatus('ShardRange', { ...range, status });
      const uid = plan.ownerUids.get(name);
      if (uid !== undefined) {
        await deps.store.update('ShardRange', { ...written, meta: { ...written.meta, annotations: { ...written.meta.annotations, [OWNER_UID_ANNOTATION]: uid } } });
      }
    } catch (error) {
      if (isStoreError(error, 'Conflict')) return requeueAfter(deps.config.conflictRequeueMs, `conflict writing ShardRange ${name}`);
      throw error;
    }
  }
  let failed: Error | null = null;
  for (const push of plan.pushes) {
    // A deposed leader must not tell pods anything (docs/operator.md, "Leader election").
    if (context.signal?.aborted === true) return NOT_LEADING;
    try {
      await deps.admin.assignRanges(push.address, push.owned, plan.routes);
      context.notes.pushes++;
      deps.log.info({ pod: push.pod, ranges: push.owned.length, views: push.owned.map((r) => r.view) }, `assigned ${push.owned.length} ranges to ${push.pod}`);
    } catch (error) {
      context.notes.unreachable.push(push.pod);
      failed = new Error(`AssignRanges to ${push.pod} failed: ${errorMessage(error)}`);
      deps.log.warn({ pod: push.pod, err: errorMessage(error) }, failed.message);
    }
  }
  if (failed !== null) return { kind: 'error', error: failed, terminal: false };
  return CONTINUE;
}

function phaseMoveAllowed(context: ReconcileContext, range: ShardRange, status: ShardRangeStatus): boolean {
  const from = range.status.phase ?? 'Pending';
  const to = status.phase ?? 'Pending';
  const machine = new PhaseMachine<RangePhase>(`ShardRange ${range.meta.name}`, RANGE_PHASES, from, context.deps.log);
  return machine.transitionTo(['Pending', 'Assigned', 'Unavailable'], to);
}
