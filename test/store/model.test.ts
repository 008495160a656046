// Model-based test of the storage engine (STYLE.md, "Tests"): random operations drive the store
// and a plain Map side by side, and every step compares the operation's status and result; every
// FULL_CHECK_EVERY steps all keys, the stats and a whole-keyspace scan are compared too.
//
// The memory configuration is small (4 MiB in 64 KiB segments, index from 16 buckets), so the
// cleaner runs constantly and the index doubles early in every episode. Each episode is a fresh
// store with its own key universe and value-size mix, seeded from the run's seed:
//
//   SLICEKV_SEED=<seed> node scripts/run-tests.js model     replays a failure
//   SLICEKV_TEST_LONG=1 node scripts/run-tests.js model     runs >= 2M operations

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorDetail, MIB, Status, Store, statusName } from '../../dataplane/store/index.js';
import { KEYSPACE_END, rangeContains, type HashRange } from '../../proto/keyspace/range.js';
import { keyHash64 } from '../../proto/keyspace/hash.js';
import { Random } from '../support/random.js';
import { isLongMode, replayHint, seedFromEnvironment } from '../support/environment.js';
import { keyUniverse } from '../support/keys.js';
import { expectedRecordBytes } from '../support/recordSize.js';
import { scanAll } from '../support/scanAll.js';
import { NOT_INTEGER_TEXTS, fitsInt64, parseIntegerValue } from '../support/integerText.js';

/** Key length limit of most episodes (keys of 1..64 bytes). */
const KEY_LENGTH_MAX = 64;
/** Key length limit of the long-key episodes: keys past 128 bytes take the engine's bulk-copy path. */
const LONG_KEY_LENGTH_MAX = 300;
const VALUE_LENGTH_MAX = 4096;
const SEGMENT_SIZE_BYTES = 64 * 1024;
const EPISODE_COUNT = isLongMode() ? 50 : 8;
const STEPS_PER_EPISODE = isLongMode() ? 60_000 : 40_000;
const FULL_CHECK_EVERY = 500;
const RECENT_OPS_KEPT = 12;
const INT53 = 2 ** 53 - 1;

interface ModelRecord {
  readonly value: Buffer;
  readonly version: number;
}

/** Shape of an episode: memory, how many keys and how large their values get. */
interface EpisodeShape {
  readonly memoryLimitBytes: number;
  readonly keyCount: number;
  readonly keyLengthMax: number;
  readonly valueSizeMax: number;
  /** Below this utilisation (live bytes / memory limit) a write must never get OUT_OF_MEMORY. */
  readonly outOfMemoryUtilisationMin: number;
}

/**
 * Typical live data is 20-50% of the memory limit in most shapes, so the cleaner relocates live
 * records as well as freeing dead segments; the tight shape runs at 60-75% of a 16-segment store
 * (12 usable after the cleaner's reserve, the head and the survivor), so the cleaner relocates a
 * lot. A shape's worst case (every key at its largest) can exceed the limit, so OUT_OF_MEMORY is
 * accepted, but only above the shape's outOfMemoryUtilisationMin: 0.8 with 64 segments, 0.6 with 16.
 */
function randomShape(random: Random): EpisodeShape {
  const roll = random.float();
  const keyLengthMax = KEY_LENGTH_MAX;
  const shape = (memoryLimitBytes: number, keyCount: number, valueSizeMax: number): EpisodeShape =>
    ({ memoryLimitBytes, keyCount, keyLengthMax, valueSizeMax, outOfMemoryUtilisationMin: 0.8 });
  if (roll < 0.45) return shape(4 * MIB, random.between(16, 4000), VALUE_LENGTH_MAX);
  if (roll < 0.65) return shape(MIB, random.between(500, 3000), 256);
  if (roll < 0.75) return shape(512 * 1024, random.between(20, 300), 1024);
  if (roll < 0.85) return { ...shape(MIB, random.between(10_000, 14_000), 256), outOfMemoryUtilisationMin: 0.6 };
  return { ...shape(4 * MIB, random.between(16, 2000), 1024), keyLengthMax: LONG_KEY_LENGTH_MAX };
}

