import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable, type Route } from '../../proto/keyspace/routes.js';
import { KEYSPACE_END, evenSplit } from '../../proto/keyspace/range.js';

function routesOf(count: number): Route[] {
  return evenSplit(count).map((r, i) => ({ ...r, view: 1, owner: `pod-${i % 2}`, address: `127.0.0.${1 + (i % 2)}:7000` }));
}

test('RouteTable: finds the route of the first, last and boundary hashes', () => {
  const routes = routesOf(4);
  const table = new RouteTable([...routes].reverse());
  const at = (hash: bigint): Route => table.find(Number(hash >> 32n), Number(hash & 0xffff_ffffn));
  assert.equal(at(0n), table.routes[0]);
  assert.equal(at(KEYSPACE_END - 1n).start, routes[3].start);
  assert.equal(at(routes[2].start).start, routes[2].start);
  assert.equal(at(routes[2].start - 1n).start, routes[1].start);
  assert.deepEqual(table.addresses().sort(), ['127.0.0.1:7000', '127.0.0.2:7000']);
});

test('RouteTable: refuses gaps, overlaps and a keyspace not covered to 2^64', () => {
  const routes = routesOf(3);
  assert.throws(() => new RouteTable([routes[0], routes[2]]), /uncovered/);
  assert.throws(() => new RouteTable([routes[0], routes[1]]), /uncovered/);
  assert.throws(() => new RouteTable([routes[0], { ...routes[1], start: routes[1].start - 1n }, routes[2]]), /overlap/);
  assert.throws(() => new RouteTable([]), /uncovered/);
});

test('RouteTable.withRoute: the new route replaces what it covers; routes reaching past it keep their outside parts', () => {
  const table = new RouteTable(routesOf(4));
  const quarter = KEYSPACE_END / 4n;
  // Over the end of route 0, all of route 1 and the start of route 2.
  const moved: Route = { start: quarter / 2n, end: 2n * quarter + quarter / 2n, view: 7, owner: 'pod-9', address: '127.0.0.9:7000' };
  const next = table.withRoute(moved);
  assert.deepEqual(next.routes.map((r) => [r.start, r.end, r.view, r.owner]), [
    [0n, moved.start, 1, 'pod-0'],
    [moved.start, moved.end, 7, 'pod-9'],
    [moved.end, 3n * quarter, 1, 'pod-0'],
    [3n * quarter, KEYSPACE_END, 1, 'pod-1'],
  ]);
  const exact = table.withRoute({ ...table.routes[1], view: 2, owner: 'pod-9' });
  assert.deepEqual(exact.routes.map((r) => [r.view, r.owner]), [[1, 'pod-0'], [2, 'pod-9'], [1, 'pod-0'], [1, 'pod-1']]);
  assert.equal(table.routes[1].owner, 'pod-1', 'the table it came from is unchanged');
});
