// The target's side of a live migration (DESIGN.md §6). Before ownership, a pre-copy may bring
// the range's records while the source still serves it (docs/migration.md, "Pre-copy"); they are
// not served until ownership arrives, which names the slices written since (sent along, or
// pending). From ReceiveOwnership on, the target serves the range at its new view while the
// source streams the rest. A key is "resolved" here once its state is known: its slice was
// pre-copied and is not pending, its hash lies below the bulk copy's progress mark, or it was
// fetched on demand (or arrived with the hottest records). An op on an unresolved key
// waits for an on-demand fetch from the source instead of for the whole copy. Records that
// arrive for a key already resolved are dropped: what the target has (possibly written since)
// wins. See docs/migration.md.

import { KeyHasher } from '../../proto/keyspace/hash.js';
import type { OwnedRange } from '../ranges/ownedRanges.js';
import type { ClientTable } from '../rifl/clientTable.js';
import { SCAN_DONE, Status, type BulkLoad, type Store } from '../store/index.js';
import { assert } from '../store/assert.js';
import { WalEntryCursor, WalEntryKind } from '../durability/walEntry.js';
import { PhaseMachine } from './migrationPhase.js';
import { RangeSlices, SliceSet, decodeSlices } from './rangeSlices.js';
import { describeDropFailure, dropRecords, type SpareKey } from './dropRecords.js';
import { StaleSlices } from './staleSlices.js';

export interface IncomingPeer {
  /** FetchKeys on the source: PUT entries of the keys that exist there. */
  fetchKeys(migrationId: string, keys: Buffer[]): Promise<Buffer>;
}

export interface IncomingSpec {
  readonly id: string;
  /** The range at its new view. */
  readonly range: OwnedRange;
  readonly sourcePod: string;
  readonly peer: IncomingPeer;
  readonly store: Store;
  readonly clients: ClientTable;
}

/** What ReceiveOwnership carries besides the entries when the range was pre-copied. */
export interface OwnershipData {
  readonly preCopied: boolean;
  /** Slices written since the last pre-copy round whose records come along (`sliceRecords`). */
  readonly replacedSlices: Buffer;
  readonly sliceRecords: Buffer;
  /** Slices written since whose records follow in MOVE_DATA (or on demand). */
  readonly pendingSlices: Buffer;
}

export class MigrationInstallError extends Error {
  override readonly name = 'MigrationInstallError';
}

/**
 * How long an op at the new view may wait at the target for ownership to arrive (the source
 * stopped serving and is handing over): past it, such ops get WRONG_RANGE as before.
 */
const OWNERSHIP_WAIT_MS = 1000;

/** Keys per FetchKeys call; more wait for the next call. */
const FETCH_KEYS_MAX = 512;

