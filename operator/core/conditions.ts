// metav1.Condition bookkeeping: a condition's lastTransitionTime changes only when its status
// changes, so writing the same conditions twice is a no-op (and the reconcile stays idempotent).

import type { Condition } from './types.js';

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

export function mergeConditions(existing: readonly Condition[] | undefined, next: readonly ConditionInput[], nowIso: string): Condition[] {
  return next.map((condition) => {
    const previous = existing?.find((c) => c.type === condition.type);
    const lastTransitionTime = previous !== undefined && previous.status === condition.status ? previous.lastTransitionTime : nowIso;
    return { ...condition, lastTransitionTime };
  });
}

export function conditionOf(conditions: readonly Condition[] | undefined, type: Condition['type']): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
