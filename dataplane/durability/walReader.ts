// Reads a pod's write-ahead log back, frame by frame, checking each frame's checksum and that
// LSNs follow on without a gap. Reading stops at the first frame that fails: a torn tail after a
// crash, or corruption. What was not read is reported (file, offset, bytes), never served.

import { stat } from 'node:fs/promises';
import type { FrameReaders } from './frameReaders.js';
import { WalFileBytes } from './walFileBytes.js';
import { FrameCheck, FrameCursor } from './walFrame.js';
import { WalEntryCursor, WalFormatError } from './walEntry.js';
import { listWalFiles, type WalFile } from './walFiles.js';

export interface WalProblem {
  readonly path: string;
  readonly offsetBytes: number;
  readonly reason: 'torn' | 'corrupt' | 'gap';
  /** Bytes from the problem to the end of the log (its file's rest and every later file). */
  readonly droppedBytes: number;
  readonly laterFiles: readonly string[];
}

export interface WalReadResult {
  /** LSN just past the last valid entry (where appending may continue). */
  endLsn: number;
  entriesVisited: number;
  framesRead: number;
  filesRead: number;
  bytesRead: number;
  problem: WalProblem | null;
}

export interface WalReadOptions {
  readonly fromLsn: number;
  /** Entries at or past this LSN are not visited (null: to the end). */
  readonly toLsn: number | null;
  /** Called for each entry in [fromLsn, toLsn) with the entry's LSN. */
  readonly visit: (entry: WalEntryCursor, lsn: number) => void;
  /** Yield to the event loop after this many entries, so recovery never stalls serving. */
  readonly yieldEveryEntries: number;
  /** The first file's bytes, read ahead by prefetchWal() (used if it names the file read first). */
  readonly prefetched?: WalPrefetch | null;
  /** Worker threads to read the files (walFileBytes.ts); null or absent: libuv's pool. */
  readonly readers?: FrameReaders | null;
  /** Bytes per read of a file (tests make it small). */
  readonly readChunkBytes?: number;
}

export interface WalPrefetch {
  readonly path: string;
  readonly bytes: Promise<WalFileBytes>;
}

/**
 * Starts reading the file readWal(dir, { fromLsn }) will read first, so it comes off the disk
 * while the caller does something else (recovery: while checkpoints load). Only for a log nobody
 * appends to meanwhile (a dead pod's, or this pod's before it reopens it).
 */
export function prefetchWal(dir: string, fromLsn: number, readers: FrameReaders | null = null): WalPrefetch | null {
  const files = listWalFiles(dir);
  const i = firstFileFor(files, fromLsn);
  if (files[i] === undefined) return null;
  const bytes = WalFileBytes.open(files[i], fromLsn, readers);
  bytes.catch(() => undefined);
  return { path: files[i].path, bytes };
}

/** The first file's bytes: prefetched if they are that file's, else read from the window on. */
function firstRead(file: WalFile, options: WalReadOptions): Promise<WalFileBytes> {
  return options.prefetched?.path === file.path ? options.prefetched.bytes : WalFileBytes.open(file, options.fromLsn, options.readers ?? null, options.readChunkBytes);
}

/** Index of the file readWal starts reading at for `fromLsn`. */
function firstFileFor(files: readonly WalFile[], fromLsn: number): number {
  let i = 0;
  while (i + 1 < files.length && files[i + 1].startLsn <= fromLsn) i++;
  return i;
}

/** Bytes of the files readWal(dir, { fromLsn }) reads (to the log's end). */
export async function walWindowBytes(dir: string, fromLsn: number): Promise<number> {
  const files = listWalFiles(dir);
  let bytes = 0;
  for (let i = firstFileFor(files, fromLsn); i < files.length; i++) bytes += (await stat(files[i].path)).size;
  return bytes;
}

export async function readWal(dir: string, options: WalReadOptions): Promise<WalReadResult> {
  const files = listWalFiles(dir);
  const result: WalReadResult = { endLsn: files[0]?.startLsn ?? 0, entriesVisited: 0, framesRead: 0, filesRead: 0, bytesRead: 0, problem: null };
  const state = { sinceYield: 0 };
  let next: Promise<WalFileBytes> | null = null;
  for (let i = 0; i < files.length; i++) {
    if (i + 1 < files.length && files[i + 1].startLsn <= options.fromLsn) {
      result.endLsn = files[i + 1].startLsn;
      continue;
    }
    if (files[i].startLsn !== result.endLsn && result.filesRead > 0) {
      result.problem = await problemAt(files, i, 0, 'gap');
      break;
    }
    const bytes: Promise<WalFileBytes> = next ?? firstRead(files[i], options);
    // Read ahead: the next file comes off the disk while this one is replayed. Its reads start
    // once this one's have (readers take them in order: this file's bytes are needed first).
    const following = files[i + 1];
    next = following === undefined ? null : bytes.then(() => WalFileBytes.open(following, null, options.readers ?? null, options.readChunkBytes));
    next?.catch(() => undefined);
    const window = await bytes;
    result.endLsn = window.lsn;
    const stopped = await readFileFrames(files, i, window, options, result, state);
    result.filesRead++;
    if (stopped) break;
  }
  return result;
}

