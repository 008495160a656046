// The migrations a pod takes part in, as source (OutgoingMigration) or target
// (IncomingMigration), and the pod-side work they need: sampling hot keys, copying records and
// completion records out, giving a range up, dropping a copy, fetching keys for waiting ops.
// The Admin handlers in server/pod.ts call into this; it never touches gRPC servers itself.

import { setTimeout as sleep } from 'node:timers/promises';
import { KeyHasher } from '../../proto/keyspace/hash.js';
import { assert } from '../store/assert.js';
import { boundsContain, rangesOverlap, toBounds, type HashRange, type HashRangeBounds } from '../../proto/keyspace/range.js';
import { RouteTable, type Route } from '../../proto/keyspace/routes.js';
import { routeToMessage } from '../../proto/messages.js';
import type { OwnedRange, OwnedRanges } from '../ranges/ownedRanges.js';
import type { ClientTable } from '../rifl/clientTable.js';
import { RecordRef, SCAN_DONE, Status, type Store } from '../store/index.js';
import { EntryBuffer } from '../durability/entryBuffer.js';
import { WalEntryKind, entryBytes } from '../durability/walEntry.js';
import type { Durability } from '../durability/durability.js';
import { ManifestWriteError } from '../durability/manifestWriteError.js';
import { HotKeySampler } from './hotKeySampler.js';
import { RecordRun } from './recordRun.js';
import { IncomingMigration, type IncomingPeer, type OwnershipData } from './incomingMigration.js';
import { WriteTracker } from './writeTracker.js';
import { LeftoverRecordsError, describeDropFailure, dropRecords } from './dropRecords.js';
import { presizeIndexAhead } from '../durability/faultAhead.js';
import type { MigrationPhase } from './migrationPhase.js';
import type { RangeSlices } from './rangeSlices.js';
import { OutgoingMigration, type OutgoingHost, type OutgoingPeer } from './outgoingMigration.js';
import { MigrationRefusedError, REFUSED_PREFIX } from './migrationRefusedError.js';
import { ARRIVING_PREFIX, RangeArrivingError } from './rangeArrivingError.js';

export interface MigrationPod {
  readonly podName: string;
  readonly address: string;
  readonly store: Store;
  readonly clients: ClientTable;
  readonly ranges: OwnedRanges;
  readonly durability: Durability | null;
  routes: RouteTable | null;
}

export interface PeerFactory {
  (address: string): OutgoingPeer & IncomingPeer;
}

/** A failed durable adoption that may have been written is tried again after this, doubling... */
const ADOPT_RETRY_FIRST_MS = 50;
/** ...up to this. */
const ADOPT_RETRY_MAX_MS = 5000;

/** What a target needs to adopt a range durably (again, after a failure). */
interface Adoption {
  readonly durableSources: string;
  /** The source's routing table, sent with ownership (the range already moved here)... */
  readonly routes: readonly Route[];
  /** ...and this pod's table when ownership arrived (see adoptedRoutes). */
  readonly routesSeen: RouteTable | null;
  readonly walLsn: number;
}

/** Hot records sent with ownership (~300 KB at 16 B keys / 100 B values): ~50% of YCSB zipf 0.99 ops over 1M keys. */
const HOT_KEYS_MAX = 2048;
/** A copy that has not heard from its source this long probes it (Health). */
const SOURCE_QUIET_MS = 3000;
const DROP_SLICE_RECORDS = 4096;
/**
 * A background drop (dropRange) works at most this share of the time: after each slice it rests
 * (1 - share) / share times as long as the slice took. Dropping a migrated 1M-key range back to
 * back took ~0.5 s of a core, which the target and clients sharing the machine lost (a ~500 ms
 * dip after the switch in bench:migration). A drop someone waits for (prepare, clearBeforeTaking)
 * runs unpaced, and so does any drop queued before it.
 */
const BACKGROUND_DROP_SHARE = 0.25;
/** Finished migrations kept per role for MigrationStatus; older finished ones are forgotten. */
export const FINISHED_KEPT_MAX = 64;

export class Migrations implements OutgoingHost {
  readonly outgoing = new Map<string, OutgoingMigration>();
  readonly incoming = new Map<string, IncomingMigration>();
  /** Set while a migration samples its range's ops (the executor feeds it). */
  sampling: Sampling | null = null;
  /**
   * Targets of migrations this pod is the source of, while they run: sessions hint clients to
   * connect to them ahead of the switch (BatchReply.connect_hints).
   */
  readonly connectHints: string[] = [];
  /** Pre-copies under way here as source: the executor marks every mutation in their ranges. */
  readonly trackers: WriteTracker[] = [];
  /** Each migration's hot-key sampler, from its start until its hot records are taken. */
  private readonly samplers = new Map<string, HotKeySampler>();
  /** Drops of ranges' records, one after another (a drop must not run into a later copy of the same range). */
  private dropping: Promise<void> = Promise.resolve();
  private readonly hasher = new KeyHasher();

  constructor(private readonly pod: MigrationPod, private readonly peers: PeerFactory,
    readonly log: (message: string, fields: object) => void) {}

  nowMs(): number {
    return Date.now();
  }

  // ---- source ---------------------------------------------------------------------------------

