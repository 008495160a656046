// Server side: checks a whole batch frame first (so a malformed frame runs nothing), then walks
// its ops one at a time into this reader's fields — no object per op. Structural faults throw a
// FrameError for the batch; per-op faults that leave the frame parseable (a key or value over
// the limits, an unsafe delta or version, a mutation without a sequence number) are reported in
// `opDetail` so the server answers INVALID_ARGUMENT for that op alone.

import { Opcode, OPCODE_MAX, WireDetail } from './codes.js';
import { FrameError, FrameErrorCode } from './frameError.js';
import { readInt64, readUint64 } from './int64.js';
import { DEFAULT_FRAME_LIMITS, FRAME_FORMAT_VERSION, type FrameLimits } from './limits.js';
import {
  BATCH_AT_FIRST_INCOMPLETE, BATCH_AT_FLAGS, BATCH_AT_OP_COUNT, BATCH_AT_VERSION, BATCH_HEADER_BYTES, OP_AT_FLAGS,
  OP_AT_KEY_LENGTH, OP_AT_OPCODE, OP_AT_VIEW, OP_COMMON_BYTES, OP_FIELDS_BYTES, carriesValue,
} from './batchLayout.js';

export class BatchReader {
  frame: Buffer = Buffer.alloc(0);
  opCount = 0;
  firstIncompleteSeq = 0;
  // ---- the current op, after next() ----
  opcode: Opcode = Opcode.GET;
  view = 0;
  keyOffset = 0;
  keyLength = 0;
  valueOffset = 0;
  valueLength = 0;
  /** PUT_IF_VERSION / DELETE_IF_VERSION; NaN if not a safe integer (opDetail says so). */
  expectedVersion = 0;
  /** INCR_BY; NaN if not a safe integer (opDetail says so). */
  delta = 0;
  /** RIFL sequence number of a mutation; 0 for GET. */
  seq = 0;
  /** NONE, or why this op is INVALID_ARGUMENT although the frame parses. */
  opDetail: WireDetail = WireDetail.NONE;
  private cursor = 0;
  private remaining = 0;

  constructor(readonly limits: FrameLimits = DEFAULT_FRAME_LIMITS) {}

  /** Checks the whole frame; throws FrameError if any part of it cannot be parsed. */
  open(frame: Buffer): void {
    // Until this frame checks out, the reader has no ops (a refused frame never leaves the last one readable).
    this.remaining = 0;
    this.opCount = 0;
    if (frame.length > this.limits.frameBytesMax) {
      throw new FrameError(FrameErrorCode.FRAME_TOO_LARGE, `${frame.length} bytes, limit ${this.limits.frameBytesMax}`);
    }
    if (frame.length < BATCH_HEADER_BYTES) throw new FrameError(FrameErrorCode.TRUNCATED, `batch header needs ${BATCH_HEADER_BYTES} bytes, got ${frame.length}`);
    const version = frame.readUInt16LE(BATCH_AT_VERSION);
    if (version !== FRAME_FORMAT_VERSION) throw new FrameError(FrameErrorCode.BAD_FORMAT_VERSION, `version ${version}, expected ${FRAME_FORMAT_VERSION}`);
    if (frame.readUInt16LE(BATCH_AT_FLAGS) !== 0) throw new FrameError(FrameErrorCode.BAD_FLAGS, 'batch flags must be 0');
    const opCount = frame.readUInt32LE(BATCH_AT_OP_COUNT);
    if (opCount > this.limits.opCountMax) throw new FrameError(FrameErrorCode.TOO_MANY_OPS, `${opCount} ops, limit ${this.limits.opCountMax}`);
    let at = BATCH_HEADER_BYTES;
    for (let i = 0; i < opCount; i++) at = opEnd(frame, at, i);
    if (at !== frame.length) throw new FrameError(FrameErrorCode.TRAILING_BYTES, `${frame.length - at} bytes after op ${opCount}`);
    this.frame = frame;
    this.opCount = opCount;
    this.firstIncompleteSeq = readUint64(frame, BATCH_AT_FIRST_INCOMPLETE);
    this.cursor = BATCH_HEADER_BYTES;
    this.remaining = opCount;
  }

