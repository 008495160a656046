// Range decisions, pure: the initial even split of [0, 2^64) into ShardRanges, and which pods
// must be told their ranges again (and at which view) given what each pod reports it owns.
//
// The view rule (DESIGN.md §2): a range's view rises on every change of owner — and on every
// re-assignment to a pod that does not hold it at the recorded view, or that is another
// incarnation than the one the range was assigned to (a pod recreated after deletion: it comes
// up empty, or, with durability on, having recovered its ranges at their old views). The owner's
// incarnation is its Pod uid, kept in the ShardRange annotation OWNER_UID_ANNOTATION. The new
// view is written to the ShardRange status *before* the pod is told, so a view is never handed
// out twice even if the push fails.

import { KEYSPACE_END, evenSplit, type HashRange } from '../../proto/keyspace/range.js';
import type { Route } from '../../proto/keyspace/routes.js';
import type { ViewedRange } from '../../proto/messages.js';
import type { RangePhase, ShardRange, ShardRangeSpec, ShardRangeStatus } from './types.js';

export interface InitialRange {
  readonly index: number;
  readonly spec: ShardRangeSpec;
}

/** pods × rangesPerPod ranges of equal width, owners round-robin (`owner(i % pods)`). */
export function initialRanges(cluster: string, podNames: readonly string[], rangesPerPod: number): InitialRange[] {
  return evenSplit(podNames.length * rangesPerPod).map((range, index) => ({
    index,
    spec: { cluster, start: range.start.toString(), end: range.end.toString(), desiredOwner: podNames[index % podNames.length] },
  }));
}

export function hashRangeOf(spec: ShardRangeSpec): HashRange {
  return { start: BigInt(spec.start), end: BigInt(spec.end) };
}

/** Whether the ranges cover [0, 2^64) exactly, with no gap and no overlap. */
export function coversKeyspace(ranges: readonly ShardRange[]): boolean {
  const sorted = ranges.map((r) => hashRangeOf(r.spec)).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let expected = 0n;
  for (const range of sorted) {
    if (range.start !== expected || range.end <= range.start) return false;
    expected = range.end;
  }
  return expected === KEYSPACE_END;
}

/** What the operator learned from one pod this reconcile. */
export const OWNER_UID_ANNOTATION = 'slicekv.io/owner-uid';

export interface PodView {
  readonly name: string;
  /** The Pod's uid: which incarnation of the pod this is. */
  readonly uid: string;
  readonly address: string;
  /** Ready, Health says serving, and Stats/GetRoutes answered. */
  readonly serving: boolean;
  readonly owned: readonly ViewedRange[];
  readonly routes: readonly Route[];
  readonly figures: ReadonlyMap<string, { keyCount: number; bytes: number; opsPerSecond: number }>;
}

export interface RangePlan {
  /** New statuses by ShardRange name (only those that change). */
  readonly statuses: ReadonlyMap<string, ShardRangeStatus>;
  /** ShardRanges whose owner incarnation annotation must be set, to the uid given. */
  readonly ownerUids: ReadonlyMap<string, string>;
  /** Pods to send AssignRanges, with their full owned set. */
  readonly pushes: readonly { readonly pod: string; readonly address: string; readonly owned: readonly ViewedRange[] }[];
  /** The routing table every serving pod should hold. */
  readonly routes: readonly Route[];
  readonly unserved: number;
}

export function rangeKey(range: HashRange & { view: number }): string {
  return `${range.start}-${range.end}@${range.view}`;
}

function figureKey(range: HashRange): string {
  return `${range.start}-${range.end}`;
}

export { figureKey };

/** The figures Stats reported for `range`, zero when it reported none. */
function countsOf(owner: PodView, range: HashRange): Pick<ShardRangeStatus, 'keys' | 'bytes' | 'opsPerSecond'> {
  const figures = owner.figures.get(figureKey(range));
  return { keys: figures?.keyCount ?? 0, bytes: figures?.bytes ?? 0, opsPerSecond: figures?.opsPerSecond ?? 0 };
}

/** The status a range should have, given its owner's view of the world. */
function nextStatus(range: ShardRange, owner: PodView | undefined): { status: ShardRangeStatus; push: boolean } {
  const hash = hashRangeOf(range.spec);
  const view = range.status.view ?? 0;
  if (owner === undefined || !owner.serving) {
    const phase: RangePhase = (range.status.phase ?? 'Pending') === 'Pending' ? 'Pending' : 'Unavailable';
    return { status: { ...range.status, phase }, push: false };
  }
  const sameIncarnation = range.meta.annotations?.[OWNER_UID_ANNOTATION] === owner.uid;
  const held = view > 0 && range.status.owner === owner.name && sameIncarnation && owner.owned.some((o) => rangeKey(o) === rangeKey({ ...hash, view }));
  if (held) return { status: { ...range.status, phase: 'Assigned', ...countsOf(owner, hash) }, push: false };
  return { status: { owner: owner.name, view: view + 1, phase: 'Assigned', keys: 0, bytes: 0, opsPerSecond: 0 }, push: true };
}

function sameStatus(a: ShardRangeStatus, b: ShardRangeStatus): boolean {
  return a.owner === b.owner && a.view === b.view && a.phase === b.phase && a.keys === b.keys && a.bytes === b.bytes
    && a.opsPerSecond === b.opsPerSecond;
}

export function routesFingerprint(routes: readonly Route[]): string {
  return routes.map((r) => `${rangeKey(r)}:${r.owner}:${r.address}`).sort().join(',');
}

/**
 * Plans one round: statuses to write and pods to push to. `addressOf` names a pod's address
 * (its IP when known) for the routing table.
 */
export function planRanges(ranges: readonly ShardRange[], pods: ReadonlyMap<string, PodView>, addressOf: (pod: string) => string): RangePlan {
  const statuses = new Map<string, ShardRangeStatus>();
  const ownerUids = new Map<string, string>();
  const pushPods = new Set<string>();
  const final = new Map<string, ShardRangeStatus>();
  let unserved = 0;
  for (const range of ranges) {
    const owner = pods.get(range.status.owner ?? range.spec.desiredOwner);
    const { status, push } = nextStatus(range, owner);
    if (push && owner !== undefined) {
      pushPods.add(owner.name);
      ownerUids.set(range.meta.name, owner.uid);
    }
    if (status.phase !== 'Assigned') unserved++;
    if (!sameStatus(status, range.status)) statuses.set(range.meta.name, status);
    final.set(range.meta.name, status);
  }
  const routes: Route[] = ranges.map((range) => {
    const status = final.get(range.meta.name) as ShardRangeStatus;
    const owner = status.owner ?? range.spec.desiredOwner;
    return { ...hashRangeOf(range.spec), view: status.view ?? 0, owner, address: addressOf(owner) };
  });
  const wanted = routesFingerprint(routes);
  const pushes = [];
  for (const pod of pods.values()) {
    if (!pod.serving) continue;
    const owned = routes.filter((r) => r.owner === pod.name && r.view > 0).map(({ start, end, view }) => ({ start, end, view }));
    const ownedMatches = owned.map(rangeKey).sort().join(',') === pod.owned.map(rangeKey).sort().join(',');
    if (pushPods.has(pod.name) || !ownedMatches || routesFingerprint(pod.routes) !== wanted) {
      pushes.push({ pod: pod.name, address: pod.address, owned });
    }
  }
  return { statuses, ownerUids, pushes, routes, unserved };
}
