// The log cleaner under pressure: overwrite-heavy workloads near the memory limit must not run
// out of memory while live data leaves room, must never corrupt or lose a value, and must free
// segments rather than quarantine them. See "Cleaner" in docs/design-notes.md.
//
// Overwrites change each record's size (value lengths base, base + 4, base + 8, base + 12), so
// they append and leave garbage rather than taking the same-size in-place update path, while
// live bytes stay within 12 bytes per key of the level they were filled to.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorDetail, MIB, Status, Store, statusName } from '../../dataplane/store/index.js';
import { keyHash64 } from '../../proto/keyspace/hash.js';
import { rangeContains } from '../../proto/keyspace/range.js';
import { Random } from '../support/random.js';
import { isLongMode, replayHint, seedFromEnvironment } from '../support/environment.js';
import { numberedKey } from '../support/keys.js';
import { expectedRecordBytes } from '../support/recordSize.js';
import { stampMismatch, stampedValue } from '../support/stampedValue.js';

const SEGMENT_SIZE_BYTES = 64 * 1024;

/** Value lengths of one key differ by multiples of 4, so record sizes differ too. */
const LENGTH_STEP_BYTES = 4;
const LENGTH_STEPS = 4;
/** The most a key's record grows above its first write. */
const DRIFT_BYTES_MAX = LENGTH_STEP_BYTES * (LENGTH_STEPS - 1);

/** Keys, the value length and write number each holds; live bytes stay near their fill level under overwrites. */
class StampedKeys {
  readonly keys: Buffer[] = [];
  readonly baseLengths: number[] = [];
  readonly lengths: number[] = [];
  readonly writes: number[] = [];
  bytesWritten = 0;
  writeCount = 0;

  constructor(private readonly store: Store) {}

  /** Puts a new key; returns the status (the key is kept only when OK). */
  add(valueLength: number): Status {
    const i = this.keys.length;
    const key = numberedKey('cleaner', i);
    const status = this.store.put(key, 0, key.length, stampedValue(i, 0, valueLength), 0, valueLength);
    if (status === Status.OK) {
      this.keys.push(key);
      this.baseLengths.push(valueLength);
      this.lengths.push(valueLength);
      this.writes.push(0);
      this.bytesWritten += expectedRecordBytes(key.length, valueLength);
    }
    return status;
  }

  /**
   * Overwrites key `i` with its next write number, with a value of another record size (or the
   * same length if `sameLength`); the model advances only when OK.
   */
  overwrite(i: number, random: Random | null, sameLength = false): Status {
    const key = this.keys[i];
    const write = this.writes[i] + 1;
    let length = this.lengths[i];
    if (!sameLength) {
      const step = (this.lengths[i] - this.baseLengths[i]) / LENGTH_STEP_BYTES;
      const shift = random === null ? 1 : random.between(1, LENGTH_STEPS - 1);
      length = this.baseLengths[i] + ((step + shift) % LENGTH_STEPS) * LENGTH_STEP_BYTES;
    }
    const status = this.store.put(key, 0, key.length, stampedValue(i, write, length), 0, length);
    this.writeCount++;
    if (status === Status.OK) {
      this.writes[i] = write;
      this.lengths[i] = length;
      this.bytesWritten += expectedRecordBytes(key.length, length);
    }
    return status;
  }

  check(i: number, what: string): void {
    const key = this.keys[i];
    const status = this.store.get(key, 0, key.length);
    assert.equal(statusName(status), 'OK', `${what}: get key ${i}`);
    const mismatch = stampMismatch(this.store.resultValue(), i, this.writes[i], this.lengths[i]);
    assert.equal(mismatch, null, `${what}: value of key ${i} (write ${this.writes[i]})`);
  }

  checkAll(what: string): void {
    for (let i = 0; i < this.keys.length; i++) this.check(i, what);
  }

