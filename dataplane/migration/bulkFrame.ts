// Frames of the bulk channel (docs/migration.md, "Bulk channel"): the pre-copy's records go from
// source to target over a plain TCP connection instead of gRPC, so neither side allocates a
// message per chunk (the target reads into one reused buffer; the source writes its reused scan
// buffers as they are). Little-endian, every part a whole number of words so records stay word
// aligned in the receiver's buffer:
//
//   0       4     5       8       12         16             20              24
//   +-------+-----+-------+-------+----------+--------------+---------------+----------------+
//   | magic | kind| 0 0 0 |  seq  | id bytes | slices bytes | records bytes | id (padded to 4),
//   +-------+-----+-------+-------+----------+--------------+---------------+  slices, records
//
//   HELLO      target -> source, first frame: the migration id (UTF-8); no slices, no records.
//   CHUNK      source -> target: a pre-copy chunk (PreCopyRequest's replaced_slices and records).
//   OWNERSHIP  source -> target: the hand-over, a ReceiveOwnershipRequest (protobuf) in the
//              records part: the owner switch without an HTTP/2 stream (docs/migration.md).
//   OWNERSHIP_PART source -> target: a piece of a hand-over larger than one frame (its completion
//              records); the target keeps the pieces and takes ownership when OWNERSHIP brings the
//              last one. At most HAND_OVER_BYTES_MAX in all.
//   ACK        target -> source: CHUNK or OWNERSHIP `seq` is done.
//   ERROR      target -> source: CHUNK or OWNERSHIP `seq` was refused; the message (UTF-8) in the records part.

import { assert } from '../store/assert.js';

export const FRAME_MAGIC = 0x4b56_4c42;
export const FRAME_HEADER_BYTES = 24;
export const FRAME_ID_BYTES_MAX = 256;
/** Slices part: up to 2^18 slice numbers (RangeSlices' bound) of 4 bytes. */
export const FRAME_SLICES_BYTES_MAX = 1 << 20;
/**
 * Records part: a 1 MiB pre-copy chunk plus the records of the bucket or slice that crosses it
 * (values up to the engine's limit); above it a chunk goes as a PreCopy call (the pod's gRPC
 * messages stop at 8 MiB, so no chunk the calls could carry is refused here).
 */
export const FRAME_RECORDS_BYTES_MAX = 16 << 20;
export const FRAME_ERROR_BYTES_MAX = 4096;
/**
 * A whole hand-over (OWNERSHIP_PART frames and the OWNERSHIP frame): every completion record of
 * the range goes with ownership, and clients with large keys and many writes unacknowledged can
 * hold more than a frame of them (docs/migration.md, "Why every completion record travels with
 * ownership"). Past it a hand-over is refused and the source keeps the range.
 */
export const HAND_OVER_BYTES_MAX = 256 << 20;

export const enum FrameKind {
  HELLO = 1,
  CHUNK = 2,
  ACK = 3,
  ERROR = 4,
  OWNERSHIP = 5,
  OWNERSHIP_PART = 6,
}

/** A malformed or oversized frame: the connection cannot be trusted any further. */
export class BulkFrameError extends Error {
  override readonly name = 'BulkFrameError';
}

export interface Frame {
  readonly kind: FrameKind;
  readonly seq: number;
  readonly id: string;
  /** Views into the reader's buffer: valid only until the handler returns. */
  readonly slices: Buffer;
  readonly records: Buffer;
}

function padded(bytes: number): number {
  return (bytes + 3) & ~3;
}