/** Reads one file (from a frame boundary: `window`); true when reading must stop (a problem, or toLsn reached). */
async function readFileFrames(files: WalFile[], index: number, window: WalFileBytes, options: WalReadOptions, result: WalReadResult,
  state: { sinceYield: number }): Promise<boolean> {
  const bytes = window.bytes;
  const frame = new FrameCursor();
  const entry = new WalEntryCursor();
  let at = 0;
  try {
    while (at < window.length) {
      const check = frame.check(bytes, at, window.complete ? window.length : window.filled);
      // The file is still being read: a frame that does not check out yet may only be unread.
      if (check !== FrameCheck.OK && !window.complete) {
        await window.more();
        continue;
      }
      // A file that was zero-filled ahead (walSpareFile.ts) ends where the zeros begin.
      if (check !== FrameCheck.OK && zeroFrom(bytes, at, window.zerosFrom)) return false;
      if (check !== FrameCheck.OK || frame.lsn !== result.endLsn) {
        const reason = check === FrameCheck.TRUNCATED ? 'torn' : check === FrameCheck.CORRUPT ? 'corrupt' : 'gap';
        result.problem = await problemAt(files, index, window.offsetBytes + at, reason);
        return true;
      }
      // A frame wholly before the replay window is checked (its CRC, its place) but not parsed.
      if (frame.lsn + (frame.payloadEnd - frame.payloadStart) > options.fromLsn) {
        const stop = await visitFrame({ files, index, bytes, at: window.offsetBytes + at }, frame, entry, options, result, state);
        if (stop) return true;
      }
      result.framesRead++;
      result.endLsn = frame.lsn + (frame.payloadEnd - frame.payloadStart);
      at = frame.payloadEnd;
    }
    return false;
  } finally {
    result.bytesRead += window.length;
  }
}

/** Visits the entries of one checked frame; true when reading must stop (a problem, or toLsn reached). */
async function visitFrame(file: { files: WalFile[]; index: number; bytes: Buffer; at: number }, frame: FrameCursor, entry: WalEntryCursor,
  options: WalReadOptions, result: WalReadResult, state: { sinceYield: number }): Promise<boolean> {
  entry.reset(file.bytes, frame.payloadStart, frame.payloadEnd);
  try {
    while (entry.next()) {
      const lsn = frame.lsn + (entry.at - frame.payloadStart);
      if (options.toLsn !== null && lsn >= options.toLsn) return true;
      if (lsn < options.fromLsn) continue;
      options.visit(entry, lsn);
      result.entriesVisited++;
      if (++state.sinceYield >= options.yieldEveryEntries) {
        state.sinceYield = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    return false;
  } catch (error) {
    if (!(error instanceof WalFormatError)) throw error;
    result.problem = await problemAt(file.files, file.index, file.at, 'corrupt');
    return true;
  }
}

async function problemAt(files: WalFile[], index: number, offsetBytes: number, reason: WalProblem['reason']): Promise<WalProblem> {
  let droppedBytes = (await stat(files[index].path)).size - offsetBytes;
  const laterFiles = files.slice(index + 1).map((file) => file.path);
  for (const path of laterFiles) droppedBytes += (await stat(path)).size;
  return { path: files[index].path, offsetBytes, reason, droppedBytes, laterFiles };
}

/**
 * Whether every byte from `at` to the end is zero: the unwritten part of a preallocated file.
 * Bytes from `zerosFrom` on were checked when the file was read.
 */
function zeroFrom(bytes: Buffer, at: number, zerosFrom: number): boolean {
  const CHUNK = 64 * 1024;
  const end = Math.min(bytes.length, zerosFrom);
  for (let from = at; from < end; from += CHUNK) {
    const piece = bytes.subarray(from, Math.min(end, from + CHUNK));
    if (piece.compare(ZEROS, 0, piece.length) !== 0) return false;
  }
  return true;
}

const ZEROS = Buffer.alloc(64 * 1024);