  /**
   * Live bytes, as a share of the memory limit, if the next key is added with this value length
   * and every key then grows to its largest size.
   */
  shareWithNext(valueLength: number): number {
    const next = expectedRecordBytes(numberedKey('cleaner', this.keys.length).length, valueLength);
    const drift = DRIFT_BYTES_MAX * (this.keys.length + 1);
    return (this.store.stats().liveBytes + next + drift) / this.store.config.memoryLimitBytes;
  }
}

function utilisation(store: Store): number {
  return store.stats().utilisation;
}

/** Adds keys of random value length while live data stays under `target` even at its largest. */
function fillTo(keys: StampedKeys, store: Store, random: Random, target: number, allowOutOfMemory: boolean): number {
  let refused = 0;
  while (true) {
    const valueLength = random.between(64, 2048);
    if (keys.shareWithNext(valueLength) > target) return refused;
    const status = keys.add(valueLength);
    if (status === Status.OK) continue;
    assert.ok(allowOutOfMemory, `fill to ${target}: put refused with ${statusName(status)} at utilisation ${utilisation(store).toFixed(4)}`);
    assert.equal(statusName(status), 'OUT_OF_MEMORY');
    assert.equal(store.errorDetail, ErrorDetail.LOG_FULL);
    refused++;
    if (refused > 100) return refused;
  }
}

test('cleaner: overwrites at 85% then 90% utilisation, 10x the memory limit written, every value intact', (t) => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const memoryLimitBytes = (isLongMode() ? 32 : 8) * MIB;
  const store = new Store({ memoryLimitBytes, segmentSizeBytes: SEGMENT_SIZE_BYTES, valueLengthMax: 4096, indexBucketCountInitial: 16 });
  const keys = new StampedKeys(store);
  const context = (): string => `${replayHint(seed)}, write ${keys.writeCount}, utilisation ${utilisation(store).toFixed(4)}`;

  fillTo(keys, store, random, 0.85, false);
  const filled = utilisation(store);
  assert.ok(filled > 0.83, `filled to ${filled}`);
  keys.checkAll('after fill');

  // Phase 1, live data at 85%: writers alone pay for cleaning; no write may be refused.
  const phaseOneBytes = keys.bytesWritten + 10 * memoryLimitBytes;
  while (keys.bytesWritten < phaseOneBytes) {
    const i = random.below(keys.keys.length);
    const status = keys.overwrite(i, random);
    if (status !== Status.OK) assert.fail(`85% phase: overwrite refused with ${statusName(status)} (errorDetail ${store.errorDetail}) at ${context()}`);
    if (keys.writeCount % 1024 === 0) keys.check(random.below(keys.keys.length), `85% phase (${context()})`);
  }
  assert.ok(utilisation(store) <= 0.85, `live data stayed at most 85%: ${utilisation(store)}`);
  keys.checkAll(`after the 85% phase (${context()})`);
  const afterPhaseOne = store.stats();
  assert.ok(afterPhaseOne.cleanerSegmentsCleaned > 0, 'the cleaner freed segments');
  assert.equal(afterPhaseOne.segmentsQuarantined, 0, 'no segment quarantined');

  // Phase 2, live data at 90%, with maintenance between bursts: refusals are allowed (and counted)
  // but must be clean: LOG_FULL, old value intact.
  const refusedFilling = fillTo(keys, store, random, 0.9, true);
  let refused = 0;
  const phaseTwoBytes = keys.bytesWritten + 5 * memoryLimitBytes;
  while (keys.bytesWritten < phaseTwoBytes && refused < 10_000) {
    const i = random.below(keys.keys.length);
    const status = keys.overwrite(i, random);
    if (status === Status.OUT_OF_MEMORY) {
      assert.equal(store.errorDetail, ErrorDetail.LOG_FULL, `90% phase: OUT_OF_MEMORY detail (${context()})`);
      refused++;
    } else {
      assert.equal(statusName(status), 'OK', `90% phase: overwrite (${context()})`);
    }
    if (keys.writeCount % 64 === 0) store.maintain(256 * 1024, 4096);
    if (status !== Status.OK || keys.writeCount % 1024 === 0) keys.check(i, `90% phase (${context()})`);
  }
  keys.checkAll(`after the 90% phase (${context()})`);
  const stats = store.stats();
  t.diagnostic(`seed ${seed}; ${keys.keys.length} keys; ${(keys.bytesWritten / MIB).toFixed(0)} MiB written; ` +
    `90% phase: ${refusedFilling} refused while filling, ${refused} overwrites refused; ` +
    `segments cleaned ${stats.cleanerSegmentsCleaned}, relocated ${(stats.cleanerBytesRelocated / MIB).toFixed(0)} MiB, ` +
    `emergency cleaning rounds ${stats.cleanerEmergencyRounds}`);
  assert.ok(stats.cleanerSegmentsCleaned > afterPhaseOne.cleanerSegmentsCleaned, 'the cleaner kept freeing segments at 90%');
  assert.equal(stats.segmentsQuarantined, 0, 'no segment quarantined');
  assert.equal(stats.corruptRecordsSeen, 0);
  assert.equal(stats.keyCount, keys.keys.length);
});

