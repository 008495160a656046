// The batch executor against a real engine: every op through the wire frames, range and view
// checks, and exactly-once (RIFL) answers for retried mutations.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../dataplane/clock.js';
import { OwnedRanges } from '../../dataplane/ranges/ownedRanges.js';
import { ClientTable, DEFAULT_CLIENT_TABLE_CONFIG, RiflCheck, type ClientState } from '../../dataplane/rifl/clientTable.js';
import { BatchExecutor } from '../../dataplane/server/batchExecutor.js';
import { MIB, Store } from '../../dataplane/store/index.js';
import { keyHash64 } from '../../proto/keyspace/hash.js';
import { KEYSPACE_END } from '../../proto/keyspace/range.js';
import { RouteTable } from '../../proto/keyspace/routes.js';
import { BatchReader, BatchWriter, Opcode, ResultReader, ResultWriter, WireDetail, WireStatus } from '../../proto/wire/index.js';
import { Random } from '../support/random.js';
import { seedFromEnvironment } from '../support/environment.js';

const SELF = '127.0.0.1:7000';
const OTHER = '127.0.0.2:7000';

interface Result {
  status: WireStatus;
  opcode: Opcode;
  detail: number;
  version: number;
  value?: string;
  integer?: number | bigint;
  view?: number;
  owner?: string;
}

interface Ran {
  results: Result[];
  /** The result frame. */
  frame: Buffer;
  /** The request frame. */
  request: Buffer;
}

class Harness {
  readonly clock = new ManualClock(1_000_000);
  readonly store: Store;
  readonly ranges = new OwnedRanges();
  readonly clients: ClientTable;
  readonly executor: BatchExecutor;
  routes: RouteTable | null = null;
  private readonly reader = new BatchReader();
  private readonly writer = new BatchWriter();
  private readonly resultWriter = new ResultWriter();

  constructor(memoryLimitBytes = 8 * MIB, windowMax = DEFAULT_CLIENT_TABLE_CONFIG.windowMax) {
    this.store = new Store({ memoryLimitBytes, segmentSizeBytes: 16 * 1024, keyLengthMax: 1024, valueLengthMax: 8192 });
    this.clients = new ClientTable(this.store, this.clock, { ...DEFAULT_CLIENT_TABLE_CONFIG, windowMax, leaseDurationMs: 60_000 });
    this.ranges.assign([{ start: 0n, end: KEYSPACE_END, view: 1 }]);
    this.executor = new BatchExecutor({ store: this.store, ranges: this.ranges, clients: this.clients, routes: () => this.routes, selfAddress: () => SELF, wal: () => null });
  }

  client(id = 1): ClientState {
    const state = this.clients.open(Buffer.alloc(16, id));
    assert.ok(state);
    return state;
  }

  /** Encodes a batch with `build`, runs it, decodes the results. */
  run(client: ClientState, firstIncomplete: number, build: (w: BatchWriter) => void): Ran {
    this.writer.begin(firstIncomplete);
    build(this.writer);
    return this.runFrame(client, Buffer.from(this.writer.finish()));
  }

  runFrame(client: ClientState, request: Buffer): Ran {
    this.reader.open(request);
    this.resultWriter.begin();
    this.executor.run(this.reader, client, this.resultWriter);
    const frame = Buffer.from(this.resultWriter.finish());
    return { results: decode(frame), frame, request };
  }
}

function decode(frame: Buffer): Result[] {
  const reader = new ResultReader();
  reader.open(frame);
  const results: Result[] = [];
  while (reader.next()) {
    const r: Result = { status: reader.status, opcode: reader.opcode, detail: reader.detail, version: reader.version };
    if (reader.status === WireStatus.OK && reader.opcode === Opcode.GET) r.value = reader.value().toString();
    if (reader.status === WireStatus.OK && reader.opcode === Opcode.INCR_BY) r.integer = reader.integer;
    if (reader.status === WireStatus.WRONG_RANGE) {
      r.view = reader.currentView;
      r.owner = reader.owner;
    }
    results.push(r);
  }
  return results;
}

const b = (text: string): Buffer => Buffer.from(text);

