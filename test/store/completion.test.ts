// Completion records (exactly-once, DESIGN.md §5): appended beside the objects, found through
// the tracker (the RIFL layer's table), moved by the cleaner while live, dropped once released.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIB, RecordRef, Status, Store, type CompletionTracker } from '../../dataplane/store/index.js';
import { Random } from '../support/random.js';
import { seedFromEnvironment } from '../support/environment.js';

/** A tracker keyed by the payload's first 4 bytes (an id), as the RIFL table keys by (client, seq). */
class MapTracker implements CompletionTracker {
  readonly addresses = new Map<number, { segmentId: number; offsetBytes: number }>();
  moves = 0;

  isLive(record: RecordRef): boolean {
    assert.ok(record.checksumValid, 'a live completion record is intact');
    const id = record.bytes.readUInt32LE(record.valueOffset);
    const at = this.addresses.get(id);
    return at !== undefined && at.segmentId === record.segmentId && at.offsetBytes === record.recordOffset;
  }

  moved(record: RecordRef, segmentId: number, offsetBytes: number): void {
    const id = record.bytes.readUInt32LE(record.valueOffset);
    assert.ok(this.addresses.has(id), 'only live records move');
    this.addresses.set(id, { segmentId, offsetBytes });
    this.moves++;
  }
}

function payloadOf(id: number, length: number): Buffer {
  const payload = Buffer.alloc(length, id & 0xff);
  payload.writeUInt32LE(id, 0);
  return payload;
}

function append(store: Store, tracker: MapTracker, key: Buffer, id: number, length: number): void {
  const payload = payloadOf(id, length);
  assert.equal(store.appendCompletion(key, 0, key.length, payload, 0, payload.length), Status.OK);
  tracker.addresses.set(id, { segmentId: store.resultSegmentId, offsetBytes: store.resultRecordOffset });
}

function release(store: Store, tracker: MapTracker, id: number): void {
  const at = tracker.addresses.get(id);
  assert.ok(at);
  store.releaseCompletion(at.segmentId, at.offsetBytes);
  tracker.addresses.delete(id);
}

function checkAll(store: Store, tracker: MapTracker, lengths: Map<number, number>, context: string): void {
  for (const [id, at] of tracker.addresses) {
    assert.equal(store.readCompletion(at.segmentId, at.offsetBytes), Status.OK, `${context}: completion ${id}`);
    const payload = store.resultBytes.subarray(store.resultValueOffset, store.resultValueOffset + store.resultValueLength);
    assert.ok(payload.equals(payloadOf(id, lengths.get(id) ?? -1)), `${context}: payload of ${id}`);
  }
}

test('appendCompletion: the payload reads back; the record is no key and costs live bytes until released', () => {
  const store = new Store({ memoryLimitBytes: 4 * MIB, segmentSizeBytes: 64 * 1024, valueLengthMax: 4096 });
  const tracker = new MapTracker();
  store.setCompletionTracker(tracker);
  const key = Buffer.from('account:7');
  append(store, tracker, key, 1, 40);
  checkAll(store, tracker, new Map([[1, 40]]), 'fresh');
  assert.equal(store.get(key, 0, key.length), Status.NOT_FOUND, 'a completion record is not an object');
  assert.deepEqual([store.stats().keyCount, store.stats().completionCount], [0, 1]);
  assert.ok(store.stats().liveBytes > 0);
  release(store, tracker, 1);
  assert.deepEqual([store.stats().completionCount, store.stats().liveBytes], [0, 0]);
});

test('readCompletion: refuses an address that holds an object, and a corrupt completion record', () => {
  const store = new Store({ memoryLimitBytes: 4 * MIB, segmentSizeBytes: 64 * 1024, valueLengthMax: 4096 });
  const tracker = new MapTracker();
  store.setCompletionTracker(tracker);
  const key = Buffer.from('k');
  assert.equal(store.put(key, 0, 1, Buffer.from('v'), 0, 1), Status.OK);
  append(store, tracker, key, 9, 24);
  const at = tracker.addresses.get(9);
  assert.ok(at);
  assert.equal(store.readCompletion(at.segmentId, 0), Status.CORRUPT, 'offset 0 holds the object');
  store.segments.bytes[at.segmentId][at.offsetBytes + 30] ^= 0x40;
  assert.equal(store.readCompletion(at.segmentId, at.offsetBytes), Status.CORRUPT);
});

test('ensureSpace: a mutation and its completion record fit together, or neither is attempted', () => {
  const store = new Store({ memoryLimitBytes: 256 * 1024, segmentSizeBytes: 16 * 1024, keyLengthMax: 1024, valueLengthMax: 4096 });
  const tracker = new MapTracker();
  store.setCompletionTracker(tracker);
  const value = Buffer.alloc(1000, 1);
  let id = 0;
  for (; id < 10_000; id++) {
    const key = Buffer.from(`key-${id}`);
    if (store.ensureSpace(2 * (20 + key.length + value.length + 4)) !== Status.OK) break;
    assert.equal(store.put(key, 0, key.length, value, 0, value.length), Status.OK, `put ${id} after ensureSpace`);
    append(store, tracker, key, id, 100);
  }
  assert.ok(id > 50 && id < 10_000, `the store filled up after ${id} pairs`);
  assert.equal(store.stats().completionCount, id);
});

test('cleaner: moves live completion records, drops released ones, with live data up to 85% of the limit', () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const store = new Store({ memoryLimitBytes: 2 * MIB, segmentSizeBytes: 32 * 1024, valueLengthMax: 4096 });
  const tracker = new MapTracker();
  store.setCompletionTracker(tracker);
  const lengths = new Map<number, number>();
  const limitBytes = 0.85 * 2 * MIB;
  const live: number[] = [];
  let liveBytesMax = 0;
  let next = 0;
  for (let step = 0; step < 60_000; step++) {
    const canGrow = store.stats().liveBytes + 400 < limitBytes;
    if (live.length > 0 && (!canGrow || random.chance(0.2))) {
      const at = random.below(live.length);
      const id = live[at];
      live[at] = live[live.length - 1];
      live.pop();
      release(store, tracker, id);
      lengths.delete(id);
    } else if (canGrow) {
      const length = 8 + random.below(300);
      const key = Buffer.from(`user:${random.below(500)}`);
      append(store, tracker, key, next, length);
      lengths.set(next, length);
      live.push(next);
      next++;
    }
    liveBytesMax = Math.max(liveBytesMax, store.stats().liveBytes);
    if (step % 1000 === 0) checkAll(store, tracker, lengths, `seed ${seed} step ${step}`);
  }
  checkAll(store, tracker, lengths, `seed ${seed} end`);
  const stats = store.stats();
  assert.ok(liveBytesMax > 0.8 * 2 * MIB, `live data reached ${liveBytesMax} bytes`);
  assert.ok(stats.cleanerSegmentsCleaned > 0, 'the cleaner ran');
  assert.ok(tracker.moves > 0, 'live completion records were moved');
  assert.equal(stats.segmentsQuarantined, 0, `seed ${seed}: accounting stayed exact`);
  assert.equal(stats.completionCount, tracker.addresses.size);
});