  start(id: string, range: OwnedRange, targetPod: string, targetAddress: string, throttleBytesPerSecond: number, preCopy = true,
    yieldToLoad = false): OutgoingMigration {
    if (this.outgoing.has(id) || this.incoming.has(id)) throw new Error(`migration ${id} exists already`);
    const owned = this.pod.ranges.list().find((r) => r.start === range.start && r.end === range.end);
    if (owned === undefined || owned.view !== range.view) throw new Error(`range [${range.start}, ${range.end}) at view ${range.view} is not owned here`);
    if (targetPod === this.pod.podName) throw new Error('source and target are the same pod');
    const moving = this.leavingOver(range);
    if (moving !== undefined) throw new Error(`range [${range.start}, ${range.end}) overlaps range [${moving.range.start}, ${moving.range.end}) of migration ${moving.id}, still moving out (${moving.phase.phase})`);
    const migration = new OutgoingMigration({
      id, range: owned, targetPod, targetAddress, throttleBytesPerSecond, selfPod: this.pod.podName, selfAddress: this.pod.address, preCopy,
      yieldToLoad,
    }, this, this.peers(targetAddress));
    this.outgoing.set(id, migration);
    void migration.run().finally(() => {
      const hinted = this.connectHints.indexOf(targetAddress);
      if (hinted >= 0) this.connectHints.splice(hinted, 1);
      forgetOldest(this.outgoing);
      if (this.sampling?.migrationId === id) this.sampling = null;
      this.samplers.delete(id);
      this.stopTracking(id);
    });
    return migration;
  }

  /** OutgoingHost: the migration asks for its target to be hinted to clients (removed when it ends). */
  hintClients(targetAddress: string): void {
    this.connectHints.push(targetAddress);
  }

  startSampling(id: string, range: HashRange, hotKeys: boolean): void {
    const sampling = this.sampling?.migrationId === id ? this.sampling : null;
    const sampler = sampling?.sampler ?? (hotKeys ? new HotKeySampler(HOT_KEYS_MAX * 4) : null);
    if (sampler !== null) this.samplers.set(id, sampler);
    this.sampling = { migrationId: id, bounds: toBounds(range), sampler, lastServedAtMs: sampling?.lastServedAtMs ?? 0 };
  }

  hotRecords(id: string, keep: ((hi: number) => boolean) | null, limit = HOT_KEYS_MAX): Buffer {
    const sampler = this.samplers.get(id);
    this.samplers.delete(id);
    const buffer = new EntryBuffer();
    const ref = new RecordRef();
    for (const key of sampler?.hottest(Math.min(limit, HOT_KEYS_MAX), keep) ?? []) {
      if (this.readRecord(key, ref)) buffer.entry(WalEntryKind.PUT, ref);
    }
    return buffer.take();
  }

  trackWrites(id: string, slices: RangeSlices): WriteTracker {
    const tracker = new WriteTracker(id, slices);
    this.trackers.push(tracker);
    return tracker;
  }

  stopTracking(id: string): void {
    for (let i = this.trackers.length - 1; i >= 0; i--) if (this.trackers[i].migrationId === id) this.trackers.splice(i, 1);
  }

  /** OutgoingHost: whether `range` is owned here exactly (bounds and view). */
  ownsExactly(range: OwnedRange): boolean {
    return this.pod.ranges.list().some((r) => r.start === range.start && r.end === range.end && r.view === range.view);
  }

  keyCount(range: HashRange): number {
    return this.pod.store.rangeFigures([range])[0].keyCount;
  }

  servedOps(range: HashRange): number {
    const index = this.pod.ranges.list().findIndex((r) => r.start === range.start && r.end === range.end);
    return index < 0 ? -1 : (this.pod.ranges.opsServed[index] ?? -1);
  }

  /** The executor served a mutation of a key with hash (hi, lo) while pre-copies run here. */
  markWritten(hi: number, lo: number): void {
    for (const tracker of this.trackers) if (boundsContain(tracker.bounds, hi, lo)) tracker.mark(hi);
  }

  /** Points `ref` at the live record of `key`; false when absent. */
  private readRecord(key: Buffer, ref: RecordRef): boolean {
    const store = this.pod.store;
    if (store.get(key, 0, key.length) !== Status.OK) return false;
    ref.bytes = store.resultBytes;
    ref.keyLength = key.length;
    ref.keyOffset = store.resultValueOffset - key.length;
    ref.valueOffset = store.resultValueOffset;
    ref.valueLength = store.resultValueLength;
    ref.version = store.resultVersion;
    return true;
  }

  versionFloor(): number {
    return this.pod.store.versionNow;
  }

  completionEntries(range: HashRange): Buffer {
    // Two passes: the records of the range are found (and their entries' bytes added up) first,
    // then copied into one buffer of that size. A hand-over can carry tens of MiB of them (large
    // keys), and growing a buffer by doubling, then copying it out, touched ~3x that much fresh
    // memory at the switch.
    const bounds = toBounds(range);
    const ref = new RecordRef();
    const found: number[] = [];
    let bytes = 0;
    this.pod.clients.forEachCompletion((segmentId, offsetBytes) => {
      if (this.pod.store.completionRecord(segmentId, offsetBytes, ref) !== Status.OK) return;
      this.hasher.hashKey(ref.bytes, ref.keyOffset, ref.keyLength);
      if (!boundsContain(bounds, this.hasher.hi, this.hasher.lo)) return;
      found.push(segmentId, offsetBytes);
      bytes += entryBytes(ref.keyLength, 0, ref.valueLength);
    });
    const buffer = new EntryBuffer(0, bytes);
    for (let i = 0; i < found.length; i += 2) {
      const status = this.pod.store.completionRecord(found[i], found[i + 1], ref);
      assert(status === Status.OK, 'a completion record found a moment ago is still there');
      buffer.entry(WalEntryKind.COMPLETION, ref);
    }
    assert(buffer.used === bytes, 'the completion entries fill the buffer sized for them');
    return buffer.buffer.subarray(0, bytes);
  }

