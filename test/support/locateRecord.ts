// Finds a record in an engine's segment memory by its key bytes, for tests that change the
// record's bytes in place (corruption).

import assert from 'node:assert/strict';
import type { Store } from '../../dataplane/store/index.js';
import { RECORD_HEADER_BYTES } from './recordSize.js';

export interface Located {
  segmentId: number;
  offsetBytes: number;
}

/** Finds the record holding `key` by searching segment memory for the key bytes. */
export function locate(store: Store, key: Buffer): Located {
  const found: Located[] = [];
  for (let segmentId = 0; segmentId < store.segments.allocatedCount; segmentId++) {
    const bytes = store.segments.bytes[segmentId].subarray(0, store.segments.fillBytes[segmentId]);
    for (let at = bytes.indexOf(key); at >= 0; at = bytes.indexOf(key, at + 1)) {
      found.push({ segmentId, offsetBytes: at - RECORD_HEADER_BYTES });
    }
  }
  assert.equal(found.length, 1, 'the key bytes occur exactly once in the log');
  assert.equal(found[0].offsetBytes % 4, 0, 'records are 4-byte aligned');
  return found[0];
}
