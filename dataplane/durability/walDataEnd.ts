// Where a log file's data ends: the bytes after the last non-zero byte are the unwritten part of a
// zero-filled file (walSpareFile.ts; a crashed pod's last file is mostly such zeros). The log
// reader reads a file only up to there into the buffer it parses, into memory allocated zeroed
// (a fresh mapping: its untouched pages are never faulted in), and checks the zeros in a small
// scratch buffer reused from chunk to chunk, scanning back from the file's end. Before, a
// restart read the last file whole: 8 MB of zeros copied into fresh memory (2k page faults on the
// thread pool) and compared there by the JavaScript thread ("Session 10" in docs/durability.md).

import type { FileHandle } from 'node:fs/promises';

/** Bytes read per step of the scan back from the end. */
const SCAN_CHUNK_BYTES = 256 * 1024;

/**
 * The offset just past the last non-zero byte of the file in [fromBytes, sizeBytes), or fromBytes
 * when that span is all zero (or was cut short: then the caller's read finds the file shorter).
 */
export async function dataEndOf(handle: FileHandle, fromBytes: number, sizeBytes: number): Promise<number> {
  const scratch = Buffer.allocUnsafeSlow(Math.min(SCAN_CHUNK_BYTES, Math.max(0, sizeBytes - fromBytes)));
  let end = sizeBytes;
  while (end > fromBytes) {
    const start = Math.max(fromBytes, end - SCAN_CHUNK_BYTES);
    const { bytesRead } = await handle.read(scratch, 0, end - start, start);
    if (bytesRead !== end - start) return sizeBytes;
    const last = lastNonZero(scratch, bytesRead);
    if (last >= 0) return start + last + 1;
    end = start;
  }
  return fromBytes;
}

/** Index of the last non-zero byte of bytes[0, length); -1 if none. */
export function lastNonZero(bytes: Buffer, length: number): number {
  // Whole words first (the zeros are long runs); the word found is searched byte by byte.
  if (bytes.byteOffset % 4 !== 0) {
    for (let i = length - 1; i >= 0; i--) if (bytes[i] !== 0) return i;
    return -1;
  }
  const words = Math.floor(length / 4);
  for (let i = length - 1; i >= words * 4; i--) if (bytes[i] !== 0) return i;
  const view = new Uint32Array(bytes.buffer, bytes.byteOffset, words);
  for (let w = words - 1; w >= 0; w--) {
    if (view[w] === 0) continue;
    for (let i = w * 4 + 3; i >= w * 4; i--) if (bytes[i] !== 0) return i;
  }
  return -1;
}