  durableSources(range: HashRange): string {
    return this.pod.durability?.sourcesJson(range) ?? '';
  }

  async giveUp(range: OwnedRange, targetPod: string, targetAddress: string, view: number, id: string, durableSources: string): Promise<object[]> {
    const pod = this.pod;
    pod.ranges.assign(pod.ranges.list().filter((r) => !(r.start === range.start && r.end === range.end)));
    const outgoing = this.outgoing.get(id);
    if (this.sampling?.migrationId === id && outgoing !== undefined) outgoing.lastServedAtMs = this.sampling.lastServedAtMs;
    // Synchronously with serving's end: the hot keys and the slices written are final now.
    if (this.sampling?.migrationId === id) this.sampling = null;
    this.stopTracking(id);
    const moved: Route = { start: range.start, end: range.end, view, owner: targetPod, address: targetAddress };
    if (pod.routes !== null) pod.routes = pod.routes.withRoute(moved);
    const durability = pod.durability;
    if (durability !== null) {
      // The record first: a restart that finds the range gone from the manifest must know whom to ask.
      await durability.recordOutgoing({ migrationId: id, start: String(range.start), end: String(range.end), view: range.view, targetPod, targetAddress, durableSources });
      await durability.assigned(pod.ranges.list(), pod.routes?.routes ?? []);
      // The target may have to finish from this pod's files: every write of the range must be on disk first.
      await durability.logDurable();
    }
    return (pod.routes?.routes ?? [moved]).map(routeToMessage);
  }

  async reclaim(range: HashRange, view: number, durableSources: string, load: boolean): Promise<void> {
    const pod = this.pod;
    // A restart between writing the in-doubt record and the manifest finds the range still owned here.
    if (this.ownsAny(range)) return;
    const taken: OwnedRange = { start: range.start, end: range.end, view };
    const before = { ranges: pod.ranges.list(), routes: pod.routes };
    if (load) pod.ranges.assign([...pod.ranges.list(), { ...taken, recovering: true }]);
    else pod.ranges.assign([...pod.ranges.list(), taken]);
    const back: Route = { start: range.start, end: range.end, view, owner: pod.podName, address: pod.address };
    pod.routes = pod.routes === null ? new RouteTable([back]) : pod.routes.withRoute(back);
    try {
      await pod.durability?.reclaim(taken, durableSources, load, pod.ranges.list(), pod.routes.routes);
    } catch (error) {
      // Not recorded (Durability.reclaim undid its manifest change): served on, the range would be
      // named by the next manifest write with none of its earlier state. It stays unserved; the
      // in-doubt record stays too, and the next restart asks the target again.
      pod.ranges.assign(pod.ranges.list().filter((r) => !(r.start === range.start && r.end === range.end)));
      pod.routes = before.routes;
      throw error;
    }
    if (load) pod.ranges.assign(pod.ranges.list().map((r) => (r.start === range.start && r.end === range.end ? taken : r)));
    this.log(`range [${range.start}, ${range.end}) taken back at view ${view}: the target never took it`, { range: String(range.start), view });
  }

  async forgetTransfer(id: string): Promise<void> {
    const durability = this.pod.durability;
    if (durability === null) return;
    const record = (await durability.outgoingTransfers()).find((t) => t.migrationId === id);
    if (record !== undefined) await durability.forgetOutgoing(record);
  }

  /** Test seam (`--test-fault-delay POINT=MS`): logs the point, then waits. */
  readonly faultDelaysMs = new Map<string, number>();

  async faultPoint(name: string): Promise<void> {
    const delayMs = this.faultDelaysMs.get(name);
    if (delayMs === undefined) return;
    this.log(`fault point ${name}: waiting ${delayMs} ms`, { faultPoint: name });
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }

  closed = false;
  /** Resolves once restart recovery has read the manifest and loaded the ranges (set by the pod). */
  ready: Promise<void> = Promise.resolve();

  /**
   * After a restart: every transfer this pod gave a range up in and never saw decided is decided
   * now, by asking its target (OutgoingMigration.resumeInDoubt). Runs in the background.
   */
  async resolveAfterRestart(): Promise<void> {
    const durability = this.pod.durability;
    if (durability === null) return;
    for (const record of await durability.outgoingTransfers()) {
      if (this.outgoing.has(record.migrationId)) continue;
      const range: OwnedRange = { start: BigInt(record.start), end: BigInt(record.end), view: record.view };
      const migration = new OutgoingMigration({
        id: record.migrationId, range, targetPod: record.targetPod, targetAddress: record.targetAddress, throttleBytesPerSecond: 0,
        selfPod: this.pod.podName, selfAddress: this.pod.address, preCopy: false,
      }, this, this.peers(record.targetAddress));
      this.outgoing.set(record.migrationId, migration);
      void migration.resumeInDoubt(record.durableSources);
    }
  }

  chunk(range: HashRange, cursor: number, bytesMax: number, run: RecordRun): { records: Buffer; next: number; count: number } {
    let next = cursor;
    while (next !== SCAN_DONE && run.length < bytesMax) {
      next = this.pod.store.scan(range, next, { recordCountMax: 256, includeTombstones: false }, (record) => {
        if (record.checksumValid) run.append(record, this.pod.store.segments.words[record.segmentId]);
      });
    }
    return { records: run.view(), next, count: run.records };
  }

