// Create-or-update of an object the cluster owns (Services, PDB, the volume claim): create it
// when absent, leave it when it matches, update it when it drifted, and refuse to touch an
// object of the same name that another owner made.

import { isOwnedBy } from '../clusterObjects.js';
import { isStoreError } from '../ports.js';
import type { ReconcileContext } from '../reconcileContext.js';
import { CONTINUE, terminalError, type StepResult } from '../stepResult.js';
import type { Kind, KindMap, ObjectMeta } from '../types.js';

export type OwnedKind = 'Service' | 'PodDisruptionBudget' | 'PersistentVolumeClaim';

export async function ensureOwned<K extends OwnedKind>(
  context: ReconcileContext, kind: K, desired: KindMap[K], matches: (existing: KindMap[K]) => boolean, updatable = true,
): Promise<StepResult> {
  const { store, log } = context.deps;
  const meta = desired.meta;
  const existing = await store.get(kind, meta.namespace, meta.name);
  if (existing === null) {
    try {
      await store.create(kind, desired);
      log.info({ kind, name: meta.name }, `created ${kind} ${meta.name}`);
    } catch (error) {
      // Created by a racing reconcile (or an informer lagging behind): the next round compares it.
      if (!isStoreError(error, 'AlreadyExists')) throw error;
    }
    return CONTINUE;
  }
  if (!isOwnedBy(existing.meta, context.cluster)) {
    return terminalError(`${kind} ${meta.name} exists and is not owned by KVCluster ${context.cluster.meta.name}`);
  }
  if (matches(existing) || !updatable) return CONTINUE;
  const merged = { ...desired, meta: mergeMeta(existing.meta, meta) } as KindMap[K];
  await store.update(kind as Kind, merged);
  log.info({ kind, name: meta.name }, `updated ${kind} ${meta.name}`);
  return CONTINUE;
}

function mergeMeta(existing: ObjectMeta, desired: ObjectMeta): ObjectMeta {
  return { ...existing, labels: { ...existing.labels, ...desired.labels }, ownerReferences: desired.ownerReferences ?? [] };
}

export function sameRecord(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
