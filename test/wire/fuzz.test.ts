// Fuzzing the frame readers (STYLE.md, "Adversarial wire tests"): random byte strings, frames
// built by hand with random (often out-of-range) fields, and valid frames with random mutations
// (bit flips, overwritten length and count fields, cuts, splices) are fed to BatchReader and
// ResultReader. The only exception either may throw is FrameError. Every outcome is compared
// with a reference decoder written here from the layouts in docs/wire-format.md: the reader
// accepts exactly the frames the reference accepts, walks exactly opCount ops (resultCount
// results), and reports the same fields; every offset + length stays inside the frame.
//
//   SLICEKV_SEED=<seed> node scripts/run-tests.js fuzz     replays a failure
//   SLICEKV_TEST_LONG=1 node scripts/run-tests.js fuzz     500k frames per reader instead of 20k

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BatchReader, BatchWriter, DEFAULT_FRAME_LIMITS, FrameErrorCode, Opcode, ResultReader, ResultWriter, WireDetail, WireStatus,
  type FrameLimits,
} from '../../proto/wire/index.js';
import { Random } from '../support/random.js';
import { isLongMode, replayHint, seedFromEnvironment } from '../support/environment.js';
import { batchFrame, frameErrorCode, hexPreview, type OpBytes } from '../support/wireFrames.js';
import { writeRandomOps } from '../support/wireOps.js';

const FRAMES = isLongMode() ? 500_000 : 20_000;
/** Small limits, so TOO_MANY_OPS, FRAME_TOO_LARGE and the per-op size faults are reached often. */
const FUZZ_LIMITS: FrameLimits = { keyLengthMax: 24, valueLengthMax: 48, opCountMax: 12, frameBytesMax: 512 };
const TWO_POW_53 = 2n ** 53n;

// ---- reference decoders (from the documented layouts, bigint arithmetic) ----

/** Bytes of each opcode's fields after the 8-byte common part (docs/wire-format.md table). */
const FIELDS_BYTES = [-1, 0, 12, 8, 20, 16, 16];

interface RefOp {
  readonly opcode: number;
  readonly view: number;
  readonly keyOffset: number;
  readonly keyLength: number;
  readonly valueLength: number;
  readonly expectedVersion: bigint;
  readonly delta: bigint;
  readonly seq: bigint;
}

function refFields(f: Buffer, opcode: number, at: number): Pick<RefOp, 'valueLength' | 'expectedVersion' | 'delta' | 'seq'> {
  switch (opcode) {
    case Opcode.PUT: return { valueLength: f.readUInt32LE(at), expectedVersion: 0n, delta: 0n, seq: f.readBigUInt64LE(at + 4) };
    case Opcode.DELETE: return { valueLength: 0, expectedVersion: 0n, delta: 0n, seq: f.readBigUInt64LE(at) };
    case Opcode.PUT_IF_VERSION:
      return { valueLength: f.readUInt32LE(at), expectedVersion: f.readBigUInt64LE(at + 4), delta: 0n, seq: f.readBigUInt64LE(at + 12) };
    case Opcode.DELETE_IF_VERSION:
      return { valueLength: 0, expectedVersion: f.readBigUInt64LE(at), delta: 0n, seq: f.readBigUInt64LE(at + 8) };
    case Opcode.INCR_BY: return { valueLength: 0, expectedVersion: 0n, delta: f.readBigInt64LE(at), seq: f.readBigUInt64LE(at + 8) };
    default: return { valueLength: 0, expectedVersion: 0n, delta: 0n, seq: 0n };
  }
}