  /**
   * Drops this pod's records of `range` (in slices), after any drop already under way. Runs in the
   * background (the source after giving the range away, a target whose copy ended without it) and
   * never rejects: a delete that fails is logged and counted (`dropFailureCount`), and the rest of
   * the range stays. Records of a range not owned here are never served, and a later copy of an
   * overlapping range into this pod drops them first or fails (prepare). See docs/migration.md,
   * "Dropping a range".
   */
  async dropRange(range: HashRange): Promise<void> {
    const failure = await this.queueDrop(range, false);
    if (failure === '') return;
    this.dropFailureCount++;
    this.log(`dropping the records of range [${range.start}, ${range.end}) stopped: ${failure}; the rest stay here unserved until a later copy of the range drops them`,
      { range: String(range.start), error: failure });
  }

  /**
   * After an AssignRanges took hash space `parts` away from this pod: drops its records there in
   * the background (dropRange), so the memory of a range assigned elsewhere is freed — except parts
   * a migration into or out of this pod still moves (its copy, or the source's records it scans,
   * must stay; the migration's own end drops what it must).
   */
  dropTakenAway(parts: readonly HashRange[]): void {
    for (const part of parts) {
      if (this.arrivingOver(part) === undefined && this.leavingOver(part) === undefined) void this.dropRange(part);
    }
  }

  /**
   * Before this pod takes `ranges` it does not own now (AssignRanges, RecoverRanges): drops any
   * records it still holds there — of a range it gave away whose background drop stopped at a
   * failed delete, or that an assignment took away — after any drop under way, so that none is
   * served once the range is owned here (an assigned range starts empty; a recovered one holds
   * exactly what the dead pod's files hold). A delete the engine refuses rejects with
   * LeftoverRecordsError, and the caller must not take the range (docs/migration.md, "Dropping a range").
   */
  async clearBeforeTaking(ranges: readonly HashRange[]): Promise<void> {
    for (const range of ranges) {
      const failure = await this.queueDrop(range, true);
      if (failure !== '') throw new LeftoverRecordsError(`records of range [${range.start}, ${range.end}) left here could not be dropped: ${failure}`);
    }
  }

  /**
   * After a RecoverRanges that failed and gave `ranges` up (Durability.recoverFrom): drops what it
   * loaded of them, unpaced (the caller answers once it is done), after any drop under way.
   * Resolves with '' or the first delete the engine refused; then the rest stays, counted and
   * logged as a background drop's would be: never served (the ranges are not owned here), and the
   * next taking of that hash space here drops it first or is refused (clearBeforeTaking, prepare).
   */
  async dropNotRecovered(ranges: readonly HashRange[]): Promise<string> {
    for (const range of ranges) {
      const failure = await this.queueDrop(range, true);
      if (failure === '') continue;
      this.dropFailureCount++;
      this.log(`dropping the records a failed recovery loaded of range [${range.start}, ${range.end}) stopped: ${failure}; the rest stay here unserved until the range is taken here again`,
        { range: String(range.start), error: failure });
      return `records of range [${range.start}, ${range.end}) loaded here could not all be dropped (${failure}); they are not served, and are dropped before the range is taken here again`;
    }
    return '';
  }

  /**
   * Before AssignRanges or RecoverRanges gives this pod hash space `parts` it does not own now:
   * throws RangeArrivingError if any of it overlaps a range a migration into this pod is still
   * copying and has not decided (not finished and not yet adopted here: an adopted range is owned,
   * so not in `parts`). Taking it would drop the migration's copy (clearBeforeTaking) and serve
   * hash space the migration copies into; the migration stays as it is.
   */
  refuseTakingArriving(parts: readonly HashRange[], call: string): void {
    for (const part of parts) {
      const migration = this.arrivingOver(part);
      if (migration === undefined) continue;
      throw new RangeArrivingError(`${ARRIVING_PREFIX}${call} refused: range [${part.start}, ${part.end}) overlaps ${stillArriving(migration)}`);
    }
  }

  /** An unfinished migration out of this pod whose range overlaps `range`. */
  private leavingOver(range: HashRange): OutgoingMigration | undefined {
    return [...this.outgoing.values()].find((m) => !m.phase.finished && rangesOverlap(m.range, range));
  }

  /** An unfinished migration into this pod (other than `exceptId`) whose range overlaps `range`. */
  private arrivingOver(range: HashRange, exceptId = ''): IncomingMigration | undefined {
    return [...this.incoming.values()].find((m) => m.id !== exceptId && !m.phase.finished && rangesOverlap(m.range, range));
  }

  /** Background drops that stopped at a failed delete since this pod started. */
  dropFailureCount = 0;

  /**
   * Queues a drop of `range` after any under way; resolves with '' or why a delete failed.
   * `awaited`: someone waits for it, so it and the drops before it run unpaced.
   */
  private queueDrop(range: HashRange, awaited: boolean): Promise<string> {
    if (awaited) this.awaitedDrops++;
    const drop = this.dropping.then(() => this.dropNow(range)).finally(() => {
      if (awaited) this.awaitedDrops--;
    });
    // A drop that throws (a broken invariant) must not stop the drops queued after it.
    this.dropping = drop.then(() => undefined, () => undefined);
    return drop;
  }

  /** Drops queued by callers that wait for them (see queueDrop). */
  private awaitedDrops = 0;

