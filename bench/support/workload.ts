// Pre-generated benchmark inputs: keys, values and operation sequences, built before any timing
// so the timed loops measure the store and not the generator.
//
// Keys live in ONE Buffer, key i at offset i · KEY_BYTES, and are handed to the store as
// (bytes, offset, length) slices the way a server hands over slices of a request frame. A key is
// 16 ASCII bytes, "key:" + 8 hex digits of a bijective 32-bit mix of i (so keys are unique and
// not in insertion order) + 4 hex digits of noise. Keys never contain '{' or '}', which would
// make the key hash use only a {tag} (proto/keyspace/hash.ts) and pile keys into one bucket.
//
// Operation sequences are key indexes in a Uint32Array. Zipf sequences map each drawn rank
// through a random permutation of the keys, so the popular keys are spread over the key space
// and over the log instead of being the first keys loaded.

import { Random } from '../../test/support/random.js';
import { ZipfGenerator } from './zipf.js';

export const KEY_BYTES = 16;
export const VALUE_BYTES = 100;
/** Distinct values in the value pool; value j of a sequence is pool entry j & VALUE_POOL_MASK. */
export const VALUE_POOL_COUNT = 4096;
export const VALUE_POOL_MASK = VALUE_POOL_COUNT - 1;

export type Distribution = 'uniform' | 'zipf';

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const KEY_PREFIX = Buffer.from('key:', 'latin1');
const KEY_COUNT_MAX = 0x1_0000_0000;

/** A bijection of 32-bit integers (xor-shift and odd multiplies are each invertible). */
function mix32(i: number): number {
  let x = i >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b);
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b);
  return (x ^ (x >>> 16)) >>> 0;
}

function writeHex(target: Buffer, at: number, value: number, digits: number): void {
  for (let d = digits - 1; d >= 0; d--) {
    target[at + d] = HEX_DIGITS[value & 15];
    value >>>= 4;
  }
}

/**
 * Key number `counter` of the benchmarks' key family at `at`: "key:", 8 hex digits of
 * mix32(counter) (distinct counters give distinct keys), 4 hex digits of noise from `random`.
 */
export function writeKey(target: Buffer, at: number, counter: number, random: Random): void {
  KEY_PREFIX.copy(target, at);
  writeHex(target, at + 4, mix32(counter), 8);
  writeHex(target, at + 12, random.uint32() & 0xffff, 4);
}

/**
 * `keyCount` distinct keys of the family in one Buffer (key i at i · KEY_BYTES): counters 0, 1, ...
 * in turn, each kept only if `keep(keys, at)` holds for the key written at `at`. `what` names the
 * filter in the error when the counters run out.
 */
export function keysWhere(keyCount: number, seed: number, keep: (keys: Buffer, at: number) => boolean, what: string): Buffer {
  const random = new Random(seed);
  const keys = Buffer.allocUnsafe(keyCount * KEY_BYTES);
  let found = 0;
  for (let candidate = 0; found < keyCount; candidate++) {
    if (candidate >= KEY_COUNT_MAX - 1) throw new Error(`only ${found} keys ${what}`);
    const at = found * KEY_BYTES;
    writeKey(keys, at, candidate, random);
    if (keep(keys, at)) found++;
  }
  return keys;
}

/** `keyCount` distinct 16-byte keys in one Buffer, key i at offset i · KEY_BYTES. */
export function makeKeys(keyCount: number, random: Random): Buffer {
  if (!(Number.isInteger(keyCount) && keyCount > 0 && keyCount < KEY_COUNT_MAX)) throw new RangeError(`bad key count ${keyCount}`);
  const keys = Buffer.allocUnsafe(keyCount * KEY_BYTES);
  for (let i = 0; i < keyCount; i++) writeKey(keys, i * KEY_BYTES, i, random);
  return keys;
}

/** VALUE_POOL_COUNT random printable values of VALUE_BYTES each, value j at j · VALUE_BYTES. */
export function makeValues(random: Random): Buffer {
  const values = Buffer.allocUnsafe(VALUE_POOL_COUNT * VALUE_BYTES);
  for (let i = 0; i < values.length; i++) values[i] = 0x21 + (random.uint32() % 94);
  return values;
}

/** A random permutation of [0, count) (Fisher-Yates). */
export function permutation(count: number, random: Random): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  for (let i = count - 1; i > 0; i--) {
    const j = random.below(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

export interface Sequence {
  /** Key index of each operation. */
  keyIndexes: Uint32Array;
  /** Fraction of operations on the most popular key (key 0 when all are equal): a sanity check. */
  topKeyShareObserved: number;
  topKeyShareExpected: number;
}

/** `opCount` key indexes in [0, keyCount) drawn from `distribution`. */
export function makeSequence(keyCount: number, opCount: number, distribution: Distribution, theta: number,
  random: Random): Sequence {
  const keyIndexes = new Uint32Array(opCount);
  if (distribution === 'uniform') {
    for (let i = 0; i < opCount; i++) keyIndexes[i] = random.below(keyCount);
    // Every key is equally popular: report key 0's share.
    let keyZeroCount = 0;
    for (let i = 0; i < opCount; i++) if (keyIndexes[i] === 0) keyZeroCount++;
    return { keyIndexes, topKeyShareObserved: keyZeroCount / opCount, topKeyShareExpected: 1 / keyCount };
  }
  const zipf = new ZipfGenerator(keyCount, theta, random);
  const scramble = permutation(keyCount, random);
  let topCount = 0;
  for (let i = 0; i < opCount; i++) {
    const rank = zipf.next();
    if (rank === 0) topCount++;
    keyIndexes[i] = scramble[rank];
  }
  return { keyIndexes, topKeyShareObserved: topCount / opCount, topKeyShareExpected: zipf.topItemProbability };
}

/** `count` distinct key indexes in [0, keyCount), uniformly chosen (a partial Fisher-Yates). */
export function distinctSample(keyCount: number, count: number, random: Random): Uint32Array {
  if (count > keyCount) throw new RangeError(`cannot pick ${count} distinct keys of ${keyCount}`);
  const order = new Uint32Array(keyCount);
  for (let i = 0; i < keyCount; i++) order[i] = i;
  for (let i = 0; i < count; i++) {
    const j = i + random.below(keyCount - i);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order.slice(0, count);
}