/** The op at `at`, or null when it is malformed or runs past the frame. */
function refOp(f: Buffer, at: number): RefOp | null {
  if (at + 8 > f.length) return null;
  const opcode = f[at];
  if (opcode < 1 || opcode > 6 || f[at + 1] !== 0) return null;
  const keyOffset = at + 8 + FIELDS_BYTES[opcode];
  if (keyOffset > f.length) return null;
  const fields = refFields(f, opcode, at + 8);
  const keyLength = f.readUInt16LE(at + 2);
  if (keyOffset + keyLength + fields.valueLength > f.length) return null;
  return { opcode, view: f.readUInt32LE(at + 4), keyOffset, keyLength, ...fields };
}

/** The ops of a batch frame, or null when the frame must be refused. */
function referenceBatch(f: Buffer, limits: FrameLimits): RefOp[] | null {
  if (f.length > limits.frameBytesMax || f.length < 16) return null;
  if (f.readUInt16LE(0) !== 1 || f.readUInt16LE(2) !== 0) return null;
  const count = f.readUInt32LE(4);
  if (count > limits.opCountMax) return null;
  const ops: RefOp[] = [];
  let at = 16;
  for (let i = 0; i < count; i++) {
    const op = refOp(f, at);
    if (op === null) return null;
    ops.push(op);
    at = op.keyOffset + op.keyLength + op.valueLength;
  }
  return at === f.length ? ops : null;
}

const safeOrNaN = (value: bigint): number => (value < TWO_POW_53 && value > -TWO_POW_53 ? Number(value) : Number.NaN);

/** The per-op faults that apply to `op`; the reader must report one of them, or NONE if there are none. */
function refDetails(op: RefOp, limits: FrameLimits): WireDetail[] {
  const details: WireDetail[] = [];
  if (op.keyLength === 0) details.push(WireDetail.KEY_EMPTY);
  if (op.keyLength > limits.keyLengthMax) details.push(WireDetail.KEY_TOO_LARGE);
  if (op.valueLength > limits.valueLengthMax) details.push(WireDetail.VALUE_TOO_LARGE);
  if (op.expectedVersion >= TWO_POW_53) details.push(WireDetail.VERSION_INVALID);
  if (Number.isNaN(safeOrNaN(op.delta))) details.push(WireDetail.DELTA_NOT_SAFE_INTEGER);
  if (op.opcode !== Opcode.GET && (op.seq === 0n || op.seq >= TWO_POW_53)) details.push(WireDetail.SEQUENCE_MISSING);
  return details;
}

function expectRefOp(reader: BatchReader, op: RefOp, limits: FrameLimits, what: string): void {
  assert.deepEqual({
    opcode: reader.opcode, view: reader.view, keyOffset: reader.keyOffset, keyLength: reader.keyLength,
    valueOffset: reader.valueOffset, valueLength: reader.valueLength, expectedVersion: reader.expectedVersion, delta: reader.delta,
    seq: reader.seq,
  }, {
    opcode: op.opcode, view: op.view, keyOffset: op.keyOffset, keyLength: op.keyLength, valueOffset: op.keyOffset + op.keyLength,
    valueLength: op.valueLength, expectedVersion: safeOrNaN(op.expectedVersion), delta: safeOrNaN(op.delta), seq: safeOrNaN(op.seq),
  }, what);
  assert.ok(reader.keyOffset >= 16 && reader.valueOffset + reader.valueLength <= reader.frame.length, `${what}: within the frame`);
  const details = refDetails(op, limits);
  if (details.length === 0) assert.equal(reader.opDetail, WireDetail.NONE, `${what}: opDetail`);
  else assert.ok(details.includes(reader.opDetail), `${what}: opDetail ${reader.opDetail}, expected one of ${details.join(', ')}`);
}

const BATCH_CODES: ReadonlySet<string> = new Set([FrameErrorCode.TRUNCATED, FrameErrorCode.BAD_FORMAT_VERSION, FrameErrorCode.BAD_FLAGS,
  FrameErrorCode.UNKNOWN_OPCODE, FrameErrorCode.TOO_MANY_OPS, FrameErrorCode.FRAME_TOO_LARGE, FrameErrorCode.TRAILING_BYTES]);

