// Index growth (see "Index growth" in docs/design-notes.md): the index starts at 16 buckets and
// doubles incrementally while keys keep arriving. Every key must stay readable at every stage:
// when a doubling starts, half-way through it, and when it ends, whether buckets move only with
// inserts or also in maintain() calls.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIB, Status, Store, errorDetailMessage, statusName } from '../../dataplane/store/index.js';
import { keyHash64 } from '../../proto/keyspace/hash.js';
import { KEYSPACE_END } from '../../proto/keyspace/range.js';
import { Random } from '../support/random.js';
import { replayHint, seedFromEnvironment } from '../support/environment.js';
import { numberedKey } from '../support/keys.js';

const KEY_COUNT = 200_000;

function growthStore(): Store {
  return new Store({ memoryLimitBytes: 64 * MIB, segmentSizeBytes: MIB, valueLengthMax: 4096, indexBucketCountInitial: 16 });
}

/** Value of key i: its number, so a value served for the wrong key shows. */
function valueOf(i: number): Buffer {
  const value = Buffer.alloc(8);
  value.writeUInt32LE(i, 0);
  value.writeUInt32LE(i ^ 0x5a5a5a5a, 4);
  return value;
}

class GrowthRun {
  readonly store = growthStore();
  readonly keys: Buffer[] = [];
  readonly deleted = new Set<number>();
  doublingsStarted = 0;
  doublingsFinished = 0;
  checks = 0;
  private resizing = false;
  private insertedAtStart = 0;
  private checkedMidway = false;

  constructor(private readonly what: string) {}

  insert(i: number): void {
    const key = numberedKey(i % 3 === 0 ? 'growth-key-with-a-longer-prefix' : 'g', i);
    const value = valueOf(i);
    assert.equal(statusName(this.store.put(key, 0, key.length, value, 0, value.length)), 'OK', `${this.what}: put ${i}`);
    this.keys.push(key);
  }

  remove(i: number): void {
    if (this.deleted.has(i)) return;
    const key = this.keys[i];
    assert.equal(this.store.delete(key, 0, key.length), Status.OK, `${this.what}: delete ${i}`);
    this.deleted.add(i);
  }

  /** Checks every key at the start, middle and end of each doubling. */
  observe(): void {
    const resizing = this.store.stats().indexResizing;
    if (resizing && !this.resizing) {
      this.doublingsStarted++;
      this.insertedAtStart = this.keys.length;
      this.checkedMidway = false;
      this.checkAll(`doubling ${this.doublingsStarted} started`);
    } else if (!resizing && this.resizing) {
      this.doublingsFinished++;
      this.checkAll(`doubling ${this.doublingsStarted} finished`);
    } else if (resizing && !this.checkedMidway && this.keys.length >= this.insertedAtStart * 1.05) {
      // Buckets move 2 per insert and the old table has about insertedAtStart / 5 buckets: a
      // doubling takes about insertedAtStart / 10 inserts, so 5% more keys is about half-way.
      this.checkedMidway = true;
      this.checkAll(`doubling ${this.doublingsStarted} under way`);
    }
    this.resizing = resizing;
  }

  checkAll(stage: string): void {
    this.checks++;
    for (let i = 0; i < this.keys.length; i++) {
      const key = this.keys[i];
      const status = this.store.get(key, 0, key.length);
      if (this.deleted.has(i)) {
        if (status !== Status.NOT_FOUND) assert.fail(`${this.what}, ${stage}: deleted key ${i} is ${statusName(status)}`);
        continue;
      }
      if (status !== Status.OK) assert.fail(`${this.what}, ${stage}, ${this.keys.length} keys: get ${i} is ${statusName(status)}`);
      if (!this.store.resultValue().equals(valueOf(i))) assert.fail(`${this.what}, ${stage}: value of key ${i}`);
    }
    assert.equal(this.store.stats().keyCount, this.keys.length - this.deleted.size, `${this.what}, ${stage}: keyCount`);
  }
}

test('index: 200k keys inserted from 16 buckets are all readable at every doubling stage', () => {
  const run = new GrowthRun('inserts only');
  for (let i = 0; i < KEY_COUNT; i++) {
    run.insert(i);
    run.observe();
  }
  // 16 -> 65,536 buckets: 12 doublings (the 12th starts past 5 x 32,768 = 163,840 keys).
  assert.ok(run.doublingsStarted >= 12, `doublings started: ${run.doublingsStarted}`);
  assert.ok(run.doublingsFinished >= run.doublingsStarted - 1, `doublings finished: ${run.doublingsFinished}`);
  assert.ok(run.checks >= 3 * 11, `every key checked at the start, middle and end of each doubling (${run.checks} checks)`);
  while (run.store.maintain(0, 4096));
  run.checkAll('all doublings finished');
  assert.deepEqual(run.store.rangeFigures([{ start: 0n, end: KEYSPACE_END }])[0].keyCount, KEY_COUNT);
});

