// One write-ahead log file's bytes as recovery reads them: from a frame boundary to the end of the
// file, in chunks read in parallel, so that the log reader (walReader.ts) checks and replays each
// frame as soon as the chunks under it are in, instead of after the whole file.
//
// Who reads the chunks:
// - Frame readers (frameReaders.ts: a restart's worker threads), if given and started: each chunk
//   goes into their reused buffer and is copied into this file's shared memory in user mode, its
//   pages of zeros left out (the memory is fresh and zeroed: those pages stay unmapped), and each
//   chunk's last non-zero byte is reported. So the JavaScript thread finds the pages it parses
//   mapped (on a VM with shadow paging a page the kernel's read filled cost it a user-mode fault
//   of its own, ~6.5 us: docs/durability.md "Session 12"), and a crashed pod's zero-filled last
//   file costs no faults for its zeros.
// - Otherwise libuv's pool, up to where the file's data ends, found first by a scan back from
//   the end (walDataEnd.ts).
// Either way the bytes from `zerosFrom` to `length` are zeros in the file, checked, never parsed.

import { open, type FileHandle } from 'node:fs/promises';
import { dataEndOf } from './walDataEnd.js';
import { readFully, sharedBuffer, type FrameReaders, type ZeroedRead } from './frameReaders.js';
import { FRAME_HEADER_BYTES, FrameCheck, FrameHeader } from './walFrame.js';
import type { WalFile } from './walFiles.js';

/** Bytes per chunk read. */
export const WAL_READ_CHUNK_BYTES = 1024 * 1024;

/** Frames WalFileBytes.open() hops over by their headers at most, before it reads the rest of the file. */
const HOP_FRAMES_MAX = 64;

export class WalFileBytes {
  /** bytes[0, filled) are in; more come until `complete`. */
  filled = 0;
  /** Every chunk is in, or every chunk before the point where the file came up short. */
  complete = false;
  /** How many of `bytes` the file holds: fewer if it came up short while read. */
  length: number;
  /** From here to `length` every byte is zero (final once `complete`). */
  zerosFrom: number;
  /** Per chunk: whether it is in. */
  private readonly chunks: boolean[];
  private nextChunk = 0;
  /** Just past the last non-zero byte the readers reported (they read the zeros too). */
  private dataEnd = 0;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;

  /**
   * `bytes[i]` is the file's byte `offsetBytes + i`, where a frame carrying `lsn` starts. Bytes
   * from `readEnd` on are zeros (checked) and not read; `byReaders`: the readers report where the
   * data in each chunk ends.
   */
  private constructor(readonly bytes: Buffer, readonly offsetBytes: number, readonly lsn: number, private readonly readEnd: number,
    private readonly chunkBytes: number, private readonly byReaders: boolean) {
    this.chunks = new Array<boolean>(Math.ceil(readEnd / chunkBytes)).fill(false);
    this.length = bytes.length;
    this.zerosFrom = readEnd;
    if (this.chunks.length === 0) this.finish();
  }

  /**
   * Opens `file` and starts reading it from the first frame that reaches into `fromLsn` on (null:
   * from its start). Resolves once the reads are under way; the file is closed when they are done.
   */
  static async open(file: WalFile, fromLsn: number | null, readers: FrameReaders | null, chunkBytes = WAL_READ_CHUNK_BYTES): Promise<WalFileBytes> {
    const handle = await open(file.path, 'r');
    let reading = false;
    try {
      const sizeBytes = (await handle.stat()).size;
      const { at, lsn } = fromLsn === null ? { at: 0, lsn: file.startLsn } : await hop(handle, sizeBytes, file.startLsn, fromLsn);
      const byReaders = readers?.ready === true;
      // Zeroed memory: pages never written stay unmapped, and read as the zeros the file holds.
      const bytes = byReaders ? sharedBuffer(sizeBytes - at) : Buffer.alloc(sizeBytes - at);
      const readEnd = byReaders ? sizeBytes - at : (await dataEndOf(handle, at, sizeBytes)) - at;
      const read = new WalFileBytes(bytes, at, lsn, readEnd, chunkBytes, byReaders);
      read.start(handle, byReaders ? readers : null);
      reading = true;
      return read;
    } finally {
      if (!reading) await handle.close();
    }
  }

