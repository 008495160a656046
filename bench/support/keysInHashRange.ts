// Keys for the slicekv side of the migration benchmark (issue 5): `keyCount` distinct 16-byte keys
// (as bench:ycsb's: "key:" + 8 hex digits of a bijective mix of a counter + 4 hex digits of noise)
// whose 64-bit slicekv hash (proto/keyspace/hash.ts, the hash ranges are cut on) is at or above
// `from`: with from = 2^63, keys that all live in the upper half of the keyspace, so one range holds
// them all. Candidates are drawn until `keyCount` of them qualify (about 2 candidates per key).

import { keyHash64 } from '../../proto/keyspace/hash.js';
import { Random } from '../../test/support/random.js';
import { KEY_BYTES } from './workload.js';

function mix32(i: number): number {
  let x = i >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b);
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b);
  return (x ^ (x >>> 16)) >>> 0;
}

function writeHex(target: Buffer, at: number, value: number, digits: number): void {
  for (let d = digits - 1; d >= 0; d--) {
    target[at + d] = '0123456789abcdef'.charCodeAt(value & 0xf);
    value >>>= 4;
  }
}

/** `keyCount` distinct keys in one Buffer (key i at i · KEY_BYTES), each with keyHash64(key) >= from. */
export function keysHashingAtOrAbove(keyCount: number, from: bigint, seed: number): Buffer {
  const random = new Random(seed);
  const keys = Buffer.allocUnsafe(keyCount * KEY_BYTES);
  let found = 0;
  for (let candidate = 0; found < keyCount; candidate++) {
    if (candidate > 0xffff_ffff) throw new Error(`only ${found} keys hash at or above ${from}`);
    const at = found * KEY_BYTES;
    keys.write('key:', at, 'latin1');
    writeHex(keys, at + 4, mix32(candidate), 8);
    writeHex(keys, at + 12, random.uint32() & 0xffff, 4);
    if (keyHash64(keys.subarray(at, at + KEY_BYTES)) >= from) found++;
  }
  return keys;
}