type Operation = 'get' | 'put' | 'delete' | 'putIfVersion' | 'deleteIfVersion' | 'incrBy' | 'scan' | 'clean' | 'retention' | 'badInput';

const OPERATION_WEIGHTS: ReadonlyArray<readonly [Operation, number]> = [
  ['get', 200], ['put', 250], ['delete', 70], ['putIfVersion', 120], ['deleteIfVersion', 50], ['incrBy', 100],
  ['scan', 6], ['clean', 40], ['retention', 2], ['badInput', 5],
];
const WEIGHT_TOTAL = OPERATION_WEIGHTS.reduce((sum, [, weight]) => sum + weight, 0);

class Episode {
  readonly store: Store;
  private readonly model = new Map<string, ModelRecord>();
  /** Highest version the store has reported for each key, ever (survives deletes). */
  private readonly versionFloor = new Map<string, number>();
  /** Tombstones that must exist: deleted while retained, retained ever since. */
  private readonly tombstonesSure = new Set<string>();
  /** Tombstones the cleaner may or may not have dropped (retention was lifted for them). */
  private readonly tombstonesMaybe = new Set<string>();
  private retention: HashRange[] = [];
  private readonly keys: Buffer[];
  private readonly names: string[];
  private readonly hashes: bigint[];
  private readonly hotKeyCount: number;
  private readonly keyFrame = Buffer.alloc(LONG_KEY_LENGTH_MAX + 16);
  private readonly valueFrame = Buffer.alloc(VALUE_LENGTH_MAX + 16);
  readonly recent: string[] = [];
  outOfMemoryCount = 0;

  constructor(private readonly random: Random, private readonly shape: EpisodeShape) {
    this.store = new Store({
      memoryLimitBytes: shape.memoryLimitBytes, segmentSizeBytes: SEGMENT_SIZE_BYTES, keyLengthMax: shape.keyLengthMax,
      valueLengthMax: VALUE_LENGTH_MAX, indexBucketCountInitial: 16,
    });
    this.keys = keyUniverse(random, shape.keyCount, { lengthMin: 1, lengthMax: shape.keyLengthMax, taggedShare: 0.1 });
    this.names = this.keys.map((key) => key.toString('latin1'));
    this.hashes = this.keys.map((key) => keyHash64(key));
    this.hotKeyCount = Math.max(4, Math.floor(shape.keyCount / 10));
  }

  step(): void {
    let roll = this.random.below(WEIGHT_TOTAL);
    for (const [operation, weight] of OPERATION_WEIGHTS) {
      if (roll < weight) return this.run(operation);
      roll -= weight;
    }
  }

  private run(operation: Operation): void {
    switch (operation) {
      case 'get': return this.get();
      case 'put': return this.put();
      case 'delete': return this.remove();
      case 'putIfVersion': return this.putIfVersion();
      case 'deleteIfVersion': return this.deleteIfVersion();
      case 'incrBy': return this.incrBy();
      case 'scan': return this.scan();
      case 'clean': return this.clean();
      case 'retention': return this.changeRetention();
      case 'badInput': return this.badInput();
    }
  }

  private note(text: string): void {
    if (this.recent.length === RECENT_OPS_KEPT) this.recent.shift();
    this.recent.push(text);
  }

  /** Mostly a hot tenth of the universe, so overwrites, deletes and CAS races hit often. */
  private keyIndex(): number {
    return this.random.chance(0.6) ? this.random.below(this.hotKeyCount) : this.random.below(this.keys.length);
  }

  /** Copies the key into a frame at a random offset, as a server hands over request slices. */
  private keyAt(i: number): [Buffer, number, number] {
    const key = this.keys[i];
    const offset = this.random.below(8);
    key.copy(this.keyFrame, offset);
    return [this.keyFrame, offset, key.length];
  }

  private valueAt(value: Buffer): [Buffer, number, number] {
    const offset = this.random.below(8);
    value.copy(this.valueFrame, offset);
    return [this.valueFrame, offset, value.length];
  }

