// The recovery benchmark's data set and what it must read back as after a recovery: keyCount
// 16-byte keys with 100-byte values (bench/support/workload.ts, as bench:ycsb uses), loaded once
// (key i gets pool value i), then a tail of overwrites of keys 0 .. tailCount-1 (key i gets pool
// value i + TAIL_VALUE_SHIFT, a different value). Key indexes are not key order: key i is a mix of
// i, so the tail's keys are spread over every hash range.
//
// A recovery is checked by reading a sample of keys back and comparing every value byte for
// byte with the value the key must hold: a key missing, or holding its pre-tail value, or
// anything else, is counted and fails the benchmark.

import { Random } from '../../test/support/random.js';
import { KEY_BYTES, VALUE_BYTES, VALUE_POOL_COUNT, VALUE_POOL_MASK, distinctSample, makeKeys, makeValues } from './workload.js';

const TAIL_VALUE_SHIFT = VALUE_POOL_COUNT / 2;
const PROBLEMS_KEPT_MAX = 5;

export interface SampleCheck {
  checked: number;
  missing: number;
  wrong: number;
  /** The first few problems, one sentence each. */
  first: string[];
}

export class RecoveryData {
  readonly keys: Buffer;
  readonly values: Buffer;

  constructor(readonly keyCount: number, readonly tailCount: number, readonly seed: number) {
    if (!(tailCount >= 0 && tailCount <= keyCount)) throw new RangeError(`tail of ${tailCount} keys does not fit ${keyCount} keys`);
    const random = new Random(seed);
    this.keys = makeKeys(keyCount, random);
    this.values = makeValues(random);
  }

  keyAt(keyIndex: number): Buffer {
    return this.keys.subarray(keyIndex * KEY_BYTES, (keyIndex + 1) * KEY_BYTES);
  }

  valueAt(poolIndex: number): Buffer {
    const at = (poolIndex & VALUE_POOL_MASK) * VALUE_BYTES;
    return this.values.subarray(at, at + VALUE_BYTES);
  }

  /** What the load writes to key i. */
  loadValueOf(keyIndex: number): Buffer {
    return this.valueAt(keyIndex);
  }

  /** What the tail writes to key i (i < tailCount). */
  tailValueOf(keyIndex: number): Buffer {
    return this.valueAt(keyIndex + TAIL_VALUE_SHIFT);
  }

  /** What key i holds once the load and the tail are in. */
  expectedValueOf(keyIndex: number): Buffer {
    return keyIndex < this.tailCount ? this.tailValueOf(keyIndex) : this.loadValueOf(keyIndex);
  }

  /** `count` distinct key indexes, fixed by the seed. */
  sample(count: number): Uint32Array {
    return distinctSample(this.keyCount, Math.min(count, this.keyCount), new Random(this.seed ^ 0x5a5a_5a5a));
  }

  /**
   * Reads `sample` back through `read` (one call per chunk of keys, values in key order, null for
   * a missing key) and compares each value with the expected one.
   */
  async check(sample: Uint32Array, chunkKeys: number, read: (keys: Buffer[]) => Promise<(Buffer | null)[]>): Promise<SampleCheck> {
    const result: SampleCheck = { checked: 0, missing: 0, wrong: 0, first: [] };
    for (let from = 0; from < sample.length; from += chunkKeys) {
      const indexes = [...sample.subarray(from, from + chunkKeys)];
      const values = await read(indexes.map((i) => this.keyAt(i)));
      if (values.length !== indexes.length) throw new Error(`read ${values.length} values for ${indexes.length} keys`);
      indexes.forEach((keyIndex, at) => {
        result.checked++;
        const problem = this.problemOf(keyIndex, values[at]);
        if (problem === null) return;
        if (values[at] === null) result.missing++;
        else result.wrong++;
        if (result.first.length < PROBLEMS_KEPT_MAX) result.first.push(problem);
      });
    }
    return result;
  }

  private problemOf(keyIndex: number, value: Buffer | null): string | null {
    const key = this.keyAt(keyIndex).toString('latin1');
    if (value === null) return `key ${keyIndex} (${key}) is missing`;
    if (value.equals(this.expectedValueOf(keyIndex))) return null;
    const stale = keyIndex < this.tailCount && value.equals(this.loadValueOf(keyIndex));
    return `key ${keyIndex} (${key}) holds ${stale ? 'its value from before the tail' : `a ${value.length}-byte value that was never written to it`}`;
  }
}

export function sampleOk(check: SampleCheck, expectedCount: number): boolean {
  return check.checked === expectedCount && check.missing === 0 && check.wrong === 0;
}

export function describeSample(check: SampleCheck): string {
  const verdict = check.missing === 0 && check.wrong === 0 ? 'all right' : `${check.missing} missing, ${check.wrong} wrong: ${check.first.join('; ')}`;
  return `${check.checked} sampled keys read back, ${verdict}`;
}