/** Feeds `frame` to `reader`; checks it against the reference; returns the outcome ("accepted" or the FrameError code). */
function checkBatch(reader: BatchReader, frame: Buffer, limits: FrameLimits): string {
  const expected = referenceBatch(frame, limits);
  const code = frameErrorCode(() => reader.open(frame));
  if (expected === null) {
    assert.notEqual(code, null, 'the layout says this frame is malformed, but open() accepted it');
    assert.ok(BATCH_CODES.has(code!), `code ${code} is not a batch frame error`);
    return code!;
  }
  assert.equal(code, null, 'the layout says this frame is valid, but open() refused it');
  assert.equal(reader.opCount, expected.length, 'opCount');
  for (const [i, op] of expected.entries()) {
    assert.ok(reader.next(), `next() for op ${i} of ${expected.length}`);
    expectRefOp(reader, op, limits, `op ${i}`);
  }
  assert.equal(reader.next(), false, 'next() after opCount ops');
  return 'accepted';
}

interface RefResult {
  readonly status: number;
  readonly opcode: number;
  readonly detail: number;
  readonly version: number;
  readonly valueOffset: number | null;
  readonly valueLength: number;
  readonly integer: number | bigint | null;
  readonly currentView: number | null;
  readonly owner: string | null;
}

/** The fields after the common part at `at`: the result and where it ends, or null when cut off. */
function refResultFields(f: Buffer, status: number, opcode: number, at: number): [Omit<RefResult, 'status' | 'opcode' | 'detail'>, number] | null {
  const none = { version: 0, valueOffset: null, valueLength: 0, integer: null, currentView: null, owner: null };
  if (status === WireStatus.OK || status === WireStatus.VERSION_MISMATCH) {
    if (at + 8 > f.length) return null;
    const version = safeOrNaN(f.readBigUInt64LE(at));
    if (status === WireStatus.VERSION_MISMATCH || (opcode !== Opcode.GET && opcode !== Opcode.INCR_BY)) return [{ ...none, version }, at + 8];
    if (opcode === Opcode.INCR_BY) {
      if (at + 16 > f.length) return null;
      const integer = f.readBigInt64LE(at + 8);
      return [{ ...none, version, integer: Number.isNaN(safeOrNaN(integer)) ? integer : Number(integer) }, at + 16];
    }
    if (at + 12 > f.length) return null;
    const valueLength = f.readUInt32LE(at + 8);
    return at + 12 + valueLength > f.length ? null : [{ ...none, version, valueOffset: at + 12, valueLength }, at + 12 + valueLength];
  }
  if (status !== WireStatus.WRONG_RANGE) return [none, at];
  if (at + 6 > f.length) return null;
  const ownerLength = f.readUInt16LE(at + 4);
  if (at + 6 + ownerLength > f.length) return null;
  return [{ ...none, currentView: f.readUInt32LE(at), owner: f.toString('utf8', at + 6, at + 6 + ownerLength) }, at + 6 + ownerLength];
}

/** The results a reader can read before the frame is found malformed, and whether it is valid throughout. */
function referenceResults(f: Buffer): { results: RefResult[]; valid: boolean } {
  const results: RefResult[] = [];
  if (f.length < 8 || f.readUInt16LE(0) !== 1 || f.readUInt16LE(2) !== 0) return { results, valid: false };
  const count = f.readUInt32LE(4);
  let at = 8;
  for (let i = 0; i < count; i++) {
    if (at + 4 > f.length) return { results, valid: false };
    const [status, opcode, detail] = [f[at], f[at + 1], f.readUInt16LE(at + 2)];
    if (status > 9 || opcode < 1 || opcode > 6) return { results, valid: false };
    const fields = refResultFields(f, status, opcode, at + 4);
    if (fields === null) return { results, valid: false };
    results.push({ status, opcode, detail, ...fields[0] });
    at = fields[1];
  }
  return { results, valid: at === f.length };
}

