// Deleting a hash range's records from this pod's engine: the target's purge of slices the
// source re-sends (IncomingMigration), and a pod's drop of a range it does not own (Migrations:
// the source after giving the range away, a target whose copy was cancelled or refused, a target
// clearing leftovers before a new copy). Both must know when a delete failed: a record that
// survives a purge is stale and would be served once ownership arrives (docs/migration.md,
// "Pre-copy" and "Dropping a range").

import type { HashRange } from '../../proto/keyspace/range.js';
import { SCAN_DONE, Status, errorDetailMessage, statusName, type Store } from '../store/index.js';
import { assert } from '../store/assert.js';
import { KeyList } from './keyList.js';

/** What one call did: where to go on, and the first delete that failed (status OK: none). */
export interface DropOutcome {
  /** The cursor to resume from (SCAN_DONE: the range was scanned to its end). */
  readonly next: number;
  readonly keysDeleted: number;
  readonly status: Status;
  /** The key whose delete failed (empty when none did). */
  readonly failedKey: Buffer;
}

const NO_KEY = Buffer.alloc(0);

/** Whether a key (bytes[offset, offset + length)) stays. */
export type SpareKey = (bytes: Buffer, offset: number, length: number) => boolean;

/** Reused by every call (a drop runs to its end synchronously: no two calls share it at once). */
const found = new KeyList();

/**
 * Deletes the live records of `range` from `cursor` on, in scan order, stopping after the bucket
 * in which `recordCountMax` records were seen; keys `spare` accepts stay. Where the range retains
 * tombstones, the keys are collected first and deleted after the scan (a delete that writes a
 * tombstone during the scan would change the buckets under it);
 * a failed delete stops at once — later ones would fail the same way (the engine's reasons are a
 * full log or a bad key) — and is reported with its key, the cursor then being `cursor` again so
 * that a retry covers the keys not deleted. NOT_FOUND counts as deleted: nothing of the key is left.
 */
export function dropRecords(store: Store, range: HashRange, cursor: number, recordCountMax: number, spare: SpareKey | null = null): DropOutcome {
  assert(cursor !== SCAN_DONE, 'a drop starts from a cursor inside the range');
  // Where no tombstone is to be written the engine removes each entry where its scan finds it
  // (Store.dropInPlace: the same records go, without finding each key again; it cannot fail).
  if (store.dropsInPlace(range)) {
    const next = store.dropInPlace(range, cursor, recordCountMax, spare);
    return { next, keysDeleted: store.droppedCount, status: Status.OK, failedKey: NO_KEY };
  }
  assert(found.count === 0, 'drops do not nest');
  try {
    const next = store.scan(range, cursor, { recordCountMax, includeTombstones: false }, (record) => {
      // A record whose header is implausible comes without its key: no lookup can reach it, so it
      // can never be served, and there is no key to delete it by.
      if (record.keyLength > 0 && (spare === null || !spare(record.bytes, record.keyOffset, record.keyLength))) {
        found.add(record.bytes, record.keyOffset, record.keyLength);
      }
    });
    const keys = found.bytes;
    for (let i = 0; i < found.count; i++) {
      const status = store.delete(keys, found.offsetOf(i), found.lengthOf(i));
      if (status !== Status.OK && status !== Status.NOT_FOUND) return { next: cursor, keysDeleted: i, status, failedKey: found.copyOf(i) };
    }
    return { next, keysDeleted: found.count, status: Status.OK, failedKey: NO_KEY };
  } finally {
    found.clear();
  }
}

/**
 * Records of a range this pod is about to own (AssignRanges, RecoverRanges, PrepareMigration)
 * that it could not drop: the range is not taken, since the record left would be served.
 */
export class LeftoverRecordsError extends Error {
  override readonly name = 'LeftoverRecordsError';
}

/** A failed drop for errors and logs: the status, the engine's reason and the key. */
export function describeDropFailure(outcome: DropOutcome, store: Store): string {
  assert(outcome.status !== Status.OK, 'only a failed drop is described');
  const detailed = outcome.status === Status.OUT_OF_MEMORY || outcome.status === Status.INVALID_ARGUMENT;
  const reason = detailed ? errorDetailMessage(store.errorDetail) : '';
  return `deleting key ${JSON.stringify(outcome.failedKey.toString('latin1'))} failed with ${statusName(outcome.status)}${reason === '' ? '' : ` (${reason})`}`;
}
