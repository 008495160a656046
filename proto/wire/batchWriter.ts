// Client side: packs ops into a batch frame (batchLayout.ts). One writer per session, reused for
// every batch; finish() returns a view of its buffer, valid until the next begin(). Every field
// is checked before an op is written: a refused op throws and leaves the batch as it was.

import { Opcode } from './codes.js';
import { FrameError, FrameErrorCode } from './frameError.js';
import { checkInt64, checkUint32, checkUint64 } from './fieldChecks.js';
import { writeInt64, writeUint64 } from './int64.js';
import { DEFAULT_FRAME_LIMITS, FRAME_FORMAT_VERSION, type FrameLimits } from './limits.js';
import {
  BATCH_AT_FIRST_INCOMPLETE, BATCH_AT_FLAGS, BATCH_AT_OP_COUNT, BATCH_AT_VERSION, BATCH_HEADER_BYTES, OP_AT_FLAGS,
  OP_AT_KEY_LENGTH, OP_AT_OPCODE, OP_AT_VIEW, OP_COMMON_BYTES, OP_FIELDS_BYTES,
} from './batchLayout.js';

const INITIAL_CAPACITY_BYTES = 64 * 1024;
const EMPTY = new Uint8Array(0);

export class BatchWriter {
  private buffer = Buffer.allocUnsafe(INITIAL_CAPACITY_BYTES);
  private length = BATCH_HEADER_BYTES;
  private count = 0;

  constructor(readonly limits: FrameLimits = DEFAULT_FRAME_LIMITS) {
    this.begin(0);
  }

  get opCount(): number {
    return this.count;
  }

  get byteLength(): number {
    return this.length;
  }

  /** Starts a new batch; `firstIncompleteSeq` acknowledges every RIFL sequence below it. */
  begin(firstIncompleteSeq: number): void {
    checkUint64('firstIncompleteSeq', firstIncompleteSeq);
    this.length = BATCH_HEADER_BYTES;
    this.count = 0;
    this.buffer.writeUInt16LE(FRAME_FORMAT_VERSION, BATCH_AT_VERSION);
    this.buffer.writeUInt16LE(0, BATCH_AT_FLAGS);
    writeUint64(this.buffer, BATCH_AT_FIRST_INCOMPLETE, firstIncompleteSeq);
  }

  /** Whether one more op with these lengths fits within the frame limits. */
  fits(opcode: Opcode, keyLength: number, valueLength: number): boolean {
    const bytes = OP_COMMON_BYTES + OP_FIELDS_BYTES[opcode] + keyLength + valueLength;
    return this.count < this.limits.opCountMax && this.length + bytes <= this.limits.frameBytesMax;
  }

  get(key: Uint8Array, view: number): void {
    this.op(Opcode.GET, key, view, 0);
    this.bytes(key);
  }

  put(key: Uint8Array, value: Uint8Array, view: number, seq: number): void {
    checkUint64('seq', seq);
    this.op(Opcode.PUT, key, view, value.length);
    this.u32(value.length);
    this.u64(seq);
    this.bytes(key);
    this.bytes(value);
  }

  delete(key: Uint8Array, view: number, seq: number): void {
    checkUint64('seq', seq);
    this.op(Opcode.DELETE, key, view, 0);
    this.u64(seq);
    this.bytes(key);
  }

  putIfVersion(key: Uint8Array, value: Uint8Array, expectedVersion: number, view: number, seq: number): void {
    checkUint64('expectedVersion', expectedVersion);
    checkUint64('seq', seq);
    this.op(Opcode.PUT_IF_VERSION, key, view, value.length);
    this.u32(value.length);
    this.u64(expectedVersion);
    this.u64(seq);
    this.bytes(key);
    this.bytes(value);
  }

  deleteIfVersion(key: Uint8Array, expectedVersion: number, view: number, seq: number): void {
    checkUint64('expectedVersion', expectedVersion);
    checkUint64('seq', seq);
    this.op(Opcode.DELETE_IF_VERSION, key, view, 0);
    this.u64(expectedVersion);
    this.u64(seq);
    this.bytes(key);
  }

  incrBy(key: Uint8Array, delta: number | bigint, view: number, seq: number): void {
    checkInt64('delta', delta);
    checkUint64('seq', seq);
    this.op(Opcode.INCR_BY, key, view, 0);
    this.reserve(8);
    writeInt64(this.buffer, this.length, delta);
    this.length += 8;
    this.u64(seq);
    this.bytes(key);
  }

  /** The frame so far (a view of the writer's buffer, valid until the next begin()). */
  finish(): Buffer {
    this.buffer.writeUInt32LE(this.count, BATCH_AT_OP_COUNT);
    return this.buffer.subarray(0, this.length);
  }

  /** Checks everything an op needs first, so a refused op leaves no trace in the frame. */
  private op(opcode: Opcode, key: Uint8Array, view: number, valueLength: number): void {
    checkUint32('view', view);
    if (key.length > 0xffff) throw new RangeError(`key of ${key.length} bytes does not fit the 16-bit length field`);
    if (!this.fits(opcode, key.length, valueLength)) {
      throw new FrameError(FrameErrorCode.FRAME_TOO_LARGE, `op does not fit: ${this.count} ops, ${this.length} bytes so far`);
    }
    this.reserve(OP_COMMON_BYTES);
    const b = this.buffer;
    b[this.length + OP_AT_OPCODE] = opcode;
    b[this.length + OP_AT_FLAGS] = 0;
    b.writeUInt16LE(key.length, this.length + OP_AT_KEY_LENGTH);
    b.writeUInt32LE(view >>> 0, this.length + OP_AT_VIEW);
    this.length += OP_COMMON_BYTES;
    this.count++;
  }

  private u32(value: number): void {
    this.reserve(4);
    this.buffer.writeUInt32LE(value, this.length);
    this.length += 4;
  }

  private u64(value: number): void {
    this.reserve(8);
    writeUint64(this.buffer, this.length, value);
    this.length += 8;
  }

  private bytes(data: Uint8Array = EMPTY): void {
    this.reserve(data.length);
    this.buffer.set(data, this.length);
    this.length += data.length;
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < this.length + bytes) capacity *= 2;
    const grown = Buffer.allocUnsafe(capacity);
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}
