// A pod's durability: its write-ahead log, its manifest, periodic per-range checkpoints with log
// truncation, recovery of its own ranges at start, and partitioned recovery of a dead pod's
// ranges. Manifest changes run one at a time (a promise chain), each ending in an atomic
// replace of the manifest, failure-atomic in memory (commitManifest). See docs/durability.md.

import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Route } from '../../proto/keyspace/routes.js';
import { KEYSPACE_END, rangesOverlap, type HashRange } from '../../proto/keyspace/range.js';
import type { OwnedRange, OwnedRanges } from '../ranges/ownedRanges.js';
import type { ClientTable } from '../rifl/clientTable.js';
import type { Store } from '../store/index.js';
import { rangeId } from './checkpointFile.js';
import { writeCheckpoint, type CheckpointResult } from './checkpointWriter.js';
import { manifestPathOf, readManifest, writeManifest, type ManifestRange, type ManifestStep, type ReplaySource } from './manifest.js';
import { presizeIndexAhead } from './faultAhead.js';
import { FrameReaders } from './frameReaders.js';
import { loadRanges, walDirOf, type LoadOptions, type RangeSources, type RecoveryReport } from './recovery.js';
import { listWalFiles } from './walFiles.js';
import { readWal, type WalProblem } from './walReader.js';
import { DEFAULT_WAL_CONFIG, WalWriter, type WalMode } from './walWriter.js';
import { repairWalTail } from './walRepair.js';
import { sourcesFor } from './rangeSources.js';
import { markTaken, readTaken, unmarkTaken, withoutTaken } from './takenRanges.js';
import { WriteFaults, type WriteFaultPoint } from './writeFaults.js';
import { ManifestWriteError } from './manifestWriteError.js';
import { RangesNotRecoveredError } from './rangesNotRecoveredError.js';
import { checkRecoveryFits } from './recoveryFit.js';
import { RecoveryTaking } from './recoveryTaking.js';
import { replaceFileDurably } from './durableReplace.js';
import { forgetOutgoing, readOutgoing, recordOutgoing, type OutgoingTransfer } from './outgoingTransfers.js';

export interface DurabilityConfig {
  readonly dataDir: string;
  readonly podName: string;
  readonly mode: WalMode;
  readonly fsyncIntervalMs: number;
  /** A checkpoint round starts when this much log was written since the last one... */
  readonly checkpointWalBytes: number;
  /** ...or this long after it, if anything was written. */
  readonly checkpointIntervalMs: number;
  readonly walFileBytesMax: number;
  /**
   * Frame readers the process started early for this pod's restart (main.ts: their threads' start-up
   * then overlaps the process's own); start() uses and closes them. Absent: start() starts its own.
   */
  readonly restartReaders?: FrameReaders | null;
}

export const DEFAULT_DURABILITY_CONFIG: Omit<DurabilityConfig, 'dataDir' | 'podName'> = {
  mode: 'sync',
  fsyncIntervalMs: 10,
  checkpointWalBytes: 256 * 1024 * 1024,
  checkpointIntervalMs: 60_000,
  walFileBytesMax: DEFAULT_WAL_CONFIG.fileBytesMax,
};

export interface DurabilityTarget {
  readonly store: Store;
  readonly clients: ClientTable;
  readonly ranges: OwnedRanges;
}

export interface DurabilityEvents {
  recovered(report: RecoveryReport, what: string): void;
  checkpointed(result: CheckpointResult): void;
  problem(message: string): void;
}

const CHECKPOINT_SLICE_RECORDS = 2048;

