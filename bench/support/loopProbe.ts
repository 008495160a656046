// Watches a benchmark worker: event-loop delay over the whole run and the V8 heap's high-water
// mark. Forced garbage collections (needed to read a clean RSS) are kept out of the event-loop
// figures: a server never calls gc(), and a full collection of a multi-gigabyte Map heap would
// otherwise dominate the baseline's maximum.
//
// monitorEventLoopDelay histograms cannot be merged (RecordableHistogram.add refuses them), so
// the run is cut into windows at each forced collection: the histogram is read, disabled around
// the collection, then reset (which also forgets the timestamp of the last tick, so the
// collection's pause is not recorded) and enabled again. The run's maximum is the maximum of the
// windows' maxima, exact; its p99 is the largest window p99, an upper bound of the exact p99 of
// the union (each window has at most 1% of its samples above its own p99).

import { getHeapStatistics } from 'node:v8';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const NS_PER_MS = 1e6;

export interface DelayWindow {
  name: string;
  sampleCount: number;
  delayMsP50: number;
  delayMsP99: number;
  delayMsMax: number;
}

export interface LoopSummary {
  eventLoopDelayMsP99: number;
  eventLoopDelayMsMax: number;
  windows: DelayWindow[];
  heapUsedBytesMax: number;
}

export function forceGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run node with --expose-gc');
  gc();
}

/** Lets the delay timer tick once, so the last busy stretch is recorded. */
function tick(): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, 3));
}

export class LoopProbe {
  private readonly histogram = monitorEventLoopDelay({ resolution: 1 });
  private readonly windows: DelayWindow[] = [];
  private windowName: string;
  heapUsedBytesMax = 0;

  constructor(firstWindowName: string) {
    this.windowName = firstWindowName;
    this.sampleHeap();
    this.histogram.enable();
  }

  sampleHeap(): void {
    const used = getHeapStatistics().used_heap_size;
    if (used > this.heapUsedBytesMax) this.heapUsedBytesMax = used;
  }

  /**
   * Closes the current window, runs a full collection and `measure` (awaited: it may wait for the
   * freed memory to settle, with the loop idle and not recorded), then opens `nextWindowName`.
   */
  async collectGarbage<T>(nextWindowName: string, measure: () => T | Promise<T>): Promise<T> {
    await tick();
    this.closeWindow();
    this.histogram.disable();
    this.sampleHeap();
    forceGc();
    const result = await measure();
    this.histogram.reset();
    this.windowName = nextWindowName;
    this.histogram.enable();
    return result;
  }

  async finish(): Promise<LoopSummary> {
    await tick();
    this.closeWindow();
    this.histogram.disable();
    this.sampleHeap();
    let p99 = 0;
    let max = 0;
    for (const w of this.windows) {
      p99 = Math.max(p99, w.delayMsP99);
      max = Math.max(max, w.delayMsMax);
    }
    return { eventLoopDelayMsP99: p99, eventLoopDelayMsMax: max, windows: this.windows, heapUsedBytesMax: this.heapUsedBytesMax };
  }

  private closeWindow(): void {
    const h = this.histogram;
    const empty = h.count === 0;
    this.windows.push({
      name: this.windowName,
      sampleCount: h.count,
      delayMsP50: empty ? 0 : h.percentile(50) / NS_PER_MS,
      delayMsP99: empty ? 0 : h.percentile(99) / NS_PER_MS,
      delayMsMax: empty ? 0 : h.max / NS_PER_MS,
    });
  }
}
