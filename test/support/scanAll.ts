// Collects a whole range scan across resumable calls into plain objects.

import assert from 'node:assert/strict';
import { SCAN_DONE, type RecordRef, type Store } from '../../dataplane/store/index.js';
import type { HashRange } from '../../proto/keyspace/range.js';

export interface ScannedRecord {
  /** Key bytes as a latin1 string (one char per byte). */
  readonly key: string;
  readonly value: Buffer;
  readonly version: number;
  readonly tombstone: boolean;
  readonly checksumValid: boolean;
  readonly recordBytes: number;
}

export interface ScanAllOptions {
  readonly recordCountMax?: number;
  readonly includeTombstones?: boolean;
  /** Called between scan calls with the cursor just returned (e.g. to write to the store). */
  readonly betweenCalls?: (cursor: number) => void;
}

/** Upper bound on scan calls for one range: the cursor must advance by a bucket each call. */
const SCAN_CALLS_MAX = 1 << 22;

export function copyRecord(record: RecordRef): ScannedRecord {
  return {
    key: record.key().toString('latin1'),
    value: Buffer.from(record.value()),
    version: record.version,
    tombstone: record.tombstone,
    checksumValid: record.checksumValid,
    recordBytes: record.recordBytes,
  };
}

/** Scans `range` to the end; returns every visited record in visit order. */
export function scanAll(store: Store, range: HashRange, options: ScanAllOptions = {}): ScannedRecord[] {
  const records: ScannedRecord[] = [];
  const scanOptions = {
    recordCountMax: options.recordCountMax ?? Infinity,
    includeTombstones: options.includeTombstones ?? false,
  };
  let cursor = 0;
  for (let calls = 0; calls < SCAN_CALLS_MAX; calls++) {
    const next = store.scan(range, cursor, scanOptions, (record) => records.push(copyRecord(record)));
    if (next === SCAN_DONE) return records;
    assert.ok(next > cursor, `scan cursor must advance: ${cursor} -> ${next}`);
    cursor = next;
    options.betweenCalls?.(cursor);
  }
  assert.fail(`scan did not finish within ${SCAN_CALLS_MAX} calls`);
}