test('executor: every op round-trips through the frames with the engine behind', () => {
  const h = new Harness();
  const c = h.client();
  const { results } = h.run(c, 1, (w) => {
    w.put(b('a'), b('one'), 1, 1);
    w.get(b('a'), 1);
    w.putIfVersion(b('a'), b('two'), 1, 1, 2);
    w.putIfVersion(b('a'), b('three'), 1, 1, 3);
    w.incrBy(b('n'), 5, 1, 4);
    w.incrBy(b('n'), -7, 1, 5);
    w.delete(b('a'), 1, 6);
    w.get(b('a'), 1);
    w.deleteIfVersion(b('n'), 99, 1, 7);
    w.delete(b('missing'), 1, 8);
  });
  assert.deepEqual(results.map((r) => [r.status, r.opcode]), [
    [WireStatus.OK, Opcode.PUT], [WireStatus.OK, Opcode.GET], [WireStatus.OK, Opcode.PUT_IF_VERSION],
    [WireStatus.VERSION_MISMATCH, Opcode.PUT_IF_VERSION], [WireStatus.OK, Opcode.INCR_BY], [WireStatus.OK, Opcode.INCR_BY],
    [WireStatus.OK, Opcode.DELETE], [WireStatus.NOT_FOUND, Opcode.GET], [WireStatus.VERSION_MISMATCH, Opcode.DELETE_IF_VERSION],
    [WireStatus.NOT_FOUND, Opcode.DELETE],
  ]);
  assert.equal(results[1].value, 'one');
  assert.equal(results[1].version, results[0].version, 'get sees the version put wrote');
  assert.equal(results[3].version, results[2].version, 'the mismatch names the current version');
  assert.deepEqual([results[4].integer, results[5].integer], [5, -2]);
  assert.equal(results[8].version, results[5].version);
});

test('executor: WRONG_RANGE names the current view here, or the owner the routing table knows', () => {
  const h = new Harness();
  const c = h.client();
  const mine = { start: 0n, end: 1n << 63n, view: 3 };
  h.ranges.assign([mine]);
  h.routes = new RouteTable([
    { ...mine, owner: 'pod-0', address: SELF },
    { start: 1n << 63n, end: KEYSPACE_END, view: 8, owner: 'pod-1', address: OTHER },
  ]);
  const keys = [...Array(64).keys()].map((i) => b(`key-${i}`));
  const here = keys.find((k) => keyHash64(k) < 1n << 63n) ?? assert.fail('a key in the first half');
  const there = keys.find((k) => keyHash64(k) >= 1n << 63n) ?? assert.fail('a key in the second half');
  const { results } = h.run(c, 1, (w) => {
    w.put(here, b('x'), 2, 1);
    w.put(there, b('x'), 8, 2);
    w.put(here, b('x'), 3, 3);
  });
  assert.deepEqual(results.map((r) => [r.status, r.view, r.owner]), [
    [WireStatus.WRONG_RANGE, 3, SELF], [WireStatus.WRONG_RANGE, 8, OTHER], [WireStatus.OK, undefined, undefined],
  ]);
});

test('executor: a retried incrBy is answered from its completion record and applied once', () => {
  const h = new Harness();
  const c = h.client();
  const first = h.run(c, 1, (w) => w.incrBy(b('counter'), 10, 1, 1));
  const retry = h.run(c, 1, (w) => w.incrBy(b('counter'), 10, 1, 1));
  assert.ok(retry.frame.equals(first.frame), 'the retry gets the very bytes of the first answer');
  assert.equal(h.clients.duplicateHits, 1);
  const { results } = h.run(c, 2, (w) => w.get(b('counter'), 1));
  assert.equal(results[0].value, '10', 'the counter moved once');
});

test('executor: acknowledged completions are released; a retry below the mark is STALE', () => {
  const h = new Harness();
  const c = h.client();
  h.run(c, 1, (w) => {
    for (let seq = 1; seq <= 10; seq++) w.put(b(`k${seq}`), b('v'), 1, seq);
  });
  assert.equal(h.store.stats().completionCount, 10);
  h.run(c, 8, (w) => w.get(b('k1'), 1));
  assert.equal(h.store.stats().completionCount, 3, 'seqs 1-7 acknowledged');
  const { results } = h.run(c, 8, (w) => w.put(b('k3'), b('again'), 1, 3));
  assert.deepEqual([results[0].status, results[0].detail], [WireStatus.INVALID_ARGUMENT, WireDetail.SEQUENCE_STALE]);
});

