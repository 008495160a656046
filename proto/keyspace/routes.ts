// The cluster's routing table: every range of [0, 2^64), its view and its owner. Pods serve it
// (KV.GetRoutes) and clients route by it, so both use this one definition.

import { KEYSPACE_END, type HashRange } from './range.js';
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

  /** Distinct owner addresses. */
  addresses(): string[] {
    return [...new Set(this.routes.map((r) => r.address))];
  }
}