export class IncomingMigration {
  readonly phase: PhaseMachine;
  /** Every key whose hash's top word is below this has arrived (or does not exist). */
  sentBelowHi = 0;
  bulkDone = false;
  recordsMoved = 0;
  bytesMoved = 0;
  keysFetched = 0;
  /** Bytes pre-copied here (records of the range received before ownership). */
  preCopyBytes = 0;
  /**
   * Set before the first record of the range is installed here (pre-copy or ownership): a
   * migration that ends without the range must drop it, also after an install that failed half-way.
   */
  mayHoldRecords = false;
  /**
   * Set once the range is adopted here and served: ops at the new view no longer wait for
   * ownership (a wait begun after the release would only end with OWNERSHIP_WAIT_MS).
   */
  adopted = false;
  /** When this pod served its first op on the range (unix ms, sub-ms resolution; 0: none yet). */
  firstServedAtMs = 0;
  /** Ops waiting here now, for ownership or for their keys, and the most at once (MigrationStatus.peak_ops_pending). */
  opsPending = 0;
  opsPendingPeak = 0;
  error = '';
  /** When the source was last heard from (a chunk or a fetch answered). */
  lastHeardMs = Date.now();
  /**
   * Set by the pod: loads the rest of the range from the source's durable state, for when the
   * source died mid-copy. Null: no durability, the source is the only copy.
   */
  loadRestFromDisk: ((skipKey: (bytes: Buffer, keyOffset: number, keyLength: number, hi: number) => boolean) => Promise<void>) | null = null;
  private diskLoad: Promise<void> | null = null;
  /** The engine bulk load chunks go into, from the first chunk to the last (or the end). */
  private bulk: BulkLoad | null = null;
  /** Set once ownership arrived after a pre-copy: the slices still to come (all others are here, current). */
  private pending: SliceSet | null = null;
  /** Pending slices whose pre-copied (stale) records are still here: dropped as their data comes (staleSlices.ts). */
  private stale: StaleSlices | null = null;
  private readonly slices: RangeSlices;
  private readonly resolved = new Set<string>();
  /** Top hash words of the resolved keys: most records and ops are told apart without a string. */
  private readonly resolvedHi = new Set<number>();
  /** Keys fetched or to be fetched, with the promise of their fetch. */
  private readonly fetching = new Map<string, Promise<void>>();
  /** Keys to fetch at the end of this tick, and the promise their fetch will settle. */
  private readonly queued: Buffer[] = [];
  private flushing: { promise: Promise<void>; settle: (outcome: Promise<void>) => void } | null = null;
  private ownershipWait: { promise: Promise<void>; release: () => void; timer: NodeJS.Timeout } | null = null;
  private ownershipWaitOver = false;
  private readonly hasher = new KeyHasher();
  private readonly cursor = new WalEntryCursor();

  readonly id: string;
  readonly range: OwnedRange;
  readonly sourcePod: string;
  private readonly peer: IncomingPeer;
  private readonly store: Store;
  private readonly clients: ClientTable;

  constructor(spec: IncomingSpec, log: (from: string, to: string) => void, nowMs: number) {
    ({ id: this.id, range: this.range, sourcePod: this.sourcePod, peer: this.peer, store: this.store, clients: this.clients } = spec);
    this.slices = new RangeSlices(spec.range);
    this.phase = new PhaseMachine(log, nowMs);
  }

  /**
   * For an op at the new view that reaches this pod before ownership does (the source already
   * answered WRONG_RANGE naming this pod): the promise to wait on, settled when ownership arrives,
   * the migration ends, or OWNERSHIP_WAIT_MS after the first such op; null once that passed.
   */
  ownershipArrival(): Promise<void> | null {
    if (this.ownershipWaitOver) return null;
    if (this.ownershipWait === null) {
      let release!: () => void;
      const promise = new Promise<void>((resolve) => (release = resolve));
      const timer = setTimeout(() => {
        this.ownershipWaitOver = true;
        this.releaseOwnershipWaiters();
      }, OWNERSHIP_WAIT_MS);
      timer.unref();
      this.ownershipWait = { promise, release, timer };
    }
    return this.ownershipWait.promise;
  }

  /** An op waits here on `arrival`: counted in opsPending until it settles. */
  waitingOn(arrival: Promise<void>): Promise<void> {
    if (++this.opsPending > this.opsPendingPeak) this.opsPendingPeak = this.opsPending;
    const settled = (): void => {
      this.opsPending--;
    };
    arrival.then(settled, settled);
    return arrival;
  }

  /** Ownership arrived (or the migration ended): ops waiting for it run (or get WRONG_RANGE). */
  releaseOwnershipWaiters(): void {
    const wait = this.ownershipWait;
    if (wait === null) return;
    this.ownershipWait = null;
    clearTimeout(wait.timer);
    wait.release();
  }

  /** Whether an op on this key must wait for its record (hash top word `hi`). */
  needsFetch(hi: number, key: Uint8Array, keyOffset: number, keyLength: number): boolean {
    if (this.bulkDone || hi >>> 0 < this.sentBelowHi || this.preCopiedCurrent(hi)) return false;
    return !this.resolvedHi.has(hi >>> 0) || !this.resolved.has(keyString(key, keyOffset, keyLength));
  }