test('executor: an expired client gets SESSION_EXPIRED, nothing runs, its records are released', () => {
  const h = new Harness();
  const c = h.client(7);
  h.run(c, 1, (w) => w.put(b('k'), b('v1'), 1, 1));
  h.clock.advance(60_001);
  const { results } = h.run(c, 1, (w) => w.put(b('k'), b('v2'), 1, 2));
  assert.equal(results[0].status, WireStatus.SESSION_EXPIRED);
  assert.equal(h.clients.expireIdle(), 1);
  assert.equal(h.store.stats().completionCount, 0);
  assert.equal(h.clients.open(Buffer.alloc(16, 7)), null, 'the expired id is refused');
  const other = h.client(8);
  const read = h.run(other, 1, (w) => w.get(b('k'), 1));
  assert.equal(read.results[0].value, 'v1', 'the refused put did not run');
});

test('executor: clients whose leases lapse together are expired a bounded number of records per call', () => {
  const h = new Harness();
  const clients = [1, 2, 3, 4, 5].map((id) => h.client(id));
  for (const c of clients) {
    h.run(c, 1, (w) => {
      for (let seq = 1; seq <= 10; seq++) w.put(b(`k${seq}`), b('v'), 1, seq);
    });
  }
  assert.equal(h.store.stats().completionCount, 50);
  h.clock.advance(60_001);
  // At most 15 records a call, a client's records all at once: two clients, then two, then one.
  assert.deepEqual([h.clients.expireIdle(15), h.store.stats().completionCount], [2, 30]);
  assert.deepEqual([h.clients.expireIdle(15), h.store.stats().completionCount], [2, 10]);
  assert.deepEqual([h.clients.expireIdle(15), h.store.stats().completionCount], [1, 0]);
  assert.equal(h.clients.expireIdle(15), 0);
  assert.equal(h.clients.clientCount, 0);
});

test('executor: a client at its window of unacknowledged ops gets OVERLOADED', () => {
  const h = new Harness(8 * MIB, 4);
  const c = h.client();
  const { results } = h.run(c, 1, (w) => {
    for (let seq = 1; seq <= 5; seq++) w.put(b(`k${seq}`), b('v'), 1, seq);
  });
  assert.deepEqual(results.map((r) => r.status), [WireStatus.OK, WireStatus.OK, WireStatus.OK, WireStatus.OK, WireStatus.OVERLOADED]);
  const acked = h.run(c, 5, (w) => w.put(b('k5'), b('v'), 1, 5));
  assert.equal(acked.results[0].status, WireStatus.OK, 'room again once the client acknowledges');
});

test('executor: per-op faults answer INVALID_ARGUMENT for that op only', () => {
  const h = new Harness();
  const c = h.client();
  const { results } = h.run(c, 1, (w) => {
    w.put(b('ok'), b('v'), 1, 1);
    w.put(Buffer.alloc(0), b('v'), 1, 2);
    w.put(b('no-seq'), b('v'), 1, 0);
    w.put(b('big'), Buffer.alloc(9000), 1, 3);
    w.get(b('ok'), 1);
  });
  assert.deepEqual(results.map((r) => [r.status, r.detail]), [
    [WireStatus.OK, 0], [WireStatus.INVALID_ARGUMENT, WireDetail.KEY_EMPTY], [WireStatus.INVALID_ARGUMENT, WireDetail.SEQUENCE_MISSING],
    [WireStatus.INVALID_ARGUMENT, WireDetail.VALUE_TOO_LARGE], [WireStatus.OK, 0],
  ]);
});

