// Reads a checkpoint file back (format: checkpointFile.ts). Every frame is checked; reading stops
// at the first bad frame and says so: the entries before it are valid and may be loaded, the
// rest is reported as dropped.

import { readFile } from 'node:fs/promises';
import { CheckpointFrame, type CheckpointEnd, type CheckpointMeta } from './checkpointFile.js';
import { WalEntryCursor, WalFormatError } from './walEntry.js';
import { FrameCheck, FrameCursor } from './walFrame.js';

export interface CheckpointReadResult {
  meta: CheckpointMeta | null;
  end: CheckpointEnd | null;
  entriesVisited: number;
  /** Null when the file was whole; otherwise what was wrong and how many bytes were not read. */
  problem: { offsetBytes: number; reason: string; droppedBytes: number } | null;
}

/** `file`: its path, or its bytes already read (recovery reads the next file while loading this one). */
export async function readCheckpoint(file: string | Promise<Buffer>, visit: (entry: WalEntryCursor) => void, yieldEveryEntries: number,
  onMeta: (meta: CheckpointMeta) => void = () => undefined): Promise<CheckpointReadResult> {
  const bytes = await (typeof file === 'string' ? readFile(file) : file);
  const result: CheckpointReadResult = { meta: null, end: null, entriesVisited: 0, problem: null };
  const frame = new FrameCursor();
  const reader = new EntriesReader(visit, yieldEveryEntries);
  let at = 0;
  const stop = (reason: string): CheckpointReadResult => {
    result.problem = { offsetBytes: at, reason, droppedBytes: bytes.length - at };
    return result;
  };
  while (at < bytes.length) {
    const check = frame.check(bytes, at, bytes.length);
    if (check !== FrameCheck.OK) return stop(check === FrameCheck.TRUNCATED ? 'torn frame' : 'bad frame checksum');
    const payload = bytes.subarray(frame.payloadStart, frame.payloadEnd);
    if (frame.lsn === CheckpointFrame.META && at === 0) {
      result.meta = JSON.parse(payload.toString()) as CheckpointMeta;
      onMeta(result.meta);
    } else if (frame.lsn === CheckpointFrame.END && result.meta !== null) {
      result.end = JSON.parse(payload.toString()) as CheckpointEnd;
    } else if (frame.lsn === CheckpointFrame.ENTRIES && result.meta !== null && result.end === null) {
      const problem = await reader.read(bytes, frame.payloadStart, frame.payloadEnd);
      result.entriesVisited = reader.entriesVisited;
      if (problem !== null) return stop(problem);
    } else {
      return stop(`unexpected frame kind ${frame.lsn}`);
    }
    at = frame.payloadEnd;
  }
  if (result.end === null) return stop('no END frame: the checkpoint was not finished');
  return result;
}

/** Visits the entries of ENTRIES frames, yielding to the event loop every so often. */
class EntriesReader {
  private readonly entry = new WalEntryCursor();
  private sinceYield = 0;
  entriesVisited = 0;

  constructor(private readonly visit: (entry: WalEntryCursor) => void, private readonly yieldEveryEntries: number) {}

  /** Null when the frame was read whole, else why not. */
  async read(bytes: Buffer, start: number, end: number): Promise<string | null> {
    this.entry.reset(bytes, start, end);
    try {
      while (this.entry.next()) {
        this.visit(this.entry);
        this.entriesVisited++;
        if (++this.sinceYield >= this.yieldEveryEntries) {
          this.sinceYield = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
      return null;
    } catch (error) {
      if (error instanceof WalFormatError) return error.message;
      throw error;
    }
  }
}
