// Frames: the unit the write-ahead log and checkpoint files are written and checked in. A frame
// is written by one write() call and carries a CRC-32 over its header fields and payload, so a
// torn write (a crash in the middle) or a flipped bit is found when the file is read back, and
// reading stops there: nothing after the first bad frame is trusted.
//
//  byte 0        4              8        12          16          20
//  +-------------+--------------+--------+-----------+-----------+-----------------+
//  | magic u32   | payloadBytes | crc32  | lsn lo    | lsn hi    | payload ...     |
//  +-------------+--------------+--------+-----------+-----------+-----------------+
//
// - lsn: the log sequence number of the payload's first byte. LSNs count entry bytes since the
//   log began (frame headers excluded), so they are dense and stay valid across file rotation.
//   Checkpoint files put the frame's kind there instead (low word), and for RECORDS frames the
//   record count (high word): see checkpointFile.ts.
// - crc32 (zlib's) covers bytes [12, 20 + payloadBytes) and the payload length.

import { crc32 } from 'node:zlib';
import { assert } from '../store/assert.js';

export const FRAME_HEADER_BYTES = 20;
export const FRAME_MAGIC = 0x4c574b53; // "SKWL" little-endian
/** No frame carries more than this; a larger length in a header means the header is garbage. */
export const FRAME_PAYLOAD_BYTES_MAX = 64 * 1024 * 1024;
const TWO_POW_32 = 0x1_0000_0000;

/** Fills in the header of a frame whose payload already sits at `at + FRAME_HEADER_BYTES`. */
export function sealFrame(buffer: Buffer, at: number, payloadBytes: number, lsn: number): number {
  assert(payloadBytes <= FRAME_PAYLOAD_BYTES_MAX, 'frames stay within the payload bound');
  assert(Number.isSafeInteger(lsn) && lsn >= 0, 'frame lsn is a safe integer');
  buffer.writeUInt32LE(FRAME_MAGIC, at);
  buffer.writeUInt32LE(payloadBytes, at + 4);
  buffer.writeUInt32LE(lsn % TWO_POW_32, at + 12);
  buffer.writeUInt32LE(Math.floor(lsn / TWO_POW_32), at + 16);
  buffer.writeUInt32LE(frameChecksum(buffer, at, payloadBytes), at + 8);
  return FRAME_HEADER_BYTES + payloadBytes;
}

function frameChecksum(buffer: Buffer, at: number, payloadBytes: number): number {
  const lengthWord = buffer.subarray(at + 4, at + 8);
  return crc32(buffer.subarray(at + 12, at + FRAME_HEADER_BYTES + payloadBytes), crc32(lengthWord));
}

/**
 * Whether a frame whose header is `header` (its FRAME_HEADER_BYTES) and whose payload was read
 * elsewhere, in parts (checkpoints read records straight into log segments), is intact.
 */
export function frameChecksumMatches(header: Buffer, payloadParts: readonly Uint8Array[]): boolean {
  let crc = crc32(header.subarray(12, FRAME_HEADER_BYTES), crc32(header.subarray(4, 8)));
  for (const part of payloadParts) crc = crc32(part, crc);
  return header.readUInt32LE(8) === crc;
}

/** A frame header read on its own: its payload length and lsn once it passed the plausibility checks. */
export class FrameHeader {
  payloadBytes = 0;
  lsn = 0;

  /** OK when the header is plausible and its payload fits in the `bytesLeft` bytes after it. */
  parse(header: Buffer, headerBytesRead: number, bytesLeft: number): FrameCheck {
    if (headerBytesRead < FRAME_HEADER_BYTES) return FrameCheck.TRUNCATED;
    if (header.readUInt32LE(0) !== FRAME_MAGIC) return FrameCheck.CORRUPT;
    this.payloadBytes = header.readUInt32LE(4);
    if (this.payloadBytes > FRAME_PAYLOAD_BYTES_MAX) return FrameCheck.CORRUPT;
    if (this.payloadBytes > bytesLeft) return FrameCheck.TRUNCATED;
    this.lsn = header.readUInt32LE(16) * TWO_POW_32 + header.readUInt32LE(12);
    return FrameCheck.OK;
  }
}

export const enum FrameCheck {
  OK = 0,
  /** Fewer bytes left than a header, or than the header's length: a torn tail. */
  TRUNCATED = 1,
  /** Wrong magic, impossible length or checksum mismatch. */
  CORRUPT = 2,
}

/** Reads the frame at `at`; on OK its payload is bytes[payloadStart, payloadEnd). */
export class FrameCursor {
  payloadStart = 0;
  payloadEnd = 0;
  lsn = 0;

  check(bytes: Buffer, at: number, end: number): FrameCheck {
    if (end - at < FRAME_HEADER_BYTES) return FrameCheck.TRUNCATED;
    if (bytes.readUInt32LE(at) !== FRAME_MAGIC) return FrameCheck.CORRUPT;
    const payloadBytes = bytes.readUInt32LE(at + 4);
    if (payloadBytes > FRAME_PAYLOAD_BYTES_MAX) return FrameCheck.CORRUPT;
    if (end - at - FRAME_HEADER_BYTES < payloadBytes) return FrameCheck.TRUNCATED;
    if (bytes.readUInt32LE(at + 8) !== frameChecksum(bytes, at, payloadBytes)) return FrameCheck.CORRUPT;
    this.payloadStart = at + FRAME_HEADER_BYTES;
    this.payloadEnd = this.payloadStart + payloadBytes;
    this.lsn = bytes.readUInt32LE(at + 16) * TWO_POW_32 + bytes.readUInt32LE(at + 12);
    return FrameCheck.OK;
  }
}
