// Loads ranges into a pod's engine from the durable state of one or more pods: checkpoint files
// first (each entry filtered to the ranges that list that file), then write-ahead logs in order,
// each entry filtered to the ranges whose replay window for that log contains it. Replay is in
// log order and last-writer-wins, which is what makes a fuzzy checkpoint plus redo exact (see
// "Checkpoints and redo" in docs/durability.md). Used for a pod's own restart and for
// partitioned recovery of a dead pod's ranges (RAMCloud).

import { join } from 'node:path';
import { KeyHasher } from '../../proto/keyspace/hash.js';
import { RangeSearch, sortedDisjoint } from '../../proto/keyspace/rangeSearch.js';
import type { HashRange } from '../../proto/keyspace/range.js';
import { Status, errorDetailMessage, statusName, type BulkLoad, type KeepRecord, type Store } from '../store/index.js';
import type { ClientTable } from '../rifl/clientTable.js';
import { FrameReaders } from './frameReaders.js';
import { loadCheckpoint, readCheckpointMeta, type CheckpointPlan, type CheckpointSink } from './checkpointReader.js';
import { MERGED_REDO_LOG_BYTES_MAX, MergedRedo } from './mergedRedo.js';
import type { ReplaySource } from './manifest.js';
import { DeferredCompletions } from './completionReplay.js';
import { WalEntryKind, type WalEntryCursor } from './walEntry.js';
import { prefetchWal, readWal, walWindowBytes, type WalPrefetch, type WalReadResult } from './walReader.js';

export interface RecoveryTarget {
  readonly store: Store;
  readonly clients: ClientTable;
}

export interface RangeSources extends HashRange {
  /** Checkpoint paths relative to the data dir. */
  readonly checkpoints: readonly string[];
  readonly replays: readonly ReplaySource[];
  /** Records the checkpoints held when written (index sizing only). */
  readonly records?: number;
}

export interface RecoveryReport {
  ranges: number;
  checkpointsRead: number;
  checkpointEntries: number;
  walEntriesReplayed: number;
  walBytesRead: number;
  seconds: number;
  /** What could not be read and was dropped, one sentence each. Empty when all was whole. */
  problems: string[];
  /** Per log read: how far it was valid (own restarts continue appending there). */
  walResults: Map<string, WalReadResult>;
}

export class RecoveryError extends Error {
  override readonly name = 'RecoveryError';
}

export function walDirOf(dataDir: string, pod: string): string {
  return join(dataDir, 'pods', pod, 'wal');
}

const YIELD_EVERY_ENTRIES = 16_384;

export interface LoadOptions {
  /** Entries whose key this returns true for keep the state already here (completion records still load). */
  readonly skipKey?: (bytes: Buffer, keyOffset: number, keyLength: number, hi: number) => boolean;
  /** Awaited before anything goes into the index (a restart's presized index is faulted in meanwhile: faultAhead.ts). */
  readonly indexReady?: Promise<void>;
  /** Frame readers to use, the caller's to close (else the load starts its own if it has checkpoints to read). */
  readonly readers?: FrameReaders | null;
}

export async function loadRanges(target: RecoveryTarget, dataDir: string, ranges: readonly RangeSources[], options: LoadOptions = {}): Promise<RecoveryReport> {
  const started = performance.now();
  const sorted = sortedDisjoint(ranges);
  const report: RecoveryReport = {
    ranges: sorted.length, checkpointsRead: 0, checkpointEntries: 0, walEntriesReplayed: 0, walBytesRead: 0, seconds: 0, problems: [],
    walResults: new Map(),
  };
  const applier = new EntryApplier(target, sorted, options.skipKey ?? null);
  const pods = podsInOrder(sorted);
  // Started now unless the caller gave some (a restart starts them first): they read the checkpoints'
  // frames, and the log's files if they are up by then (walFileBytes.ts).
  const own = options.readers === undefined && sorted.some((range) => range.checkpoints.length > 0) ? FrameReaders.start() : null;
  const readers = options.readers ?? own;
  try {
    return await load(target, dataDir, { sorted, report, applier, pods, readers }, options, started);
  } finally {
    await own?.close();
  }
}

interface Loading {
  readonly sorted: readonly RangeSources[];
  readonly report: RecoveryReport;
  readonly applier: EntryApplier;
  readonly pods: readonly string[];
  readonly readers: FrameReaders | null;
}

