// Faulting a restart's index in ahead of its load, on the thread pool. A restart's engine is empty
// and its index is presized for the records coming; fresh tables are fresh mappings, so the load's
// first write to each page would take a page fault on the JavaScript thread (4096 of them for 1M
// keys' 16 MiB of home buckets; 1.5-25 us each on this kind of VM: see "Restart time" in
// docs/durability.md). Instead the tables are made but not installed, /dev/zero is read into them
// on libuv's threads (the kernel faults the pages in there) while the JavaScript thread reads the
// log tail, and then they are installed — if the engine indexed nothing meanwhile (serving starts
// before recovery ends, so a write could come); otherwise they are dropped and the index grows by
// doubling as it would have without a presize. The zeros are what the tables already hold.
//
// With worker threads at hand (a restart's FrameReaders), they fault the tables in instead, by a
// write to each page: in user mode, so the JavaScript thread's later writes find the pages mapped
// for it too. On a VM with shadow paging a page the kernel filled from /dev/zero still cost the
// JavaScript thread a fault of its own at its first touch (26-50 ms for the 4k pages of 1M keys'
// tables, measured: docs/durability.md "Session 13"); it also kept libuv's pool busy while the
// restart read its log there. The tables are SharedArrayBuffers for that (indexTable.ts).
//
// An optimisation only: if /dev/zero cannot be opened or read, the load faults the pages itself.

import { close, open, read } from 'node:fs';
import type { HashRange } from '../../proto/keyspace/range.js';
import type { PresizedIndex, Store } from '../store/index.js';
import type { FrameReaders } from './frameReaders.js';

const ZERO_DEVICE = '/dev/zero';

/**
 * Presizes the store's empty index for `keyCount` keys in `ranges`, the memory of the tables those
 * ranges use faulted in first: by `readers` if given and started (worker threads, in user mode),
 * else on the thread pool. Resolves (never rejects) once the tables are installed or dropped.
 */
export function presizeIndexAhead(store: Store, keyCount: number, ranges: readonly HashRange[], readers: FrameReaders | null = null): Promise<void> {
  const presized = store.presizedIndexTables(keyCount, ranges);
  if (presized === null) return Promise.resolve();
  // Readers still starting would keep the tables waiting for their threads (100-200 ms here).
  const faulted = readers?.ready !== true ? faultIn(presized) : readers.touch(presized.memory).then((done) => (done ? undefined : faultIn(presized)));
  return faulted.then(() => {
    store.adoptPresizedIndex(presized);
  });
}

function faultIn(presized: PresizedIndex): Promise<void> {
  if (presized.memory.length === 0) return Promise.resolve();
  return new Promise<void>((resolve) => {
    open(ZERO_DEVICE, 'r', (openError, fd) => {
      if (openError !== null) {
        resolve();
        return;
      }
      let pending = presized.memory.length;
      // One read per table: libuv's threads take them in parallel. A short or failed read only
      // leaves pages for the load to fault in.
      for (const area of presized.memory) {
        read(fd, area, 0, area.length, null, () => {
          if (--pending > 0) return;
          close(fd, () => undefined);
          resolve();
        });
      }
    });
  });
}