  /** Back to before the first op of the open frame (a second pass over the same ops). */
  rewind(): void {
    this.cursor = BATCH_HEADER_BYTES;
    this.remaining = this.opCount;
  }

  /** Moves to the next op; false after the last one. */
  next(): boolean {
    if (this.remaining === 0) return false;
    this.remaining--;
    const f = this.frame;
    const at = this.cursor;
    this.opcode = f[at + OP_AT_OPCODE] as Opcode;
    this.keyLength = f.readUInt16LE(at + OP_AT_KEY_LENGTH);
    this.view = f.readUInt32LE(at + OP_AT_VIEW);
    this.readFields(at + OP_COMMON_BYTES);
    this.keyOffset = at + OP_COMMON_BYTES + OP_FIELDS_BYTES[this.opcode];
    this.valueOffset = this.keyOffset + this.keyLength;
    this.cursor = this.valueOffset + this.valueLength;
    this.opDetail = this.checkOp();
    return true;
  }

  private readFields(at: number): void {
    const f = this.frame;
    this.valueLength = 0;
    this.expectedVersion = 0;
    this.delta = 0;
    this.seq = 0;
    switch (this.opcode) {
      case Opcode.GET:
        return;
      case Opcode.PUT:
        this.valueLength = f.readUInt32LE(at);
        this.seq = readUint64(f, at + 4);
        return;
      case Opcode.DELETE:
        this.seq = readUint64(f, at);
        return;
      case Opcode.PUT_IF_VERSION:
        this.valueLength = f.readUInt32LE(at);
        this.expectedVersion = readUint64(f, at + 4);
        this.seq = readUint64(f, at + 12);
        return;
      case Opcode.DELETE_IF_VERSION:
        this.expectedVersion = readUint64(f, at);
        this.seq = readUint64(f, at + 8);
        return;
      case Opcode.INCR_BY:
        this.delta = readInt64(f, at);
        this.seq = readUint64(f, at + 8);
        return;
    }
  }

  private checkOp(): WireDetail {
    if (this.keyLength === 0) return WireDetail.KEY_EMPTY;
    if (this.keyLength > this.limits.keyLengthMax) return WireDetail.KEY_TOO_LARGE;
    if (this.valueLength > this.limits.valueLengthMax) return WireDetail.VALUE_TOO_LARGE;
    if (Number.isNaN(this.expectedVersion)) return WireDetail.VERSION_INVALID;
    if (Number.isNaN(this.delta)) return WireDetail.DELTA_NOT_SAFE_INTEGER;
    if (this.opcode !== Opcode.GET && !(this.seq > 0)) return WireDetail.SEQUENCE_MISSING;
    return WireDetail.NONE;
  }
}

/** Where the op starting at `at` ends; throws FrameError if it is malformed or runs past the frame. */
function opEnd(frame: Buffer, at: number, index: number): number {
  if (at + OP_COMMON_BYTES > frame.length) throw new FrameError(FrameErrorCode.TRUNCATED, `op ${index}: header cut off`);
  const opcode = frame[at + OP_AT_OPCODE];
  if (opcode < 1 || opcode > OPCODE_MAX) throw new FrameError(FrameErrorCode.UNKNOWN_OPCODE, `op ${index}: opcode ${opcode}`);
  if (frame[at + OP_AT_FLAGS] !== 0) throw new FrameError(FrameErrorCode.BAD_FLAGS, `op ${index}: flags must be 0`);
  const fieldsAt = at + OP_COMMON_BYTES;
  const keyAt = fieldsAt + OP_FIELDS_BYTES[opcode];
  if (keyAt > frame.length) throw new FrameError(FrameErrorCode.TRUNCATED, `op ${index}: fields cut off`);
  const valueLength = carriesValue(opcode as Opcode) ? frame.readUInt32LE(fieldsAt) : 0;
  const end = keyAt + frame.readUInt16LE(at + OP_AT_KEY_LENGTH) + valueLength;
  if (end > frame.length) throw new FrameError(FrameErrorCode.TRUNCATED, `op ${index}: key or value cut off`);
  return end;
}
