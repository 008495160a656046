// Loads ranges into a pod's engine from the durable state of one or more pods: checkpoint files
// first (each entry filtered to the ranges that list that file), then write-ahead logs in order,
// each entry filtered to the ranges whose replay window for that log contains it. Replay is in
// log order and last-writer-wins, which is what makes a fuzzy checkpoint plus redo exact (see
// "Checkpoints and redo" in docs/durability.md). Used for a pod's own restart and for
// partitioned recovery of a dead pod's ranges (RAMCloud).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KeyHasher } from '../../proto/keyspace/hash.js';
import { RangeSearch, sortedDisjoint } from '../../proto/keyspace/rangeSearch.js';
import type { HashRange } from '../../proto/keyspace/range.js';
import { Status, errorDetailMessage, statusName, type Store } from '../store/index.js';
import type { ClientTable } from '../rifl/clientTable.js';
import { readCheckpoint } from './checkpointReader.js';
import type { CheckpointMeta } from './checkpointFile.js';
import type { ReplaySource } from './manifest.js';
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
  await loadCheckpoints(applier, dataDir, sorted, report);
  for (const pod of podsInOrder(sorted)) await replayLog(applier, dataDir, pod, sorted, report);
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

async function loadCheckpoints(applier: EntryApplier, dataDir: string, ranges: readonly RangeSources[], report: RecoveryReport): Promise<void> {
  const users = new Map<string, Set<number>>();
  ranges.forEach((range, index) => {
    for (const path of range.checkpoints) users.set(path, (users.get(path) ?? new Set()).add(index));
  });
  const paths = [...users.keys()];
  let next: Promise<Buffer> | null = paths.length > 0 ? readFile(join(dataDir, paths[0])) : null;
  for (const [i, path] of paths.entries()) {
    const indexes = users.get(path) as Set<number>;
    const bytes = next as Promise<Buffer>;
    // Read ahead: the next file comes off the disk while this one is loaded.
    next = i + 1 < paths.length ? readFile(join(dataDir, paths[i + 1])) : null;
    next?.catch(() => undefined);
    // A checkpoint of exactly (or within) the one range that uses it needs no per-key filter:
    // every entry in it was scanned from its range. Saves hashing each key twice.
    let filter = true;
    const onMeta = (meta: CheckpointMeta): void => {
      const [only] = [...indexes];
      filter = !(indexes.size === 1 && BigInt(meta.start) >= ranges[only].start && BigInt(meta.end) <= ranges[only].end);
    };
    const result = await readCheckpoint(bytes, (entry) => {
      if (!filter || (applier.rangeOf(entry) >= 0 && indexes.has(applier.lastRange))) applier.apply(entry);
    }, YIELD_EVERY_ENTRIES, onMeta);
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
  const result = await readWal(walDirOf(dataDir, pod), {
    fromLsn, toLsn, yieldEveryEntries: YIELD_EVERY_ENTRIES,
    visit: (entry, lsn) => {
      if (entry.kind === WalEntryKind.ACK) {
        applier.ack(entry);
        return;
      }
      if (applier.rangeOf(entry) < 0) return;
      const window = windows[applier.lastRange];
      if (window === null || lsn < window.fromLsn || (window.toLsn !== null && lsn >= window.toLsn)) return;
      applier.apply(entry);
      report.walEntriesReplayed++;
    },
  });
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

  rangeOf(entry: WalEntryCursor): number {
    this.hasher.hashKey(entry.bytes, entry.keyOffset, entry.keyLength);
    this.lastRange = this.search.find(this.hasher.hi, this.hasher.lo);
    return this.lastRange;
  }

  apply(entry: WalEntryCursor): void {
    const { store, clients } = this.target;
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
    if (entry.completionLength > 0) {
      check(clients.restoreCompletion(b, entry.keyOffset, entry.keyLength, b, entry.completionOffset, entry.completionLength), store);
    }
  }

  ack(entry: WalEntryCursor): void {
    this.target.clients.restoreAck(entry.bytes, entry.completionOffset);
  }
}

function check(status: Status, store: Store): void {
  if (status === Status.OK) return;
  const stats = store.stats();
  throw new RecoveryError(`the engine refused a recovered record: ${statusName(status)} (${errorDetailMessage(store.errorDetail)}); ` +
    `${stats.liveBytes} of ${stats.logCapacityBytes} bytes of log memory live`);
}