export class Durability {
  wal: WalWriter | null = null;
  private manifest: ManifestRange[] = [];
  /** The routing table last given to this pod (kept in the manifest). */
  routes: readonly Route[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private lastCheckpointLsn = 0;
  private lastCheckpointAtMs = Date.now();
  private checkpointing = false;
  checkpointsWritten = 0;
  lastRecovery: RecoveryReport | null = null;
  /** Test seam: injected write failures (writeFaults.ts); none by default. */
  readonly writeFaults = new WriteFaults();

  constructor(readonly config: DurabilityConfig, private readonly target: DurabilityTarget, private readonly events: DurabilityEvents) {}

  private get podDir(): string {
    return join(this.config.dataDir, 'pods', this.config.podName);
  }

  /** Whether this pod has a manifest on disk: a restart, whose recovery start() will run. */
  hasManifest(): boolean {
    return existsSync(this.manifestPath);
  }

  private get manifestPath(): string {
    return manifestPathOf(this.config.dataDir, this.config.podName);
  }

  /**
   * Recovers the ranges of this pod's manifest (serving them once loaded, at their views), then
   * opens the log for appending where the valid part ended. Ranges are UNAVAILABLE meanwhile.
   */
  async start(): Promise<RecoveryReport> {
    await mkdir(this.podDir, { recursive: true });
    const manifest = await readManifest(this.manifestPath);
    const taken = await readTaken(this.podDir);
    this.manifest = manifest === null ? [] : withoutTaken(manifest.ranges, taken);
    this.routes = manifest === null ? [] : manifest.routes;
    if (taken.length > 0) {
      await this.saveManifest();
      await rm(join(this.podDir, 'taken'), { recursive: true, force: true });
      this.events.problem(`${taken.length} ranges of this pod were recovered by other pods while it was down; it no longer owns them`);
    }
    await this.releaseStaleHolds();
    this.target.ranges.assign(this.manifest.map((r) => ({ start: r.start, end: r.end, view: r.view, recovering: true })));
    const records = checkpointRecords(this.manifest);
    // The load's frame readers, started first: they fault the presized index in and read the log too.
    const readers = this.config.restartReaders ?? (this.manifest.length > 0 ? FrameReaders.start() : null);
    let report: RecoveryReport;
    try {
      const indexReady = records > 0 ? presizeIndexAhead(this.target.store, records, this.manifest, readers) : undefined;
      report = await loadRanges(this.target, this.config.dataDir, this.manifest, { readers, ...(indexReady === undefined ? {} : { indexReady }) });
    } finally {
      await readers?.close();
    }
    const own = report.walResults.get(this.config.podName) ?? (await this.logEnd(this.config.podName));
    if (own.problem !== null) await this.repairTail(own.problem);
    this.wal = WalWriter.open({ ...DEFAULT_WAL_CONFIG, dir: walDirOf(this.config.dataDir, this.config.podName), mode: this.config.mode,
      fsyncIntervalMs: this.config.fsyncIntervalMs, fileBytesMax: this.config.walFileBytesMax }, own.endLsn);
    this.lastCheckpointLsn = own.endLsn;
    this.target.ranges.assign(this.manifest.map((r) => ({ start: r.start, end: r.end, view: r.view })));
    this.lastRecovery = report;
    this.events.recovered(report, 'restart');
    this.timer = setInterval(() => this.maybeCheckpoint(), 250);
    this.timer.unref();
    return report;
  }

  private async repairTail(problem: WalProblem): Promise<void> {
    const message = `write-ahead log ${problem.reason} at ${problem.path} byte ${problem.offsetBytes}: ` +
      `${problem.droppedBytes} bytes after it dropped (truncated${problem.laterFiles.length > 0 ? `; ${problem.laterFiles.length} later files set aside` : ''})`;
    await repairWalTail(problem);
    this.events.problem(message);
  }

  /** Test faults MANIFEST_* apply to every write; ADOPT_MANIFEST_* only when `adopting` (a migration target's adoption). */
  private saveManifest(adopting = false): Promise<void> {
    const beforeStep = (step: ManifestStep): void => {
      this.writeFaults.check(`MANIFEST_${step}`);
      if (adopting) this.writeFaults.check(`ADOPT_MANIFEST_${step}`);
    };
    return writeManifest(this.manifestPath, { pod: this.config.podName, ranges: this.manifest, routes: this.routes }, beforeStep);
  }

  /**
   * Makes `ranges` and `routes` the manifest and writes it. Failure-atomic in memory: when the write
   * fails, the manifest and routes kept here are put back as they were — so no later manifest write
   * (of another, unrelated change) persists this one — `undo` puts back what the caller changed
   * besides (it learns whether the new manifest may be on disk nevertheless), and it rejects with a
   * ManifestWriteError saying so. Every manifest change goes through here (docs/durability.md, "Manifest").
   */
  private async commitManifest(ranges: ManifestRange[], routes: readonly Route[],
    options: { readonly adopting?: boolean; readonly undo?: (failure: ManifestWriteError) => Promise<void> } = {}): Promise<void> {
    const before = { manifest: this.manifest, routes: this.routes };
    this.manifest = ranges;
    this.routes = routes;
    try {
      await this.saveManifest(options.adopting);
    } catch (error) {
      this.manifest = before.manifest;
      this.routes = before.routes;
      const failure = error instanceof ManifestWriteError ? error : new ManifestWriteError((error as Error).message, true, { cause: error });
      await options.undo?.(failure);
      throw failure;
    }
  }

  /** Runs `step` after every earlier manifest change. */
  private serially<T>(step: () => Promise<T>): Promise<T> {
    const next = this.chain.then(step, step);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * The pod's owned ranges changed (assignment, split, merge): the manifest follows. A range that
   * overlaps ranges already here inherits their sources; a new one starts from the log's end.
   */
  assigned(ranges: readonly OwnedRange[], routes: readonly Route[]): Promise<void> {
    const wal = this.wal;
    if (wal === null) return Promise.resolve();
    return this.serially(async () => {
      const fresh: ReplaySource = { pod: this.config.podName, fromLsn: wal.appendedLsn, toLsn: null };
      await this.commitManifest(this.recordable(ranges).map((range) => ({ start: range.start, end: range.end, view: range.view, ...sourcesFor(range, this.manifest, fresh) })), routes);
    });
  }

  /**
   * Partitioned recovery (RAMCloud): loads `ranges` of dead pod `deadPod` from its checkpoints and
   * log, then serves them here at the given views. The ranges are marked taken in the dead pod's
   * folder, so it does not serve them if it comes back; its files stay held until this pod has
   * checkpointed them.
   *
   * A recovery that fails once it has taken the ranges (an unreadable dead manifest, a failed hold,
   * a load the engine refuses, a failed manifest write or taken marker) gives them up again: the ranges
   * are not owned here, the manifest is as it was (commitManifest), the hold on the dead pod's files
   * is put back as it was (unless the new manifest may be on disk), and it rejects with a
   * RangesNotRecoveredError. What was loaded stays in the engine, unserved: the caller drops it.
   * Nothing of the dead pod's files is changed, so another pod can recover the ranges.
   *
   * The ranges are owned (recovering) from this call on, synchronously — not from when the step
   * below runs, which waits behind earlier manifest changes and then reads the dead pod's manifest
   * and log end and writes the hold. The caller has just checked, in the same synchronous run, that
   * no migration into this pod is arriving over them (Pod.clearBeforeTaking); a PrepareMigration
   * for that hash space landing in the step's wait would have found it neither owned nor arriving,
   * and the pod would have ended up both receiving and recovering it. Owned, it is refused
   * (Migrations.refuseOverlap). Rejects, nothing changed, when a range overlaps one owned here.
   */
  recoverFrom(deadPod: string, ranges: readonly OwnedRange[]): Promise<RecoveryReport> {
    const wal = this.wal;
    if (wal === null) return Promise.reject(new Error('durability is not started'));
    const taking = new RecoveryTaking(this.target.ranges, ranges);
    try {
      taking.claim();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.serially(async () => {
      /** What the hold on the dead pod's files said before this recovery wrote it (undefined: not written). */
      let heldBefore: string | null | undefined;
      /** Whether a manifest naming the ranges may be on disk (then the hold and the taken markers must stay). */
      let recorded = false;
      /** Whether marking the ranges taken in the dead pod's folder began. */
      let marked = false;
      let report: RecoveryReport;
      try {
        const deadPath = manifestPathOf(this.config.dataDir, deadPod);
        const dead = await readManifest(deadPath);
        if (dead === null) throw new Error(`pod ${deadPod} has no manifest under ${this.config.dataDir}`);
        const deadLogEnd = (await this.logEnd(deadPod)).endLsn;
        const sources: RangeSources[] = ranges.map((range) => ({
          start: range.start, end: range.end, ...sourcesFor(range, dead.ranges.map((r) => withLogEnd(r, deadPod, deadLogEnd)), null),
        }));
        // Before anything is held or loaded: checkpoints that cannot fit are refused (recoveryFit.ts).
        await checkRecoveryFits(this.target.store, this.config.dataDir, sources);
        heldBefore = await this.holdRestorably(deadPod, sources, null);
        presizeFor(this.target.store, sources);
        report = await loadRanges(this.target, this.config.dataDir, sources);
        const fresh: ReplaySource = { pod: this.config.podName, fromLsn: wal.appendedLsn, toLsn: null };
        const added = sources.map((s, i) => ({ start: s.start, end: s.end, view: ranges[i].view, checkpoints: s.checkpoints, replays: [...s.replays, fresh] }));
        // Taken before recorded: once a manifest naming the ranges may be on disk, a dead pod that
        // comes back must find them taken, or both would serve them.
        marked = true;
        await this.markTaken(deadPod, ranges);
        await this.commitManifest([...this.manifest, ...added], this.routes, { undo: async (failure) => {
          recorded = failure.mayHaveLanded;
        } });
        recorded = true;
      } catch (error) {
        // Not recorded: the ranges are not this pod's (they served nothing yet). Markers and a hold
        // that a manifest on disk may rely on stay; otherwise they are put back as they were.
        taking.giveUp();
        if (marked && !recorded) await this.unmarkTaken(deadPod, ranges);
        if (heldBefore !== undefined && !recorded) await this.restoreHold(deadPod, heldBefore);
        throw new RangesNotRecoveredError(deadPod, ranges, heldBefore === undefined ? 'none' : recorded ? 'kept' : 'released', error as Error);
      }
      taking.settle();
      this.lastRecovery = report;
      this.events.recovered(report, `ranges of ${deadPod}`);
      this.lastCheckpointAtMs = 0;
      return report;
    });
  }

  /** Marks `ranges` taken in the dead pod's folder (takenRanges.ts). */
  private async markTaken(deadPod: string, ranges: readonly OwnedRange[]): Promise<void> {
    this.writeFaults.check('RECOVERY_TAKEN');
    await markTaken(join(this.config.dataDir, 'pods', deadPod), ranges, this.config.podName);
  }

  /** Removes the taken markers of a recovery that failed with no manifest naming its ranges on disk. */
  private async unmarkTaken(deadPod: string, ranges: readonly OwnedRange[]): Promise<void> {
    const deadDir = join(this.config.dataDir, 'pods', deadPod);
    await unmarkTaken(deadDir, ranges, this.config.podName).catch((unmark: Error) =>
      this.events.problem(`removing the taken markers of a failed recovery from ${deadDir} failed: ${unmark.message}`));
  }

  /** Where `pod`'s log ends (reading only its last file), and the problem that ended it early. */
  private async logEnd(pod: string): Promise<{ endLsn: number; problem: WalProblem | null }> {
    const files = listWalFiles(walDirOf(this.config.dataDir, pod));
    const last = files[files.length - 1];
    if (last === undefined) return { endLsn: 0, problem: null };
    return readWal(walDirOf(this.config.dataDir, pod), { fromLsn: last.startLsn, toLsn: null, visit: () => undefined, yieldEveryEntries: 65_536 });
  }

  /**
   * Migration source: where `range` is durable here, as JSON for the target's manifest (this
   * pod's checkpoints and its log up to now). The target holds these files until it has
   * checkpointed the range itself.
   */
  sourcesJson(range: HashRange): string {
    const wal = this.wal;
    if (wal === null) return '';
    const end = wal.appendedLsn;
    const entries = this.manifest.map((r) => withLogEnd(r, this.config.podName, end));
    return JSON.stringify({ pod: this.config.podName, ...sourcesFor(range, entries, null) });
  }

  /**
   * Migration target: `range` is served here from now on. Until this pod checkpoints it, its
   * state is the source's durable state (`sourcesJson` from there) plus this pod's log from
   * `fromLsn` (its end when the range began to be served here).
   *
   * Failure-atomic in memory: when it fails, the manifest and routes kept here are as they were
   * (a later manifest write does not persist the range), and it rejects with a ManifestWriteError
   * saying whether the new manifest may be on disk nevertheless. When it cannot be, the hold on
   * the source's files is put back as it was too. See docs/migration.md, "Failures".
   */
  adopt(range: OwnedRange, fromPod: string, sourcesJson: string, ranges: readonly OwnedRange[], routes: readonly Route[], fromLsn: number): Promise<void> {
    const wal = this.wal;
    if (wal === null) return Promise.resolve();
    return this.serially(async () => {
      // From `fromLsn`, taken when the range began to be served here: writes served before this
      // step ran (it may wait behind other manifest changes) are in the window.
      const fresh: ReplaySource = { pod: this.config.podName, fromLsn, toLsn: null };
      const given = parseGivenSources(sourcesJson);
      const heldBefore = await this.holdRestorably(fromPod, [{ start: range.start, end: range.end, ...given }], 'ADOPT_HOLD');
      const adopted: ManifestRange = { start: range.start, end: range.end, view: range.view, checkpoints: given.checkpoints, replays: [...given.replays, fresh] };
      await this.commitManifest(this.withEntry(ranges, adopted, fresh), routes, { adopting: true, undo: async (failure) => {
        if (!failure.mayHaveLanded) await this.restoreHold(fromPod, heldBefore);
      } });
    });
  }

  /**
   * The manifest for owned `ranges`: `entry` for its range, the entries kept here for the others, and
   * for a range new here what it overlaps here (its own log from `fresh` on where nothing does).
   */
  private withEntry(ranges: readonly OwnedRange[], entry: ManifestRange, fresh: ReplaySource): ManifestRange[] {
    const recordable = this.recordable(ranges);
    return ranges.filter((r) => (r.start === entry.start && r.end === entry.end) || recordable.includes(r))
      .map((r) => (r.start === entry.start && r.end === entry.end ? entry : this.manifest.find((m) => m.start === r.start && m.end === r.end) ?? {
        start: r.start, end: r.end, view: r.view, ...sourcesFor(r, this.manifest, fresh),
      }));
  }

  /**
   * The owned ranges a manifest change may record. `ranges` is the owned set when the change was
   * made; the manifest is written when the change's turn comes (serially), and a recovery ahead of
   * it may have failed meanwhile and given its ranges up (recoverFrom). Such a range is then
   * neither owned here nor named by the manifest: recorded, it would come back at the next restart
   * as this pod's, empty (sources: its own log from now on). So a range of `ranges` that overlaps
   * nothing owned and nothing in the manifest is left out. Any other range is kept — one split,
   * merged or reassigned since is still named by the manifest, whose sources the change that
   * replaced it (written next) inherits.
   */
  private recordable(ranges: readonly OwnedRange[]): OwnedRange[] {
    const owned = this.target.ranges.list();
    return ranges.filter((r) => owned.some((o) => rangesOverlap(o, r)) || this.manifest.some((m) => rangesOverlap(m, r)));
  }

  /**
   * Holds `pod`'s files that `sources` need, before a manifest change naming them (an adoption, a
   * recovery); resolves with what the hold said before (null: there was none), for restoreHold if
   * the change fails. A failure rejects with a ManifestWriteError (nothing written), the hold put
   * back as it was.
   */
  private async holdRestorably(pod: string, sources: readonly RangeSources[], fault: WriteFaultPoint | null): Promise<string | null> {
    const path = this.holdPath(pod);
    const before = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw new ManifestWriteError(`reading ${path} failed, nothing written: ${error.message}`, false, { cause: error });
    });
    try {
      await this.hold(pod, sources, fault);
    } catch (error) {
      await this.restoreHold(pod, before);
      throw new ManifestWriteError(`holding ${pod}'s files failed, nothing written: ${(error as Error).message}`, false, { cause: error });
    }
    return before;
  }

  /** Puts this pod's hold on `pod`'s files back to `text` (null: none). A hold left over only keeps files from deletion. */
  private async restoreHold(pod: string, text: string | null): Promise<void> {
    const path = this.holdPath(pod);
    try {
      if (text === null) await rm(path, { force: true });
      else await replaceFileDurably(path, text, 'hold');
    } catch (error) {
      this.events.problem(`putting back ${path} failed (${(error as Error).message}); it keeps ${pod}'s files from deletion until this pod releases its hold`);
    }
  }

  /** Migration source: records a range given up whose new owner is not yet confirmed (outgoingTransfers.ts). */
  recordOutgoing(transfer: OutgoingTransfer): Promise<void> {
    return recordOutgoing(this.config.dataDir, this.config.podName, transfer);
  }

  /** The transfer's owner is decided (and durable on whichever side owns the range): the record and its holds go. */
  forgetOutgoing(transfer: OutgoingTransfer): Promise<void> {
    return forgetOutgoing(this.config.dataDir, this.config.podName, transfer);
  }

  /** Transfers this pod gave up a range in and never saw decided (read after a restart). */
  outgoingTransfers(): Promise<OutgoingTransfer[]> {
    return readOutgoing(this.config.dataDir, this.config.podName);
  }

  /** Resolves once every log entry appended so far is durable (at once when durability is off). */
  logDurable(): Promise<void> {
    const wal = this.wal;
    if (wal === null) return Promise.resolve();
    return new Promise((resolve) => wal.whenDurable(wal.appendedLsn, resolve));
  }

  /**
   * Migration source, in-doubt transfer decided for the source (the target never took the range
   * and will refuse it): `range` is this pod's again, at a new view. Its state is what it was at
   * the transfer — `sourcesJson`, this pod's durable sources then — and this pod wrote nothing to
   * it since, so its own log window simply stays open to the end. With `load` (this pod restarted
   * and holds nothing of the range in memory) the range is loaded from those sources first.
   */
  reclaim(range: OwnedRange, sourcesJson: string, load: boolean, ranges: readonly OwnedRange[], routes: readonly Route[]): Promise<void> {
    const wal = this.wal;
    if (wal === null) return Promise.resolve();
    return this.serially(async () => {
      const given = sourcesJson === '' ? { checkpoints: [], replays: [] } : (JSON.parse(sourcesJson) as { checkpoints: string[]; replays: ReplaySource[] });
      const own = given.replays.some((r) => r.pod === this.config.podName);
      const replays = own ? given.replays.map((r) => (r.pod === this.config.podName ? { ...r, toLsn: null } : r))
        : [...given.replays, { pod: this.config.podName, fromLsn: wal.appendedLsn, toLsn: null }];
      if (load) {
        const report = await loadRanges(this.target, this.config.dataDir, [{ start: range.start, end: range.end, checkpoints: given.checkpoints, replays }]);
        this.lastRecovery = report;
        this.events.recovered(report, 'a range taken back after an in-doubt transfer');
      }
      const entry: ManifestRange = { start: range.start, end: range.end, view: range.view, checkpoints: given.checkpoints, replays };
      const fresh: ReplaySource = { pod: this.config.podName, fromLsn: wal.appendedLsn, toLsn: null };
      await this.commitManifest(this.withEntry(ranges, entry, fresh), routes);
    });
  }

  /**
   * Whether a range's state still comes partly from another pod's files (it arrived by migration
   * or recovery and was not checkpointed here since). Merging such a range with a neighbour would
   * let the other pod's older log entries replay over the neighbour's newer checkpoint.
   */
  replaysOtherPods(range: HashRange): boolean {
    return this.manifest.some((m) => rangesOverlap(m, range) && m.replays.some((r) => r.pod !== this.config.podName));
  }

  /**
   * Migration target whose source died mid-copy: loads the rest of `range` from the source's
   * durable state that this pod's manifest names for it (checkpoints and the source's log up to
   * the transfer), skipping keys `skipKey` says are already resolved here.
   */
  loadArrivingRest(range: HashRange, skipKey: NonNullable<LoadOptions['skipKey']>): Promise<RecoveryReport> {
    return this.serially(async () => {
      const entry = this.manifest.find((r) => r.start === range.start && r.end === range.end);
      if (entry === undefined) throw new Error(`range [${range.start}, ${range.end}) is not in this pod's manifest`);
      const replays = entry.replays.filter((r) => r.pod !== this.config.podName);
      const report = await loadRanges(this.target, this.config.dataDir, [{ start: range.start, end: range.end, checkpoints: entry.checkpoints, replays }], { skipKey });
      this.lastRecovery = report;
      this.events.recovered(report, 'the rest of a migrating range from its dead source');
      return report;
    });
  }

  /**
   * Keeps `pod`'s log and checkpoints that `sources` need from being deleted (holds/<this pod>.json,
   * replaced atomically and durably, as the manifest is: durableReplace.ts) — and those that ranges of this pod's manifest still need from `pod`
   * (adopted or recovered from it and not checkpointed here since): there is one hold file per
   * holder, so a hold naming only the newest range let `pod` delete what an earlier one needed.
   */
  private async hold(pod: string, sources: readonly RangeSources[], fault: WriteFaultPoint | null = null): Promise<void> {
    if (fault !== null) this.writeFaults.check(fault);
    const needing = [...sources, ...this.manifest.filter((r) => r.replays.some((s) => s.pod === pod))];
    const fromLsn = Math.min(...needing.flatMap((s) => s.replays.filter((r) => r.pod === pod).map((r) => r.fromLsn)), Number.MAX_SAFE_INTEGER);
    const checkpoints = [...new Set(needing.flatMap((s) => s.checkpoints))];
    await mkdir(join(this.config.dataDir, 'pods', pod, 'holds'), { recursive: true });
    await replaceFileDurably(this.holdPath(pod), JSON.stringify({ fromLsn, checkpoints }), 'hold');
  }

  /**
   * At start: releases the holds this pod has on other pods' files that no range of its manifest
   * needs. A hold is written before the manifest that names its range (adopt, recoverFrom); a
   * restart in between, or an adoption that failed and was never retried, leaves one that nothing
   * would release, pinning the other pod's log and checkpoints for good.
   */
  private async releaseStaleHolds(): Promise<void> {
    const podsDir = join(this.config.dataDir, 'pods');
    for (const pod of await readdir(podsDir).catch(() => [] as string[])) {
      if (pod === this.config.podName || this.manifest.some((r) => r.replays.some((s) => s.pod === pod))) continue;
      await rm(this.holdPath(pod), { force: true });
    }
  }

  private holdPath(pod: string): string {
    return join(this.config.dataDir, 'pods', pod, 'holds', `${this.config.podName}.json`);
  }

  private maybeCheckpoint(): void {
    const wal = this.wal;
    if (wal === null || this.checkpointing) return;
    const written = wal.appendedLsn - this.lastCheckpointLsn;
    const due = written >= this.config.checkpointWalBytes || (written > 0 && Date.now() - this.lastCheckpointAtMs >= this.config.checkpointIntervalMs);
    if (due) void this.checkpoint().catch((error: Error) => this.events.problem(`checkpoint failed: ${error.message}`));
  }

  /** Checkpoints every owned range, then truncates the log and deletes files nothing needs. */
  checkpoint(): Promise<CheckpointResult[]> {
    const wal = this.wal;
    if (wal === null) return Promise.resolve([]);
    this.checkpointing = true;
    return this.serially(async () => {
      try {
        const startLsn = wal.appendedLsn;
        const results: CheckpointResult[] = [];
        const next: ManifestRange[] = [];
        for (const range of this.manifest) {
          // A range still arriving by migration keeps its sources: a checkpoint now would miss
          // the records not yet sent.
          if (this.stillArriving(range)) {
            next.push(range);
            continue;
          }
          const lsn = wal.appendedLsn;
          const relative = join('ranges', rangeId(range.start, range.end), `ckpt-${this.config.podName}-${lsn}.ckpt`);
          const result = await writeCheckpoint(this.target, range, join(this.config.dataDir, relative),
            { walLsn: lsn, pod: this.config.podName, createdAt: new Date().toISOString() }, CHECKPOINT_SLICE_RECORDS);
          results.push(result);
          this.events.checkpointed(result);
          next.push({
            start: range.start, end: range.end, view: range.view, checkpoints: [relative], replays: [{ pod: this.config.podName, fromLsn: lsn, toLsn: null }],
            records: result.entryCount,
          });
        }
        const before = this.manifest;
        // Ranges assigned while checkpointing keep their entries (assigned() runs after us in the chain).
        // A failed write keeps the old checkpoints named; the new files go unless the manifest naming them may be on disk.
        await this.commitManifest(next, this.routes, { undo: async (failure) => {
          if (!failure.mayHaveLanded) for (const result of results) await unlink(result.path).catch(() => undefined);
        } });
        await this.collectGarbage(before);
        this.lastCheckpointLsn = startLsn;
        this.lastCheckpointAtMs = Date.now();
        this.checkpointsWritten++;
        return results;
      } finally {
        this.checkpointing = false;
      }
    });
  }

  private stillArriving(range: HashRange): boolean {
    const owned = this.target.ranges.list().find((r) => r.start === range.start && r.end === range.end);
    return owned?.arriving !== undefined && !owned.arriving.bulkDone;
  }

  /** Deletes checkpoints the manifest no longer names (unless held), truncates the log, drops holds. */
  private async collectGarbage(before: readonly ManifestRange[]): Promise<void> {
    const wal = this.wal;
    if (wal === null) return;
    const named = new Set(this.manifest.flatMap((r) => r.checkpoints));
    const held = await this.heldByOthers();
    for (const path of before.flatMap((r) => r.checkpoints)) {
      if (!named.has(path) && !held.checkpoints.has(path)) await unlink(join(this.config.dataDir, path)).catch(() => undefined);
    }
    const ownFrom = this.manifest.flatMap((r) => r.replays.filter((s) => s.pod === this.config.podName).map((s) => s.fromLsn));
    wal.truncateBefore(Math.min(wal.appendedLsn, held.fromLsn, ...ownFrom));
    // Holds this pod placed on others are released once no range here replays their logs.
    for (const pod of new Set(before.flatMap((r) => r.replays.map((s) => s.pod)))) {
      if (pod === this.config.podName || this.manifest.some((r) => r.replays.some((s) => s.pod === pod))) continue;
      await rm(join(this.config.dataDir, 'pods', pod, 'holds', `${this.config.podName}.json`), { force: true });
    }
  }

  private async heldByOthers(): Promise<{ fromLsn: number; checkpoints: Set<string> }> {
    const holds = join(this.podDir, 'holds');
    const result = { fromLsn: Number.MAX_SAFE_INTEGER, checkpoints: new Set<string>() };
    const names = await readdir(holds).catch(() => [] as string[]);
    // Not a hold's temporary file, perhaps half written (replaceFileDurably).
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const hold = JSON.parse(await readFile(join(holds, name), 'utf8')) as { fromLsn: number; checkpoints: string[] };
      result.fromLsn = Math.min(result.fromLsn, hold.fromLsn);
      for (const path of hold.checkpoints) result.checkpoints.add(path);
    }
    return result;
  }