  /** A random value; for a present key, often one of the same length (the in-place update path). */
  private randomValueFor(i: number): Buffer {
    const record = this.model.get(this.names[i]);
    if (record !== undefined && this.random.chance(0.2)) return this.random.bytes(record.value.length);
    return this.randomValue();
  }

  private randomValue(): Buffer {
    const roll = this.random.float();
    if (roll < 0.15) return Buffer.from(String(this.randomInteger()));
    if (roll < 0.2) return Buffer.from(this.random.pick(NOT_INTEGER_TEXTS));
    const sizeRoll = this.random.float();
    const max = this.shape.valueSizeMax;
    if (sizeRoll < 0.3) return this.random.bytes(this.random.between(0, Math.min(16, max)));
    if (sizeRoll < 0.5) return this.random.bytes(this.random.between(0, Math.min(256, max)));
    return this.random.bytes(this.random.between(0, max));
  }

  private randomInteger(): bigint {
    switch (this.random.below(5)) {
      case 0: return BigInt(this.random.between(-1000, 1000));
      case 1: return BigInt(INT53) - BigInt(this.random.below(1000)) * (this.random.chance(0.5) ? 1n : -1n);
      case 2: return (1n << 63n) - 1n - BigInt(this.random.below(100_000));
      case 3: return -(1n << 63n) + BigInt(this.random.below(100_000));
      default: return BigInt.asIntN(64, this.random.uint64());
    }
  }

  private randomDelta(): number {
    switch (this.random.below(5)) {
      case 0: return this.random.between(-1000, 1000);
      case 1: return this.random.pick([INT53, -INT53, 1, -1, 0]);
      case 2: return Math.floor((this.random.float() * 2 - 1) * INT53);
      default: return this.random.between(-100_000, 100_000);
    }
  }

  // ---- comparing ----------------------------------------------------------------------------

  private expectStatus(actual: Status, expected: Status, what: string): void {
    if (actual !== expected) {
      const detail = actual === Status.INVALID_ARGUMENT || actual === Status.OUT_OF_MEMORY ? ` (errorDetail ${this.store.errorDetail})` : '';
      const stats = actual === Status.OUT_OF_MEMORY ? ` utilisation ${this.store.stats().utilisation.toFixed(3)}` : '';
      assert.fail(`${what}: status ${statusName(actual)}${detail}${stats}, expected ${statusName(expected)}`);
    }
  }

  /** get(key) agrees with the model: status, value and version. */
  private checkKey(i: number, what: string): void {
    const [frame, offset, length] = this.keyAt(i);
    const status = this.store.get(frame, offset, length);
    const record = this.model.get(this.names[i]);
    this.expectStatus(status, record === undefined ? Status.NOT_FOUND : Status.OK, `${what}: get key #${i}`);
    if (record === undefined) return;
    assert.ok(this.store.resultValue().equals(record.value), `${what}: value of key #${i} (${this.store.resultValueLength} bytes, model ${record.value.length})`);
    assert.equal(this.store.resultVersion, record.version, `${what}: version of key #${i}`);
  }

  /** After a successful write: reads the key back and records the value and the store's version. */
  private acceptWrite(i: number, value: Buffer, what: string): void {
    const [frame, offset, length] = this.keyAt(i);
    this.expectStatus(this.store.get(frame, offset, length), Status.OK, `${what}: read back key #${i}`);
    assert.ok(this.store.resultValue().equals(value), `${what}: read back value of key #${i}`);
    this.recordVersion(i, value, this.store.resultVersion, what);
  }

  private recordVersion(i: number, value: Buffer, version: number, what: string): void {
    const name = this.names[i];
    const floor = this.versionFloor.get(name) ?? 0;
    assert.ok(Number.isSafeInteger(version) && version > floor, `${what}: version of key #${i} must increase: ${floor} -> ${version}`);
    assert.ok(this.store.versionNow > version, `${what}: versionNow ${this.store.versionNow} is past the version written ${version}`);
    this.versionFloor.set(name, version);
    this.model.set(name, { value, version });
    this.tombstonesSure.delete(name);
    this.tombstonesMaybe.delete(name);
  }

