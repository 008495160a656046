// Batch ops as plain values for wire tests: write one with a BatchWriter, check that a
// BatchReader positioned on it reports the same fields, and draw random ones (valid, or with
// exactly one per-op fault, so the expected opDetail does not depend on the order of checks).

import assert from 'node:assert/strict';
import { BatchReader, BatchWriter, Opcode, WireDetail, opcodeName, type FrameLimits } from '../../proto/wire/index.js';
import type { Random } from './random.js';

export const SAFE_MAX = Number.MAX_SAFE_INTEGER; // 2^53 - 1
export const VIEW_MAX = 0xffff_ffff;

const EMPTY = Buffer.alloc(0);

export interface WireOp {
  readonly opcode: Opcode;
  readonly key: Buffer;
  readonly view: number;
  /** PUT and PUT_IF_VERSION; empty otherwise. */
  readonly value: Buffer;
  /** PUT_IF_VERSION and DELETE_IF_VERSION; 0 otherwise. */
  readonly expectedVersion: number;
  /** INCR_BY; 0 otherwise. */
  readonly delta: number | bigint;
  /** Mutations; 0 for GET. */
  readonly seq: number;
  /** What the reader must report in opDetail. */
  readonly detail: WireDetail;
}

type OpFields = Partial<Omit<WireOp, 'opcode' | 'key'>>;

/** An op with neutral defaults for the fields it does not set (view 0, seq 1 for mutations). */
export function wireOp(opcode: Opcode, key: Buffer, fields: OpFields = {}): WireOp {
  return {
    opcode, key, view: 0, value: EMPTY, expectedVersion: 0, delta: 0, seq: opcode === Opcode.GET ? 0 : 1,
    detail: WireDetail.NONE, ...fields,
  };
}

export function writeOp(writer: BatchWriter, op: WireOp): void {
  switch (op.opcode) {
    case Opcode.GET: return writer.get(op.key, op.view);
    case Opcode.PUT: return writer.put(op.key, op.value, op.view, op.seq);
    case Opcode.DELETE: return writer.delete(op.key, op.view, op.seq);
    case Opcode.PUT_IF_VERSION: return writer.putIfVersion(op.key, op.value, op.expectedVersion, op.view, op.seq);
    case Opcode.DELETE_IF_VERSION: return writer.deleteIfVersion(op.key, op.expectedVersion, op.view, op.seq);
    case Opcode.INCR_BY: return writer.incrBy(op.key, op.delta, op.view, op.seq);
  }
}

/** A batch frame holding `ops`, copied out of the writer's buffer. */
export function writeBatch(ops: readonly WireOp[], firstIncompleteSeq = 0, limits?: FrameLimits): Buffer {
  const writer = limits === undefined ? new BatchWriter() : new BatchWriter(limits);
  writer.begin(firstIncompleteSeq);
  for (const op of ops) writeOp(writer, op);
  return Buffer.from(writer.finish());
}

/** The delta a reader reports: the number when it is a safe integer, else NaN. */
export function deltaAsRead(delta: number | bigint): number {
  const exact = BigInt(delta); // also turns -0 into 0, as the wire has no negative zero
  return exact <= BigInt(SAFE_MAX) && exact >= -BigInt(SAFE_MAX) ? Number(exact) : Number.NaN;
}

/** Asserts that `reader`, just advanced by next(), stands on `op`. */
export function expectOp(reader: BatchReader, op: WireOp, what: string): void {
  const at = `${what} (${opcodeName(op.opcode)})`;
  const f = reader.frame;
  assert.equal(opcodeName(reader.opcode), opcodeName(op.opcode), `${at}: opcode`);
  assert.equal(reader.view, op.view >>> 0, `${at}: view`);
  assert.equal(reader.keyLength, op.key.length, `${at}: keyLength`);
  assert.ok(reader.keyOffset + reader.keyLength <= f.length, `${at}: key within the frame`);
  assert.ok(f.subarray(reader.keyOffset, reader.keyOffset + reader.keyLength).equals(op.key), `${at}: key bytes`);
  assert.equal(reader.valueOffset, reader.keyOffset + reader.keyLength, `${at}: value follows the key`);
  assert.equal(reader.valueLength, op.value.length, `${at}: valueLength`);
  assert.ok(reader.valueOffset + reader.valueLength <= f.length, `${at}: value within the frame`);
  assert.ok(f.subarray(reader.valueOffset, reader.valueOffset + reader.valueLength).equals(op.value), `${at}: value bytes`);
  assert.equal(reader.expectedVersion, op.expectedVersion < 2 ** 53 ? op.expectedVersion : Number.NaN, `${at}: expectedVersion`);
  assert.equal(reader.delta, deltaAsRead(op.delta), `${at}: delta`);
  assert.equal(reader.seq, op.seq, `${at}: seq`);
  assert.equal(reader.opDetail, op.detail, `${at}: opDetail`);
}

