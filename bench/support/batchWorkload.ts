// Pre-generated batches for the wire-encoding benchmark (bench/frame.bench.ts): YCSB-like mixes
// of GET and PUT over 16-byte keys and 100-byte values, built before any timing so the timed
// loops measure the encodings and not the generator.
//
// A workload is a pool of POOL_OP_COUNT ops cut into batches of `batchOps`; the timed loops
// cycle through the pool's batches. Each op's key and value are handed to the encodings as
// Buffer views made here, once: a client is given its keys and values by its caller as byte
// arrays, so neither encoding is charged for making them.
//
// The numbers on the wire are chosen to be the size they would be in a long-running cluster,
// because protobuf writes them as varints and their size changes its bytes per op:
// - RIFL sequence numbers start at SEQ_BASE (a client some way into its life: 3-4 varint bytes);
// - versions start at VERSION_BASE (a store that has written about 10^9 records: 5 varint bytes);
// - every op carries view VIEW (non-zero, as any range's view is after its first split).

import { Opcode } from '../../proto/wire/index.js';
import { Random } from '../../test/support/random.js';
import { KEY_BYTES, VALUE_BYTES, VALUE_POOL_MASK, makeKeys, makeSequence, makeValues } from './workload.js';

export const POOL_OP_COUNT = 16_384;
export const KEY_COUNT = 100_000;
export const ZIPF_THETA = 0.99;
export const SEQ_BASE = 1_000_000;
export const VERSION_BASE = 1_000_000_000;
export const BATCH_ID_BASE = 1_000;
export const VIEW = 3;

export type MixName = 'A' | 'B';

export interface Mix {
  name: MixName;
  getFraction: number;
  description: string;
}

/** YCSB's core workloads A (update heavy) and B (read mostly), with PUT standing for update. */
export const MIXES: readonly Mix[] = [
  { name: 'B', getFraction: 0.95, description: 'YCSB B: 95% GET / 5% PUT' },
  { name: 'A', getFraction: 0.5, description: 'YCSB A: 50% GET / 50% PUT' },
];

export function mixNamed(name: MixName): Mix {
  const mix = MIXES.find((m) => m.name === name);
  if (mix === undefined) throw new RangeError(`unknown mix ${name}`);
  return mix;
}

export interface BatchWorkload {
  mix: Mix;
  batchOps: number;
  /** Batches in the pool: POOL_OP_COUNT / batchOps. */
  batchCount: number;
  /** Per op: Opcode.GET or Opcode.PUT. */
  opcodes: Uint8Array;
  /** Per op: the key as the caller hands it over (a view of one key Buffer). */
  keyViews: Buffer[];
  /** Per op: the value a PUT writes (a view of the value pool); empty for GETs. */
  valueViews: Buffer[];
  /** Per op: the PUT's RIFL sequence number; 0 for GETs. */
  seqs: Float64Array;
  /** The value pool: the server's stand-in for a store, read by storedValueOffset(). */
  values: Buffer;
}

const EMPTY = Buffer.alloc(0);

export function makeBatchWorkload(mix: Mix, batchOps: number, seed: number): BatchWorkload {
  if (!(Number.isInteger(batchOps) && batchOps > 0 && POOL_OP_COUNT % batchOps === 0)) {
    throw new RangeError(`batchOps must divide ${POOL_OP_COUNT}, got ${batchOps}`);
  }
  const random = new Random(seed);
  const keys = makeKeys(KEY_COUNT, random);
  const values = makeValues(random);
  const keyIndexes = makeSequence(KEY_COUNT, POOL_OP_COUNT, 'zipf', ZIPF_THETA, random).keyIndexes;
  const opcodes = new Uint8Array(POOL_OP_COUNT);
  const keyViews: Buffer[] = [];
  const valueViews: Buffer[] = [];
  const seqs = new Float64Array(POOL_OP_COUNT);
  let seq = SEQ_BASE;
  for (let i = 0; i < POOL_OP_COUNT; i++) {
    const keyAt = keyIndexes[i] * KEY_BYTES;
    keyViews.push(keys.subarray(keyAt, keyAt + KEY_BYTES));
    if (random.chance(mix.getFraction)) {
      opcodes[i] = Opcode.GET;
      valueViews.push(EMPTY);
    } else {
      opcodes[i] = Opcode.PUT;
      const valueAt = (random.uint32() & VALUE_POOL_MASK) * VALUE_BYTES;
      valueViews.push(values.subarray(valueAt, valueAt + VALUE_BYTES));
      seqs[i] = seq++;
    }
  }
  return { mix, batchOps, batchCount: POOL_OP_COUNT / batchOps, opcodes, keyViews, valueViews, seqs, values };
}

/** The RIFL acknowledgement a batch carries: every sequence number below its first op's. */
export function firstIncompleteSeq(batchIndex: number, batchOps: number): number {
  return SEQ_BASE + batchIndex * batchOps;
}

/**
 * Where the server's stand-in store keeps the value of the key at `bytes[keyOffset, +keyLength)`:
 * an offset into the value pool picked from the key's last two bytes (hex noise, well spread).
 * Both encodings call it with the key bytes they decoded, so both reply with the same values.
 */
export function storedValueOffset(bytes: Uint8Array, keyOffset: number, keyLength: number): number {
  const last = keyOffset + keyLength - 1;
  return (((bytes[last] << 8) | bytes[last - 1]) & VALUE_POOL_MASK) * VALUE_BYTES;
}

/** The version the stand-in store reports for the value at `valueOffset` of the pool. */
export function storedVersion(valueOffset: number): number {
  return VERSION_BASE + valueOffset / VALUE_BYTES;
}

/** The version the stand-in store writes for a PUT with sequence number `seq`. */
export function writtenVersion(seq: number): number {
  return VERSION_BASE + seq;
}
