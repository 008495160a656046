// Warming the engine's code before a pod serves. V8 runs new code in its interpreter until the
// code has run enough to be optimised, so a pod's first few thousand operations of each kind cost
// several times what later ones do. That lands at the worst moments: a new pod (a scale-out's
// migration target) installs its first copied chunks cold — 15k records took ~65 ms at 100% of a
// core in bench:migration's target, ~2-3x the warm cost (docs/migration.md, "Performance under
// load") — and serves its first ops cold right after taking ownership.
//
// warmUpEngine() runs the main paths (put, get, compare-and-set, incrBy, delete, range scan, bulk
// load by copy and by claim) on scratch stores of a few MiB that are dropped afterwards. Same
// classes, same shapes, so the optimised code and its type feedback are the real stores' too.
// It costs ~110-200 ms of CPU once, at start, before anything is served (most of it the scratch
// stores' first page faults and the interpreter itself); a restarting pod skips it (its recovery
// exercises the same code, and sooner).

import { recordBytesAt } from './layout.js';
import { MIB } from './config.js';
import { Status } from './status.js';
import { Store } from './store.js';
import { assert } from './assert.js';

const ROUNDS = 2;
const KEYS_PER_ROUND = 4000;
const KEY_BYTES = 16;
const VALUE_BYTES = 100;
/** The scratch engines warm-ups run on (this one, and the serving path's in dataplane/server). */
export const WARM_UP_SCRATCH = { memoryLimitBytes: 16 * MIB, segmentSizeBytes: MIB, valueLengthMax: 4096, indexBucketCountInitial: 1024 } as const;
const WHOLE_KEYSPACE = { start: 0n, end: 1n << 64n } as const;

/** Runs the engine's main paths on scratch stores; returns how long it took. */
export function warmUpEngine(): { ms: number } {
  const started = performance.now();
  for (let round = 0; round < ROUNDS; round++) warmUpRound(round);
  return { ms: performance.now() - started };
}

function warmUpRound(round: number): void {
  const store = new Store(WARM_UP_SCRATCH);
  const key = Buffer.alloc(KEY_BYTES);
  const value = Buffer.alloc(VALUE_BYTES, round);
  for (let i = 0; i < KEYS_PER_ROUND; i++) {
    writeKey(key, i, round);
    expectOk(store.put(key, 0, KEY_BYTES, value, 0, VALUE_BYTES));
    expectOk(store.get(key, 0, KEY_BYTES));
    expectOk(store.putIfVersion(key, 0, KEY_BYTES, value, 0, VALUE_BYTES, store.resultVersion));
    if (i % 4 === 0) expectOk(store.delete(key, 0, KEY_BYTES));
  }
  const counter = Buffer.from(`warm-up-counter-${round}`);
  for (let i = 0; i < KEYS_PER_ROUND / 10; i++) expectOk(store.incrBy(counter, 0, counter.length, 1));
  expectOk(store.put(counter, 0, counter.length, value, 0, 1));
  const image = scanImage(store);
  bulkLoadByCopy(image);
  bulkLoadByClaim(image);
  store.maintain();
}

/** Every live record of the store, back to back in the engine's layout (as a migration chunk or a checkpoint frame holds them). */
function scanImage(store: Store): Buffer {
  const parts: Buffer[] = [];
  store.scan(WHOLE_KEYSPACE, 0, { recordCountMax: Infinity, includeTombstones: false }, (record) => {
    parts.push(Buffer.from(record.bytes.subarray(record.recordOffset, record.recordOffset + record.recordBytes)));
  });
  return Buffer.concat(parts);
}

function bulkLoadByCopy(image: Buffer): void {
  const load = new Store(WARM_UP_SCRATCH).beginBulkLoad();
  expectOk(load.copyRecords(image, 0, image.length, (_bytes, _keyOffset, keyLength) => keyLength > 0));
  load.finish();
}

/** A restart's path: runs claimed in load segments, copied there, installed. */
function bulkLoadByClaim(image: Buffer): void {
  const load = new Store(WARM_UP_SCRATCH).beginBulkLoad();
  const words = new Int32Array(image.buffer, image.byteOffset, image.length >> 2);
  let at = 0;
  while (at < image.length) {
    let end = at;
    while (end < image.length && end - at < WARM_UP_SCRATCH.segmentSizeBytes / 4) end += recordBytesAt(words, end >> 2);
    const claim = load.claim(end - at);
    assert(claim !== null, 'the warm-up image fits its scratch store');
    image.copy(load.segmentBytes(claim), claim.offsetBytes, at, end);
    expectOk(load.install(claim, null));
    at = end;
  }
  load.finish();
}

function writeKey(key: Buffer, i: number, round: number): void {
  key.writeUInt32LE(i, 0);
  key.writeUInt32LE(round, 4);
  key.writeUInt32LE(Math.imul(i, 0x9e37_79b1) >>> 0, 8);
  key.writeUInt32LE(0x5c5b, 12);
}

function expectOk(status: Status): void {
  assert(status === Status.OK, `engine warm-up: status ${status}`);
}
