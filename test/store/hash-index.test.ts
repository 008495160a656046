// The sharded hash index on its own (dataplane/store/hashIndex.ts, indexShard.ts): entries live
// in the shard of their hash's top bits, each shard doubles on its own, and a maintenance tick
// allocates a shard's next table before the insert that starts its doubling (see "Event-loop
// bounds" in docs/design-notes.md). Entries point at fake log addresses: address i holds a key
// whose hash's top word is his[i].

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HashIndex, SHARD_BITS, SHARD_COUNT } from '../../dataplane/store/hashIndex.js';
import { Random } from '../support/random.js';
import { replayHint, seedFromEnvironment } from '../support/environment.js';

class FakeLog {
  readonly his: number[] = [];

  hashHiAt(_segmentId: number, offsetBytes: number): number {
    return this.his[offsetBytes >> 2];
  }
}

/**
 * Inserts an entry for top word `hi` at the next fake address, and moves one bucket every 4
 * inserts during a doubling, as the store's writes do; returns the address.
 */
function insert(index: HashIndex, log: FakeLog, hi: number): number {
  const address = log.his.length;
  log.his.push(hi);
  const slot = index.reserve(hi);
  assert.ok(slot >= 0, `room for entry ${address}`);
  index.insertAt(slot, hi, 0, address * 4, false);
  if (address % 4 === 3) index.migrateBuckets(1);
  return address;
}

/** Whether the entry for `address` (top word `hi`) is found. */
function finds(index: HashIndex, hi: number, address: number): boolean {
  for (let wi = index.findFirst(hi); wi >= 0; wi = index.findNext(wi)) {
    if (index.foundTable[wi + 1] === address * 4) return true;
  }
  return false;
}

test('hashIndex: entries of every shard stay findable while shards double on their own, with and without ticks', () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const log = new FakeLog();
  const index = new HashIndex(16, log);
  // Shard 3 gets half the keys, so it doubles more often than the others.
  const hiOf = (): number => (random.chance(0.5) ? ((3 << (32 - SHARD_BITS)) | (random.uint32() >>> SHARD_BITS)) >>> 0 : random.uint32());
  for (let i = 0; i < 40_000; i++) {
    insert(index, log, hiOf());
    if (random.chance(0.01)) index.migrateBuckets(random.pick([1, 16, 1024]));
    if (i % 5000 === 4999) {
      log.his.forEach((hi, address) => assert.ok(finds(index, hi, address), `entry ${address} after ${i + 1} inserts (${replayHint(seed)})`));
    }
  }
  while (index.migrateBuckets(1 << 20));
  log.his.forEach((hi, address) => assert.ok(finds(index, hi, address), `entry ${address} at the end (${replayHint(seed)})`));
  assert.equal(index.entryCount, log.his.length);
  const bits = index.shards.map((shard) => shard.table.bucketBits);
  assert.ok(bits[3] > Math.max(...bits.filter((_, s) => s !== 3)), `the crowded shard grew most (${bits.join(',')})`);
  assert.equal(index.misplacedEntries, 0);
});

test('hashIndex: a maintenance tick allocates a shard\'s next table before its doubling starts; the write step never does', () => {
  const log = new FakeLog();
  const index = new HashIndex(SHARD_COUNT * 64, log);
  const shard = index.shards[5];
  const hiIn5 = (i: number): number => ((5 << (32 - SHARD_BITS)) | ((Math.imul(i, 0x9e3779b1) >>> SHARD_BITS) & 0x0fff_ffff)) >>> 0;
  let spareSeenBeforeDoubling = false;
  // 64 buckets double past 5 x 64 entries; the next table is allocated from 3 x 64 on.
  for (let i = 0; i < 5 * 64 && !shard.resizing; i++) {
    insert(index, log, hiIn5(i));
    assert.equal(shard.hasSpare, false, 'the per-write step (one bucket) allocates nothing');
  }
  assert.ok(!shard.resizing, 'no doubling yet');
  // Maintenance ticks (more than one bucket allowed), a few ticks apart, allocate it.
  for (let tick = 0; tick < 8 && !shard.hasSpare; tick++) index.migrateBuckets(1024);
  spareSeenBeforeDoubling = shard.hasSpare;
  assert.ok(spareSeenBeforeDoubling, 'the next table is ready before the doubling');
  const bitsBefore = shard.table.bucketBits;
  for (let i = 5 * 64; !shard.resizing; i++) insert(index, log, hiIn5(i));
  assert.equal(shard.hasSpare, false, 'the doubling took the spare table');
  assert.equal(shard.table.bucketBits, bitsBefore + 1);
  while (index.migrateBuckets(1024));
  log.his.forEach((hi, address) => assert.ok(finds(index, hi, address), `entry ${address}`));
});

