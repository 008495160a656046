// Server side: writes the results of one batch, in op order (resultLayout.ts). One writer per
// session; finish() returns a view of its buffer, valid until the next begin(). Fields are
// checked before a result is written: a refused result throws and leaves the frame as it was.

import { Opcode, WireStatus, type WireDetail } from './codes.js';
import { checkInt64, checkUint32, checkUint64 } from './fieldChecks.js';
import { writeInt64, writeUint64 } from './int64.js';
import { FRAME_FORMAT_VERSION } from './limits.js';
import { copyBytes } from '../copyBytes.js';
import {
  RESULT_AT_COUNT, RESULT_AT_DETAIL, RESULT_AT_FLAGS, RESULT_AT_OPCODE, RESULT_AT_STATUS, RESULT_AT_VERSION,
  RESULT_COMMON_BYTES, RESULT_HEADER_BYTES,
} from './resultLayout.js';

const INITIAL_CAPACITY_BYTES = 64 * 1024;

export class ResultWriter {
  private buffer = Buffer.allocUnsafe(INITIAL_CAPACITY_BYTES);
  private length = RESULT_HEADER_BYTES;
  private count = 0;
  /** Status of the last result written (for per-status counters). */
  lastStatus: WireStatus = WireStatus.OK;

  constructor() {
    this.begin();
  }

  get resultCount(): number {
    return this.count;
  }

  begin(): void {
    this.length = RESULT_HEADER_BYTES;
    this.count = 0;
    this.buffer.writeUInt16LE(FRAME_FORMAT_VERSION, RESULT_AT_VERSION);
    this.buffer.writeUInt16LE(0, RESULT_AT_FLAGS);
  }

  /** A GET that found its value: copies `value[offset, offset + length)` into the frame. */
  value(version: number, value: Uint8Array, offset: number, length: number): void {
    checkUint64('version', version);
    if (!(offset >= 0 && length >= 0 && offset + length <= value.length && length <= 0xffff_ffff)) {
      throw new RangeError(`value slice [${offset}, ${offset + length}) is outside a ${value.length}-byte buffer`);
    }
    this.common(WireStatus.OK, Opcode.GET, 0, 12 + length);
    writeUint64(this.buffer, this.length, version);
    this.buffer.writeUInt32LE(length, this.length + 8);
    copyBytes(value, offset, length, this.buffer, this.length + 12);
    this.length += 12 + length;
  }

  /** A mutation that succeeded, with the version it wrote (0 for deletes). */
  written(opcode: Opcode, version: number): void {
    if (opcode === Opcode.GET || opcode === Opcode.INCR_BY) throw new RangeError('written() is for PUT, DELETE and their conditional forms');
    checkUint64('version', version);
    this.common(WireStatus.OK, opcode, 0, 8);
    writeUint64(this.buffer, this.length, version);
    this.length += 8;
  }

  /** An INCR_BY that succeeded, with the version it wrote and the new value. */
  integer(version: number, value: number | bigint): void {
    checkUint64('version', version);
    checkInt64('value', value);
    this.common(WireStatus.OK, Opcode.INCR_BY, 0, 16);
    writeUint64(this.buffer, this.length, version);
    writeInt64(this.buffer, this.length + 8, value);
    this.length += 16;
  }

  versionMismatch(opcode: Opcode, currentVersion: number): void {
    checkUint64('currentVersion', currentVersion);
    this.common(WireStatus.VERSION_MISMATCH, opcode, 0, 8);
    writeUint64(this.buffer, this.length, currentVersion);
    this.length += 8;
  }

  /** The pod does not own the key's range at the op's view; `owner` is the address it knows of. */
  wrongRange(opcode: Opcode, currentView: number, owner: string): void {
    checkUint32('currentView', currentView);
    const ownerBytes = Buffer.from(owner, 'utf8');
    if (ownerBytes.length > 0xffff) throw new RangeError(`owner address of ${ownerBytes.length} bytes does not fit a 16-bit length`);
    this.common(WireStatus.WRONG_RANGE, opcode, 0, 6 + ownerBytes.length);
    this.buffer.writeUInt32LE(currentView >>> 0, this.length);
    this.buffer.writeUInt16LE(ownerBytes.length, this.length + 4);
    this.buffer.set(ownerBytes, this.length + 6);
    this.length += 6 + ownerBytes.length;
  }

  /** Any result without fields: NOT_FOUND, INVALID_ARGUMENT (with detail), OVERLOADED, ... */
  status(status: WireStatus, opcode: Opcode, detail: WireDetail | 0 = 0): void {
    if (status === WireStatus.OK || status === WireStatus.VERSION_MISMATCH || status === WireStatus.WRONG_RANGE) {
      throw new RangeError(`status ${status} carries fields: use value / written / integer / versionMismatch / wrongRange`);
    }
    this.common(status, opcode, detail, 0);
  }

  /** Offset where the next result will start (to find a result's bytes afterwards). */
  get byteLength(): number {
    return this.length;
  }

  /** The frame's buffer as written so far (bytes [0, byteLength)); valid until the next write. */
  get bytes(): Buffer {
    return this.buffer;
  }

  /** Appends one result already encoded (a saved RIFL result), `bytes[offset, offset + length)`. */
  raw(bytes: Uint8Array, offset: number, length: number): void {
    this.reserve(length);
    copyBytes(bytes, offset, length, this.buffer, this.length);
    this.lastStatus = this.buffer[this.length + RESULT_AT_STATUS] as WireStatus;
    this.length += length;
    this.count++;
  }

  finish(): Buffer {
    this.buffer.writeUInt32LE(this.count, RESULT_AT_COUNT);
    return this.buffer.subarray(0, this.length);
  }

  private common(status: WireStatus, opcode: Opcode, detail: number, fieldBytes: number): void {
    this.reserve(RESULT_COMMON_BYTES + fieldBytes);
    const b = this.buffer;
    this.lastStatus = status;
    b[this.length + RESULT_AT_STATUS] = status;
    b[this.length + RESULT_AT_OPCODE] = opcode;
    b.writeUInt16LE(detail, this.length + RESULT_AT_DETAIL);
    this.length += RESULT_COMMON_BYTES;
    this.count++;
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