/** Opens `frame` and checks that it holds exactly `ops`, in order. */
export function expectBatch(frame: Buffer, ops: readonly WireOp[], what: string, limits?: FrameLimits): BatchReader {
  const reader = limits === undefined ? new BatchReader() : new BatchReader(limits);
  reader.open(frame);
  assert.equal(reader.opCount, ops.length, `${what}: opCount`);
  ops.forEach((op, i) => {
    assert.ok(reader.next(), `${what}: next() for op ${i}`);
    expectOp(reader, op, `${what}: op ${i}`);
  });
  assert.equal(reader.next(), false, `${what}: next() after the last op`);
  return reader;
}

/** A safe non-negative integer, often small, sometimes near 2^53. */
export function randomSafeUint(random: Random): number {
  const roll = random.float();
  if (roll < 0.4) return random.below(1000);
  if (roll < 0.5) return SAFE_MAX - random.below(1000);
  return Number(random.bigBelow(2n ** 53n));
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A safe delta (number), or a bigint anywhere in int64 (mostly beyond the safe range). */
function randomDelta(random: Random): number | bigint {
  const roll = random.float();
  if (roll < 0.5) return random.chance(0.5) ? -randomSafeUint(random) : randomSafeUint(random);
  if (roll < 0.6) return random.pick([INT64_MIN, INT64_MAX, 2n ** 53n, -(2n ** 53n), 5n, -5n]);
  return random.bigBelow(2n ** 64n) + INT64_MIN;
}

function randomView(random: Random): number {
  return random.chance(0.1) ? random.pick([0, 1, VIEW_MAX]) : random.uint32();
}

function randomLength(random: Random, max: number): number {
  return random.chance(0.8) ? random.between(0, Math.min(max, 32)) : random.between(0, max);
}

function randomValid(random: Random, opcode: Opcode, limits: FrameLimits): WireOp {
  const mutation = opcode !== Opcode.GET;
  const carriesValue = opcode === Opcode.PUT || opcode === Opcode.PUT_IF_VERSION;
  const conditional = opcode === Opcode.PUT_IF_VERSION || opcode === Opcode.DELETE_IF_VERSION;
  const delta = opcode === Opcode.INCR_BY ? randomDelta(random) : 0;
  const op = wireOp(opcode, random.bytes(Math.max(1, randomLength(random, limits.keyLengthMax))), {
    view: randomView(random),
    value: carriesValue ? random.bytes(randomLength(random, Math.min(limits.valueLengthMax, 4096))) : EMPTY,
    expectedVersion: conditional ? randomSafeUint(random) : 0,
    delta,
    seq: mutation ? Math.max(1, randomSafeUint(random)) : 0,
  });
  return Number.isNaN(deltaAsRead(delta)) ? { ...op, detail: WireDetail.DELTA_NOT_SAFE_INTEGER } : op;
}

/** `length` copies of one random byte (oversized keys and values can be 1 MiB: cheaper than random bytes). */
function filled(random: Random, length: number): Buffer {
  return Buffer.alloc(length, random.below(256));
}

/** A valid op turned into one with exactly one fault, or the op unchanged if it has none to take. */
function withFault(random: Random, op: WireOp, limits: FrameLimits): WireOp {
  if (op.detail !== WireDetail.NONE) return op;
  const faults: WireOp[] = [
    { ...op, key: EMPTY, detail: WireDetail.KEY_EMPTY },
    { ...op, key: filled(random, limits.keyLengthMax + random.between(1, 4)), detail: WireDetail.KEY_TOO_LARGE },
  ];
  if (op.opcode === Opcode.PUT || op.opcode === Opcode.PUT_IF_VERSION) {
    faults.push({ ...op, value: filled(random, limits.valueLengthMax + random.between(1, 4)), detail: WireDetail.VALUE_TOO_LARGE });
  }
  if (op.opcode === Opcode.PUT_IF_VERSION || op.opcode === Opcode.DELETE_IF_VERSION) {
    faults.push({ ...op, expectedVersion: random.pick([2 ** 53, 2 ** 60, 2 ** 64 - 2048]), detail: WireDetail.VERSION_INVALID });
  }
  if (op.opcode !== Opcode.GET) faults.push({ ...op, seq: 0, detail: WireDetail.SEQUENCE_MISSING });
  return random.pick(faults);
}

const OPCODES: readonly Opcode[] = [
  Opcode.GET, Opcode.PUT, Opcode.DELETE, Opcode.PUT_IF_VERSION, Opcode.DELETE_IF_VERSION, Opcode.INCR_BY,
];

/** A random op of any opcode; with probability `faultShare` it carries exactly one per-op fault. */
export function randomOp(random: Random, limits: FrameLimits, faultShare: number): WireOp {
  const op = randomValid(random, random.pick(OPCODES), limits);
  return random.chance(faultShare) ? withFault(random, op, limits) : op;
}

/** Random ops for one batch, as many as `writer` (already begun) accepts, up to `count`; writes them. */
export function writeRandomOps(random: Random, writer: BatchWriter, count: number, faultShare: number): WireOp[] {
  const ops: WireOp[] = [];
  while (ops.length < count) {
    const op = randomOp(random, writer.limits, faultShare);
    if (!writer.fits(op.opcode, op.key.length, op.value.length)) break;
    writeOp(writer, op);
    ops.push(op);
  }
  return ops;
}
