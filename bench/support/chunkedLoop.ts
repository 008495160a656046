// Runs a timed loop the way a server runs work: in chunks of a few thousand operations, with a
// maintenance tick after each chunk and a yield to the event loop between chunks. A loop that
// never yields cannot show event-loop delay, and would hide pauses a server would suffer.
//
// The time the main thread waited for a CPU (support/schedStat.ts, Linux) is kept too, so a
// long chunk can be told apart as work of the code measured or as the machine's other processes
// holding the CPU.

import { performance } from 'node:perf_hooks';
import { RunQueueClock } from './schedStat.js';

export interface PhaseTiming {
  opCount: number;
  elapsedMs: number;
  /** opCount over wall time, including the maintenance ticks and the yields. */
  opsPerSec: number;
  chunkCount: number;
  /** Longest chunk (operations + maintenance tick): the longest the event loop was held. */
  chunkMsMax: number;
  chunkMsP99: number;
  /** Longest chunk once the time its thread waited for a CPU is taken out: the code's own time. */
  chunkOwnMsMax: number;
  /** Longest the main thread waited, runnable, for a CPU during one chunk and its yield. */
  runQueueWaitMsMax: number;
  runQueueWaitMsTotal: number;
}

/** Does operations [start, end) of a phase. */
export type ChunkBody = (start: number, end: number) => void;

export function yieldToEventLoop(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

export async function runChunked(opCount: number, chunkOps: number, body: ChunkBody, afterChunk: () => void): Promise<PhaseTiming> {
  if (!(Number.isInteger(chunkOps) && chunkOps > 0)) throw new RangeError(`chunkOps must be a positive integer, got ${chunkOps}`);
  const chunkMs = new Float64Array(Math.ceil(opCount / chunkOps));
  const clock = new RunQueueClock();
  const own = { chunkMsMax: 0, waitMsMax: 0, waitMsTotal: 0 };
  let chunkCount = 0;
  const started = performance.now();
  for (let start = 0; start < opCount; start += chunkOps) {
    const waitMsBefore = clock.waitMs();
    const chunkStarted = performance.now();
    body(start, Math.min(opCount, start + chunkOps));
    afterChunk();
    const ms = performance.now() - chunkStarted;
    chunkMs[chunkCount++] = ms;
    own.chunkMsMax = Math.max(own.chunkMsMax, ms - (clock.waitMs() - waitMsBefore));
    await yieldToEventLoop();
    const waitMs = clock.waitMs() - waitMsBefore;
    own.waitMsMax = Math.max(own.waitMsMax, waitMs);
    own.waitMsTotal += waitMs;
  }
  const elapsedMs = performance.now() - started;
  chunkMs.sort();
  return {
    opCount, elapsedMs, opsPerSec: elapsedMs > 0 ? (opCount * 1000) / elapsedMs : 0, chunkCount,
    chunkMsMax: chunkCount > 0 ? chunkMs[chunkCount - 1] : 0,
    chunkMsP99: chunkCount > 0 ? chunkMs[Math.min(chunkCount - 1, Math.floor(chunkCount * 0.99))] : 0,
    chunkOwnMsMax: own.chunkMsMax, runQueueWaitMsMax: own.waitMsMax, runQueueWaitMsTotal: own.waitMsTotal,
  };
}