function expectRefResult(reader: ResultReader, result: RefResult, what: string): void {
  assert.deepEqual({ status: reader.status, opcode: reader.opcode, detail: reader.detail, version: reader.version, valueLength: reader.valueLength },
    { status: result.status, opcode: result.opcode, detail: result.detail, version: result.version, valueLength: result.valueLength }, what);
  if (result.valueOffset !== null) {
    assert.equal(reader.valueOffset, result.valueOffset, `${what}: valueOffset`);
    assert.ok(reader.valueOffset + reader.valueLength <= reader.frame.length, `${what}: value within the frame`);
  }
  if (result.integer !== null) assert.equal(reader.integer, result.integer, `${what}: integer`);
  if (result.currentView !== null) assert.equal(reader.currentView, result.currentView, `${what}: currentView`);
  if (result.owner !== null) assert.equal(reader.owner, result.owner, `${what}: owner`);
}

const RESULT_CODES: ReadonlySet<string> = new Set([FrameErrorCode.TRUNCATED, FrameErrorCode.BAD_FORMAT_VERSION, FrameErrorCode.BAD_FLAGS,
  FrameErrorCode.UNKNOWN_OPCODE, FrameErrorCode.UNKNOWN_STATUS, FrameErrorCode.TRAILING_BYTES]);

/** Walks `frame` with `reader`; checks it against the reference; returns the outcome. */
function checkResults(reader: ResultReader, frame: Buffer): string {
  const expected = referenceResults(frame);
  let walked = 0;
  const code = frameErrorCode(() => {
    reader.open(frame);
    while (reader.next()) {
      assert.ok(walked < expected.results.length, `next() returned result ${walked}, the layout allows ${expected.results.length}`);
      expectRefResult(reader, expected.results[walked], `result ${walked}`);
      walked++;
    }
  });
  assert.equal(walked, expected.results.length, `results read before ${code ?? 'the end'}`);
  if (expected.valid) {
    assert.equal(code, null, 'the layout says this frame is valid, but the reader refused it');
    assert.equal(reader.resultCount, walked, 'resultCount');
    return 'accepted';
  }
  assert.notEqual(code, null, 'the layout says this frame is malformed, but the reader walked it to the end');
  assert.ok(RESULT_CODES.has(code!), `code ${code} is not a result frame error`);
  return code!;
}

// ---- inputs ----

const INTERESTING_U8 = [0, 1, 2, 6, 7, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING_U16 = [0, 1, 2, 8, 24, 25, 0xff, 0x100, 0x7fff, 0xffff];
const INTERESTING_U32 = [0, 1, 2, 11, 12, 13, 48, 49, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff];

/** One random change to `b`: bit flip, interesting byte / u16 / u32, cut, append, delete or duplicate a range. */
function mutateOnce(random: Random, b: Buffer): Buffer {
  const at = random.below(b.length + 1);
  switch (random.below(8)) {
    case 0: if (at < b.length) b[at] ^= 1 << random.below(8); return b;
    case 1: if (at < b.length) b[at] = random.pick(INTERESTING_U8); return b;
    case 2: if (at + 2 <= b.length) b.writeUInt16LE(random.pick(INTERESTING_U16), at); return b;
    case 3: if (at + 4 <= b.length) b.writeUInt32LE(random.pick([...INTERESTING_U32, b.length, random.uint32()]), at); return b;
    case 4: return b.subarray(0, at);
    case 5: return Buffer.concat([b, random.bytes(random.between(1, 24))]);
    case 6: return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + random.between(1, 12)))]);
    default: {
      const from = random.below(b.length + 1);
      return Buffer.concat([b.subarray(0, at), b.subarray(from, from + random.between(1, 24)), b.subarray(at)]);
    }
  }
}

