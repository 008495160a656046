// The log's memory: fixed-size segments outside the V8 heap, carved from a few large
// ArrayBuffers ("arenas") allocated when the pool is made, handed out in id order, and recycled
// once the cleaner has emptied them. An arena costs address space, not memory: it is mapped
// fresh and zeroed by the kernel, so a segment's pages are faulted in when it is first written,
// and all of it goes back to the system when the store is dropped. Allocating up front keeps
// allocation out of operations: an 8 MiB Buffer made mid-load raised V8's external-memory count,
// and every ~64 MB of it started a garbage collection inside a put (~3 ms, more while marking:
// see "Event-loop bounds" in docs/design-notes.md). One Buffer per segment up front instead
// stranded pages (malloc handed freed, resident memory to segments never used). Arenas are
// SharedArrayBuffers so that worker threads can fill segments: a restart's checkpoint frames are
// copied in by them (dataplane/durability/frameReaders.ts); the engine itself is single-threaded.
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
import { SEGMENT_SIZE_BYTES_MAX } from './config.js';

/** Largest arena (one ArrayBuffer); the largest segment fits in one. */
const ARENA_BYTES_MAX = 1024 * 1024 * 1024;
assert(ARENA_BYTES_MAX >= SEGMENT_SIZE_BYTES_MAX, 'every segment fits in an arena');

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
  /**
   * How often each segment was taken (wrapping at 2^32): a tenancy id, so whoever noted a segment
   * when it took it can tell later that it was recycled meanwhile (BulkLoad.vouchesFor).
   */
  readonly takes: Uint32Array;
  private readonly freeIds: number[] = [];
  /** All segment memory, allocated by the constructor; segment id lives in arena id / segmentsPerArena. */
  private readonly arenas: SharedArrayBuffer[] = [];
  private readonly segmentsPerArena: number;
  private quarantinedCount = 0;

  constructor(segmentSizeBytes: number, segmentCountMax: number) {
    assert(segmentSizeBytes % 4 === 0 && segmentCountMax > 0, 'segment geometry');
    this.segmentSizeBytes = segmentSizeBytes;
    this.segmentCountMax = segmentCountMax;
    this.state = new Uint8Array(segmentCountMax);
    this.fillBytes = new Int32Array(segmentCountMax);
    this.liveBytes = new Int32Array(segmentCountMax);
    this.youngestVersion = new Float64Array(segmentCountMax);
    this.takes = new Uint32Array(segmentCountMax);
    this.segmentsPerArena = Math.max(1, Math.floor(ARENA_BYTES_MAX / segmentSizeBytes));
    for (let first = 0; first < segmentCountMax; first += this.segmentsPerArena) {
      this.arenas.push(new SharedArrayBuffer(Math.min(this.segmentsPerArena, segmentCountMax - first) * segmentSizeBytes));
    }
  }

  get allocatedCount(): number {
    return this.bytes.length;
  }

  /** Segments that are FREE or not yet handed out. */
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
      this.handOut(id);
    }
    this.transition(id, [SegmentState.FREE], to);
    this.fillBytes[id] = 0;
    this.liveBytes[id] = 0;
    this.youngestVersion[id] = 0;
    this.takes[id]++;
    return id;
  }

  /** Makes the views of segment `id`, the next one never used. */
  private handOut(id: number): void {
    assert(id === this.bytes.length && id < this.segmentCountMax, 'segments are handed out in id order');
    const arena = this.arenas[Math.floor(id / this.segmentsPerArena)];
    const offset = (id % this.segmentsPerArena) * this.segmentSizeBytes;
    assert(offset + this.segmentSizeBytes <= arena.byteLength, 'a segment lies inside its arena');
    this.bytes.push(Buffer.from(arena, offset, this.segmentSizeBytes));
    this.words.push(new Int32Array(arena, offset, this.segmentSizeBytes >> 2));
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

  /** Bytes of the segments handed out so far: the segment memory in use (the rest is untouched). */
  get allocatedBytes(): number {
    return this.bytes.length * this.segmentSizeBytes;
  }
}