  /** Resolves when more bytes are in, or all are; rejects if a read failed. */
  more(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.complete) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.wake = () => (this.failure === null ? resolve() : reject(this.failure));
    });
  }

  /** Starts every chunk's read; the handle is closed once all have settled. */
  private start(handle: FileHandle, readers: FrameReaders | null): void {
    const reads: Promise<void>[] = [];
    for (let i = 0; i < this.chunks.length; i++) {
      const from = i * this.chunkBytes;
      const part = this.bytes.subarray(from, Math.min(this.readEnd, from + this.chunkBytes));
      const read = readers === null ? readByPool(handle, part, this.offsetBytes + from) : readers.readZeroed(handle, part, this.offsetBytes + from);
      reads.push(read.then((chunk) => this.landed(i, chunk), (error: Error) => this.failed(error)));
    }
    void Promise.all(reads).finally(() => handle.close());
  }

  private landed(index: number, chunk: ZeroedRead): void {
    this.chunks[index] = true;
    const from = index * this.chunkBytes;
    // A short read: the file ends there (it shrank while read).
    if (chunk.bytesRead < Math.min(this.readEnd, from + this.chunkBytes) - from) this.length = Math.min(this.length, from + chunk.bytesRead);
    if (chunk.lastNonZero >= 0) this.dataEnd = Math.max(this.dataEnd, from + chunk.lastNonZero + 1);
    while (!this.complete && this.chunks[this.nextChunk]) {
      this.nextChunk++;
      this.filled = Math.min(this.length, this.readEnd, this.nextChunk * this.chunkBytes);
      if (this.nextChunk === this.chunks.length || this.filled >= this.length) this.finish();
    }
    this.notify();
  }

  private finish(): void {
    this.complete = true;
    this.filled = Math.min(this.filled, this.length);
    this.zerosFrom = Math.min(this.length, this.byReaders ? this.dataEnd : this.readEnd);
  }

  private failed(error: Error): void {
    this.failure ??= error;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

/**
 * Hops over the file's frames wholly before `fromLsn` by their headers, at most HOP_FRAMES_MAX of
 * them: each must have the magic, a plausible length and the LSN that follows on from the frame
 * before (everything the full read checks of a frame but its CRC, which only vouches for bytes
 * that are not replayed). The first header that does not check out is where the read starts, so
 * the full read checks that frame and reports any damage at its own offset. (A restart's first
 * log file held 8.5 MB before the window, read and CRC-checked only to be skipped.)
 */
async function hop(handle: FileHandle, sizeBytes: number, startLsn: number, fromLsn: number): Promise<{ at: number; lsn: number }> {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  const frame = new FrameHeader();
  let at = 0;
  let lsn = startLsn;
  for (let hops = 0; hops < HOP_FRAMES_MAX && lsn < fromLsn; hops++) {
    const { bytesRead } = await handle.read(header, 0, FRAME_HEADER_BYTES, at);
    const check = frame.parse(header, bytesRead, sizeBytes - at - FRAME_HEADER_BYTES);
    if (check !== FrameCheck.OK || frame.lsn !== lsn || lsn + frame.payloadBytes > fromLsn) break;
    at += FRAME_HEADER_BYTES + frame.payloadBytes;
    lsn += frame.payloadBytes;
  }
  return { at, lsn };
}

/** Reads `part` from `position` by libuv's pool (the zeros after the data were found by the data-end scan). */
async function readByPool(handle: FileHandle, part: Buffer, position: number): Promise<ZeroedRead> {
  return { bytesRead: await readFully(handle, part, position), lastNonZero: -1 };
}
