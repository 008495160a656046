// The ways readWal can read a log's files (dataplane/durability/walFileBytes.ts): libuv's pool or
// frame readers' worker threads, each in whole 1 MiB chunks and in small ones that cut frames and
// pages apart. The log reader's tests run each case every way and expect the same outcome.

import { FrameReaders } from '../../dataplane/durability/frameReaders.js';

export interface WalReadWay {
  readonly name: string;
  readonly readers: FrameReaders | null;
  readonly readChunkBytes?: number;
}

/** Chunks that are not a multiple of anything: frames, entries and pages straddle them. */
const SMALL_CHUNK_BYTES = 3001;
const READERS_START_MS_MAX = 10_000;

/** Frame readers whose threads have started (a read given to them then goes to a worker). */
export async function startedReaders(): Promise<FrameReaders> {
  const readers = FrameReaders.start();
  if (readers === null) throw new Error('frame readers did not start');
  const until = Date.now() + READERS_START_MS_MAX;
  while (!readers.ready) {
    if (Date.now() > until) throw new Error(`frame readers not started after ${READERS_START_MS_MAX} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return readers;
}

/** Every way, with `readers` (started) for those that use them. */
export function walReadWays(readers: FrameReaders): WalReadWay[] {
  return [
    { name: 'pool', readers: null },
    { name: `pool, ${SMALL_CHUNK_BYTES}-byte chunks`, readers: null, readChunkBytes: SMALL_CHUNK_BYTES },
    { name: 'readers', readers },
    { name: `readers, ${SMALL_CHUNK_BYTES}-byte chunks`, readers, readChunkBytes: SMALL_CHUNK_BYTES },
  ];
}