  /** The key (hash top word `hi`) was pre-copied and not written at the source since: current here. */
  private preCopiedCurrent(hi: number): boolean {
    return this.pending !== null && !this.pending.has(this.slices.sliceOf(hi));
  }

  /**
   * One promise per key, settled once its record is here: keys neither resolved nor on their
   * way are fetched at the end of this tick, together with every other key asked for in it (one
   * FetchKeys per FETCH_KEYS_MAX keys). Ops waiting on the same key wait on the same promise, so
   * they run in the order they started waiting.
   */
  arrivals(keys: readonly Buffer[]): Promise<void>[] {
    const names = keys.map((key) => key.toString('latin1'));
    for (let i = 0; i < keys.length; i++) {
      if (this.resolved.has(names[i]) || this.fetching.has(names[i])) continue;
      this.queued.push(keys[i]);
      this.fetching.set(names[i], this.nextFlush());
    }
    return names.map((name) => {
      const arrival = this.fetching.get(name);
      return arrival === undefined ? ARRIVED : this.waitingOn(arrival);
    });
  }

  /** The promise of the fetch that will carry the keys queued in this tick. */
  private nextFlush(): Promise<void> {
    if (this.flushing === null) {
      let settle!: (outcome: Promise<void>) => void;
      const promise = new Promise<void>((resolve) => (settle = resolve));
      this.flushing = { promise, settle };
      setImmediate(() => this.flush());
    }
    return this.flushing.promise;
  }

  private flush(): void {
    const keys = this.queued.splice(0);
    const { settle } = this.flushing!;
    this.flushing = null;
    const calls: Promise<void>[] = [];
    for (let i = 0; i < keys.length; i += FETCH_KEYS_MAX) calls.push(this.fetchBatch(keys.slice(i, i + FETCH_KEYS_MAX)));
    settle(Promise.all(calls).then(() => undefined).finally(() => {
      for (const key of keys) this.fetching.delete(key.toString('latin1'));
    }));
  }

  private fetchBatch(keys: Buffer[]): Promise<void> {
    return this.peer.fetchKeys(this.id, keys).then((entries) => {
      this.lastHeardMs = Date.now();
      this.dropStaleKeys(keys);
      this.install(entries, false);
      for (const key of keys) this.resolve(key, 0, key.length);
      this.keysFetched += keys.length;
    }, (error: Error) => this.sourceLost(error));
  }

  /**
   * The source cannot be reached: everything not yet here is loaded from its durable state
   * (once, however many ops wait); without durability the error stands.
   */
  sourceLost(error: Error): Promise<void> {
    if (this.bulkDone) return Promise.resolve();
    const load = this.loadRestFromDisk;
    if (load === null) return Promise.reject(error);
    this.endBulkLoad();
    try {
      this.dropStaleBelow(Infinity);
    } catch (dropError) {
      return Promise.reject(dropError as Error);
    }
    this.diskLoad ??= load((bytes, keyOffset, keyLength, hi) => hi >>> 0 < this.sentBelowHi || this.preCopiedCurrent(hi)
      || this.resolved.has(keyString(bytes, keyOffset, keyLength)))
      .then(() => {
        this.bulkDone = true;
      });
    return this.diskLoad;
  }

  /**
   * A pre-copy chunk (before ownership): the records of `replacedSlices` here are dropped first
   * (the source re-sends those slices whole: a key deleted there since must go here too), then the
   * chunk's records are installed with the engine's bulk load.
   */
  receivePreCopy(records: Buffer, replacedSlices: Buffer): void {
    this.lastHeardMs = Date.now();
    this.mayHoldRecords = true;
    this.purge(decodeSlices(replacedSlices, this.slices.count), null);
    this.copyIn(records, ALL);
    this.preCopyBytes += records.length;
  }

