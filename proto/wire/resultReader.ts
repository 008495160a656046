// Client side: walks the results of a batch into this reader's fields, one per op, in order.
// A structurally broken result frame throws FrameError (the client treats the session as failed).

import { Opcode, OPCODE_MAX, WireStatus, WIRE_STATUS_MAX, type WireDetail } from './codes.js';
import { FrameError, FrameErrorCode } from './frameError.js';
import { readInt64Exact, readUint64 } from './int64.js';
import { FRAME_FORMAT_VERSION } from './limits.js';
import {
  RESULT_AT_COUNT, RESULT_AT_DETAIL, RESULT_AT_FLAGS, RESULT_AT_OPCODE, RESULT_AT_STATUS, RESULT_AT_VERSION,
  RESULT_COMMON_BYTES, RESULT_HEADER_BYTES,
} from './resultLayout.js';

export class ResultReader {
  frame: Buffer = Buffer.alloc(0);
  resultCount = 0;
  // ---- the current result, after next() ----
  status: WireStatus = WireStatus.OK;
  opcode: Opcode = Opcode.GET;
  detail: WireDetail | 0 = 0;
  /** Version read or written (OK), or the current version (VERSION_MISMATCH). */
  version = 0;
  valueOffset = 0;
  valueLength = 0;
  /** INCR_BY's new value. */
  integer: number | bigint = 0;
  /** WRONG_RANGE: the pod's view of the range and the owner it knows of. */
  currentView = 0;
  owner = '';
  private cursor = 0;
  private remaining = 0;

  open(frame: Buffer): void {
    this.remaining = 0;
    this.resultCount = 0;
    if (frame.length < RESULT_HEADER_BYTES) throw new FrameError(FrameErrorCode.TRUNCATED, 'result header cut off');
    const version = frame.readUInt16LE(RESULT_AT_VERSION);
    if (version !== FRAME_FORMAT_VERSION) throw new FrameError(FrameErrorCode.BAD_FORMAT_VERSION, `version ${version}`);
    if (frame.readUInt16LE(RESULT_AT_FLAGS) !== 0) throw new FrameError(FrameErrorCode.BAD_FLAGS, 'result flags must be 0');
    this.frame = frame;
    this.resultCount = frame.readUInt32LE(RESULT_AT_COUNT);
    this.remaining = this.resultCount;
    this.cursor = RESULT_HEADER_BYTES;
  }

  /** Moves to the next result; false after the last one. */
  next(): boolean {
    if (this.remaining === 0) {
      if (this.cursor !== this.frame.length) throw new FrameError(FrameErrorCode.TRAILING_BYTES, 'bytes after the last result');
      return false;
    }
    this.remaining--;
    const f = this.frame;
    this.need(RESULT_COMMON_BYTES);
    this.status = f[this.cursor + RESULT_AT_STATUS] as WireStatus;
    this.opcode = f[this.cursor + RESULT_AT_OPCODE] as Opcode;
    this.detail = f.readUInt16LE(this.cursor + RESULT_AT_DETAIL) as WireDetail;
    if (this.status > WIRE_STATUS_MAX) throw new FrameError(FrameErrorCode.UNKNOWN_STATUS, `status ${this.status}`);
    if (this.opcode < 1 || this.opcode > OPCODE_MAX) throw new FrameError(FrameErrorCode.UNKNOWN_OPCODE, `opcode ${this.opcode}`);
    this.cursor += RESULT_COMMON_BYTES;
    this.version = 0;
    this.valueOffset = 0;
    this.valueLength = 0;
    this.integer = 0;
    this.currentView = 0;
    this.owner = '';
    this.readFields();
    return true;
  }

  private readFields(): void {
    const f = this.frame;
    if (this.status === WireStatus.OK) {
      this.need(8);
      this.version = readUint64(f, this.cursor);
      this.cursor += 8;
      if (this.opcode === Opcode.GET) {
        this.need(4);
        this.valueLength = f.readUInt32LE(this.cursor);
        this.valueOffset = this.cursor + 4;
        this.need(4 + this.valueLength);
        this.cursor += 4 + this.valueLength;
      } else if (this.opcode === Opcode.INCR_BY) {
        this.need(8);
        this.integer = readInt64Exact(f, this.cursor);
        this.cursor += 8;
      }
    } else if (this.status === WireStatus.VERSION_MISMATCH) {
      this.need(8);
      this.version = readUint64(f, this.cursor);
      this.cursor += 8;
    } else if (this.status === WireStatus.WRONG_RANGE) {
      this.need(6);
      this.currentView = f.readUInt32LE(this.cursor);
      const ownerLength = f.readUInt16LE(this.cursor + 4);
      this.need(6 + ownerLength);
      this.owner = f.toString('utf8', this.cursor + 6, this.cursor + 6 + ownerLength);
      this.cursor += 6 + ownerLength;
    }
  }

  /** The current GET value as a view of the frame (allocates the view). */
  value(): Buffer {
    return this.frame.subarray(this.valueOffset, this.valueOffset + this.valueLength);
  }

  private need(bytes: number): void {
    if (this.cursor + bytes > this.frame.length) throw new FrameError(FrameErrorCode.TRUNCATED, 'result cut off');
  }
}
