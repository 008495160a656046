// Range moves the client learned from WRONG_RANGE answers that named an owner at a newer view
// than its routing table's: applied over the table at once, so ops that follow go straight to
// the new owner instead of waiting for a route refresh, and over every table fetched later until
// one catches up (a pod asked during a migration may not know of the move yet). Bounded: the
// newest MOVES_MAX moves are kept.

import { RouteTable, type Route } from '../proto/keyspace/routes.js';

const MOVES_MAX = 64;

interface Move {
  readonly hi: number;
  readonly lo: number;
  readonly view: number;
  readonly address: string;
}

export class RouteMoves {
  private moves: Move[] = [];

  /** The range holding hash (hi, lo) is at `view` on the pod at `address`: returns `table` with that applied. */
  learn(table: RouteTable, hi: number, lo: number, view: number, address: string): RouteTable {
    this.moves.push({ hi, lo, view, address });
    if (this.moves.length > MOVES_MAX) this.moves.shift();
    return this.apply(table);
  }

  /** `table` with every move newer than its route applied; moves the table already reflects are forgotten. */
  apply(table: RouteTable): RouteTable {
    let routes: Route[] | null = null;
    const kept: Move[] = [];
    for (const move of this.moves) {
      const current: RouteTable = routes === null ? table : new RouteTable(routes);
      const route = current.find(move.hi, move.lo);
      if (route.view >= move.view) continue;
      kept.push(move);
      routes = current.routes.map((r: Route) => (r === route ? { ...r, view: move.view, owner: '', address: move.address } : r));
    }
    this.moves = kept;
    return routes === null ? table : new RouteTable(routes);
  }
}
