// What one KVCluster reconcile carries from step to step. Built fresh for every reconcile from
// the current state (never from an event payload).

import type { ControlStore, DataPlaneAdmin, Clock, Logger } from './ports.js';
import type { PodView } from './rangePlan.js';
import type { KVCluster, PodObject, ShardRange } from './types.js';

export interface ReconcilerConfig {
  /** Re-run a settled cluster this often, to refresh ShardRange figures from Stats. */
  readonly resyncMs: number;
  /** Re-run this soon while pods start or ranges wait for a serving owner. */
  readonly waitMs: number;
  /** Re-run this soon after a 409 conflict (someone else wrote the object first). */
  readonly conflictRequeueMs: number;
}

export const DEFAULT_RECONCILER_CONFIG: ReconcilerConfig = { resyncMs: 10_000, waitMs: 1000, conflictRequeueMs: 200 };

export interface ReconcilerDeps {
  readonly store: ControlStore;
  readonly admin: DataPlaneAdmin;
  readonly clock: Clock;
  readonly log: Logger;
  readonly config: ReconcilerConfig;
}

/** Facts steps note for the status step. */
export interface ReconcileNotes {
  podsCreated: number;
  podsWaiting: number;
  podsFailed: string[];
  unreachable: string[];
  pushes: number;
  unserved: number;
  scaleInPending: string[];
  error: string | null;
}

export interface ReconcileContext {
  readonly deps: ReconcilerDeps;
  readonly namespace: string;
  readonly name: string;
  cluster: KVCluster;
  pods: Map<string, PodObject>;
  ranges: ShardRange[];
  podViews: Map<string, PodView>;
  readonly notes: ReconcileNotes;
  /** Aborted when this replica stops leading: no write or push may start after that. */
  readonly signal?: AbortSignal;
}

export function emptyNotes(): ReconcileNotes {
  return { podsCreated: 0, podsWaiting: 0, podsFailed: [], unreachable: [], pushes: 0, unserved: 0, scaleInPending: [], error: null };
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
