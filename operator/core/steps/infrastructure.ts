// Steps: the headless and client Services, the shared data volume claim, the PodDisruptionBudget.

import { desiredDisruptionBudget, desiredServices, desiredVolumeClaim } from '../clusterObjects.js';
import type { ReconcileContext } from '../reconcileContext.js';
import { CONTINUE, type StepResult } from '../stepResult.js';
import { ensureOwned, sameRecord } from './ensureOwned.js';

export async function ensureServices(context: ReconcileContext): Promise<StepResult> {
  for (const desired of desiredServices(context.cluster)) {
    const result = await ensureOwned(context, 'Service', desired, (existing) => existing.headless === desired.headless
      && sameRecord(existing.selector, desired.selector)
      && existing.ports.map((p) => `${p.name}:${p.port}`).join() === desired.ports.map((p) => `${p.name}:${p.port}`).join());
    if (result.kind !== 'continue') return result;
  }
  return CONTINUE;
}

/** A claim's spec is immutable once bound (only growth is allowed), so it is created, never updated. */
export async function ensureVolumeClaim(context: ReconcileContext): Promise<StepResult> {
  const desired = desiredVolumeClaim(context.cluster);
  if (desired === null) return CONTINUE;
  return ensureOwned(context, 'PersistentVolumeClaim', desired, () => true, false);
}

export function ensureDisruptionBudget(context: ReconcileContext): Promise<StepResult> {
  const desired = desiredDisruptionBudget(context.cluster);
  return ensureOwned(context, 'PodDisruptionBudget', desired,
    (existing) => existing.maxUnavailable === desired.maxUnavailable && sameRecord(existing.selector, desired.selector));
}
