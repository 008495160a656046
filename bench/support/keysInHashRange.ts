// Keys for the slicekv side of the migration benchmark (issue 5): `keyCount` distinct 16-byte keys
// (as bench:ycsb's: "key:" + 8 hex digits of a bijective mix of a counter + 4 hex digits of noise)
// whose 64-bit slicekv hash (proto/keyspace/hash.ts, the hash ranges are cut on) is at or above
// `from`: with from = 2^63, keys that all live in the upper half of the keyspace, so one range holds
// them all. Candidates are drawn until `keyCount` of them qualify (about 2 candidates per key).

import { keyHash64 } from '../../proto/keyspace/hash.js';
import { KEY_BYTES, keysWhere } from './workload.js';

/** `keyCount` distinct keys in one Buffer (key i at i · KEY_BYTES), each with keyHash64(key) >= from. */
export function keysHashingAtOrAbove(keyCount: number, from: bigint, seed: number): Buffer {
  return keysWhere(keyCount, seed, (keys, at) => keyHash64(keys.subarray(at, at + KEY_BYTES)) >= from, `hash at or above ${from}`);
}
