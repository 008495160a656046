// The cluster's routing table: every range of [0, 2^64), its view and its owner. Pods serve it
// (KV.GetRoutes) and clients route by it, so both use this one definition.

import { KEYSPACE_END, rangesOverlap, type HashRange } from './range.js';
import { RangeSearch, sortedDisjoint } from './rangeSearch.js';

export interface Route extends HashRange {
  readonly view: number;
  /** Owner pod name. */
  readonly owner: string;
  /** The owner's client address, host:port. */
  readonly address: string;
}

export class RouteTable {
  readonly routes: readonly Route[];
  private readonly search: RangeSearch;

  /** Routes must cover [0, 2^64) exactly: no gap, no overlap. */
  constructor(routes: readonly Route[]) {
    const sorted = sortedDisjoint(routes);
    let expected = 0n;
    for (const route of sorted) {
      if (route.start !== expected) throw new RangeError(`routes leave [${expected}, ${route.start}) uncovered`);
      expected = route.end;
    }
    if (expected !== KEYSPACE_END) throw new RangeError(`routes leave [${expected}, 2^64) uncovered`);
    this.routes = sorted;
    this.search = new RangeSearch(sorted);
  }

  /** The route holding hash (hi, lo); every hash has one. */
  find(hi: number, lo: number): Route {
    return this.routes[this.search.find(hi, lo)];
  }

  /**
   * This table with `route` in place of what it covered: routes inside it are dropped, and one
   * that reaches past it keeps the parts outside it (same owner and view), so the table still
   * covers every hash once.
   */
  withRoute(route: Route): RouteTable {
    const kept: Route[] = [route];
    for (const r of this.routes) {
      if (!rangesOverlap(r, route)) kept.push(r);
      else {
        if (r.start < route.start) kept.push({ ...r, end: route.start });
        if (r.end > route.end) kept.push({ ...r, start: route.end });
      }
    }
    return new RouteTable(kept);
  }

  /** Distinct owner addresses. */
  addresses(): string[] {
    return [...new Set(this.routes.map((r) => r.address))];
  }
}
