// Hand-made log contents for the log reader's tests: frames of PUT entries (keys `key-<frame>-<entry>`,
// values of zero bytes), entry i's version i + 1, sealed as the log writer seals them.

import { FRAME_HEADER_BYTES, sealFrame } from '../../dataplane/durability/walFrame.js';
import { ENTRY_HEADER_BYTES, entryBytes, writeEntryHeader } from '../../dataplane/durability/walEntry.js';

const PUT = 1;

export interface PutFrames {
  /** The frames one after another, as a log file holds them from START on. */
  readonly bytes: Buffer;
  /** Each frame's offset in `bytes`. */
  readonly frameOffsets: number[];
  /** Each entry's LSN. */
  readonly entryLsns: number[];
}

/** `frameCount` frames of `entriesPerFrame` PUT entries with `valueBytes`-byte values, the first frame at `startLsn`. */
export function putFrames(frameCount: number, entriesPerFrame: number, startLsn: number, valueBytes: number): PutFrames {
  const frames: Buffer[] = [];
  const frameOffsets: number[] = [];
  const entryLsns: number[] = [];
  let lsn = startLsn;
  let offset = 0;
  for (let f = 0; f < frameCount; f++) {
    const keys = Array.from({ length: entriesPerFrame }, (_, e) => Buffer.from(`key-${f}-${e}`));
    const payloadBytes = keys.reduce((bytes, key) => bytes + entryBytes(key.length, valueBytes, 0), 0);
    const frame = Buffer.alloc(FRAME_HEADER_BYTES + payloadBytes);
    let at = 0;
    keys.forEach((key, e) => {
      const size = writeEntryHeader(frame, FRAME_HEADER_BYTES + at, PUT, key.length, valueBytes, f * entriesPerFrame + e + 1, 0);
      key.copy(frame, FRAME_HEADER_BYTES + at + ENTRY_HEADER_BYTES);
      entryLsns.push(lsn + at);
      at += size;
    });
    sealFrame(frame, 0, at, lsn);
    frames.push(frame);
    frameOffsets.push(offset);
    offset += frame.length;
    lsn += at;
  }
  return { bytes: Buffer.concat(frames), frameOffsets, entryLsns };
}
