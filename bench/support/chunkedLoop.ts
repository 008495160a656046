// Runs a timed loop the way a server runs work: in chunks of a few thousand operations, with a
// maintenance tick after each chunk and a yield to the event loop between chunks. A loop that
// never yields cannot show event-loop delay, and would hide pauses a server would suffer.

import { performance } from 'node:perf_hooks';

export interface PhaseTiming {
  opCount: number;
  elapsedMs: number;
  /** opCount over wall time, including the maintenance ticks and the yields. */
  opsPerSec: number;
  chunkCount: number;
  /** Longest chunk (operations + maintenance tick): the longest the event loop was held. */
  chunkMsMax: number;
  chunkMsP99: number;
}

/** Does operations [start, end) of a phase. */
export type ChunkBody = (start: number, end: number) => void;

export function yieldToEventLoop(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

export async function runChunked(opCount: number, chunkOps: number, body: ChunkBody, afterChunk: () => void): Promise<PhaseTiming> {
  if (!(Number.isInteger(chunkOps) && chunkOps > 0)) throw new RangeError(`chunkOps must be a positive integer, got ${chunkOps}`);
  const chunkMs = new Float64Array(Math.ceil(opCount / chunkOps));
  let chunkCount = 0;
  const started = performance.now();
  for (let start = 0; start < opCount; start += chunkOps) {
    const chunkStarted = performance.now();
    body(start, Math.min(opCount, start + chunkOps));
    afterChunk();
    chunkMs[chunkCount++] = performance.now() - chunkStarted;
    await yieldToEventLoop();
  }
  const elapsedMs = performance.now() - started;
  chunkMs.sort();
  return {
    opCount, elapsedMs, opsPerSec: elapsedMs > 0 ? (opCount * 1000) / elapsedMs : 0, chunkCount,
    chunkMsMax: chunkCount > 0 ? chunkMs[chunkCount - 1] : 0,
    chunkMsP99: chunkCount > 0 ? chunkMs[Math.min(chunkCount - 1, Math.floor(chunkCount * 0.99))] : 0,
  };
}
