// What a reconcile step returns (STYLE.md, "Reconcilers"; controller-runtime's Result): carry
// on with the next step, stop and run again after a delay, or stop with an error. A retryable
// error is backed off exponentially by the work queue; a terminal one (an invalid spec) is not
// retried until the object changes.

export type StepResult =
  | { readonly kind: 'continue' }
  | { readonly kind: 'requeue'; readonly afterMs: number; readonly reason: string }
  | { readonly kind: 'error'; readonly error: Error; readonly terminal: boolean };

export const CONTINUE: StepResult = { kind: 'continue' };

export function requeueAfter(afterMs: number, reason: string): StepResult {
  return { kind: 'requeue', afterMs, reason };
}

export function terminalError(message: string): StepResult {
  return { kind: 'error', error: new Error(message), terminal: true };
}

/** What the work queue does with a key after one reconcile. */
export type ReconcileOutcome =
  | { readonly kind: 'done' }
  | { readonly kind: 'requeue'; readonly afterMs: number }
  | { readonly kind: 'retry'; readonly error: Error };