  /** Whether a write was refused for memory, which is accepted only when live data is near the limit. */
  private refusedForMemory(status: Status, i: number, what: string): boolean {
    if (status !== Status.OUT_OF_MEMORY) return false;
    const utilisation = this.store.stats().utilisation;
    assert.ok(utilisation > this.shape.outOfMemoryUtilisationMin,
      `${what}: OUT_OF_MEMORY (errorDetail ${this.store.errorDetail}) at utilisation ${utilisation.toFixed(3)}`);
    assert.equal(this.store.errorDetail, ErrorDetail.LOG_FULL, `${what}: OUT_OF_MEMORY errorDetail`);
    this.outOfMemoryCount++;
    this.checkKey(i, `${what} refused for memory`);
    return true;
  }

  private retained(i: number): boolean {
    return this.retention.some((range) => rangeContains(range, this.hashes[i]));
  }

  // ---- operations ---------------------------------------------------------------------------

  private get(): void {
    const i = this.keyIndex();
    this.note(`get #${i}`);
    this.checkKey(i, 'get');
  }

  private put(): void {
    const i = this.keyIndex();
    const value = this.randomValueFor(i);
    this.note(`put #${i} value ${value.length} B`);
    const [key, keyOffset, keyLength] = this.keyAt(i);
    const [bytes, valueOffset, valueLength] = this.valueAt(value);
    const status = this.store.put(key, keyOffset, keyLength, bytes, valueOffset, valueLength);
    if (this.refusedForMemory(status, i, 'put')) return;
    this.expectStatus(status, Status.OK, 'put');
    this.acceptWrite(i, value, 'put');
  }

  private remove(): void {
    const i = this.keyIndex();
    this.note(`delete #${i}`);
    const [key, keyOffset, keyLength] = this.keyAt(i);
    const present = this.model.has(this.names[i]);
    const status = this.store.delete(key, keyOffset, keyLength);
    if (this.refusedForMemory(status, i, 'delete')) return;
    this.expectStatus(status, present ? Status.OK : Status.NOT_FOUND, 'delete');
    if (present) this.deleted(i);
    this.checkKey(i, 'delete');
  }

  private deleted(i: number): void {
    const name = this.names[i];
    this.model.delete(name);
    if (this.retained(i)) this.tombstonesSure.add(name);
  }

  /** An expected version: mostly the right one, else stale, off by one, 0 or random. */
  private expectedVersionFor(i: number): number {
    const record = this.model.get(this.names[i]);
    const floor = this.versionFloor.get(this.names[i]) ?? 0;
    const roll = this.random.float();
    if (record === undefined) {
      if (roll < 0.6) return 0;
      return roll < 0.8 && floor > 0 ? floor : this.random.between(1, this.store.versionNow + 10);
    }
    if (roll < 0.55) return record.version;
    if (roll < 0.7) return record.version + this.random.pick([-1, 1]);
    if (roll < 0.8) return 0;
    return this.random.between(1, this.store.versionNow + 10);
  }

  private putIfVersion(): void {
    const i = this.keyIndex();
    const value = this.randomValueFor(i);
    const expected = this.expectedVersionFor(i);
    const record = this.model.get(this.names[i]);
    const matches = (record === undefined ? 0 : record.version) === expected;
    this.note(`putIfVersion #${i} expected ${expected} (model ${record?.version ?? 'absent'}) value ${value.length} B`);
    const [key, keyOffset, keyLength] = this.keyAt(i);
    const [bytes, valueOffset, valueLength] = this.valueAt(value);
    const status = this.store.putIfVersion(key, keyOffset, keyLength, bytes, valueOffset, valueLength, expected);
    if (this.refusedForMemory(status, i, 'putIfVersion')) return;
    this.expectStatus(status, matches ? Status.OK : Status.VERSION_MISMATCH, 'putIfVersion');
    if (matches) this.acceptWrite(i, value, 'putIfVersion');
    else this.checkKey(i, 'putIfVersion mismatch');
  }

