// The KVCluster reconciler (STYLE.md, "Reconcilers"): a linear list of steps run against the
// current state, each answering continue / requeue after N ms / error. Whatever a step answers,
// the status step runs last with what was learned, so progress and failures show up as
// conditions. Idempotent: a second reconcile of a settled cluster writes nothing and pushes
// nothing (test/operator/kvcluster-reconciler.test.ts).

import { isStoreError } from './ports.js';
import {
  emptyNotes, errorMessage, type ReconcileContext, type ReconcilerDeps,
} from './reconcileContext.js';
import type { ReconcileOutcome, StepResult } from './stepResult.js';
import { CONTINUE, terminalError } from './stepResult.js';
import { assignRanges, observePods } from './steps/assignRanges.js';
import { writeClusterStatus } from './steps/clusterStatus.js';
import { ensureDisruptionBudget, ensureServices, ensureVolumeClaim } from './steps/infrastructure.js';
import { ensurePods, loadPods } from './steps/pods.js';
import { ensureShardRanges } from './steps/shardRanges.js';
import type { KVCluster } from './types.js';

interface Step {
  readonly name: string;
  readonly run: (context: ReconcileContext) => Promise<StepResult>;
}

const STEPS: readonly Step[] = [
  { name: 'validate', run: async (context) => validateSpec(context.cluster) },
  { name: 'services', run: ensureServices },
  { name: 'volumeClaim', run: ensureVolumeClaim },
  { name: 'loadPods', run: loadPods },
  { name: 'pods', run: ensurePods },
  { name: 'disruptionBudget', run: ensureDisruptionBudget },
  { name: 'shardRanges', run: ensureShardRanges },
  { name: 'observePods', run: observePods },
  { name: 'assignRanges', run: assignRanges },
];

export const PODS_MAX = 256;
export const RANGES_PER_POD_MAX = 1024;

export function validateSpec(cluster: KVCluster): StepResult {
  const { pods, rangesPerPod, leaseDurationSeconds } = cluster.spec;
  if (!Number.isInteger(pods) || pods < 1 || pods > PODS_MAX) return terminalError(`spec.pods must be an integer in [1, ${PODS_MAX}], got ${pods}`);
  if (!Number.isInteger(rangesPerPod) || rangesPerPod < 1 || rangesPerPod > RANGES_PER_POD_MAX) {
    return terminalError(`spec.rangesPerPod must be an integer in [1, ${RANGES_PER_POD_MAX}], got ${rangesPerPod}`);
  }
  if (!(leaseDurationSeconds >= 2)) return terminalError(`spec.leaseDurationSeconds must be at least 2, got ${leaseDurationSeconds}`);
  return CONTINUE;
}

/** Keys are "<namespace>/<name>". */
export function clusterKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function parseKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  if (slash <= 0) throw new Error(`bad object key "${key}"`);
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export class KVClusterReconciler {
  constructor(private readonly deps: ReconcilerDeps) {}

  async reconcile(key: string, signal?: AbortSignal): Promise<ReconcileOutcome> {
    const { namespace, name } = parseKey(key);
    let cluster: KVCluster | null;
    try {
      cluster = await this.deps.store.get('KVCluster', namespace, name);
    } catch (error) {
      return { kind: 'retry', error: error instanceof Error ? error : new Error(String(error)) };
    }
    // Gone: the API server's garbage collector deletes what it owned (ownerReferences).
    if (cluster === null || cluster.meta.deletionTimestamp !== undefined) return { kind: 'done' };
    const context: ReconcileContext = {
      deps: this.deps, namespace, name, cluster, pods: new Map(), ranges: [], podViews: new Map(), notes: emptyNotes(),
      ...(signal === undefined ? {} : { signal }),
    };
    let stopped: StepResult = CONTINUE;
    for (const step of STEPS) {
      if (signal?.aborted === true) return { kind: 'done' };
      stopped = await this.runStep(step, context);
      if (stopped.kind !== 'continue') break;
    }
    if (stopped.kind === 'error') context.notes.error = `${stopped.terminal ? 'invalid' : 'failed'}: ${stopped.error.message}`;
    if (signal?.aborted === true) return { kind: 'done' };
    const statusResult = await this.runStep({ name: 'status', run: writeClusterStatus }, context);
    return this.outcome(stopped.kind === 'continue' ? statusResult : stopped, context);
  }

  private async runStep(step: Step, context: ReconcileContext): Promise<StepResult> {
    try {
      const result = await step.run(context);
      if (result.kind !== 'continue') {
        const detail = result.kind === 'requeue' ? result.reason : result.error.message;
        this.deps.log.info({ cluster: context.name, step: step.name, result: result.kind, detail }, `step ${step.name}: ${result.kind}`);
      }
      return result;
    } catch (error) {
      if (isStoreError(error, 'Conflict')) return { kind: 'requeue', afterMs: this.deps.config.conflictRequeueMs, reason: errorMessage(error) };
      this.deps.log.warn({ cluster: context.name, step: step.name, err: errorMessage(error) }, `step ${step.name} failed`);
      return { kind: 'error', error: error instanceof Error ? error : new Error(String(error)), terminal: false };
    }
  }

  private outcome(result: StepResult, context: ReconcileContext): ReconcileOutcome {
    const { config } = this.deps;
    switch (result.kind) {
      case 'error':
        // A terminal error waits for the object to change (an informer event requeues it).
        return result.terminal ? { kind: 'done' } : { kind: 'retry', error: result.error };
      case 'requeue':
        return { kind: 'requeue', afterMs: result.afterMs };
      case 'continue': {
        const { notes } = context;
        // A pod that did not answer is retried with the queue's backoff, not at the steady pace.
        if (notes.unreachable.length > 0) return { kind: 'retry', error: new Error(`no Admin answer from ${notes.unreachable.join(', ')}`) };
        const waiting = notes.podsWaiting > 0 || notes.unserved > 0 || notes.pushes > 0;
        return { kind: 'requeue', afterMs: waiting ? config.waitMs : config.resyncMs };
      }
    }
  }
}
