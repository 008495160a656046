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
import { loadCheckpoint, type CheckpointPlan, type CheckpointSink } from './checkpointReader.js';
import type { ReplaySource } from './manifest.js';
import { DeferredCompletions } from './completionReplay.js';
import { WalEntryKind, type WalEntryCursor } from './walEntry.js';
import { readWal, type WalReadResult } from './walReader.js';

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
}

export async function loadRanges(target: RecoveryTarget, dataDir: string, ranges: readonly RangeSources[], options: LoadOptions = {}): Promise<RecoveryReport> {
  const started = performance.now();
  const sorted = sortedDisjoint(ranges);
  const report: RecoveryReport = {
    ranges: sorted.length, checkpointsRead: 0, checkpointEntries: 0, walEntriesReplayed: 0, walBytesRead: 0, seconds: 0, problems: [],
    walResults: new Map(),
  };
  const applier = new EntryApplier(target, sorted, options.skipKey ?? null);
  const bulk = target.store.beginBulkLoad();
  try {
    await loadCheckpoints(applier, bulk, dataDir, sorted, report);
  } finally {
    bulk.finish();
  }
  for (const pod of podsInOrder(sorted)) await replayLog(applier, dataDir, pod, sorted, report);
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

/**
 * Loads each checkpoint file once, its records as segment images through the engine's bulk load.
 * A file of exactly (or within) the one range that uses it needs no per-key range filter: every
 * record in it was scanned from its range.
 */
async function loadCheckpoints(applier: EntryApplier, bulk: BulkLoad, dataDir: string, ranges: readonly RangeSources[],
  report: RecoveryReport): Promise<void> {
  const users = new Map<string, Set<number>>();
  ranges.forEach((range, index) => {
    for (const path of range.checkpoints) users.set(path, (users.get(path) ?? new Set()).add(index));
  });
  for (const [path, indexes] of users) {
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
    };
    const result = await loadCheckpoint(join(dataDir, path), sink);
    report.checkpointsRead++;
    report.checkpointEntries += result.entriesVisited;
    if (result.problem !== null) {
      report.problems.push(`checkpoint ${path}: ${result.problem.reason} at byte ${result.problem.offsetBytes}; ` +
        `${result.entriesVisited} entries loaded, ${result.problem.droppedBytes} bytes dropped (the log replay restores what it still holds)`);
    }
  }
}

async function replayLog(applier: EntryApplier, dataDir: string, pod: string, ranges: readonly RangeSources[], report: RecoveryReport): Promise<void> {
  const windows = ranges.map((range) => range.replays.find((replay) => replay.pod === pod) ?? null);
  let fromLsn = Infinity;
  let toLsn: number | null = 0;
  for (const window of windows) {
    if (window === null) continue;
    fromLsn = Math.min(fromLsn, window.fromLsn);
    toLsn = toLsn === null || window.toLsn === null ? null : Math.max(toLsn, window.toLsn);
  }
  const deferred = new DeferredCompletions((bytes, keyOffset, keyLength, payloadOffset, payloadLength) =>
    check(applier.clients.restoreCompletion(bytes, keyOffset, keyLength, bytes, payloadOffset, payloadLength), applier.store));
  const result = await readWal(walDirOf(dataDir, pod), {
    fromLsn, toLsn, yieldEveryEntries: YIELD_EVERY_ENTRIES,
    visit: (entry, lsn) => {
      if (entry.kind === WalEntryKind.ACK) {
        applier.ack(entry);
        deferred.ack(entry.bytes, entry.completionOffset);
        return;
      }
      if (applier.rangeOf(entry) < 0) return;
      const window = windows[applier.lastRange];
      if (window === null || lsn < window.fromLsn || (window.toLsn !== null && lsn >= window.toLsn)) return;
      applier.applyData(entry);
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
    this.applyData(entry);
    if (entry.completionLength > 0) {
      const b = entry.bytes;
      check(this.target.clients.restoreCompletion(b, entry.keyOffset, entry.keyLength, b, entry.completionOffset, entry.completionLength), this.target.store);
    }
  }

  /** Applies the entry's mutation (PUT or DELETE), unless its key is skipped; not its completion record. */
  applyData(entry: WalEntryCursor): void {
    const store = this.target.store;
    const b = entry.bytes;
    let skip = false;
    if (this.skipKey !== null && this.skipKey !== undefined) {
      this.hasher.hashKey(b, entry.keyOffset, entry.keyLength);
      skip = this.skipKey(b, entry.keyOffset, entry.keyLength, this.hasher.hi);
    }
    if (skip) {
      // The key's state here is newer than anything in these sources.
    } else if (entry.kind === WalEntryKind.PUT) {
      check(store.restore(b, entry.keyOffset, entry.keyLength, b, entry.valueOffset, entry.valueLength, entry.version), store);
    } else if (entry.kind === WalEntryKind.DELETE) {
      const status = store.delete(b, entry.keyOffset, entry.keyLength);
      if (status !== Status.NOT_FOUND) check(status, store);
      if (entry.version > 0) store.observeVersion(entry.version);
    }
  }

  ack(entry: WalEntryCursor): void {
    this.target.clients.restoreAck(entry.bytes, entry.completionOffset);
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