  private deleteIfVersion(): void {
    const i = this.keyIndex();
    const expected = this.expectedVersionFor(i);
    const record = this.model.get(this.names[i]);
    this.note(`deleteIfVersion #${i} expected ${expected} (model ${record?.version ?? 'absent'})`);
    const [key, keyOffset, keyLength] = this.keyAt(i);
    const status = this.store.deleteIfVersion(key, keyOffset, keyLength, expected);
    if (this.refusedForMemory(status, i, 'deleteIfVersion')) return;
    let want = Status.NOT_FOUND;
    if (expected === 0) want = Status.INVALID_ARGUMENT;
    else if (record !== undefined) want = record.version === expected ? Status.OK : Status.VERSION_MISMATCH;
    this.expectStatus(status, want, 'deleteIfVersion');
    if (want === Status.OK) this.deleted(i);
    this.checkKey(i, 'deleteIfVersion');
  }

  private incrBy(): void {
    const i = this.keyIndex();
    const delta = this.randomDelta();
    const record = this.model.get(this.names[i]);
    const current = record === undefined ? 0n : parseIntegerValue(record.value);
    const next = current === null ? null : current + BigInt(delta);
    this.note(`incrBy #${i} delta ${delta} current ${current === null ? 'not an integer' : current}`);
    const [key, keyOffset, keyLength] = this.keyAt(i);
    const status = this.store.incrBy(key, keyOffset, keyLength, delta);
    if (current === null || next === null || !fitsInt64(next)) {
      this.expectStatus(status, Status.INVALID_ARGUMENT, 'incrBy');
      const detail = current === null ? ErrorDetail.VALUE_NOT_INTEGER : ErrorDetail.INCREMENT_OVERFLOW;
      assert.equal(this.store.errorDetail, detail, 'incrBy errorDetail');
      return this.checkKey(i, 'incrBy refused');
    }
    if (this.refusedForMemory(status, i, 'incrBy')) return;
    this.expectStatus(status, Status.OK, 'incrBy');
    const result = this.store.resultInteger;
    assert.equal(typeof result, next >= -BigInt(INT53) && next <= BigInt(INT53) ? 'number' : 'bigint', 'incrBy result: a number when safe, else a bigint');
    assert.equal(BigInt(result), next, 'incrBy resultInteger');
    const text = Buffer.from(String(next));
    assert.ok(this.store.resultValue().equals(text), `incrBy leaves the new value's text in the result: ${this.store.resultValue().toString('latin1')}`);
    this.recordVersion(i, text, this.store.resultVersion, 'incrBy');
    this.checkKey(i, 'incrBy');
  }

  private clean(): void {
    const walkBytesMax = this.random.pick([0, 1, 64, 4096, 65536, MIB]);
    const indexBucketsMax = this.random.pick([0, 1, 2, 64, 4096]);
    this.note(`maintain(${walkBytesMax}, ${indexBucketsMax})`);
    this.store.maintain(walkBytesMax, indexBucketsMax);
    for (let n = 0; n < 4; n++) this.checkKey(this.keyIndex(), 'after maintain');
  }

  private changeRetention(): void {
    const roll = this.random.float();
    let ranges: HashRange[] = [];
    if (roll < 0.3) ranges = [{ start: 0n, end: KEYSPACE_END }];
    else if (roll < 0.7) ranges = [this.randomRange(), this.randomRange()].slice(0, this.random.between(1, 2));
    this.note(`setTombstoneRetention(${ranges.length} ranges)`);
    this.store.setTombstoneRetention(ranges);
    this.retention = ranges;
    for (const name of [...this.tombstonesSure]) {
      const i = this.names.indexOf(name);
      if (!this.retained(i)) {
        this.tombstonesSure.delete(name);
        this.tombstonesMaybe.add(name);
      }
    }
  }