  private async dropNow(range: HashRange): Promise<string> {
    const store = this.pod.store;
    let cursor = Number(range.start >> 32n);
    while (cursor !== SCAN_DONE) {
      // Only if still not owned here (a later migration may have brought it back).
      if (this.ownsAny(range)) return '';
      const startedMs = performance.now();
      const outcome = dropRecords(store, range, cursor, DROP_SLICE_RECORDS);
      if (outcome.status !== Status.OK) return describeDropFailure(outcome, store);
      cursor = outcome.next;
      await this.restAfterDropSlice(performance.now() - startedMs);
    }
    return '';
  }

  /** Yields after a slice of a drop; a background one rests so it takes at most BACKGROUND_DROP_SHARE of the time. */
  private async restAfterDropSlice(sliceMs: number): Promise<void> {
    const restMs = this.awaitedDrops > 0 ? 0 : Math.floor((sliceMs * (1 - BACKGROUND_DROP_SHARE)) / BACKGROUND_DROP_SHARE);
    if (restMs < 1) {
      await new Promise((resolve) => setImmediate(resolve));
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, restMs));
  }

  private ownsAny(range: HashRange): boolean {
    return this.pod.ranges.list().some((r) => rangesOverlap(r, range));
  }

  /** FetchKeys on the source: PUT entries of the requested keys that exist here. */
  fetchKeys(id: string, keys: readonly Buffer[]): Buffer {
    const migration = this.outgoing.get(id);
    if (migration === undefined) throw new Error(`no outgoing migration ${id}`);
    const buffer = new EntryBuffer();
    const ref = new RecordRef();
    for (const key of keys) if (this.readRecord(key, ref)) buffer.entry(WalEntryKind.PUT, ref);
    return buffer.take();
  }

  // ---- target ---------------------------------------------------------------------------------

  /**
   * PrepareMigration on the target. The range starts empty here, with or without pre-copy:
   * records of it left from an earlier copy (a cancelled or refused migration, or this pod's own
   * from before it gave the range away, whose background drop stops once the range is owned here
   * again) are dropped first, so nothing stale outlives the copy — a key deleted at the source
   * since is never sent, and its old record here would come back. A delete that fails fails the
   * call and cancels the migration here (the source then fails it and keeps the range).
   */
  async prepare(id: string, range: OwnedRange, sourcePod: string, sourceAddress: string, expectedKeys = 0): Promise<IncomingMigration> {
    const known = this.incoming.get(id);
    if (known !== undefined) return known;
    const migration = this.prepareNow(id, range, sourcePod, sourceAddress);
    const failure = await this.queueDrop(range, true);
    if (failure !== '') {
      migration.error = `records of the range left from before could not be dropped: ${failure}`;
      if (migration.phase.phase === 'PREPARE') this.cancelIncoming(migration, ['PREPARE'], false);
      throw new Error(`migration ${id}: ${migration.error}`);
    }
    // An engine holding nothing (a new pod, the usual target of a scale-out) would double its
    // index ~8 times while the copy arrives, each doubling moving every entry and allocating
    // tables: the first ~80 ms of a 1M-key copy kept the target busy. Sized and faulted in now,
    // before the copy starts; an engine holding keys grows as usual (faultAhead.ts).
    if (expectedKeys > 0) await presizeIndexAhead(this.pod.store, expectedKeys, [range]);
    return migration;
  }

  private prepareNow(id: string, range: OwnedRange, sourcePod: string, sourceAddress: string): IncomingMigration {
    this.refuseOverlap(id, range);
    this.sourceAddresses.set(id, sourceAddress);
    const migration = new IncomingMigration({ id, range, sourcePod, peer: this.peers(sourceAddress), store: this.pod.store, clients: this.pod.clients },
      (from, to) => {
        if (awaitsOwnership(from) && !awaitsOwnership(to)) this.awaitingOwnershipCount--;
        this.log(`migration ${id} (target): ${from} -> ${to}`, { migration: id, from, to });
      }, this.nowMs());
    this.awaitingOwnershipCount++;
    const durability = this.pod.durability;
    if (durability !== null) {
      migration.loadRestFromDisk = async (skipKey) => {
        this.log(`migration ${id} (target): source ${sourcePod} lost; loading the rest of the range from its files`, { migration: id });
        await durability.loadArrivingRest(migration.range, skipKey);
        this.completeFromDisk(migration).catch((error: Error) => {
          migration.error = error.message;
        });
      };
    }
    this.incoming.set(id, migration);
    this.startWatchdog();
    return migration;
  }

  /**
   * A migration into this pod is refused (before anything changes here) when its range overlaps a
   * range owned here, or one still arriving by another migration that has not finished: that
   * one's records (pre-copied, or installed with ownership) would be dropped by this one's
   * clearing, and two sources would copy into one hash range.
   */
  private refuseOverlap(id: string, range: OwnedRange): void {
    const where = `range [${range.start}, ${range.end})`;
    if (this.ownsAny(range)) throw new MigrationRefusedError(`${REFUSED_PREFIX}${where} overlaps a range this pod owns`);
    const other = this.arrivingOver(range, id);
    if (other !== undefined) throw new MigrationRefusedError(`${REFUSED_PREFIX}${where} overlaps ${stillArriving(other)}`);
  }

  /** The source died mid-copy and the target loaded the rest from disk: checkpoint, complete. */
  private async completeFromDisk(migration: IncomingMigration): Promise<void> {
    if (migration.phase.phase === 'MOVE_DATA') migration.phase.transitionTo(['MOVE_DATA'], 'CHECKPOINT', this.nowMs());
    await this.pod.durability?.checkpoint();
    this.finish(migration.id);
  }

  private watchdog: NodeJS.Timeout | null = null;

  /**
   * Probes the source of every copy that has gone quiet: after ownership, two failed probes in a
   * row mean the source is lost; before it, a pre-copy whose source no longer runs the migration
   * (it restarted, or the migration ended without telling this pod) is cancelled here, and its
   * records dropped.
   */
  private startWatchdog(): void {
    if (this.watchdog !== null) return;
    const strikes = new Map<string, number>();
    this.watchdog = setInterval(() => {
      for (const m of this.incoming.values()) {
        if (this.nowMs() - m.lastHeardMs < SOURCE_QUIET_MS) continue;
        if (m.phase.phase === 'MOVE_DATA') this.probeSource(m, strikes);
        else if (m.phase.phase === 'PREPARE' && m.preCopyBytes > 0) this.checkPreCopy(m);
      }
    }, SOURCE_QUIET_MS / 3);
    this.watchdog.unref();
  }

  private probeSource(m: IncomingMigration, strikes: Map<string, number>): void {
    this.peers(this.sourceAddresses.get(m.id) ?? '').call('Health', {}, 1000).then(() => {
      strikes.delete(m.id);
      m.lastHeardMs = this.nowMs();
    }, (error: Error) => {
      const count = (strikes.get(m.id) ?? 0) + 1;
      strikes.set(m.id, count);
      if (count >= 2) m.sourceLost(error).catch(() => undefined);
    });
  }

  private checkPreCopy(m: IncomingMigration): void {
    m.lastHeardMs = this.nowMs();
    this.peers(this.sourceAddresses.get(m.id) ?? '').call('MigrationStatus', { migrationId: m.id }, 2000).then((reply) => {
      const there = (reply.migrations as { role: string; phase: string }[]).find((x) => x.role === 'SOURCE');
      if (there !== undefined && !['CANCELLED', 'FAILED', 'ABORTED'].includes(there.phase)) return;
      if (m.phase.phase !== 'PREPARE') return;
      this.log(`migration ${m.id} (target): the source no longer runs it; dropping the pre-copied records`, { migration: m.id });
      this.cancelIncoming(m);
    }, () => undefined); // unreachable: ask again later (a restarted source will not know the migration)
  }

  private readonly sourceAddresses = new Map<string, string>();

  close(): void {
    this.closed = true;
    if (this.watchdog !== null) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  /**
   * Incoming migrations whose ownership has not arrived (ops at their new view wait for it): kept
   * by their phase transitions, since the executor reads it for every batch.
   */
  private awaitingOwnershipCount = 0;

  get preparingCount(): number {
    return this.awaitingOwnershipCount;
  }

  /** For an op on hash (hi, lo) at `view` not owned here: the ownership it should wait for, or null. */
  awaitingOwnership(hi: number, lo: number, view: number): Promise<void> | null {
    for (const m of this.incoming.values()) {
      // Adopted: served here from now on, though the phase moves on to MOVE_DATA a moment later.
      if (!awaitsOwnership(m.phase.phase) || m.adopted || m.range.view !== view || !boundsContain(toBounds(m.range), hi, lo)) continue;
      const arrival = m.ownershipArrival();
      return arrival === null ? null : m.waitingOn(arrival);
    }
    return null;
  }

  /** Takes ownership; resolves with this pod's log position at that moment (0 without durability). */
  async receiveOwnership(id: string, entries: Buffer, durableSources: string, routes: readonly Route[], versionFloor: number,
    data: OwnershipData): Promise<number> {
    const migration = this.incomingOf(id);
    migration.phase.transitionTo(['PREPARE'], 'TRANSFER_OWNERSHIP', this.nowMs());
    const walLsn = this.pod.durability?.wal?.appendedLsn ?? 0;
    const startedMs = this.nowMs();
    this.installOwnership(migration, entries, versionFloor, data);
    const installedMs = this.nowMs();
    const adoption: Adoption = { durableSources, routes, routesSeen: this.pod.routes, walLsn };
    try {
      await this.adoptAndServe(migration, adoption);
    } catch (error) {
      throw this.adoptionFailed(migration, adoption, error as Error);
    }
    // The ops that waited for ownership run first (their continuations are queued as microtasks);
    // the log lines and the reply to the source can wait until they have (~4 ms at the switch).
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.log(`migration ${id} (target): serving the range`, { migration: id, installMs: installedMs - startedMs, adoptMs: this.nowMs() - installedMs });
    migration.phase.transitionTo(['TRANSFER_OWNERSHIP'], 'MOVE_DATA', this.nowMs());
    await this.faultPoint('RECEIVE_OWNERSHIP');
    return walLsn;
  }

  /**
   * Adopted durably before served: a write acknowledged here must lie in a log window this pod's
   * manifest names, or a crash now would lose it (the restarted pod would not own the range and
   * the source, told so, would take it back without it).
   */
  private async adoptAndServe(migration: IncomingMigration, adoption: Adoption): Promise<void> {
    const pod = this.pod;
    const arriving = { ...migration.range, arriving: migration };
    const table = this.adoptedRoutes(migration.range, adoption.routes, adoption.routesSeen);
    const seen = pod.routes;
    await pod.durability?.adopt(migration.range, migration.sourcePod, adoption.durableSources, [...pod.ranges.list(), arriving], table?.routes ?? [],
      adoption.walLsn);
    pod.ranges.assign([...pod.ranges.list(), arriving]);
    // An assignment may have replaced this pod's table while the adoption was written.
    pod.routes = pod.routes === seen ? table : this.adoptedRoutes(migration.range, [], seen);
    migration.adopted = true;
    migration.releaseOwnershipWaiters();
  }

  /**
   * The routing table an adoption installs: the source's (`sent` with ownership, the range already
   * moved here) — unless this pod's own table was replaced since it was `seen` (an assignment pushed
   * while an adoption that may have landed is retried: retryAdoption, or while one is written),
   * which is then the newer one: it, with the range moved here. Without either, this pod's table.
   */
  private adoptedRoutes(range: OwnedRange, sent: readonly Route[], seen: RouteTable | null): RouteTable | null {
    const pod = this.pod;
    if (pod.routes !== null && pod.routes !== seen) {
      return pod.routes.withRoute({ start: range.start, end: range.end, view: range.view, owner: pod.podName, address: pod.address });
    }
    return sent.length > 0 ? new RouteTable(sent) : pod.routes;
  }

  /**
   * The durable adoption of the range failed (Durability.adopt: its in-memory change is undone).
   * When nothing was written, this pod decides it never took the range, as when installing fails
   * (installOwnership). When the new manifest may be in place, a restart of this pod could find
   * the range owned, so it must not refuse it: it stays in TRANSFER_OWNERSHIP (ResolveMigration:
   * ask again) and adopts again until that is durable (retryAdoption). Returns the error that
   * fails this ReceiveOwnership (docs/migration.md, "Failures").
   */
  private adoptionFailed(migration: IncomingMigration, adoption: Adoption, error: Error): Error {
    const nothingWritten = error instanceof ManifestWriteError && !error.mayHaveLanded;
    if (nothingWritten) {
      migration.error = `adopting the range durably failed, nothing written: ${error.message}; the range is refused`;
      this.cancelIncoming(migration, ['TRANSFER_OWNERSHIP']);
    } else {
      migration.error = `adopting the range durably failed and may have been written: ${error.message}; adopting again until it is durable`;
      void this.retryAdoption(migration, adoption);
    }
    this.log(`migration ${migration.id} (target): ${migration.error}`, { migration: migration.id, error: migration.error });
    return new Error(`migration ${migration.id}: ${migration.error}`);
  }

  /**
   * Adopts the range again, with backoff (ADOPT_RETRY_FIRST_MS doubling to ADOPT_RETRY_MAX_MS),
   * until that is durable or this pod stops (its restart then decides from its manifest). Once
   * adopted it serves the range; its source, whose ReceiveOwnership failed, sends nothing more
   * and asks ResolveMigration, so the rest of the range is loaded from the source's files at once.
   */
  private async retryAdoption(migration: IncomingMigration, adoption: Adoption): Promise<void> {
    let delayMs = ADOPT_RETRY_FIRST_MS;
    for (let attempt = 2; ; attempt++) {
      await sleep(delayMs, undefined, { ref: false });
      if (this.closed || migration.phase.phase !== 'TRANSFER_OWNERSHIP') return;
      try {
        // Nothing of the range was served here yet: its log window may start at the log's end now.
        await this.adoptAndServe(migration, { ...adoption, walLsn: this.pod.durability?.wal?.appendedLsn ?? 0 });
      } catch (error) {
        this.log(`migration ${migration.id} (target): adopting again (attempt ${attempt}) failed: ${(error as Error).message}; next in ${delayMs} ms`,
          { migration: migration.id, attempt });
        delayMs = Math.min(delayMs * 2, ADOPT_RETRY_MAX_MS);
        continue;
      }
      migration.error += `; adopted on attempt ${attempt}`;
      this.log(`migration ${migration.id} (target): serving the range (adopted on attempt ${attempt})`, { migration: migration.id, attempt });
      migration.phase.transitionTo(['TRANSFER_OWNERSHIP'], 'MOVE_DATA', this.nowMs());
      await migration.sourceLost(new Error('the source broke the copy off (its ReceiveOwnership failed)')).catch(() => undefined);
      return;
    }
  }

  /**
   * Installs what came with ownership. A failure here (the engine out of memory, a corrupt run, a
   * purge that could not delete) comes before this pod adopted the range: it has served and
   * acknowledged nothing of it, so it decides, in the same tick, that it never took it — the
   * decision ResolveMigration makes in PREPARE: CANCELLED, so the source's ResolveMigration (and
   * any late ReceiveOwnership) gets "not owned", and what was installed of the range is dropped.
   * The error fails this ReceiveOwnership; the source then asks and takes the range back
   * (docs/migration.md, "Failures").
   */
  private installOwnership(migration: IncomingMigration, entries: Buffer, versionFloor: number, data: OwnershipData): void {
    try {
      this.pod.store.observeVersion(versionFloor);
      migration.receiveOwnership(entries, data);
    } catch (error) {
      migration.error = `installing ownership failed: ${(error as Error).message}; the range is refused`;
      this.log(`migration ${migration.id} (target): ${migration.error}`, { migration: migration.id, error: migration.error });
      this.cancelIncoming(migration, ['TRANSFER_OWNERSHIP']);
      throw new Error(`migration ${migration.id}: ${migration.error}`);
    }
  }

  /** PreCopy on the target: records of the range copied while the source still serves it. */
  preCopy(id: string, records: Buffer, replacedSlices: Buffer): void {
    const migration = this.incomingOf(id);
    if (migration.phase.phase !== 'PREPARE') throw new Error(`migration ${id} is in ${migration.phase.phase}: no pre-copy any more`);
    migration.receivePreCopy(records, replacedSlices);
  }

  moveData(id: string, records: Buffer, sentBelowHi: number, last: boolean): void {
    const migration = this.incomingOf(id);
    migration.receiveChunk(records, sentBelowHi, last);
    if (last && migration.phase.phase === 'MOVE_DATA') migration.phase.transitionTo(['MOVE_DATA'], 'CHECKPOINT', this.nowMs());
  }

  finish(id: string): void {
    const migration = this.incomingOf(id);
    if (migration.phase.finished) return;
    if (migration.phase.phase === 'PREPARE') {
      this.cancelIncoming(migration);
      return;
    }
    migration.finish();
    const pod = this.pod;
    // A range that served no op yet keeps timing its first one (the owner-switch gap).
    const timing = migration.firstServedAtMs === 0 ? { untimed: migration } : {};
    pod.ranges.assign(pod.ranges.list().map((r) => (r.arriving === migration ? { start: r.start, end: r.end, view: r.view, ...timing } : r)));
    migration.phase.transitionTo(['CHECKPOINT', 'MOVE_DATA'], 'COMPLETE', this.nowMs());
    forgetOldest(this.incoming);
  }

  /**
   * ResolveMigration on the target: the source broke off after giving the range up and asks who
   * owns it. Answered from this pod's state at this moment, on its event loop (docs/migration.md,
   * "In-doubt transfers"):
   * - PREPARE (ownership never arrived): CANCELLED now, so a late ReceiveOwnership is refused; not owned.
   * - CANCELLED: also when installing ownership, or adopting the range with nothing written, failed
   *   (installOwnership, adoptionFailed); not owned.
   * - ownership being installed (until the adoption is durable, also while an adoption that may
   *   have been written is tried again: retryAdoption): an error, the source asks again.
   * - MOVE_DATA: the source will send nothing more; the rest is loaded from its durable files
   *   (as when it dies mid-copy) and the migration completes here; owned.
   * - CHECKPOINT / COMPLETE: all data is here; finished; owned.
   * - unknown (this pod restarted since, or never heard of it): owned iff its recovered state owns
   *   the range — a restarted pod owns it iff it had durably adopted it.
   */
  async resolve(id: string, range: OwnedRange): Promise<{ targetOwns: boolean; phase: string }> {
    await this.ready;
    const migration = this.incoming.get(id);
    if (migration === undefined) return { targetOwns: this.ownsAny(range), phase: '' };
    switch (migration.phase.phase) {
      case 'PREPARE':
        this.cancelIncoming(migration);
        return { targetOwns: false, phase: 'CANCELLED' };
      case 'CANCELLED':
      case 'ABORTED':
      case 'FAILED':
        return { targetOwns: false, phase: migration.phase.phase };
      case 'TRANSFER_OWNERSHIP':
        throw new Error(`migration ${id} is installing ownership; ask again`);
      case 'MOVE_DATA':
        if (migration.loadRestFromDisk === null) throw new Error(`migration ${id}: without durability the rest of the range exists only at the source`);
        await migration.sourceLost(new Error('the source broke the copy off'));
        return { targetOwns: true, phase: migration.phase.phase };
      case 'CHECKPOINT':
        this.finish(id);
        return { targetOwns: true, phase: migration.phase.phase };
      case 'COMPLETE':
        return { targetOwns: true, phase: 'COMPLETE' };
    }
  }

  /**
   * This pod decides it never took the range of `migration` (in PREPARE, or in TRANSFER_OWNERSHIP
   * when installing or adopting it failed with nothing written), for good: CANCELLED, ops waiting for ownership give up, and what arrived
   * of the range (pre-copied or partly installed records, also of a chunk that failed half-way)
   * goes, in the background.
   */
  private cancelIncoming(migration: IncomingMigration, from: readonly MigrationPhase[] = ['PREPARE'], drop = migration.mayHoldRecords): void {
    migration.phase.transitionTo(from, 'CANCELLED', this.nowMs());
    migration.releaseOwnershipWaiters();
    migration.endBulkLoad();
    forgetOldest(this.incoming);
    if (drop) void this.dropRange(migration.range);
  }

  private incomingOf(id: string): IncomingMigration {
    const migration = this.incoming.get(id);
    if (migration === undefined) throw new Error(`no incoming migration ${id}`);
    return migration;
  }
}

