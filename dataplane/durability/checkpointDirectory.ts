// A format-3 checkpoint's frame directory (checkpointFile.ts): the trailer names the END frame,
// whose JSON lists the offset and lsn of every frame before it. With it recovery reads several
// frames at once instead of one after the other. Null when the file has no directory or it does
// not check out (a torn or damaged tail, format 2): the loader then reads frame after frame, which
// finds any damage itself. A directory that checks out is still checked against every frame's own
// header, and every frame against its CRC.

import type { FileHandle } from 'node:fs/promises';
import { CHECKPOINT_TRAILER_BYTES, CheckpointFrame, endFrameOffset, type CheckpointEnd } from './checkpointFile.js';
import { FRAME_HEADER_BYTES, FrameCheck, FrameHeader, frameChecksumMatches } from './walFrame.js';

/** One frame of a file: where it starts, its payload length and its lsn field (kind, record count). */
export interface FrameSlot {
  readonly at: number;
  readonly payloadBytes: number;
  readonly lsn: number;
}

/** The file's frames in order, END last; null when there is no sound directory. */
export async function readFrameDirectory(file: FileHandle, size: number): Promise<FrameSlot[] | null> {
  if (size < CHECKPOINT_TRAILER_BYTES + FRAME_HEADER_BYTES) return null;
  const trailer = Buffer.alloc(CHECKPOINT_TRAILER_BYTES);
  if ((await file.read(trailer, 0, trailer.length, size - trailer.length)).bytesRead !== trailer.length) return null;
  const endAt = endFrameOffset(trailer);
  const endFrameBytes = endAt === null ? 0 : size - CHECKPOINT_TRAILER_BYTES - endAt;
  if (endAt === null || endFrameBytes < FRAME_HEADER_BYTES || endFrameBytes > END_FRAME_BYTES_MAX) return null;
  const frame = Buffer.alloc(endFrameBytes);
  if ((await file.read(frame, 0, frame.length, endAt)).bytesRead !== frame.length) return null;
  const end = endFrameJson(frame);
  return end === null ? null : slotsOf(end, endAt, endFrameBytes - FRAME_HEADER_BYTES);
}

/** The END frame's JSON, if the frame is whole and is an END frame. */
function endFrameJson(frame: Buffer): CheckpointEnd | null {
  const header = new FrameHeader();
  const payloadBytes = frame.length - FRAME_HEADER_BYTES;
  if (header.parse(frame, FRAME_HEADER_BYTES, payloadBytes) !== FrameCheck.OK) return null;
  if (header.payloadBytes !== payloadBytes || header.lsn !== CheckpointFrame.END) return null;
  if (!frameChecksumMatches(frame.subarray(0, FRAME_HEADER_BYTES), [frame.subarray(FRAME_HEADER_BYTES)])) return null;
  try {
    return JSON.parse(frame.toString('utf8', FRAME_HEADER_BYTES)) as CheckpointEnd;
  } catch {
    return null;
  }
}

/** The slots the directory lists, then END; null unless they start at 0 and follow on in order. */
function slotsOf(end: CheckpointEnd, endAt: number, endPayloadBytes: number): FrameSlot[] | null {
  const frames = end.frames;
  if (!Array.isArray(frames) || frames.length === 0) return null;
  const slots: FrameSlot[] = [];
  for (let i = 0; i < frames.length; i++) {
    const [at, lsn] = frames[i];
    const next = i + 1 < frames.length ? frames[i + 1][0] : endAt;
    const sound = Number.isSafeInteger(at) && Number.isSafeInteger(lsn) && Number.isSafeInteger(next) && next - at >= FRAME_HEADER_BYTES;
    if (!sound || (i === 0 ? at !== 0 : at !== slots[i - 1].at + FRAME_HEADER_BYTES + slots[i - 1].payloadBytes)) return null;
    slots.push({ at, payloadBytes: next - at - FRAME_HEADER_BYTES, lsn });
  }
  slots.push({ at: endAt, payloadBytes: endPayloadBytes, lsn: CheckpointFrame.END });
  return slots;
}

/** An END frame is small JSON (~40 bytes per frame listed); anything larger is not one. */
const END_FRAME_BYTES_MAX = 64 * 1024 * 1024;