test('cleaner: relocates live records of a half-empty segment', () => {
  // 16 segments of 64 KiB; maintain() cleans once fewer than reserve (2) + 4 segments are free.
  const store = new Store({ memoryLimitBytes: MIB, segmentSizeBytes: SEGMENT_SIZE_BYTES, indexBucketCountInitial: 16, valueLengthMax: 4096 });
  const keys = new StampedKeys(store);
  const valueLength = 1000;
  // Segment 0 is the first head: fill it exactly, then more segments until only 5 are free.
  while (store.segments.allocatedCount < 2) assert.equal(keys.add(valueLength), Status.OK);
  const firstSegmentKeys = keys.keys.length - 1; // the last one opened segment 1
  while (store.stats().segmentsFree > 5) assert.equal(keys.add(valueLength), Status.OK);
  // Free every other record of segment 0: it becomes half empty, the best cleaning candidate.
  const deleted = new Set<number>();
  for (let i = 0; i < firstSegmentKeys; i += 2) {
    assert.equal(store.delete(keys.keys[i], 0, keys.keys[i].length), Status.OK);
    deleted.add(i);
  }
  const liveInFirst = store.segments.liveBytes[0];
  assert.ok(liveInFirst > 0.4 * SEGMENT_SIZE_BYTES && liveInFirst < 0.6 * SEGMENT_SIZE_BYTES, `segment 0 half live: ${liveInFirst}`);
  const before = store.stats();
  assert.equal(before.cleanerSegmentsCleaned, 0);

  store.maintain(SEGMENT_SIZE_BYTES, 0);

  const after = store.stats();
  assert.equal(after.cleanerSegmentsCleaned, 1, 'one segment cleaned');
  assert.equal(after.cleanerBytesRelocated - before.cleanerBytesRelocated, liveInFirst, 'exactly the live bytes of segment 0 moved');
  assert.equal(store.segments.liveBytes[0], 0, 'segment 0 holds nothing live');
  assert.equal(after.segmentsFree, before.segmentsFree, 'segment 0 freed, one survivor segment taken');
  assert.equal(after.liveBytes, before.liveBytes, 'relocation does not change live bytes');
  assert.equal(after.segmentsQuarantined, 0);
  for (let i = 0; i < keys.keys.length; i++) {
    if (deleted.has(i)) assert.equal(store.get(keys.keys[i], 0, keys.keys[i].length), Status.NOT_FOUND);
    else keys.check(i, 'after cleaning');
  }
  // Relocated records keep their versions: a CAS with the version read before cleaning works.
  assert.equal(store.get(keys.keys[1], 0, keys.keys[1].length), Status.OK);
  const version = store.resultVersion;
  const value = stampedValue(1, 1, valueLength + 4);
  assert.equal(store.putIfVersion(keys.keys[1], 0, keys.keys[1].length, value, 0, value.length, version), Status.OK);
});