  /** Commits what the log holds and closes it (clean shutdown). */
  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    await this.chain;
    await this.wal?.close();
  }
}


/** The source's durable state of a range it hands over (`sourcesJson`); unreadable, nothing is written. */
function parseGivenSources(sourcesJson: string): { checkpoints: string[]; replays: ReplaySource[] } {
  if (sourcesJson === '') return { checkpoints: [], replays: [] };
  try {
    return JSON.parse(sourcesJson) as { checkpoints: string[]; replays: ReplaySource[] };
  } catch (error) {
    throw new ManifestWriteError(`the source's durable sources are not JSON, nothing written: ${(error as Error).message}`, false, { cause: error });
  }
}

/** Sizes an empty engine's index for the records the ranges' checkpoints held. */
function presizeFor(store: Store, ranges: readonly (HashRange & { readonly records?: number })[]): void {
  const records = checkpointRecords(ranges);
  const width = ranges.reduce((sum, r) => sum + (r.end - r.start), 0n);
  if (records > 0) store.presizeIndex(records, Number(width) / Number(KEYSPACE_END));
}

/** A dead pod's own replay window ends where its log ends now (it may come back and write more). */
function withLogEnd(range: ManifestRange, pod: string, endLsn: number): ManifestRange {
  return { ...range, replays: range.replays.map((r) => (r.pod === pod && r.toLsn === null ? { ...r, toLsn: endLsn } : r)) };
}

/** Records the ranges' checkpoints held when written (index sizing only). */
function checkpointRecords(ranges: readonly { readonly records?: number }[]): number {
  return ranges.reduce((sum, r) => sum + (r.records ?? 0), 0);
}