  /**
   * Completion records and hot records sent with ownership: installed, hot keys resolved. After a
   * pre-copy, the slices written since whose records came along replace what is here; the rest are
   * pending (resolved as they arrive), and their stale copies here are dropped as their data
   * comes, not now (staleSlices.ts): ownership is taken without that work.
   */
  receiveOwnership(entries: Buffer, data: OwnershipData): void {
    this.mayHoldRecords = true;
    if (data.preCopied) {
      const replaced = decodeSlices(data.replacedSlices, this.slices.count);
      const pending = decodeSlices(data.pendingSlices, this.slices.count);
      this.purge(replaced, null);
      this.copyIn(data.sliceRecords, ALL);
      this.pending = SliceSet.of(this.slices.count, pending);
      this.stale = new StaleSlices(this.slices.count, pending);
    }
    this.install(entries, true);
  }

  /**
   * Drops this pod's records of the given slices except keys `spare` keeps (resolved here, so
   * newer). A delete that fails throws: the record left would be stale (the source re-sends the
   * slice because it changed there, possibly deleting the key), and served once resolved — a lost
   * write or a resurrected delete. The failed PreCopy, ReceiveOwnership or MoveData ends the
   * migration instead (docs/migration.md, "Pre-copy").
   */
  private purge(slices: readonly number[], spare: SpareKey | null): void {
    for (const slice of slices) {
      const range = this.slices.hashRange(slice, slice + 1);
      const outcome = dropRecords(this.store, range, Number(range.start >> 32n), Infinity, spare);
      if (outcome.status !== Status.OK) {
        throw new MigrationInstallError(`dropping the records of re-sent slice ${slice}: ${describeDropFailure(outcome, this.store)}`);
      }
      assert(outcome.next === SCAN_DONE, 'a purge scans its whole slice in one call');
    }
  }

  /**
   * The stale slices starting below `hi` (all of them with Infinity) are about to receive their
   * data: their pre-copied records go first, except keys resolved here meanwhile (fetched, and
   * maybe written since), which are newer than anything the source sends.
   */
  private dropStaleBelow(hi: number): void {
    const stale = this.stale;
    if (stale === null) return;
    for (let slice = stale.first(); slice !== null && this.slices.startHiOf(slice) < hi; slice = stale.first()) {
      this.purge([slice], this.spareResolved);
      stale.dropFirst();
    }
  }

  private readonly spareResolved: SpareKey = (bytes, offset, length) => this.isResolved(bytes, offset, length);

  /**
   * Fetched keys about to be installed: the stale record of each one in a stale slice goes first,
   * so that a key the source no longer has is gone here too. Keys resolved or arrived meanwhile
   * keep what they have (install() skips them as well).
   */
  private dropStaleKeys(keys: readonly Buffer[]): void {
    const stale = this.stale;
    if (stale === null || stale.size === 0) return;
    for (const key of keys) {
      if (this.isResolved(key, 0, key.length) || this.arrivedAlready() || !stale.has(this.slices.sliceOf(this.hasher.hi))) continue;
      const status = this.store.delete(key, 0, key.length);
      if (status !== Status.NOT_FOUND) check(status, 'drop of a stale record');
    }
  }

  /** Installs a run of records (engine layout) with the bulk load, those `keep` accepts. */
  private copyIn(records: Buffer, keep: (bytes: Buffer, keyOffset: number, keyLength: number, hi: number) => boolean): void {
    if (records.length === 0) return;
    const load = (this.bulk ??= this.store.beginBulkLoad());
    const aligned = records.byteOffset % 4 === 0 ? records : Buffer.from(records);
    const before = load.recordsInstalled;
    check(load.copyRecords(aligned, 0, aligned.length, keep), 'run of records');
    this.recordsMoved += load.recordsInstalled - before;
    this.bytesMoved += records.length;
  }