  /** Invalid keys and values are refused and change nothing. */
  private badInput(): void {
    const i = this.keyIndex();
    const [key, keyOffset] = this.keyAt(i);
    const tooLong = Buffer.alloc(this.shape.keyLengthMax + 1, 0x61);
    const bigValue = Buffer.alloc(VALUE_LENGTH_MAX + 1);
    const cases: Array<[string, () => Status, ErrorDetail]> = [
      ['put empty key', () => this.store.put(key, keyOffset, 0, bigValue, 0, 1), ErrorDetail.KEY_EMPTY],
      ['put long key', () => this.store.put(tooLong, 0, tooLong.length, bigValue, 0, 1), ErrorDetail.KEY_TOO_LARGE],
      ['put big value', () => this.store.put(key, keyOffset, this.keys[i].length, bigValue, 0, bigValue.length), ErrorDetail.VALUE_TOO_LARGE],
      ['delete empty key', () => this.store.delete(key, keyOffset, 0), ErrorDetail.KEY_EMPTY],
      ['incrBy unsafe delta', () => this.store.incrBy(key, keyOffset, this.keys[i].length, 2 ** 53), ErrorDetail.DELTA_NOT_SAFE_INTEGER],
    ];
    const [what, operation, detail] = this.random.pick(cases);
    this.note(`${what} #${i}`);
    this.expectStatus(operation(), Status.INVALID_ARGUMENT, what);
    assert.equal(this.store.errorDetail, detail, `${what}: errorDetail`);
    this.checkKey(i, what);
  }

  // ---- scans ----------------------------------------------------------------------------------

  private randomRange(): HashRange {
    const hash = this.hashes[this.random.below(this.hashes.length)];
    const around = (width: bigint): HashRange => {
      const start = hash > width / 2n ? hash - width / 2n : 0n;
      const end = start + width > KEYSPACE_END ? KEYSPACE_END : start + width;
      return { start, end };
    };
    switch (this.random.below(7)) {
      case 0: return { start: 0n, end: KEYSPACE_END };
      case 1: return { start: this.random.uint64(), end: KEYSPACE_END };
      case 2: return { start: 0n, end: this.random.uint64() + 1n };
      case 3: return around(1n << 40n);
      case 4: return around(1n << 20n);
      case 5: return { start: hash, end: hash + 1n };
      default: {
        const a = this.random.uint64();
        const b = this.random.uint64();
        return a === b ? { start: a, end: a + 1n } : { start: a < b ? a : b, end: a < b ? b : a };
      }
    }
  }

  private scan(): void {
    const range = this.randomRange();
    const includeTombstones = this.random.chance(0.3);
    const recordCountMax = this.random.pick([1, 3, 20, Infinity]);
    this.note(`scan [${range.start}, ${range.end}) max ${recordCountMax} tombstones ${includeTombstones}`);
    const records = scanAll(this.store, range, { recordCountMax, includeTombstones });
    const seen = new Set<string>();
    for (const record of records) {
      assert.ok(!seen.has(record.key), 'scan reports each key once');
      seen.add(record.key);
      assert.ok(record.checksumValid, 'scanned record checksum valid');
      assert.ok(rangeContains(range, keyHash64(Buffer.from(record.key, 'latin1'))), 'scanned key hash lies in the range');
      if (record.tombstone) {
        assert.ok(includeTombstones, 'tombstones only when asked for');
        assert.ok(this.tombstonesSure.has(record.key) || this.tombstonesMaybe.has(record.key), 'scanned tombstone of a deleted, retained key');
        continue;
      }
      const expected = this.model.get(record.key);
      assert.ok(expected !== undefined, 'scan reports only live keys');
      assert.ok(record.value.equals(expected.value), 'scanned value');
      assert.equal(record.version, expected.version, 'scanned version');
    }
    for (let i = 0; i < this.keys.length; i++) {
      if (!rangeContains(range, this.hashes[i])) continue;
      const name = this.names[i];
      if (this.model.has(name)) assert.ok(seen.has(name), `scan misses live key #${i}`);
      if (includeTombstones && this.tombstonesSure.has(name)) assert.ok(seen.has(name), `scan misses tombstone of key #${i}`);
    }
  }

  // ---- full comparison ------------------------------------------------------------------------