test('executor: OUT_OF_MEMORY is not saved as a completion, so the retry runs once there is room', () => {
  const h = new Harness(256 * 1024);
  const c = h.client();
  let seq = 1;
  let full = false;
  for (let i = 0; i < 1000 && !full; i++) {
    const { results } = h.run(c, seq, (w) => w.put(b(`fill-${i}`), Buffer.alloc(4000, 1), 1, seq));
    full = results[0].status === WireStatus.OUT_OF_MEMORY;
    if (!full) seq++;
  }
  assert.ok(full, 'the store filled up');
  const failed = h.run(c, seq, (w) => w.put(b('late'), Buffer.alloc(4000, 2), 1, seq));
  assert.equal(failed.results[0].status, WireStatus.OUT_OF_MEMORY);
  for (let i = 0; i < 10; i++) h.store.delete(b(`fill-${i}`), 0, `fill-${i}`.length);
  const retry = h.run(c, seq, (w) => w.put(b('late'), Buffer.alloc(4000, 2), 1, seq));
  assert.equal(retry.results[0].status, WireStatus.OK, 'the same seq runs now');
});

test('executor: random batches with random retries apply every (client, seq) exactly once', () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const h = new Harness(2 * MIB);
  const clients = [h.client(1), h.client(2), h.client(3)];
  const nextSeq = [1, 1, 1];
  const sent: { client: number; seqMin: number; frame: Buffer; answer: Buffer }[] = [];
  const ackedBelow = [1, 1, 1];
  const model = new Map<string, number>();
  for (let round = 0; round < 3000; round++) {
    const retryable = sent.filter((s) => s.seqMin >= ackedBelow[s.client]);
    if (retryable.length > 0 && random.chance(0.3)) {
      const old = retryable[random.below(retryable.length)];
      const again = h.runFrame(clients[old.client], old.frame);
      assert.ok(again.frame.equals(old.answer), `seed ${seed} round ${round}: a retried batch gets its first answer`);
      continue;
    }
    const who = random.below(3);
    // The client acknowledges all but its last 20 seqs; it retries only what it has not acknowledged.
    ackedBelow[who] = Math.max(ackedBelow[who], nextSeq[who] - 20);
    const seqMin = nextSeq[who];
    const batch = h.run(clients[who], ackedBelow[who], (w) => {
      for (let i = 0; i < 1 + random.below(8); i++) {
        const key = `c${random.below(20)}`;
        const delta = random.below(100) - 50;
        w.incrBy(b(key), delta, 1, nextSeq[who]++);
        model.set(key, (model.get(key) ?? 0) + delta);
      }
    });
    sent.push({ client: who, seqMin, frame: batch.request, answer: batch.frame });
    if (sent.length > 50) sent.shift();
  }
  for (const [key, expected] of model) {
    const { results } = h.run(clients[0], nextSeq[0], (w) => w.get(b(key), 1));
    assert.equal(results[0].value, String(expected), `seed ${seed}: ${key}`);
  }
  assert.ok(h.clients.duplicateHits > 0);
});

/** A result frame holding one result (status OK) from byte RESULT_START, as a mutation's would. */
function oneResult(): ResultWriter {
  const writer = new ResultWriter();
  writer.begin();
  writer.raw(Buffer.from([0, 2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]), 0, 12);
  return writer;
}
const RESULT_START = 8;

test('client table: when full, forgets an idle client without completion records; refuses only if none is idle', () => {
  const store = new Store({ memoryLimitBytes: 8 * MIB, segmentSizeBytes: 64 * 1024, keyLengthMax: 1024, valueLengthMax: 4096 });
  const clients = new ClientTable(store, new ManualClock(0), { ...DEFAULT_CLIENT_TABLE_CONFIG, clientCountMax: 2 });
  const id = (n: number): Buffer => Buffer.alloc(16, n);
  const busy = clients.open(id(1));
  assert.ok(busy);
  clients.record(busy, 1, b('k'), 0, 1, oneResult(), RESULT_START);
  assert.ok(clients.open(id(2)), 'second client fits');
  assert.ok(clients.open(id(3)), 'the idle client 2 is forgotten to make room');
  assert.equal(clients.evictions, 1);
  assert.equal(clients.check(busy, 1), RiflCheck.DUPLICATE, 'the client with a completion record is kept');
  clients.record(clients.open(id(3)) ?? assert.fail('client 3'), 1, b('k'), 0, 1, oneResult(), RESULT_START);
  assert.equal(clients.open(id(4)), null, 'every client holds records: the new one is refused');
});