function mutate(random: Random, frame: Buffer, countFieldAt: number): Buffer {
  let bytes: Buffer = Buffer.from(frame);
  if (random.chance(0.15) && bytes.length >= countFieldAt + 4) {
    bytes.writeUInt32LE(Math.max(0, bytes.readUInt32LE(countFieldAt) + random.between(-2, 2)), countFieldAt);
  }
  for (let n = random.between(1, 4); n > 0; n--) bytes = mutateOnce(random, bytes);
  return bytes;
}

/** Random bytes; often with a plausible header (version 1, flags 0, a small count) so the walk is reached. */
function randomBytes(random: Random, headerBytes: number, countFieldAt: number): Buffer {
  const roll = random.float();
  const length = roll < 0.1 ? random.below(headerBytes) : roll < 0.95 ? random.between(headerBytes, 200) : random.between(200, 700);
  const bytes = random.bytes(length);
  if (random.chance(0.6) && bytes.length >= headerBytes) {
    bytes.writeUInt32LE(1, 0);
    bytes.writeUInt32LE(random.below(7), countFieldAt);
  }
  return bytes;
}

/** A 64-bit field: zero, small, safe, or anywhere (mostly unsafe). */
function random64(random: Random): bigint {
  const roll = random.float();
  if (roll < 0.15) return 0n;
  if (roll < 0.5) return BigInt(random.below(1000));
  if (roll < 0.8) return random.bigBelow(TWO_POW_53);
  return random.uint64();
}

function randomHandOp(random: Random): OpBytes {
  const value = random.bytes(random.chance(0.8) ? random.below(20) : random.below(70));
  const key = random.bytes(random.chance(0.8) ? random.between(0, 12) : random.below(40));
  const off = (length: number): number => (random.chance(0.08) ? Math.max(0, length + random.between(-2, 2)) : length);
  return {
    opcode: random.chance(0.95) ? random.between(1, 6) : random.pick([0, 7, 255]),
    flags: random.chance(0.03) ? random.between(1, 255) : 0,
    key, keyLength: off(key.length), value, valueLength: off(value.length), view: random.uint32(),
    expectedVersion: random64(random), delta: BigInt.asIntN(64, random64(random)), seq: random64(random),
  };
}

/** A batch frame built by hand from random ops with random, often out-of-range, fields. */
function handBuiltBatch(random: Random): Buffer {
  const ops = Array.from({ length: random.below(random.chance(0.9) ? 6 : 16) }, () => randomHandOp(random));
  return batchFrame({
    version: random.chance(0.03) ? random.pick([0, 2]) : 1, flags: random.chance(0.03) ? 1 : 0,
    opCount: random.chance(0.1) ? Math.max(0, ops.length + random.between(-1, 1)) : ops.length,
    firstIncompleteSeq: random64(random), ops,
    ...(random.chance(0.05) ? { trailing: random.bytes(random.between(1, 8)) } : {}),
  });
}

function validBatch(random: Random, writer: BatchWriter): Buffer {
  writer.begin(Number(random.bigBelow(TWO_POW_53)));
  writeRandomOps(random, writer, random.between(0, 10), 0.2);
  return Buffer.from(writer.finish());
}

function batchInput(random: Random, writer: BatchWriter): [string, Buffer] {
  const roll = random.float();
  if (roll < 0.2) return ['random bytes', randomBytes(random, 16, 4)];
  if (roll < 0.45) return ['hand-built', handBuiltBatch(random)];
  const valid = validBatch(random, writer);
  return roll < 0.5 ? ['valid', valid] : ['mutated', mutate(random, valid, 4)];
}

