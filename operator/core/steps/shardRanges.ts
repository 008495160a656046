// Step: the initial ShardRanges, created once: pods × rangesPerPod ranges of equal width with
// owners round-robin. Names are deterministic (<cluster>-rNNNN), so a reconcile that died half
// way through creates only the missing ones. Once the ranges cover the keyspace this step
// never creates another: later splits, merges and moves belong to the assigner.

import { ownerReference, podName, shardRangeName, LABEL_CLUSTER, LABEL_MANAGED_BY } from '../clusterObjects.js';
import { isStoreError } from '../ports.js';
import { coversKeyspace, initialRanges } from '../rangePlan.js';
import type { ReconcileContext } from '../reconcileContext.js';
import { CONTINUE, terminalError, type StepResult } from '../stepResult.js';
import type { ShardRange } from '../types.js';

export async function ensureShardRanges(context: ReconcileContext): Promise<StepResult> {
  const { cluster, deps } = context;
  const labels = { [LABEL_CLUSTER]: cluster.meta.name };
  context.ranges = await deps.store.list('ShardRange', context.namespace, labels);
  if (context.ranges.length > 0 && coversKeyspace(context.ranges)) return CONTINUE;
  const podNames = Array.from({ length: cluster.spec.pods }, (_, i) => podName(cluster, i));
  const planned = initialRanges(cluster.meta.name, podNames, cluster.spec.rangesPerPod);
  const byName = new Map(context.ranges.map((r) => [r.meta.name, r]));
  for (const { index, spec } of planned) {
    const name = shardRangeName(cluster, index);
    const existing = byName.get(name);
    if (existing !== undefined) {
      if (existing.spec.start !== spec.start || existing.spec.end !== spec.end) {
        return terminalError(`ShardRanges of ${cluster.meta.name} neither cover the keyspace nor match the initial split (${name})`);
      }
      continue;
    }
    const range: ShardRange = {
      meta: { name, namespace: context.namespace, labels: { ...labels, [LABEL_MANAGED_BY]: 'slicekv-operator' }, ownerReferences: [ownerReference(cluster)] },
      spec, status: {},
    };
    try {
      byName.set(name, await deps.store.create('ShardRange', range));
    } catch (error) {
      if (!isStoreError(error, 'AlreadyExists')) throw error;
    }
  }
  context.ranges = await deps.store.list('ShardRange', context.namespace, labels);
  if (!coversKeyspace(context.ranges)) return terminalError(`ShardRanges of ${cluster.meta.name} do not cover [0, 2^64) exactly`);
  deps.log.info({ cluster: cluster.meta.name, ranges: context.ranges.length }, 'ShardRanges cover the keyspace');
  return CONTINUE;
}