/** Drops the oldest finished migrations of `migrations` (insertion order) beyond FINISHED_KEPT_MAX. */
function forgetOldest(migrations: Map<string, { readonly phase: { readonly finished: boolean } }>): void {
  let finished = 0;
  for (const m of migrations.values()) if (m.phase.finished) finished++;
  for (const [id, m] of migrations) {
    if (finished <= FINISHED_KEPT_MAX) return;
    if (!m.phase.finished) continue;
    migrations.delete(id);
    finished--;
  }
}

/** PREPARE, or TRANSFER_OWNERSHIP until the range is assigned here (the adoption is being made durable). */
/** How a refusal names the migration in the way. */
function stillArriving(migration: IncomingMigration): string {
  return `range [${migration.range.start}, ${migration.range.end}) of migration ${migration.id}, still arriving here (${migration.phase.phase})`;
}

function awaitsOwnership(phase: string): boolean {
  return phase === 'PREPARE' || phase === 'TRANSFER_OWNERSHIP';
}

/** Hot-key sampling of a range about to move; the executor feeds it every op it serves in the range. */
export interface Sampling {
  readonly migrationId: string;
  readonly bounds: HashRangeBounds;
  /** Null: only the last op served is timed. */
  readonly sampler: HotKeySampler | null;
  /** When the last op in the range was served (unix ms, sub-ms resolution). */
  lastServedAtMs: number;
}
