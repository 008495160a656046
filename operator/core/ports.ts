// The two ports through which the operator core reaches the world (DESIGN.md §1): a control
// store (the Kubernetes API in a cluster, in-memory fakes in tests, an embedded store in local
// mode) and the data plane's Admin RPC. Nothing under operator/core imports Kubernetes.

import type { Route } from '../../proto/keyspace/routes.js';
import type { ViewedRange } from '../../proto/messages.js';
import type { Kind, KindMap } from './types.js';

export type StoreErrorCode = 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Invalid' | 'Forbidden' | 'Unavailable';

/** A control-store failure with a stable code; anything else a port throws is 'Unavailable'. */
export class StoreError extends Error {
  constructor(readonly code: StoreErrorCode, message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

export function isStoreError(error: unknown, code: StoreErrorCode): boolean {
  return error instanceof StoreError && error.code === code;
}

/** Kinds with a status subresource. */
export type StatusKind = 'KVCluster' | 'ShardRange';

export interface ControlStore {
  /** null when absent. */
  get<K extends Kind>(kind: K, namespace: string, name: string): Promise<KindMap[K] | null>;
  /** Objects of `kind` in `namespace` carrying every label of `labels`. */
  list<K extends Kind>(kind: K, namespace: string, labels: Readonly<Record<string, string>>): Promise<KindMap[K][]>;
  /** Throws StoreError AlreadyExists when the name is taken. */
  create<K extends Kind>(kind: K, object: KindMap[K]): Promise<KindMap[K]>;
  /** Replaces spec and metadata; throws StoreError Conflict on a stale resourceVersion. */
  update<K extends Kind>(kind: K, object: KindMap[K]): Promise<KindMap[K]>;
  /** Replaces status only (status subresource); throws StoreError Conflict on a stale resourceVersion. */
  updateStatus<K extends StatusKind>(kind: K, object: KindMap[K]): Promise<KindMap[K]>;
  /** Deleting an absent object is not an error. */
  delete(kind: Kind, namespace: string, name: string): Promise<void>;
}

export interface RangeFigures {
  readonly range: ViewedRange;
  readonly keyCount: number;
  readonly bytes: number;
  readonly opsPerSecond: number;
}

export interface PodStats {
  readonly pod: string;
  readonly ranges: readonly RangeFigures[];
}

export interface PodHealth {
  readonly serving: boolean;
  readonly pod: string;
  readonly reason: string;
}

/** The data plane's Admin RPC (proto/slicekv.proto) plus KV.GetRoutes, by pod address. */
export interface DataPlaneAdmin {
  /** Replaces the pod's owned ranges and routing table; resolves with what it owns after. */
  assignRanges(address: string, owned: readonly ViewedRange[], routes: readonly Route[]): Promise<readonly ViewedRange[]>;
  stats(address: string): Promise<PodStats>;
  health(address: string): Promise<PodHealth>;
  /** The routing table the pod serves to clients. */
  routes(address: string): Promise<readonly Route[]>;
}

/** A pino-compatible subset. */
export interface Logger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface Clock {
  nowMs(): number;
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