  fullCheck(): void {
    for (let i = 0; i < this.keys.length; i++) this.checkKey(i, 'full check');
    const stats = this.store.stats();
    assert.equal(stats.keyCount, this.model.size, 'stats().keyCount');
    assert.equal(stats.segmentsQuarantined, 0, 'no segment quarantined');
    assert.equal(stats.corruptRecordsSeen, 0, 'no corrupt record seen');
    let objectBytes = 0;
    for (const [name, record] of this.model) objectBytes += expectedRecordBytes(name.length, record.value.length);
    const whole = { start: 0n, end: KEYSPACE_END };
    const records = scanAll(this.store, whole, { includeTombstones: true });
    let scannedBytes = 0;
    const tombstones = new Set<string>();
    for (const record of records) {
      scannedBytes += record.recordBytes;
      if (record.tombstone) tombstones.add(record.key);
    }
    assert.equal(records.length - tombstones.size, this.model.size, 'whole scan: object count');
    assert.equal(stats.tombstoneCount, tombstones.size, 'stats().tombstoneCount matches the tombstones scanned');
    for (const name of this.tombstonesSure) assert.ok(tombstones.has(name), 'a retained tombstone exists');
    for (const name of tombstones) assert.ok(this.tombstonesSure.has(name) || this.tombstonesMaybe.has(name), 'every tombstone is of a deleted key');
    for (const name of [...this.tombstonesMaybe]) if (!tombstones.has(name)) this.tombstonesMaybe.delete(name);
    assert.equal(stats.liveBytes, scannedBytes, 'stats().liveBytes is the bytes of the records the index references');
    assert.deepEqual(this.store.rangeFigures([whole]), [{ keyCount: this.model.size, bytes: objectBytes }], 'rangeFigures of the keyspace');
  }
}

interface EpisodeFigures {
  readonly segmentsCleaned: number;
  readonly bytesRelocated: number;
  readonly inPlaceUpdates: number;
  readonly outOfMemory: number;
}

function runEpisode(seed: number, episodeIndex: number, episodeSeed: number): EpisodeFigures {
  const random = new Random(episodeSeed);
  const shape = randomShape(random);
  const episode = new Episode(random, shape);
  let step = 0;
  try {
    for (; step < STEPS_PER_EPISODE; step++) {
      episode.step();
      if (step % FULL_CHECK_EVERY === FULL_CHECK_EVERY - 1) episode.fullCheck();
    }
    episode.fullCheck();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`model test failed: seed ${seed} (${replayHint(seed)}), episode ${episodeIndex} (episode seed ${episodeSeed}, `
      + `${shape.keyCount} keys, keys <= ${shape.keyLengthMax} B, values <= ${shape.valueSizeMax} B, memory ${shape.memoryLimitBytes} B), step ${step}\n`
      + `recent operations, oldest first:\n  ${episode.recent.join('\n  ')}\n${message}`, { cause: error });
  }
  const stats = episode.store.stats();
  return {
    segmentsCleaned: stats.cleanerSegmentsCleaned, bytesRelocated: stats.cleanerBytesRelocated,
    inPlaceUpdates: stats.inPlaceUpdates, outOfMemory: episode.outOfMemoryCount,
  };
}

test('store: random operations agree with a Map model (get, put, delete, CAS, incrBy, scan, clean)', (t) => {
  const seed = seedFromEnvironment();
  t.diagnostic(`seed ${seed}; ${EPISODE_COUNT} episodes × ${STEPS_PER_EPISODE} operations (${replayHint(seed)})`);
  const random = new Random(seed);
  const total = { segmentsCleaned: 0, bytesRelocated: 0, inPlaceUpdates: 0, outOfMemory: 0 };
  for (let e = 0; e < EPISODE_COUNT; e++) {
    const figures = runEpisode(seed, e, random.uint32());
    total.segmentsCleaned += figures.segmentsCleaned;
    total.bytesRelocated += figures.bytesRelocated;
    total.inPlaceUpdates += figures.inPlaceUpdates;
    total.outOfMemory += figures.outOfMemory;
  }
  t.diagnostic(`segments cleaned ${total.segmentsCleaned}, bytes relocated ${total.bytesRelocated}, `
    + `in-place updates ${total.inPlaceUpdates}, writes refused for memory ${total.outOfMemory}`);
  // The configuration is meant to keep the cleaner busy; a run where it never ran tests little.
  assert.ok(total.segmentsCleaned > 0 && total.bytesRelocated > 0, 'the cleaner freed segments and relocated live records');
  assert.ok(total.inPlaceUpdates > 0, 'some writes took the in-place update path');
});