  /**
   * A bulk chunk (records in the engine's layout, recordRun.ts): installed by the engine's bulk
   * load except keys resolved here or sent before (below the progress mark), then the mark moves.
   */
  receiveChunk(records: Buffer, sentBelowHi: number, last: boolean): void {
    if (this.diskLoad !== null) return; // already loading (or loaded) everything from disk
    this.lastHeardMs = Date.now();
    this.dropStaleBelow(last ? Infinity : sentBelowHi);
    this.copyIn(records, this.keepArriving);
    if (sentBelowHi > this.sentBelowHi) this.sentBelowHi = sentBelowHi;
    if (!last) return;
    this.endBulkLoad();
    this.bulkDone = true;
  }

  /** A record of a chunk is installed unless its key was resolved here or sent before. */
  private readonly keepArriving = (bytes: Buffer, keyOffset: number, keyLength: number, hi: number): boolean =>
    hi >>> 0 >= this.sentBelowHi && !(this.resolvedHi.has(hi >>> 0) && this.resolved.has(keyString(bytes, keyOffset, keyLength)));

  /** Closes the bulk load (its last segment joins the log's cleanable segments). */
  endBulkLoad(): void {
    this.bulk?.finish();
    this.bulk = null;
  }

  /** Installs PUT entries of unresolved keys (optionally resolving them) and all completion entries. */
  private install(entries: Buffer, resolve: boolean): void {
    const c = this.cursor;
    c.reset(entries, 0, entries.length);
    while (c.next()) {
      if (c.kind === WalEntryKind.COMPLETION) {
        check(this.clients.restoreCompletion(c.bytes, c.keyOffset, c.keyLength, c.bytes, c.completionOffset, c.completionLength), 'completion record');
        continue;
      }
      if (c.kind !== WalEntryKind.PUT) throw new MigrationInstallError(`unexpected entry kind ${c.kind} in migration data`);
      if (this.isResolved(c.bytes, c.keyOffset, c.keyLength) || this.arrivedAlready()) continue;
      check(this.store.restore(c.bytes, c.keyOffset, c.keyLength, c.bytes, c.valueOffset, c.valueLength, c.version), 'record');
      this.recordsMoved++;
      if (resolve) this.resolve(c.bytes, c.keyOffset, c.keyLength);
    }
  }

  /** Hashes the key (into this.hasher) and says whether it is resolved here. */
  private isResolved(bytes: Uint8Array, keyOffset: number, keyLength: number): boolean {
    this.hasher.hashKey(bytes, keyOffset, keyLength);
    if (this.preCopiedCurrent(this.hasher.hi)) return true;
    return this.resolvedHi.has(this.hasher.hi >>> 0) && this.resolved.has(keyString(bytes, keyOffset, keyLength));
  }

  private resolve(bytes: Uint8Array, keyOffset: number, keyLength: number): void {
    this.hasher.hashKey(bytes, keyOffset, keyLength);
    this.resolvedHi.add(this.hasher.hi >>> 0);
    this.resolved.add(keyString(bytes, keyOffset, keyLength));
  }

  /** The key just hashed lies below the progress mark: it was sent before, a resend must not override. */
  private arrivedAlready(): boolean {
    return this.hasher.hi >>> 0 < this.sentBelowHi;
  }

  /** All data here: nothing waits any more; the resolved set is let go. */
  finish(): void {
    assert(this.stale === null || this.stale.size === 0, 'no stale slice is left when the migration completes');
    this.endBulkLoad();
    this.bulkDone = true;
    this.resolved.clear();
    this.resolvedHi.clear();
  }
}

const ARRIVED: Promise<void> = Promise.resolve();
const ALL = (): boolean => true;

function keyString(bytes: Uint8Array, offset: number, length: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + offset, length).toString('latin1');
}

function check(status: Status, what: string): void {
  if (status !== Status.OK) throw new MigrationInstallError(`the engine refused a migrated ${what} (status ${status})`);
}