test('hashIndex: a presized shard prepares its next table only past the 4 entries per bucket it was sized for', () => {
  const log = new FakeLog();
  const index = new HashIndex(SHARD_COUNT, log);
  // 3840 entries over the whole hash space: 60 buckets wanted per shard, 64 made (240 entries each, 3.75 per bucket).
  index.presize(16 * 240, 1);
  const shard = index.shards[5];
  assert.equal(shard.table.bucketCount, 64);
  assert.ok(shard.table.presized);
  const hiIn5 = (i: number): number => ((5 << (32 - SHARD_BITS)) | ((Math.imul(i, 0x9e3779b1) >>> SHARD_BITS) & 0x0fff_ffff)) >>> 0;
  const ticks = (): void => {
    for (let tick = 0; tick < 8 && !shard.hasSpare; tick++) index.migrateBuckets(1024);
  };
  // Past 3 per bucket (192) a table made by a doubling gets its next one; this one waits until past 4 (256).
  for (let i = 0; i < 4 * 64; i++) insert(index, log, hiIn5(i));
  ticks();
  assert.equal(shard.hasSpare, false, 'no next table while the shard holds what it was presized for');
  insert(index, log, hiIn5(4 * 64));
  ticks();
  assert.ok(shard.hasSpare, 'the next table is prepared past that, before the doubling');
  for (let i = 4 * 64 + 1; !shard.resizing; i++) insert(index, log, hiIn5(i));
  assert.equal(shard.hasSpare, false, 'the doubling took the spare table');
  assert.equal(shard.table.presized, false, 'a table made by a doubling is not presized');
  while (index.migrateBuckets(1024));
  log.his.forEach((hi, address) => assert.ok(finds(index, hi, address), `entry ${address}`));
});

test('hashIndex: remove finds the entry\'s shard; presize sizes every shard of an empty index', () => {
  const log = new FakeLog();
  const index = new HashIndex(1024, log);
  index.presize(1_000_000, 0.5);
  // 1M entries over half the hash space: ~2^19 buckets over all shards, 2^15 per shard.
  for (const shard of index.shards) assert.equal(shard.table.bucketBits, 15);
  const addresses = [0x0000_0001, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff].map((hi) => [hi, insert(index, log, hi)] as const);
  for (const [hi, address] of addresses) {
    assert.ok(finds(index, hi, address));
    // Look up another shard's entry first, so the remove's table is not the last one found.
    index.findFirst((hi ^ 0x8000_0000) >>> 0);
    const wi = index.shardFor(hi).findFirst(hi);
    index.remove(index.shardFor(hi).foundTable, wi);
    assert.ok(!finds(index, hi, address), `entry ${hi.toString(16)} removed`);
  }
  assert.equal(index.entryCount, 0);
});

test('hashIndex: presized tables are installed only while the index is still empty', () => {
  const log = new FakeLog();
  const index = new HashIndex(1024, log);
  const tables = index.presizedTables(1_000_000, 1);
  assert.ok(tables !== null && tables.length === SHARD_COUNT);
  // Made, not installed: the index keeps its tables until adoptPresized().
  for (const shard of index.shards) assert.ok(shard.table.bucketBits < tables[0].bucketBits);
  assert.ok(index.adoptPresized(tables));
  for (const [i, shard] of index.shards.entries()) assert.equal(shard.table, tables[i]);
  assert.equal(index.presizedTables(1_000_000, 1), null, 'already as large');

  // An insert between making and installing keeps the tables in use (the entry stays findable).
  const busy = new HashIndex(1024, log);
  const late = busy.presizedTables(1_000_000, 1);
  assert.ok(late !== null);
  const address = insert(busy, log, 0x1234_5678);
  assert.equal(busy.adoptPresized(late), false);
  assert.ok(finds(busy, 0x1234_5678, address));
  assert.ok(busy.shards.every((shard) => shard.table !== late[shard.shard]));
});

test('hashIndex: doublings from 2^14 buckets up place entries by their stored high bits, reading one key in 64 from the log', () => {
  const random = new Random(seedFromEnvironment());
  class CountingLog extends FakeLog {
    reads = 0;
    override hashHiAt(segmentId: number, offsetBytes: number): number {
      this.reads++;
      return super.hashHiAt(segmentId, offsetBytes);
    }
  }
  const log = new CountingLog();
  /** By the doubled table's bits over all shards: log reads and entries moved. */
  const doublings = new Map<number, { reads: number; moved: number }>();
  const index = new HashIndex(16, log);
  for (let i = 0; i < 700_000; i++) {
    const hi = random.uint32();
    log.his.push(hi);
    const slot = index.reserve(hi);
    assert.ok(slot >= 0, `room for entry ${i}`);
    index.insertAt(slot, hi, 0, i * 4, false);
    if (!index.resizing) continue;
    // The insert started a shard's doubling: finish it at once and count what it read.
    const shard = index.shards.find((s) => s.resizing);
    assert.ok(shard !== undefined && shard.oldTable !== null);
    const bits = shard.oldTable.bucketBits + SHARD_BITS;
    const moved = shard.entryCount;
    const readsBefore = log.reads;
    while (index.migrateBuckets(1 << 20));
    const figure = doublings.get(bits) ?? { reads: 0, moved: 0 };
    doublings.set(bits, { reads: figure.reads + log.reads - readsBefore, moved: figure.moved + moved });
  }
  const figures = [...doublings.entries()].map(([bits, f]) => `2^${bits}: ${f.reads} reads for ${f.moved} entries`).join(', ');
  assert.ok(doublings.has(13) && doublings.has(14) && doublings.has(17), `doublings seen: ${figures}`);
  for (const [bits, { reads, moved }] of doublings) {
    if (bits <= 13) assert.equal(reads, moved, `the doubling from 2^${bits} buckets rehashes every key from the log (${figures})`);
    else assert.ok(reads <= Math.ceil(moved / 64) + SHARD_COUNT, `the doubling from 2^${bits} buckets reads one key in 64 (${figures})`);
  }
  log.his.forEach((hi, address) => assert.ok(finds(index, hi, address), `entry ${address}`));
});