async function load(target: RecoveryTarget, dataDir: string, loading: Loading, options: LoadOptions, started: number): Promise<RecoveryReport> {
  const { sorted, report, applier, pods, readers } = loading;
  // The first log file to replay comes off the disk while the checkpoints load (or are looked at).
  const prefetched = pods.length > 0 ? prefetchWal(walDirOf(dataDir, pods[0]), logWindows(pods[0], sorted).fromLsn, readers) : null;
  const reading = (pod: string): LogReading => ({ prefetched: pod === pods[0] ? prefetched : null, readers });
  const order = await mergeOrder(dataDir, sorted, pods);
  const redo = order === null ? null : new MergedRedo((entry, hi, lo) => applier.applyData(entry, hi, lo));
  if (redo !== null) {
    for (const pod of pods) await replayLog(applier, dataDir, pod, sorted, report, reading(pod), redo);
    redo.seal();
  }
  // Up to here only the log was read (merged redo queues its data entries): nothing was indexed.
  await options.indexReady;
  const bulk = target.store.beginBulkLoad();
  // Merged restores overwrite records this load installed from CRC-checked frames moments before:
  // those need not be verified again (Store.restoreHashed).
  applier.loaded = redo === null ? null : bulk;
  try {
    await loadCheckpoints({ applier, bulk, dataDir, ranges: sorted, report, readers }, order === null || redo === null ? null : { ...order, redo });
  } finally {
    applier.loaded = null;
    bulk.finish();
  }
  if (redo !== null) await redo.applyRest();
  else for (const pod of pods) await replayLog(applier, dataDir, pod, sorted, report, reading(pod), null);
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

/** Checkpoint files in hash order, and below which hash (top word) each one's successors start. */
interface MergeOrder {
  readonly paths: readonly string[];
  readonly nextStartHi: readonly number[];
}

/**
 * Whether the log tail can be merged into the checkpoint load (mergedRedo.ts): there are both,
 * the tail is small enough to keep in memory, and the checkpoint files, read in order of their
 * ranges, cover disjoint ranges (so every record below a file's watermark has been loaded).
 */
async function mergeOrder(dataDir: string, ranges: readonly RangeSources[], pods: readonly string[]): Promise<MergeOrder | null> {
  const paths = [...new Set(ranges.flatMap((range) => range.checkpoints))];
  if (paths.length === 0 || pods.length === 0) return null;
  let logBytes = 0;
  for (const pod of pods) logBytes += await walWindowBytes(walDirOf(dataDir, pod), logWindows(pod, ranges).fromLsn);
  if (logBytes > MERGED_REDO_LOG_BYTES_MAX) return null;
  const metas = await Promise.all(paths.map((path) => readCheckpointMeta(join(dataDir, path))));
  const files = paths.map((path, i) => ({ path, meta: metas[i] }));
  if (files.some((file) => file.meta === null)) return null;
  const spans = files.map((file) => ({ path: file.path, start: BigInt(file.meta?.start ?? 0), end: BigInt(file.meta?.end ?? 0) }));
  spans.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (let i = 1; i < spans.length; i++) if (spans[i].start < spans[i - 1].end) return null;
  return {
    paths: spans.map((span) => span.path),
    nextStartHi: spans.map((_span, i) => (i + 1 < spans.length ? Number(spans[i + 1].start >> 32n) : Infinity)),
  };
}

/**
 * Loads each checkpoint file once, its records as segment images through the engine's bulk load;
 * with `merge`, in its order, replaying the merged log entries below each watermark as it goes.
 */
async function loadCheckpoints(context: CheckpointLoading, merge: (MergeOrder & { readonly redo: MergedRedo }) | null): Promise<void> {
  const { ranges } = context;
  const users = new Map<string, Set<number>>();
  ranges.forEach((range, index) => {
    for (const path of range.checkpoints) users.set(path, (users.get(path) ?? new Set()).add(index));
  });
  const paths = merge === null ? [...users.keys()] : merge.paths;
  for (const [i, path] of paths.entries()) {
    const below = merge === null ? null : (hi: number): void => merge.redo.applyBelow(Math.min(hi, merge.nextStartHi[i]));
    await loadCheckpointFile(context, path, users.get(path) as Set<number>, below);
    below?.(Infinity);
  }
}

/** What loading the checkpoint files needs: where records go, which ranges, who reads the frames. */
interface CheckpointLoading {
  readonly applier: EntryApplier;
  readonly bulk: BulkLoad;
  readonly dataDir: string;
  readonly ranges: readonly RangeSources[];
  readonly report: RecoveryReport;
  readonly readers: FrameReaders | null;
}

/**
 * One checkpoint file. A file of exactly (or within) the one range that uses it needs no per-key
 * range filter: every record in it was scanned from its range.
 */
async function loadCheckpointFile(context: CheckpointLoading, path: string, indexes: Set<number>, recordsBelow: ((hi: number) => void) | null): Promise<void> {
  const { applier, bulk, ranges, report } = context;
  let filter = true;
  const sink: CheckpointSink = {
    bulk,
    plan: (meta) => {
      const [only] = [...indexes];
      filter = !(indexes.size === 1 && BigInt(meta.start) >= ranges[only].start && BigInt(meta.end) <= ranges[only].end);
      return applier.planFor(filter ? indexes : null);
    },
    completion: (entry) => {
      if (!filter || (applier.rangeOf(entry) >= 0 && indexes.has(applier.lastRange))) applier.apply(entry);
    },
    refused: (status) => refuse(status, applier.store),
    ...(recordsBelow === null ? {} : { recordsBelow }),
  };
  const result = await loadCheckpoint(join(context.dataDir, path), sink, context.readers);
  report.checkpointsRead++;
  report.checkpointEntries += result.entriesVisited;
  if (result.problem !== null) {
    report.problems.push(`checkpoint ${path}: ${result.problem.reason} at byte ${result.problem.offsetBytes}; ` +
      `${result.entriesVisited} entries loaded, ${result.problem.droppedBytes} bytes dropped (the log replay restores what it still holds)`);
  }
}

/** Each range's replay window in `pod`'s log, and the span of log they need together. */
function logWindows(pod: string, ranges: readonly RangeSources[]): { windows: (ReplaySource | null)[]; fromLsn: number; toLsn: number | null } {
  const windows = ranges.map((range) => range.replays.find((replay) => replay.pod === pod) ?? null);
  let fromLsn = Infinity;
  let toLsn: number | null = 0;
  for (const window of windows) {
    if (window === null) continue;
    fromLsn = Math.min(fromLsn, window.fromLsn);
    toLsn = toLsn === null || window.toLsn === null ? null : Math.max(toLsn, window.toLsn);
  }
  return { windows, fromLsn, toLsn };
}

/** How a log is read: its first file perhaps already under way, by worker threads or libuv's pool. */
interface LogReading {
  readonly prefetched: WalPrefetch | null;
  readonly readers: FrameReaders | null;
}

/** Replays `pod`'s log over the ranges; with `redo`, its data entries are queued there (merged redo) instead. */
async function replayLog(applier: EntryApplier, dataDir: string, pod: string, ranges: readonly RangeSources[], report: RecoveryReport,
  reading: LogReading, redo: MergedRedo | null): Promise<void> {
  const { windows, fromLsn, toLsn } = logWindows(pod, ranges);
  const deferred = new DeferredCompletions((bytes, keyOffset, keyLength, payloadOffset, payloadLength) =>
    check(applier.clients.restoreCompletion(bytes, keyOffset, keyLength, bytes, payloadOffset, payloadLength), applier.store),
  (clientId, mark) => applier.clients.restoreAck(clientId, mark));
  const result = await readWal(walDirOf(dataDir, pod), {
    fromLsn, toLsn, yieldEveryEntries: YIELD_EVERY_ENTRIES, prefetched: reading.prefetched, readers: reading.readers,
    visit: (entry, lsn) => {
      if (entry.kind === WalEntryKind.ACK) {
        deferred.ack(entry.bytes, entry.completionOffset);
        return;
      }
      if (applier.rangeOf(entry) < 0) return;
      const window = windows[applier.lastRange];
      if (window === null || lsn < window.fromLsn || (window.toLsn !== null && lsn >= window.toLsn)) return;
      if (redo === null) applier.applyData(entry, applier.lastHi, applier.lastLo);
      else if (entry.kind === WalEntryKind.PUT || entry.kind === WalEntryKind.DELETE) redo.add(entry, applier.lastHi, applier.lastLo);
      if (entry.completionLength > 0) deferred.add(entry);
      report.walEntriesReplayed++;
    },
  });
  deferred.flush();
  report.walBytesRead += result.bytesRead;
  report.walResults.set(pod, result);
  if (result.problem !== null && (toLsn === null || result.endLsn < toLsn)) {
    const p = result.problem;
    report.problems.push(`log of ${pod}: ${p.reason} at ${p.path} byte ${p.offsetBytes}; replay stopped at lsn ${result.endLsn}, ` +
      `${p.droppedBytes} bytes dropped${p.laterFiles.length > 0 ? ` (and ${p.laterFiles.length} later files)` : ''}`);
  }
}

function podsInOrder(ranges: readonly RangeSources[]): string[] {
  const pods: string[] = [];
  for (const range of ranges) {
    for (const replay of range.replays) if (!pods.includes(replay.pod)) pods.push(replay.pod);
  }
  return pods;
}

/** Applies entries to the engine; finds the range an entry's key belongs to. */
class EntryApplier {
  private readonly hasher = new KeyHasher();
  private readonly search: RangeSearch;
  /** Index of the range found by the last rangeOf(). */
  lastRange = -1;
  /** While merged redo runs: the checkpoints' bulk load, whose records restores need not verify again. */
  loaded: BulkLoad | null = null;

  constructor(private readonly target: RecoveryTarget, ranges: readonly HashRange[],
    private readonly skipKey: LoadOptions['skipKey'] | null) {
    this.search = new RangeSearch(ranges);
  }

  get store(): Store {
    return this.target.store;
  }

  /**
   * How a checkpoint's records load: only those in `ranges` (null: all) and not skipped. Filtered
   * files are copied packed (many records may be left out); others are read into segments.
   */
  planFor(ranges: ReadonlySet<number> | null): CheckpointPlan {
    const skipKey = this.skipKey ?? null;
    const search = this.search;
    const inRanges = (hi: number, lo: number): boolean => {
      const found = search.find(hi, lo);
      return found >= 0 && (ranges as ReadonlySet<number>).has(found);
    };
    let keep: KeepRecord | null = null;
    if (ranges !== null && skipKey !== null) {
      keep = (bytes, keyOffset, keyLength, hi, lo) => inRanges(hi, lo) && !skipKey(bytes, keyOffset, keyLength, hi);
    } else if (ranges !== null) {
      keep = (_bytes, _keyOffset, _keyLength, hi, lo) => inRanges(hi, lo);
    } else if (skipKey !== null) {
      keep = (bytes, keyOffset, keyLength, hi) => !skipKey(bytes, keyOffset, keyLength, hi);
    }
    return { keep, compact: keep !== null };
  }

  /** Top word of the hash of the last rangeOf()'s key... */
  get lastHi(): number {
    return this.hasher.hi;
  }

  /** ...and its bottom word. */
  get lastLo(): number {
    return this.hasher.lo;
  }

  rangeOf(entry: WalEntryCursor): number {
    this.hasher.hashKey(entry.bytes, entry.keyOffset, entry.keyLength);
    this.lastRange = this.search.find(this.hasher.hi, this.hasher.lo);
    return this.lastRange;
  }

  get clients(): ClientTable {
    return this.target.clients;
  }

  /** Applies the entry's mutation and its completion record (checkpoint completion entries). */
  apply(entry: WalEntryCursor): void {
    if (entry.kind === WalEntryKind.PUT || entry.kind === WalEntryKind.DELETE) {
      this.hasher.hashKey(entry.bytes, entry.keyOffset, entry.keyLength);
      this.applyData(entry, this.hasher.hi, this.hasher.lo);
    }
    if (entry.completionLength > 0) {
      const b = entry.bytes;
      check(this.target.clients.restoreCompletion(b, entry.keyOffset, entry.keyLength, b, entry.completionOffset, entry.completionLength), this.target.store);
    }
  }

  /**
   * Applies the entry's mutation (PUT or DELETE), unless its key is skipped; not its completion
   * record. (hi, lo) is the key's hash, computed when the entry was read (rangeOf), so the store
   * does not hash the key again.
   */
  applyData(entry: WalEntryCursor, hi: number, lo: number): void {
    const store = this.target.store;
    const b = entry.bytes;
    if (this.skipKey !== null && this.skipKey !== undefined && this.skipKey(b, entry.keyOffset, entry.keyLength, hi)) {
      // The key's state here is newer than anything in these sources.
    } else if (entry.kind === WalEntryKind.PUT) {
      check(store.restoreHashed(b, entry.keyOffset, entry.keyLength, hi, lo, b, entry.valueOffset, entry.valueLength, entry.version, this.loaded), store);
    } else if (entry.kind === WalEntryKind.DELETE) {
      const status = store.delete(b, entry.keyOffset, entry.keyLength);
      if (status !== Status.NOT_FOUND) check(status, store);
      if (entry.version > 0) store.observeVersion(entry.version);
    }
  }
}

function check(status: Status, store: Store): void {
  if (status === Status.OK) return;
  refuse(status, store);
}

function refuse(status: Status, store: Store): never {
  const stats = store.stats();
  throw new RecoveryError(`the engine refused a recovered record: ${statusName(status)} (${errorDetailMessage(store.errorDetail)}); ` +
    `${stats.liveBytes} of ${stats.logCapacityBytes} bytes of log memory live`);
}