test('index: growth with maintain(0, n) and deletes interleaved keeps every key readable', () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const run = new GrowthRun(`maintain interleaved (${replayHint(seed)})`);
  let pendingReported = 0;
  for (let i = 0; i < KEY_COUNT; i++) {
    run.insert(i);
    if (random.chance(0.05)) run.remove(random.below(run.keys.length));
    if (random.chance(0.1)) {
      const bucketsMax = random.pick([0, 1, 2, 3, 16, 100, 4096]);
      const pending = run.store.maintain(0, bucketsMax);
      // With no cleaning budget, "more work pending" means exactly "a doubling is under way".
      assert.equal(pending, run.store.stats().indexResizing, `maintain(0, ${bucketsMax}) reports pending work`);
      if (pending) pendingReported++;
    }
    run.observe();
  }
  assert.ok(run.doublingsStarted >= 11, `doublings started: ${run.doublingsStarted}`);
  assert.ok(pendingReported > 0, 'maintain() ran during doublings');
  while (run.store.maintain(0, 1));
  run.checkAll('end');
});

test('index: keys sharing one {tag} (one hash, one bucket chain) stay readable across doublings', () => {
  const store = growthStore();
  const keys: Buffer[] = [];
  for (let i = 0; i < 5000; i++) {
    const key = Buffer.from(i % 2 === 0 ? `user:{42}:item:${i}` : `other:${i}`);
    assert.equal(statusName(store.put(key, 0, key.length, valueOf(i), 0, 8)), 'OK', `put ${key.toString()}`);
    keys.push(key);
    if (i % 500 === 499) {
      for (let j = 0; j <= i; j++) {
        assert.equal(store.get(keys[j], 0, keys[j].length), Status.OK, `get ${keys[j].toString()} after ${i + 1} puts`);
        assert.ok(store.resultValue().equals(valueOf(j)));
      }
    }
  }
  for (let i = 0; i < 5000; i += 4) assert.equal(store.delete(keys[i], 0, keys[i].length), Status.OK);
  for (let i = 0; i < 5000; i++) assert.equal(store.get(keys[i], 0, keys[i].length), i % 4 === 0 ? Status.NOT_FOUND : Status.OK);
});

/** Keys whose hash lies in [start, end) of the keyspace: what a pod owning one narrow range stores. */
function keysInRange(count: number, start: bigint, end: bigint, prefix: string): Buffer[] {
  const keys: Buffer[] = [];
  for (let i = 0; keys.length < count; i++) {
    const key = numberedKey(prefix, i);
    const hash = keyHash64(key);
    if (hash >= start && hash < end) keys.push(key);
  }
  return keys;
}

for (const [what, start, end, count] of [
  ['the top third', (KEYSPACE_END * 2n) / 3n, KEYSPACE_END, 300_000],
  ['1/64 in the middle', KEYSPACE_END / 2n, KEYSPACE_END / 2n + KEYSPACE_END / 64n, 100_000],
] as const) {
  test(`index: ${count} keys crowded into ${what} of the hash space grow the index without INDEX_FULL`, () => {
    // Found by bench:recovery: with buckets moved in cursor order only, keys of the top third
    // filled the old table's overflow area before the cursor reached them (INDEX_FULL at ~9k keys).
    const store = new Store({ memoryLimitBytes: 256 * MIB, segmentSizeBytes: MIB, valueLengthMax: 4096, indexBucketCountInitial: 1024 });
    const keys = keysInRange(count, start, end, `crowded-${what}`);
    keys.forEach((key, i) => {
      const status = store.put(key, 0, key.length, valueOf(i), 0, 8);
      if (status !== Status.OK) assert.fail(`put ${i} of ${count}: ${statusName(status)} (${errorDetailMessage(store.errorDetail)})`);
    });
    keys.forEach((key, i) => {
      if (store.get(key, 0, key.length) !== Status.OK || !store.resultValue().equals(valueOf(i))) assert.fail(`get ${i}`);
    });
    assert.equal(store.rangeFigures([{ start, end }])[0].keyCount, count);
    const stats = store.stats();
    assert.ok(stats.indexBytes < count * 64, `index memory stays proportional to the keys (${stats.indexBytes} bytes for ${count} keys)`);
  });
}