function writeRandomResult(random: Random, writer: ResultWriter): void {
  const opcode = random.between(1, 6) as Opcode;
  const version = Number(random.bigBelow(TWO_POW_53));
  switch (random.below(6)) {
    case 0: { const value = random.bytes(random.below(40)); return writer.value(version, value, 0, value.length); }
    case 1: return writer.written(random.pick([Opcode.PUT, Opcode.DELETE, Opcode.PUT_IF_VERSION, Opcode.DELETE_IF_VERSION]), version);
    case 2: return writer.integer(version, random.chance(0.5) ? random.below(1000) - 500 : BigInt.asIntN(64, random.uint64()));
    case 3: return writer.versionMismatch(opcode, version);
    case 4: return writer.wrongRange(opcode, random.uint32(), random.pick(['10.0.0.7:7000', 'pod-ü:1', '']));
    default: return writer.status(random.pick([WireStatus.NOT_FOUND, WireStatus.INVALID_ARGUMENT, WireStatus.OVERLOADED,
      WireStatus.SESSION_EXPIRED, WireStatus.UNAVAILABLE, WireStatus.CORRUPT]), opcode, random.below(11) as WireDetail);
  }
}

function resultInput(random: Random, writer: ResultWriter): [string, Buffer] {
  if (random.chance(0.25)) return ['random bytes', randomBytes(random, 8, 4)];
  writer.begin();
  for (let n = random.below(8); n > 0; n--) writeRandomResult(random, writer);
  const valid = Buffer.from(writer.finish());
  return random.chance(0.1) ? ['valid', valid] : ['mutated', mutate(random, valid, 4)];
}

// ---- the runs ----

function tally(outcomes: Map<string, number>, outcome: string): void {
  outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
}

function failure(seed: number, i: number, source: string, frame: Buffer, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`fuzz failed: seed ${seed} (${replayHint(seed)}), frame ${i} (${source}, ${frame.length} bytes)\n`
    + `frame: ${hexPreview(frame, 512)}\n${message}`, { cause: error });
}

test('BatchReader: random, hand-built and mutated frames open and walk as the layout says, or throw FrameError (seeded)', (t) => {
  const seed = seedFromEnvironment();
  t.diagnostic(`seed ${seed}; ${FRAMES} frames (${replayHint(seed)})`);
  const random = new Random(seed);
  const readers = [new BatchReader(FUZZ_LIMITS), new BatchReader(DEFAULT_FRAME_LIMITS)];
  const writer = new BatchWriter(FUZZ_LIMITS);
  const outcomes = new Map<string, number>();
  for (let i = 0; i < FRAMES; i++) {
    const [source, frame] = batchInput(random, writer);
    const reader = readers[i & 1];
    try {
      tally(outcomes, checkBatch(reader, frame, reader.limits));
    } catch (error) {
      throw failure(seed, i, `${source}, limits ${JSON.stringify(reader.limits)}`, frame, error);
    }
  }
  t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
  // The inputs are meant to reach every refusal and plenty of accepted frames; a run that does not tests little.
  assert.ok((outcomes.get('accepted') ?? 0) > FRAMES / 10, 'accepted frames');
  for (const code of BATCH_CODES) assert.ok(outcomes.has(code), `no frame was refused with ${code} (${replayHint(seed)})`);
});

test('ResultReader: random and mutated result frames walk as the layout says, or throw FrameError (seeded)', (t) => {
  const seed = seedFromEnvironment();
  t.diagnostic(`seed ${seed}; ${FRAMES} frames (${replayHint(seed)})`);
  const random = new Random(seed);
  const reader = new ResultReader();
  const writer = new ResultWriter();
  const outcomes = new Map<string, number>();
  for (let i = 0; i < FRAMES; i++) {
    const [source, frame] = resultInput(random, writer);
    try {
      tally(outcomes, checkResults(reader, frame));
    } catch (error) {
      throw failure(seed, i, source, frame, error);
    }
  }
  t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
  assert.ok((outcomes.get('accepted') ?? 0) > FRAMES / 20, 'accepted frames');
  for (const code of RESULT_CODES) assert.ok(outcomes.has(code), `no frame was refused with ${code} (${replayHint(seed)})`);
});