/** The header (and id) of a frame whose slices and records parts follow it on the wire. */
export function frameHead(kind: FrameKind, seq: number, id: string, slicesBytes: number, recordsBytes: number): Buffer {
  const idBytes = Buffer.byteLength(id);
  assert(idBytes <= FRAME_ID_BYTES_MAX && slicesBytes % 4 === 0 && slicesBytes <= FRAME_SLICES_BYTES_MAX
    && recordsBytes <= FRAME_RECORDS_BYTES_MAX, 'frames stay within their bounds');
  const head = Buffer.alloc(FRAME_HEADER_BYTES + padded(idBytes));
  head.writeUInt32LE(FRAME_MAGIC, 0);
  head.writeUInt8(kind, 4);
  head.writeUInt32LE(seq >>> 0, 8);
  head.writeUInt32LE(idBytes, 12);
  head.writeUInt32LE(slicesBytes, 16);
  head.writeUInt32LE(recordsBytes, 20);
  head.write(id, FRAME_HEADER_BYTES);
  return head;
}

/** A whole small frame (HELLO, ACK, ERROR) in one buffer. */
export function smallFrame(kind: FrameKind, seq: number, id: string, message = ''): Buffer {
  const text = Buffer.from(message.slice(0, FRAME_ERROR_BYTES_MAX / 4));
  return Buffer.concat([frameHead(kind, seq, id, 0, text.length), text]);
}

/**
 * Reassembles frames from the bytes of a connection (pushed as they arrive) in one buffer that
 * grows to the largest frame seen (at most a frame's bound) and is reused; hands each whole frame
 * to `onFrame`. Throws BulkFrameError on a malformed header.
 */
export class FrameReader {
  private buffer = Buffer.allocUnsafeSlow(64 * 1024);
  private filled = 0;

  constructor(public onFrame: (frame: Frame) => void) {}

  push(chunk: Uint8Array, length: number): void {
    let at = 0;
    while (at < length) {
      const need = this.frameBytes();
      if (this.buffer.length < need) this.grow(need);
      const take = Math.min(length - at, Math.max(need, FRAME_HEADER_BYTES) - this.filled);
      this.buffer.set(chunk.subarray(at, at + take), this.filled);
      this.filled += take;
      at += take;
      if (this.filled >= FRAME_HEADER_BYTES && this.filled === this.frameBytes()) this.deliver();
    }
  }

  /** Bytes of the frame being read: its header's size until the header is in. */
  private frameBytes(): number {
    if (this.filled < FRAME_HEADER_BYTES) return FRAME_HEADER_BYTES;
    const b = this.buffer;
    if (b.readUInt32LE(0) !== FRAME_MAGIC) throw new BulkFrameError('bad frame magic');
    const kind = b.readUInt8(4);
    if (kind < FrameKind.HELLO || kind > FrameKind.OWNERSHIP_PART) throw new BulkFrameError(`unknown frame kind ${kind}`);
    const idBytes = b.readUInt32LE(12);
    const slicesBytes = b.readUInt32LE(16);
    const recordsBytes = b.readUInt32LE(20);
    if (idBytes > FRAME_ID_BYTES_MAX || slicesBytes > FRAME_SLICES_BYTES_MAX || slicesBytes % 4 !== 0 || recordsBytes > FRAME_RECORDS_BYTES_MAX) {
      throw new BulkFrameError(`frame parts out of bounds (id ${idBytes}, slices ${slicesBytes}, records ${recordsBytes} bytes)`);
    }
    return FRAME_HEADER_BYTES + padded(idBytes) + slicesBytes + recordsBytes;
  }

  private grow(bytes: number): void {
    const bigger = Buffer.allocUnsafeSlow(bytes);
    this.buffer.copy(bigger, 0, 0, this.filled);
    this.buffer = bigger;
  }

  private deliver(): void {
    const b = this.buffer;
    const idBytes = b.readUInt32LE(12);
    const slicesAt = FRAME_HEADER_BYTES + padded(idBytes);
    const recordsAt = slicesAt + b.readUInt32LE(16);
    const end = recordsAt + b.readUInt32LE(20);
    const frame: Frame = {
      kind: b.readUInt8(4), seq: b.readUInt32LE(8), id: b.toString('utf8', FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + idBytes),
      slices: b.subarray(slicesAt, recordsAt), records: b.subarray(recordsAt, end),
    };
    this.filled = 0;
    this.onFrame(frame);
  }
}
