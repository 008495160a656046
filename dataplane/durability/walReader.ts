// Reads a pod's write-ahead log back, frame by frame, checking each frame's checksum and that
// LSNs follow on without a gap. Reading stops at the first frame that fails: a torn tail after a
// crash, or corruption. What was not read is reported (file, offset, bytes), never served.

import { open, stat, type FileHandle } from 'node:fs/promises';
import { dataEndOf } from './walDataEnd.js';
import { FRAME_HEADER_BYTES, FrameCheck, FrameCursor, FrameHeader } from './walFrame.js';
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
}

export interface WalPrefetch {
  readonly path: string;
  readonly bytes: Promise<WalFileBytes>;
}

/** Bytes of a log file from a frame boundary on. */
export interface WalFileBytes {
  readonly bytes: Buffer;
  /** Where bytes[0] lies in the file: the start of a frame. */
  readonly offsetBytes: number;
  /** The LSN the frame there must carry. */
  readonly lsn: number;
  /** Every byte of `bytes` from here on is zero (the file's zero-filled tail, checked when read: walDataEnd.ts). */
  readonly zerosFrom: number;
}

/** Frames readFrom() hops over by their headers at most, before it reads the rest of the file. */
const HOP_FRAMES_MAX = 64;

/**
 * Starts reading the file readWal(dir, { fromLsn }) will read first, so it comes off the disk
 * while the caller does something else (recovery: while checkpoints load). Only for a log nobody
 * appends to meanwhile (a dead pod's, or this pod's before it reopens it).
 */
export function prefetchWal(dir: string, fromLsn: number): WalPrefetch | null {
  const files = listWalFiles(dir);
  const i = firstFileFor(files, fromLsn);
  if (files[i] === undefined) return null;
  const bytes = readFrom(files[i], fromLsn);
  bytes.catch(() => undefined);
  return { path: files[i].path, bytes };
}

/**
 * Reads a log file from the first frame that reaches into the replay window (`fromLsn` on). The
 * frames wholly before it are hopped over by their headers, at most HOP_FRAMES_MAX of them: each
 * must have the magic, a plausible length and the LSN that follows on from the frame before
 * (everything the full read checks of a frame but its CRC, which only vouches for bytes that are
 * not replayed). The first header that does not check out is where the read starts, so the full
 * read checks that frame and reports any damage at its own offset. A restart's first log file
 * held 8.5 MB before the window, read and CRC-checked only to be skipped.
 */
async function readFrom(file: WalFile, fromLsn: number): Promise<WalFileBytes> {
  const handle = await open(file.path, 'r');
  try {
    const sizeBytes = (await handle.stat()).size;
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    const frame = new FrameHeader();
    let at = 0;
    let lsn = file.startLsn;
    for (let hops = 0; hops < HOP_FRAMES_MAX && lsn < fromLsn; hops++) {
      const { bytesRead } = await handle.read(header, 0, FRAME_HEADER_BYTES, at);
      const check = frame.parse(header, bytesRead, sizeBytes - at - FRAME_HEADER_BYTES);
      if (check !== FrameCheck.OK || frame.lsn !== lsn || lsn + frame.payloadBytes > fromLsn) break;
      at += FRAME_HEADER_BYTES + frame.payloadBytes;
      lsn += frame.payloadBytes;
    }
    return await readSpan(handle, at, sizeBytes, lsn);
  } finally {
    await handle.close();
  }
}

/**
 * The file's bytes from `at` (a frame boundary whose frame carries `lsn`) to its end: read up to
 * where its data ends, the zero-filled rest checked but not read into the buffer (walDataEnd.ts).
 */
async function readSpan(handle: FileHandle, at: number, sizeBytes: number, lsn: number): Promise<WalFileBytes> {
  const dataEnd = await dataEndOf(handle, at, sizeBytes);
  // Zeroed memory: past dataEnd its pages stay untouched, and read as the zeros the file holds.
  const bytes = Buffer.alloc(sizeBytes - at);
  let filled = 0;
  while (filled < dataEnd - at) {
    const { bytesRead } = await handle.read(bytes, filled, dataEnd - at - filled, at + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  // A file that came up short is read as far as it went, as before.
  return { bytes: filled < dataEnd - at ? bytes.subarray(0, filled) : bytes, offsetBytes: at, lsn, zerosFrom: filled };
}

/** The first file's bytes: prefetched if they are that file's, else read from the window on. */
function firstRead(file: WalFile, options: WalReadOptions): Promise<WalFileBytes> {
  return options.prefetched?.path === file.path ? options.prefetched.bytes : readFrom(file, options.fromLsn);
}

/** A whole file's bytes as WalFileBytes. */
async function readWhole(file: WalFile): Promise<WalFileBytes> {
  const handle = await open(file.path, 'r');
  try {
    return await readSpan(handle, 0, (await handle.stat()).size, file.startLsn);
  } finally {
    await handle.close();
  }
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
    const bytes = next ?? firstRead(files[i], options);
    // Read ahead: the next file comes off the disk while this one is replayed.
    next = i + 1 < files.length ? readWhole(files[i + 1]) : null;
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
  result.bytesRead += bytes.length;
  const frame = new FrameCursor();
  const entry = new WalEntryCursor();
  let at = 0;
  while (at < bytes.length) {
    const check = frame.check(bytes, at, bytes.length);
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
