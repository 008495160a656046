// Garbage-collection pressure of a stretch of code: how many collections ran, how long they
// took, and how many bytes of V8 heap the code allocated.
//
// The bytes come from v8.GCProfiler, which records the used heap before and after every
// collection: allocated = used at the end - used at the start + what each collection freed.
// That is exact for scavenges, which is where short-lived per-op objects die. A mark-compact
// frees part of its garbage later, by concurrent sweeping, which no record shows, so a stretch
// with mark-compacts may under-count; they are counted separately so a reader can tell.
// Off-heap memory (the backing stores of Buffers) is not counted: V8's own accounting of it at
// each collection lags behind the allocations. It shows indirectly, in mark-compacts that a
// small, quiet heap would not otherwise need.

import { GCProfiler, getHeapStatistics } from 'node:v8';

const MICROSECONDS_PER_MS = 1000;

export interface GcFigures {
  scavengeCount: number;
  markCompactCount: number;
  /** Time inside collections and incremental-marking steps (their pauses on this thread). */
  gcMs: number;
  allocatedBytes: number;
}

export class GcMeter {
  private profiler: GCProfiler | null = null;
  private usedBytesAtStart = 0;

  start(): void {
    if (this.profiler !== null) throw new Error('GcMeter already started');
    this.profiler = new GCProfiler();
    this.profiler.start();
    this.usedBytesAtStart = getHeapStatistics().used_heap_size;
  }

  stop(): GcFigures {
    const profiler = this.profiler;
    if (profiler === null) throw new Error('GcMeter not started');
    const usedBytesAtEnd = getHeapStatistics().used_heap_size;
    const result = profiler.stop();
    this.profiler = null;
    let scavengeCount = 0;
    let markCompactCount = 0;
    let costMicroseconds = 0;
    let freedBytes = 0;
    for (const gc of result.statistics) {
      if (gc.gcType === 'Scavenge' || gc.gcType === 'MinorMarkCompact') scavengeCount++;
      else if (gc.gcType === 'MarkSweepCompact') markCompactCount++;
      costMicroseconds += gc.cost;
      freedBytes += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
    }
    return {
      scavengeCount, markCompactCount, gcMs: costMicroseconds / MICROSECONDS_PER_MS,
      allocatedBytes: usedBytesAtEnd - this.usedBytesAtStart + freedBytes,
    };
  }
}
