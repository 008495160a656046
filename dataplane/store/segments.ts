// The log's memory: fixed-size segments allocated lazily up to the memory limit, outside the V8
// heap (Buffer.allocUnsafeSlow), and recycled once the cleaner has emptied them.
//
// Segment lifecycle (an explicit state machine, see transition()):
//
//   FREE ──► HEAD ──► CLOSED ──► CLEANING ──► FREE
//     └────► SURVIVOR ──┘              └────► QUARANTINED (accounting mismatch: never reused)
//
// HEAD receives new records from writers; SURVIVOR receives records the cleaner relocates, so
// long-lived data collects apart from fresh writes (RAMCloud). Invariant: liveBytes[s] is the
// sum of the sizes of the records in s that the index references.

import { assert } from './assert.js';

export const enum SegmentState {
  FREE = 0,
  HEAD = 1,
  SURVIVOR = 2,
  CLOSED = 3,
  CLEANING = 4,
  QUARANTINED = 5,
}

const STATE_NAMES = ['FREE', 'HEAD', 'SURVIVOR', 'CLOSED', 'CLEANING', 'QUARANTINED'];

export class SegmentPool {
  readonly segmentSizeBytes: number;
  readonly segmentCountMax: number;
  /** Byte view of each allocated segment, by segment id. */
  readonly bytes: Buffer[] = [];
  /** Int32 view of the same memory, for header words. */
  readonly words: Int32Array[] = [];
  readonly state: Uint8Array;
  /** Bytes appended so far; records occupy [0, fillBytes). */
  readonly fillBytes: Int32Array;
  readonly liveBytes: Int32Array;
  /** Largest record version appended; the segment's age for cost-benefit cleaning. */
  readonly youngestVersion: Float64Array;
  private readonly freeIds: number[] = [];
  private quarantinedCount = 0;

  constructor(segmentSizeBytes: number, segmentCountMax: number) {
    assert(segmentSizeBytes % 4 === 0 && segmentCountMax > 0, 'segment geometry');
    this.segmentSizeBytes = segmentSizeBytes;
    this.segmentCountMax = segmentCountMax;
    this.state = new Uint8Array(segmentCountMax);
    this.fillBytes = new Int32Array(segmentCountMax);
    this.liveBytes = new Int32Array(segmentCountMax);
    this.youngestVersion = new Float64Array(segmentCountMax);
  }

  get allocatedCount(): number {
    return this.bytes.length;
  }

  /** Segments that are FREE or not yet allocated. */
  get freeCount(): number {
    return this.freeIds.length + (this.segmentCountMax - this.bytes.length);
  }

  get quarantined(): number {
    return this.quarantinedCount;
  }

  /** Takes a free segment into `to` (HEAD or SURVIVOR); -1 when none is left. */
  take(to: SegmentState.HEAD | SegmentState.SURVIVOR): number {
    let id = this.freeIds.pop();
    if (id === undefined) {
      if (this.bytes.length === this.segmentCountMax) return -1;
      id = this.bytes.length;
      const buffer = Buffer.allocUnsafeSlow(this.segmentSizeBytes);
      assert(buffer.byteOffset === 0, 'segment buffers own their memory');
      this.bytes.push(buffer);
      this.words.push(new Int32Array(buffer.buffer, 0, this.segmentSizeBytes >> 2));
    }
    this.transition(id, [SegmentState.FREE], to);
    this.fillBytes[id] = 0;
    this.liveBytes[id] = 0;
    this.youngestVersion[id] = 0;
    return id;
  }

  release(id: number): void {
    assert(this.liveBytes[id] === 0, `segment ${id} released with ${this.liveBytes[id]} live bytes`);
    this.transition(id, [SegmentState.CLEANING], SegmentState.FREE);
    this.fillBytes[id] = 0;
    this.freeIds.push(id);
  }

  quarantine(id: number): void {
    this.transition(id, [SegmentState.CLEANING], SegmentState.QUARANTINED);
    this.quarantinedCount++;
  }

  /** Refuses illegal lifecycle moves: they would mean the engine lost track of its memory. */
  transition(id: number, from: readonly SegmentState[], to: SegmentState): void {
    const current = this.state[id] as SegmentState;
    assert(from.includes(current), `segment ${id}: illegal transition ${STATE_NAMES[current]} -> ${STATE_NAMES[to]}`);
    this.state[id] = to;
  }

  /** Bytes of segment memory currently allocated from the system. */
  get allocatedBytes(): number {
    return this.bytes.length * this.segmentSizeBytes;
  }
}
