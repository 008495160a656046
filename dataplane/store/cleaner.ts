// The log cleaner (RAMCloud, FAST '14): picks the segment with the best cost-benefit score
// (1 - u) · age / (1 + u), walks its records, relocates the live ones to a survivor segment,
// swings their index entries, and frees the segment. It works in slices bounded by a byte
// quota, so no slice stalls the event loop: writers pay for cleaning as they go (a few records
// per put, see Store.afterWrite) and the host's maintenance ticks clean ahead when idle.
//
// Age is measured in versions (writes), not wall time: age = next version - youngest version in
// the segment, which is what the LFS policy needs and keeps the engine free of clocks.
//
// Safety: a segment is freed only when its live-byte count reaches exactly zero after the walk,
// i.e. every record the index references was relocated. If a header fails its sanity check or
// the count does not reach zero, the segment is QUARANTINED instead: kept, never reused, still
// readable (records keep their checksums), and counted in the stats.

import { assert } from './assert.js';
import { keyLengthOf, recordBytes, recordPlausible, valueLengthOf } from './layout.js';
import { SegmentState, type SegmentPool } from './segments.js';

/** What the cleaner needs from the store. */
export interface CleanerHost {
  readonly segments: SegmentPool;
  /** The version the next write will get: the cleaner's clock. */
  readonly versionNow: number;
  /**
   * Relocates the record at (segmentId, offsetBytes) if the index (or, for a completion record,
   * the completion tracker) still references it, dropping it instead if it is a tombstone that
   * may go. Returns false only when no survivor space is left.
   */
  relocateIfLive(segmentId: number, offsetBytes: number, recordBytes: number): boolean;
}

/** Segments that would free less than this fraction of their size are not worth cleaning. */
const GAIN_FRACTION_MIN = 1 / 32;

export class Cleaner {
  /** Segment being cleaned, or -1. */
  private segmentId = -1;
  private cursorBytes = 0;
  segmentsCleaned = 0;
  bytesRelocated = 0;
  bytesWalked = 0;
  /** Utilisation of the segment being cleaned when it was chosen. */
  utilisationOfCurrent = 0;
  /**
   * Bytes freed since a selection last found no candidate; -1 when the last selection succeeded.
   * A new scan of the segments waits until enough was freed to make a candidate possible, so a
   * nearly full store does not rescan every segment on every write.
   */
  private freedSinceFailedSelect = -1;

  constructor(private readonly host: CleanerHost, private readonly keyLengthMax: number, private readonly valueLengthMax: number) {}

  /** Called when records die: they may make a segment worth cleaning. */
  noteFreed(bytes: number): void {
    if (this.freedSinceFailedSelect >= 0) this.freedSinceFailedSelect += bytes;
  }

  get active(): boolean {
    return this.segmentId >= 0;
  }

  /**
   * Walks up to `walkBytesMax` bytes of segment records (at least one record). Returns the
   * bytes walked; 0 when there is nothing worth cleaning or no survivor space.
   */
  step(walkBytesMax: number): number {
    if (this.segmentId < 0 && !this.select()) return 0;
    const segments = this.host.segments;
    const id = this.segmentId;
    const words = segments.words[id];
    const fill = segments.fillBytes[id];
    let walked = 0;
    let finished = false;
    while (walked < walkBytesMax) {
      if (this.cursorBytes >= fill) {
        this.finish(segments.liveBytes[id] !== 0);
        finished = true;
        break;
      }
      const size = this.checkedRecordBytes(words, this.cursorBytes, fill);
      if (size < 0) {
        this.finish(true);
        finished = true;
        break;
      }
      if (!this.host.relocateIfLive(id, this.cursorBytes, size)) break;
      this.cursorBytes += size;
      walked += size;
    }
    this.bytesWalked += walked;
    return finished ? Math.max(walked, 1) : walked;
  }

  /** Size of the record at `offsetBytes`, or -1 if its header is not a plausible record within the configured limits. */
  private checkedRecordBytes(words: Int32Array, offsetBytes: number, fillBytes: number): number {
    const w = offsetBytes >> 2;
    if (!recordPlausible(words, w, fillBytes)) return -1;
    const keyLength = keyLengthOf(words, w);
    const valueLength = valueLengthOf(words, w);
    if (keyLength > this.keyLengthMax || valueLength > this.valueLengthMax) return -1;
    return recordBytes(keyLength, valueLength);
  }

  private finish(quarantine: boolean): void {
    const segments = this.host.segments;
    if (quarantine) {
      segments.quarantine(this.segmentId);
    } else {
      segments.release(this.segmentId);
      this.segmentsCleaned++;
    }
    this.segmentId = -1;
    this.cursorBytes = 0;
  }

  /** Chooses the CLOSED segment with the highest cost-benefit score. */
  private select(): boolean {
    const segments = this.host.segments;
    const size = segments.segmentSizeBytes;
    const now = this.host.versionNow;
    if (this.freedSinceFailedSelect >= 0 && this.freedSinceFailedSelect < size * GAIN_FRACTION_MIN) return false;
    let best = -1;
    let bestScore = -1;
    for (let id = 0; id < segments.allocatedCount; id++) {
      if (segments.state[id] !== SegmentState.CLOSED) continue;
      const live = segments.liveBytes[id];
      if (size - live < size * GAIN_FRACTION_MIN) continue;
      const u = live / size;
      const age = now - segments.youngestVersion[id];
      const score = ((1 - u) * (age + 1)) / (1 + u);
      if (score > bestScore) {
        bestScore = score;
        best = id;
      }
    }
    if (best < 0) {
      this.freedSinceFailedSelect = 0;
      return false;
    }
    assert(segments.liveBytes[best] >= 0, 'live bytes are never negative');
    this.freedSinceFailedSelect = -1;
    segments.transition(best, [SegmentState.CLOSED], SegmentState.CLEANING);
    this.segmentId = best;
    this.cursorBytes = 0;
    this.utilisationOfCurrent = segments.liveBytes[best] / size;
    return true;
  }
}
