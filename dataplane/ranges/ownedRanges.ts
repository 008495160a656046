// The ranges this pod owns, each at a view (DESIGN.md §2): the pod serves an op only if it owns
// the op's hash at exactly the op's view. Split and merge are metadata-only and bump views.
// Every change replaces the whole (small, immutable) table, so a lookup never sees a half-made
// change; `epoch` counts changes, for a per-batch fast path later.

import { KEYSPACE_END, type HashRange } from '../../proto/keyspace/range.js';
import { RangeSearch, sortedDisjoint } from '../../proto/keyspace/rangeSearch.js';

export interface OwnedRange extends HashRange {
  readonly view: number;
  /** Being recovered (dataplane/durability): owned, but ops get UNAVAILABLE until it is loaded. */
  readonly recovering?: boolean;
  /** Arriving by live migration (dataplane/migration): served, but some keys must be fetched first. */
  readonly arriving?: ArrivingRange;
  /**
   * Arrived by a migration that completed before this pod served an op on it: the first op served
   * is still timed (the owner-switch gap), however late it comes.
   */
  readonly untimed?: FirstServed;
}

/** When the first op on a range that arrived by migration was served here (unix ms; 0: none yet). */
export interface FirstServed {
  firstServedAtMs: number;
}

/** A range whose records are still arriving: which keys an op must wait for. */
export interface ArrivingRange extends FirstServed {
  needsFetch(hi: number, key: Uint8Array, keyOffset: number, keyLength: number): boolean;
  /** Every record has arrived (the range may be checkpointed as a whole). */
  readonly bulkDone: boolean;
  /** One promise per key, settled once that key's record is here (fetching what is not on its way yet). */
  arrivals(keys: readonly Buffer[]): Promise<void>[];
}

export const enum RangeCheck {
  /** Owned, and at the op's view. */
  SERVE = 0,
  /** Owned, at another view: WRONG_RANGE with the current view. */
  WRONG_VIEW = 1,
  /** Not owned here: WRONG_RANGE, pointing at the owner the routing table knows. */
  NOT_OWNED = 2,
  /** Owned, at the op's view, but still being recovered: UNAVAILABLE, retry later. */
  RECOVERING = 3,
}

/** View numbers are u32 on the wire. */
export const VIEW_MAX = 0xffff_ffff;

export class OwnedRanges {
  private ranges: OwnedRange[] = [];
  private search = new RangeSearch([]);
  /** Increases on every change of the owned set or of any view. */
  epoch = 0;
  /** The view of the range found by the last check(), or 0 when not owned. */
  currentView = 0;
  /** Index (into list()) of the range found by the last check(), or -1. */
  currentIndex = -1;
  /** Ops served per owned range (index as in list()); a new table starts from zero. */
  opsServed = new Float64Array(0);
  /** Owned ranges still arriving by migration (the executor's fetch pass runs only when > 0). */
  arrivingCount = 0;
  /** Owned ranges whose first op served here is timed (arriving or untimed). */
  private timedCount = 0;

  list(): readonly OwnedRange[] {
    return this.ranges;
  }

  /** Replaces the owned set. Ranges must not overlap; views are positive. */
  assign(ranges: readonly OwnedRange[]): void {
    for (const range of ranges) checkView(range.view);
    this.replace(sortedDisjoint(ranges));
  }

  /** Whether the op on hash (hi, lo) at `view` may be served here. */
  check(hi: number, lo: number, view: number): RangeCheck {
    const index = this.search.find(hi, lo);
    this.currentIndex = index;
    if (index < 0) {
      this.currentView = 0;
      return RangeCheck.NOT_OWNED;
    }
    this.currentView = this.ranges[index].view;
    if (this.currentView !== view) return RangeCheck.WRONG_VIEW;
    if (this.ranges[index].recovering === true) return RangeCheck.RECOVERING;
    this.opsServed[index]++;
    return RangeCheck.SERVE;
  }

  /** Splits an owned range (given exactly, with its current view) at `at`; both halves get view + 1. */
  split(range: OwnedRange, at: bigint): [OwnedRange, OwnedRange] {
    const index = this.indexOfExact(range);
    if (!(at > range.start && at < range.end)) throw new RangeError(`split point ${at} is not inside [${range.start}, ${range.end})`);
    const view = nextView(range.view);
    const left: OwnedRange = { start: range.start, end: at, view };
    const right: OwnedRange = { start: at, end: range.end, view };
    const next = [...this.ranges];
    next.splice(index, 1, left, right);
    this.replace(next);
    return [left, right];
  }

  /** Merges two adjacent owned ranges (given exactly); the union gets max(view) + 1. */
  merge(left: OwnedRange, right: OwnedRange): OwnedRange {
    const leftIndex = this.indexOfExact(left);
    const rightIndex = this.indexOfExact(right);
    if (left.end !== right.start || rightIndex !== leftIndex + 1) {
      throw new RangeError(`ranges [${left.start}, ${left.end}) and [${right.start}, ${right.end}) are not adjacent`);
    }
    const merged: OwnedRange = { start: left.start, end: right.end, view: nextView(Math.max(left.view, right.view)) };
    const next = [...this.ranges];
    next.splice(leftIndex, 2, merged);
    this.replace(next);
    return merged;
  }

  /** Split and merge take a settled range: one still arriving or being recovered would lose that state. */
  private indexOfExact(range: OwnedRange): number {
    const index = this.ranges.findIndex((r) => r.start === range.start && r.end === range.end);
    if (index < 0) throw new RangeError(`range [${range.start}, ${range.end}) is not owned here`);
    const owned = this.ranges[index];
    if (owned.view !== range.view) {
      throw new RangeError(`range [${range.start}, ${range.end}) is at view ${owned.view}, not ${range.view}`);
    }
    if (owned.arriving !== undefined || owned.recovering === true) {
      throw new RangeError(`range [${range.start}, ${range.end}) is still ${owned.recovering === true ? 'being recovered' : 'arriving by migration'}`);
    }
    return index;
  }

  /** The first-op timing of the range the last check() served, if it arrived by migration (call right after a SERVE). */
  servedTiming(): FirstServed | null {
    if (this.timedCount === 0 || this.currentIndex < 0) return null;
    const range = this.ranges[this.currentIndex];
    return range.arriving ?? range.untimed ?? null;
  }

  /** The arriving range holding hash (hi, lo) if it is owned at `view`, else null. Counts nothing. */
  arrivingAt(hi: number, lo: number, view: number): ArrivingRange | null {
    const index = this.search.find(hi, lo);
    if (index < 0 || this.ranges[index].view !== view) return null;
    return this.ranges[index].arriving ?? null;
  }

  private replace(ranges: OwnedRange[]): void {
    this.ranges = ranges;
    this.arrivingCount = ranges.filter((r) => r.arriving !== undefined).length;
    this.timedCount = ranges.filter((r) => r.arriving !== undefined || r.untimed !== undefined).length;
    this.search = new RangeSearch(ranges);
    this.opsServed = new Float64Array(ranges.length);
    this.epoch++;
  }
}

function checkView(view: number): void {
  if (!Number.isInteger(view) || view < 1 || view > VIEW_MAX) throw new RangeError(`view must be an integer in [1, ${VIEW_MAX}], got ${view}`);
}

function nextView(view: number): number {
  if (view >= VIEW_MAX) throw new RangeError('view numbers exhausted for this range');
  return view + 1;
}

/** The whole keyspace as one range at view 1: a single-pod cluster. */
export function wholeKeyspace(): OwnedRange {
  return { start: 0n, end: KEYSPACE_END, view: 1 };
}
