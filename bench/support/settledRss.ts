// The resident set size once the memory a forced collection freed has gone back to the system.
// V8 frees dead ArrayBuffers' backing stores on a worker thread (ArrayBufferSweeper) after the
// collection returns: read at once, RSS still holds some of them (measured: a 1M-key Map worker
// read 325 B/key at once and 311 B/key 50 ms later, and nothing moved after that). So the reading
// waits until two reads SETTLE_INTERVAL_MS apart differ by at most SETTLED_DELTA_BYTES, bounded by
// SETTLE_WAIT_MS_MAX (then the last read is taken, whatever it is).

import { setTimeout as sleep } from 'node:timers/promises';

const SETTLE_INTERVAL_MS = 25;
const SETTLE_WAIT_MS_MAX = 1000;
/** Sixteen 4 KiB pages: what a settled process still moves by between two reads. */
const SETTLED_DELTA_BYTES = 64 * 1024;

export async function settledRssBytes(): Promise<number> {
  let last = process.memoryUsage.rss();
  for (let waitedMs = 0; waitedMs < SETTLE_WAIT_MS_MAX; waitedMs += SETTLE_INTERVAL_MS) {
    await sleep(SETTLE_INTERVAL_MS);
    const now = process.memoryUsage.rss();
    if (Math.abs(now - last) <= SETTLED_DELTA_BYTES) return now;
    last = now;
  }
  return last;
}