test('put: OUT_OF_MEMORY with LOG_FULL when live data exceeds the limit; gets keep working; deletes make room', () => {
  const store = new Store({ memoryLimitBytes: 2 * MIB, segmentSizeBytes: SEGMENT_SIZE_BYTES, indexBucketCountInitial: 16, valueLengthMax: 4096 });
  const keys = new StampedKeys(store);
  const valueLength = 900;
  let status: Status = Status.OK;
  for (let n = 0; n < 10_000 && status === Status.OK; n++) status = keys.add(valueLength);
  assert.equal(statusName(status), 'OUT_OF_MEMORY', 'the store refuses once full');
  assert.equal(store.errorDetail, ErrorDetail.LOG_FULL);
  const full = store.stats();
  // Writers leave the cleaner its reserve, the head and the survivor: 28 of 32 segments at most.
  assert.ok(full.utilisation > 0.8, `refused only when nearly full: utilisation ${full.utilisation}`);
  const refusedKey = numberedKey('cleaner', keys.keys.length);
  assert.equal(store.get(refusedKey, 0, refusedKey.length), Status.NOT_FOUND, 'the refused key was not stored');
  keys.checkAll('after OUT_OF_MEMORY');
  // Writes that need log space are refused too, and change nothing.
  assert.equal(keys.overwrite(0, null), Status.OUT_OF_MEMORY, 'an overwrite with a new record size');
  assert.equal(store.putIfVersion(refusedKey, 0, refusedKey.length, Buffer.alloc(8), 0, 8, 0), Status.OUT_OF_MEMORY);
  assert.equal(store.incrBy(refusedKey, 0, refusedKey.length, 1), Status.OUT_OF_MEMORY);
  assert.equal(store.stats().keyCount, full.keyCount);
  keys.checkAll('after refused writes');
  // A same-size overwrite needs no log space: it updates the record in place.
  assert.equal(statusName(keys.overwrite(2, null, true)), 'OK', 'a same-size overwrite of a full store');
  keys.check(2, 'after an in-place overwrite');
  // Deleting a quarter of the keys lets writes in again (the cleaner reclaims their space).
  for (let i = 0; i < keys.keys.length; i += 4) assert.equal(store.delete(keys.keys[i], 0, keys.keys[i].length), Status.OK);
  for (let i = 1; i < keys.keys.length; i += 4) {
    assert.equal(statusName(keys.overwrite(i, null)), 'OK', `overwrite ${i} after deletes`);
  }
  for (let i = 1; i < keys.keys.length; i++) if (i % 4 !== 0) keys.check(i, 'after recovery');
  assert.equal(store.stats().segmentsQuarantined, 0);
});

test('delete: frees memory in a full store while another range retains tombstones', () => {
  // A delete whose key lies in no retaining range leaves no tombstone, so it needs no log space;
  // refusing it would leave a full store mid-migration no way to free memory.
  const store = new Store({ memoryLimitBytes: 2 * MIB, segmentSizeBytes: SEGMENT_SIZE_BYTES, indexBucketCountInitial: 16, valueLengthMax: 4096 });
  const keys = new StampedKeys(store);
  let status: Status = Status.OK;
  for (let n = 0; n < 10_000 && status === Status.OK; n++) status = keys.add(900);
  assert.equal(statusName(status), 'OUT_OF_MEMORY', 'the store is full');
  const sliver = { start: 0n, end: 1n << 40n };
  store.setTombstoneRetention([sliver]);
  const key = keys.keys[5];
  assert.ok(!rangeContains(sliver, keyHash64(key)), 'the key lies outside the retaining range');
  const before = store.stats();
  assert.equal(statusName(store.delete(key, 0, key.length)), 'OK', `delete outside the retaining range (errorDetail ${store.errorDetail})`);
  assert.equal(store.get(key, 0, key.length), Status.NOT_FOUND);
  const after = store.stats();
  assert.equal(after.tombstoneCount, 0);
  assert.equal(after.keyCount, before.keyCount - 1);
  assert.ok(after.liveBytes < before.liveBytes, 'the delete freed its record');
});
