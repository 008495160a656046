// PUT entries appended straight to a WalWriter, for the log writer's tests.

import type { WalWriter } from '../../dataplane/durability/walWriter.js';

const EMPTY = Buffer.alloc(0);

/** Appends PUT entries with versions [from, to) (key `k<version>`, a 100-byte value). */
export function appendPuts(wal: WalWriter, from: number, to: number): void {
  const value = Buffer.alloc(100, 0x61);
  for (let version = from; version < to; version++) {
    const key = Buffer.from(`k${version}`);
    wal.appendPut(key, 0, key.length, value, 0, value.length, version, EMPTY, 0);
  }
}
