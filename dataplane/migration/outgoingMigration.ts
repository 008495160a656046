// The source's side of a live migration: runs the whole protocol once started (DESIGN.md §6,
// Shadowfax): PREPARE (the target learns the range is coming; the source copies the range to it
// while still serving it, then copies again what was written behind the copy, in rounds, and
// samples its hottest keys) -> TRANSFER_OWNERSHIP (the source stops serving the range, bumps its view, and hands
// ownership, every completion record of the range, what was written since the last round (up
// to a bound) and the hot records to the target) -> MOVE_DATA (the rest, in chunks, throttled,
// pausable; the target fetches keys it needs sooner)
// -> CHECKPOINT (the target makes the range durable on its own) -> COMPLETE (the source drops
// its copy). See docs/migration.md.

import type { HashRange } from '../../proto/keyspace/range.js';
import { SCAN_DONE } from '../store/index.js';
import type { OwnedRange } from '../ranges/ownedRanges.js';
import { PhaseMachine, type MigrationPhase } from './migrationPhase.js';
import { RecordRun } from './recordRun.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { RangeSlices, encodeSlices } from './rangeSlices.js';
import type { WriteTracker } from './writeTracker.js';
import { CopyPacer } from './copyPacer.js';
import { rangeToMessage } from '../../proto/messages.js';
import type { BulkSender } from './bulkListener.js';
import { FRAME_RECORDS_BYTES_MAX, FRAME_SLICES_BYTES_MAX, HAND_OVER_BYTES_MAX } from './bulkFrame.js';
import { MigrationRefusedError, REFUSED_PREFIX } from './migrationRefusedError.js';

/** What a migration needs from the pod it runs on. */
export interface OutgoingHost {
  /**
   * Starts timing the ops served on `range` (the last one served here is the switch's start) and,
   * with `hotKeys`, sampling their keys; it goes on until the range is given up. A second call
   * for the same migration adds the sampling.
   */
  startSampling(id: string, range: HashRange, hotKeys: boolean): void;
  /** The hottest sampled keys' records as entries (only keys whose hash top word passes `keep`, if given). */
  hotRecords(id: string, keep: ((hi: number) => boolean) | null, limit?: number): Buffer;
  /** Starts recording the slices of the range written behind the pre-copy (until the range is given up). */
  trackWrites(id: string, slices: RangeSlices): WriteTracker;
  /** Stops recording (the migration ended before the transfer). */
  stopTracking(id: string): void;
  /** Whether `range` is owned here exactly, at its view (a split, merge or assignment since changes that). */
  ownsExactly(range: OwnedRange): boolean;
  /** Keys this pod holds in `range` now (engine accounting). */
  keyCount(range: HashRange): number;
  /** Ops served here on `range` so far (-1: not known). */
  servedOps(range: HashRange): number;
  /** From now until the migration ends, replies to clients name `targetAddress` as a pod to connect to (BatchReply.connect_hints). */
  hintClients(targetAddress: string): void;
  /** Every version this pod has given out is below this. */
  versionFloor(): number;
  /** Completion records of the range, as entries. */
  completionEntries(range: HashRange): Buffer;
  /** Where the range is durable here (JSON for the target's manifest); '' when durability is off. */
  durableSources(range: HashRange): string;
  /**
   * Stops serving `range` here at once (synchronously, so no write to it lands after `durableSources`
   * was taken); records the transfer as in doubt (migration `id`), routes the range to the target at
   * `view` in the manifest and waits until this pod's log is durable; returns the routes to hand over.
   */
  giveUp(range: OwnedRange, targetPod: string, targetAddress: string, view: number, id: string, durableSources: string): Promise<object[]>;
  /**
   * Appends the range's live records from `cursor` to `run` (engine layout) until it holds
   * `bytesMax` bytes or the range ends; returns the run so far and the next cursor (SCAN_DONE at the end).
   */
  chunk(range: HashRange, cursor: number, bytesMax: number, run: RecordRun): { records: Buffer; next: number; count: number };
  /**
   * The target confirmed it never took the range and will refuse it: serve it here again at
   * `view`, from this pod's copy, or (`load`: this pod restarted since) from `durableSources`.
   */
  reclaim(range: HashRange, view: number, durableSources: string, load: boolean): Promise<void>;
  /** The transfer's owner is decided: its in-doubt record goes. */
  forgetTransfer(id: string): Promise<void>;
  /** Test seam: waits as long as the pod was told to at this named point (none: at once). */
  faultPoint(name: string): Promise<void>;
  /** The pod is shutting down: loops stop. */
  readonly closed: boolean;
  /** Drops this pod's copy of the range, in slices. */
  dropRange(range: HashRange): Promise<void>;
  nowMs(): number;
  log(message: string, fields: object): void;
}

export interface OutgoingSpec {
  readonly id: string;
  /** The range as the source owns it now (current view). */
  readonly range: OwnedRange;
  readonly targetPod: string;
  readonly targetAddress: string;
  /** 0: unthrottled. */
  readonly throttleBytesPerSecond: number;
  readonly selfPod: string;
  readonly selfAddress: string;
  /** Copy the range while still serving it, before ownership moves (default); false: ownership first, all data after. */
  readonly preCopy: boolean;
  /** Pace the pre-copy to leave the range's op rate at >= 90% of its rate before (copyPacer.ts). */
  readonly yieldToLoad?: boolean;
}

export interface OutgoingPeer {
  call(method: string, request: object, deadlineMs?: number): Promise<Record<string, unknown>>;
  /** This pod's bulk channel listener (docs/migration.md, "Bulk channel"); null/absent: none. */
  readonly bulk?: BulkPeer | null;
}

export interface BulkPeer {
  /** host:port the target connects to. */
  readonly address: string;
  /** The target's connection for a migration, once it says HELLO. */
  expect(migrationId: string, timeoutMs: number): Promise<BulkSender>;
  /** A ReceiveOwnershipRequest as the call would carry it, for the hand-over over the channel. */
  encodeOwnership(request: object): Buffer;
}

/** Hot-key sampling before the transfer; the source serves meanwhile. */
const SAMPLE_MS = 100;
/** How long a source whose transfer broke off keeps asking an unanswering target who owns the range. */
const RESOLVE_WAIT_MS = 120_000;
const RESOLVE_ATTEMPTS_MAX = 1000;
const CHUNK_BYTES_MAX = 256 * 1024;
/**
 * Pre-copy: rounds after the first while what was written behind the last is above this many
 * slices. What is left goes with ownership, and the target drops and installs it inside the owner
 * switch (~1 ms a 100 KB, ~150 slices here): with 1024, switches carried 360-670 KB and gaps were
 * 19-24 ms; with 256, 40-260 KB and 12.3-22.3 ms (unpaced runs, 1M keys, YCSB-A at 70%); 128 gained
 * nothing more (a round is never shorter than its round trips, while the load keeps writing).
 */
const FINAL_SLICES_TARGET = 256;
const PRECOPY_ROUNDS_MAX = 8;
/** A round that leaves more than this share of its predecessor's slices written does not converge: stop. */
const CONVERGENCE_RATIO = 0.7;
/** Pre-copy chunks in flight at once (their keys are disjoint: order does not matter within a round). */
const PRECOPY_IN_FLIGHT_MAX = 3;
/**
 * Pre-copy chunks are larger than MOVE_DATA's: nothing waits for them, and each call costs both
 * pods a gRPC round of their own (stream, headers, a message allocation).
 */
const PRECOPY_CHUNK_BYTES = 1024 * 1024;
/** A pre-copy chunk not acknowledged in this long fails the migration. */
const PRECOPY_CALL_MS = 60_000;
/** The target must have taken ownership within this (the ReceiveOwnership call's deadline, or the hand-over frame's). */
const HAND_OVER_MS = 10_000;
/** After the target said it connected, its HELLO must arrive within this. */
const BULK_HELLO_WAIT_MS = 5_000;
/**
 * After a pre-copy, the hottest records of the pending slices sent with ownership, at most: the
 * source gathers them and the target installs them inside the owner-switch gap (~900 of them took
 * 16 ms and 10 ms there, profiled); the rest of the pending keys follow in MOVE_DATA at once.
 */
const PENDING_HOT_KEYS_MAX = 256;
/** Records of the last written slices sent with ownership; slices past it follow in MOVE_DATA. */
const FINAL_INLINE_BYTES = 1024 * 1024;
/** A chunk is scanned in slices of this size, the event loop free in between. */
const SCAN_SLICE_BYTES = 32 * 1024;
/** Room past a chunk's size for the record that crosses it (larger records grow the run). */
const RUN_SLACK_BYTES = 64 * 1024;

export class OutgoingMigration {
  readonly phase: PhaseMachine;
  recordsMoved = 0;
  bytesMoved = 0;
  /** When this pod served its last op on the range (unix ms, sub-ms resolution; 0: none timed). */
  lastServedAtMs = 0;
  paused = false;
  cancelRequested = false;
  error = '';
  private resumeWaiter: (() => void) | null = null;
  /** Set when this pod stopped serving the range: from then on only the target's answer decides who owns it. */
  private gaveUp = false;
  /** Recreated from the in-doubt record after a restart: this pod holds no copy of the range in memory. */
  private restarted = false;
  private durableSources = '';
  readonly newView: number;
  /** Pre-copy rounds run, and slices whose records follow ownership (MOVE_DATA). */
  preCopyRounds = 0;
  pendingSlices = 0;
  private tracker: WriteTracker | null = null;
  /** The bulk channel to the target during the pre-copy (null: PreCopy calls). */
  private bulkSender: BulkSender | null = null;
  /** How the pre-copy's chunks go: 'bulk', 'calls', or '' (no pre-copy, or not begun). */
  preCopyChannel: '' | 'bulk' | 'calls' = '';
  /** How ownership went: over the bulk channel ("bulk") or a ReceiveOwnership call ("call"); "" before the transfer. */
  handOverChannel: '' | 'bulk' | 'call' = '';
  private readonly preCopyEnabled: boolean;
  /** The range's slices (pre-copy tracking, re-sent and pending slices). */
  private readonly slices: RangeSlices;
  private pacer: CopyPacer | null = null;

  readonly id: string;
  readonly range: OwnedRange;
  readonly targetPod: string;
  readonly targetAddress: string;
  throttleBytesPerSecond: number;
  private readonly selfPod: string;
  private readonly selfAddress: string;

  constructor(spec: OutgoingSpec, private readonly host: OutgoingHost, private readonly peer: OutgoingPeer) {
    ({ id: this.id, range: this.range, targetPod: this.targetPod, targetAddress: this.targetAddress,
      throttleBytesPerSecond: this.throttleBytesPerSecond, selfPod: this.selfPod, selfAddress: this.selfAddress, preCopy: this.preCopyEnabled } = spec);
    this.newView = spec.range.view + 1;
    this.slices = new RangeSlices(spec.range);
    if (spec.yieldToLoad === true) this.pacer = new CopyPacer({ servedOps: () => host.servedOps(spec.range), nowMs: () => host.nowMs() });
    this.phase = new PhaseMachine((from, to) => host.log(`migration ${spec.id}: ${from} -> ${to}`, { migration: spec.id, from, to }), host.nowMs());
  }

  /** Runs to COMPLETE, CANCELLED or FAILED; never rejects. */
  async run(): Promise<void> {
    try {
      if (this.pacer !== null) {
        // The load's rate is measured before anything of the migration starts (clients opening
        // sessions to the target, the target preparing): the pacer's baseline is the undisturbed rate.
        this.host.startSampling(this.id, this.range, false);
        await this.pacer.measureBaseline();
      }
      this.host.hintClients(this.targetAddress);
      await this.prepare();
      if (this.preCopyEnabled) await this.preCopy();
      await this.host.faultPoint('PREPARE');
      if (this.cancelRequested) return this.cancelBeforeTransfer();
      // The bulk channel stays open for the hand-over (transfer), and closes after it.
      const pending = await this.transfer().finally(() => this.closeBulk());
      await (pending === null ? this.moveData() : this.movePending(pending));
      this.phase.transitionTo(['MOVE_DATA'], 'CHECKPOINT', this.host.nowMs());
      await this.host.faultPoint('CHECKPOINT');
      await this.checkpointTarget();
      this.phase.transitionTo(['CHECKPOINT'], 'COMPLETE', this.host.nowMs());
      await this.peer.call('FinishMigration', { migrationId: this.id });
      await this.host.forgetTransfer(this.id);
      await this.host.dropRange(this.range);
    } catch (error) {
      this.error = (error as Error).message;
      this.host.log(`migration ${this.id} failed in ${this.phase.phase}: ${this.error}`, { migration: this.id, error: this.error });
      await this.abort(error instanceof MigrationRefusedError);
    } finally {
      this.closeBulk();
    }
  }

  /**
   * A failure before this pod gave the range up leaves it serving the range: FAILED (also when
   * the target refused the migration at PrepareMigration). After it, the target's answer decides
   * (resolve()). See docs/migration.md, "Failures".
   */
  private async abort(refused: boolean): Promise<void> {
    if (this.phase.finished) return;
    if (!this.gaveUp) {
      this.host.stopTracking(this.id);
      // The target drops what was copied to it (if it is there to hear it; a target that refused
      // the migration holds nothing of it).
      if (this.preCopyEnabled && !refused) await this.peer.call('FinishMigration', { migrationId: this.id }).catch(() => undefined);
      this.phase.transitionTo(['PREPARE', 'TRANSFER_OWNERSHIP'], 'FAILED', this.host.nowMs());
      return;
    }
    await this.resolve();
  }

  /**
   * This pod restarted with the transfer's in-doubt record: it no longer serves the range (its
   * manifest routes it to the target) and asks the target who owns it. Never rejects.
   */
  async resumeInDoubt(durableSources: string): Promise<void> {
    this.gaveUp = true;
    this.restarted = true;
    this.durableSources = durableSources;
    this.phase.transitionTo(['PREPARE'], 'TRANSFER_OWNERSHIP', this.host.nowMs());
    this.error = 'this pod restarted during the transfer';
    await this.resolve();
  }

  /**
   * The range is given up here and the protocol broke off: the target decides. It answers
   * ResolveMigration atomically on its event loop: either it owns the range (it took ownership —
   * it then finishes alone, from this pod's durable files if data was still missing) and the
   * migration rolls forward to COMPLETE, or it never took the range and from now on refuses it,
   * and this pod takes the range back at a new view (ABORTED). A target that does not answer
   * (dead, or not yet restarted) is asked again with backoff; this pod never decides alone,
   * because a live target may be serving the range. After RESOLVE_WAIT_MS the migration goes
   * FAILED "in doubt", the record stays, and the next restart of this pod asks again.
   */
  private async resolve(): Promise<void> {
    const deadline = this.host.nowMs() + RESOLVE_WAIT_MS;
    let delayMs = 50;
    for (let attempt = 0; attempt < RESOLVE_ATTEMPTS_MAX && !this.host.closed; attempt++) {
      let targetOwns: boolean;
      try {
        const reply = await this.peer.call('ResolveMigration', {
          migrationId: this.id, range: rangeToMessage({ ...this.range, view: this.newView }), sourcePod: this.selfPod,
        }, 5000);
        targetOwns = reply.targetOwns === true;
      } catch (error) {
        if (this.host.nowMs() > deadline) break;
        this.host.log(`migration ${this.id}: target did not decide (${(error as Error).message}); asking again in ${delayMs} ms`, { migration: this.id });
        await sleep(delayMs);
        delayMs = Math.min(delayMs * 2, 1000);
        continue;
      }
      try {
        await this.settle(targetOwns);
      } catch (error) {
        this.error += `; settling failed: ${(error as Error).message}`;
        this.phase.transitionTo(['TRANSFER_OWNERSHIP', 'MOVE_DATA', 'CHECKPOINT'], 'FAILED', this.host.nowMs());
      }
      return;
    }
    this.error += '; in doubt: the target never answered (the record stays; the next restart of this pod asks again)';
    this.phase.transitionTo(['TRANSFER_OWNERSHIP', 'MOVE_DATA', 'CHECKPOINT'], 'FAILED', this.host.nowMs());
  }

  private async settle(targetOwns: boolean): Promise<void> {
    const from: MigrationPhase[] = ['TRANSFER_OWNERSHIP', 'MOVE_DATA', 'CHECKPOINT'];
    if (targetOwns) {
      this.phase.transitionTo(from, 'COMPLETE', this.host.nowMs());
      await this.host.forgetTransfer(this.id);
      if (!this.restarted) await this.host.dropRange(this.range);
      return;
    }
    await this.host.reclaim(this.range, this.newView + 1, this.durableSources, this.restarted);
    await this.host.forgetTransfer(this.id);
    this.phase.transitionTo(from, 'ABORTED', this.host.nowMs());
  }

  /** The target checkpoints (the range among its others); a target without durability has nothing to do. */
  private async checkpointTarget(): Promise<void> {
    try {
      await this.peer.call('Checkpoint', {}, 120_000);
    } catch (error) {
      if (!/durability is off/.test((error as Error).message)) throw error;
    }
  }

  private async prepare(): Promise<void> {
    const rangeAtNewView = { ...this.range, view: this.newView };
    const bulk = this.preCopyEnabled ? this.peer.bulk ?? null : null;
    const reply = await this.peer.call('PrepareMigration', {
      migrationId: this.id, range: rangeToMessage(rangeAtNewView), sourcePod: this.selfPod, sourceAddress: this.selfAddress,
      preCopy: this.preCopyEnabled, bulkAddress: bulk?.address ?? '', expectedKeys: String(this.host.keyCount(this.range)),
    }).catch((error: Error & { details?: string }) => {
      throw error.details?.startsWith(REFUSED_PREFIX) === true ? new MigrationRefusedError(`${this.targetPod}: ${error.details}`) : error;
    });
    if (bulk !== null && reply.bulkConnected === true) {
      this.bulkSender = await bulk.expect(this.id, BULK_HELLO_WAIT_MS).catch((error: Error) => {
        this.host.log(`migration ${this.id}: no bulk channel (${error.message}); pre-copy by PreCopy calls`, { migration: this.id, error: error.message });
        return null;
      });
    }
    if (this.preCopyEnabled) this.preCopyChannel = this.bulkSender === null ? 'calls' : 'bulk';
  }

  private closeBulk(): void {
    this.bulkSender?.close();
    this.bulkSender = null;
  }

  /**
   * One pre-copy chunk to the target: over the bulk channel when there is one and the chunk fits a
   * frame, else a PreCopy call. Mixing is safe: a round's chunks hold disjoint slices, and a round
   * ends only when all its chunks are acknowledged.
   */
  private sendPreCopy(records: Buffer, replacedSlices: Buffer): Promise<unknown> {
    const fits = records.length <= FRAME_RECORDS_BYTES_MAX && replacedSlices.length <= FRAME_SLICES_BYTES_MAX;
    if (this.bulkSender !== null && fits) return this.bulkSender.send(this.id, records, replacedSlices, PRECOPY_CALL_MS);
    return this.peer.call('PreCopy', { migrationId: this.id, records, replacedSlices }, PRECOPY_CALL_MS);
  }

  private async cancelBeforeTransfer(): Promise<void> {
    this.host.stopTracking(this.id);
    this.phase.transitionTo(['PREPARE'], 'CANCELLED', this.host.nowMs());
    await this.peer.call('FinishMigration', { migrationId: this.id }).catch(() => undefined);
  }

  /**
   * Pre-copy (docs/migration.md, "Pre-copy"): the whole range goes to the target while this pod
   * still serves it, then, in rounds, the slices written behind the copy, until few enough are
   * left to go with ownership (or the rounds stop converging). Hot-key sampling starts after the
   * first round, so the sampler's cost falls on the short rounds only.
   */
  private async preCopy(): Promise<void> {
    const tracker = this.host.trackWrites(this.id, this.slices);
    this.tracker = tracker;
    this.host.startSampling(this.id, this.range, false);
    let cursor = tracker.bounds.startHi;
    await this.pump(async (run) => {
      const chunk = await this.scanChunk(cursor, run, tracker);
      cursor = chunk.next;
      return chunk;
    }, (chunk) => this.sendPreCopy(chunk.records, EMPTY), PRECOPY_IN_FLIGHT_MAX, PRECOPY_CHUNK_BYTES);
    this.preCopyRounds = 1;
    this.host.startSampling(this.id, this.range, true);
    let previous = Infinity;
    while (!this.cancelRequested && this.preCopyRounds < PRECOPY_ROUNDS_MAX) {
      const written = tracker.writtenSoFar.size;
      if (written <= FINAL_SLICES_TARGET || written > previous * CONVERGENCE_RATIO) break;
      previous = written;
      const slices = [...tracker.nextRound()];
      let at = 0;
      await this.pump(async (run) => {
        const chunk = await this.scanSlices(slices, at, run, tracker);
        at += chunk.slices.length;
        return chunk;
      }, (chunk) => this.sendPreCopy(chunk.records, encodeSlices(chunk.slices)), PRECOPY_IN_FLIGHT_MAX, PRECOPY_CHUNK_BYTES);
      this.preCopyRounds++;
    }
    this.host.log(`migration ${this.id}: pre-copy done`, {
      migration: this.id, rounds: this.preCopyRounds, bytes: this.bytesMoved, slicesWritten: tracker.writtenSoFar.size, pacedMs: this.pacer?.pausedMsTotal ?? 0,
    });
  }

  /**
   * Stops serving the range and hands ownership over. With pre-copy: the slices written since the
   * last round go along (their records, up to FINAL_INLINE_BYTES), and the slices past that
   * bound are named pending; returns those (they follow in MOVE_DATA). Without: returns null.
   */
  private async transfer(): Promise<number[] | null> {
    if (!this.preCopyEnabled) {
      this.host.startSampling(this.id, this.range, true);
      await sleep(SAMPLE_MS);
    }
    this.checkStillOwned();
    this.phase.transitionTo(['PREPARE'], 'TRANSFER_OWNERSHIP', this.host.nowMs());
    const durableSources = this.host.durableSources(this.range);
    this.durableSources = durableSources;
    // From here the source answers WRONG_RANGE for the range: nothing it holds changes any more.
    // Whatever happens next, only the target's answer can give it back (resolve()).
    this.gaveUp = true;
    const startedMs = this.host.nowMs();
    const givenUp = this.host.giveUp(this.range, this.targetPod, this.targetAddress, this.newView, this.id, durableSources);
    const final = this.tracker === null ? null : this.finalSlices(this.tracker);
    const scannedMs = this.host.nowMs();
    this.tracker = null;
    const routes = await givenUp;
    await this.host.faultPoint('TRANSFER_OWNERSHIP');
    const durableMs = this.host.nowMs();
    const entries = this.entriesFor(final);
    this.host.log(`migration ${this.id}: handing over`, {
      migration: this.id, sliceRecordsBytes: final?.records.length ?? 0, replacedSlices: final?.replaced.length ?? 0, pendingSlices: final?.pending.length ?? 0,
      entriesBytes: entries.length, finalScanMs: scannedMs - startedMs, durableMs: durableMs - startedMs, givenUpMs: this.host.nowMs() - startedMs,
    });
    await this.handOver({
      migrationId: this.id, range: rangeToMessage({ ...this.range, view: this.newView }), entries, durableSources, routes,
      versionFloor: String(this.host.versionFloor()), preCopied: final !== null,
      replacedSlices: final === null ? EMPTY : encodeSlices(final.replaced), sliceRecords: final?.records ?? EMPTY,
      pendingSlices: final === null ? EMPTY : encodeSlices(final.pending),
    });
    this.phase.transitionTo(['TRANSFER_OWNERSHIP'], 'MOVE_DATA', this.host.nowMs());
    return final?.pending ?? null;
  }

  /**
   * Sends ownership: over the bulk channel when the pre-copy had one and it still works (one frame
   * on an open connection — parts first when the completion records need more than a frame: no
   * HTTP/2 stream, and the target handles it as soon as its socket is read), else a
   * ReceiveOwnership call. Either way the target runs the same handler, and a failure
   * leaves the transfer in doubt for resolve() to settle.
   */
  private async handOver(request: object): Promise<void> {
    const sender = this.bulkSender;
    const encode = this.peer.bulk?.encodeOwnership;
    if (sender !== null && sender.open && encode !== undefined) {
      const bytes = encode(request);
      if (bytes.length <= HAND_OVER_BYTES_MAX) {
        this.handOverChannel = 'bulk';
        return sender.handOver(this.id, bytes, HAND_OVER_MS);
      }
    }
    this.handOverChannel = 'call';
    await this.peer.call('ReceiveOwnership', request, HAND_OVER_MS);
  }

  /**
   * The range must still be owned here as it was when the migration started: split, merged or
   * assigned away since, giving it up would hand over what this pod no longer serves (or keep
   * serving part of it). Checked just before giving up: the migration fails, and this pod keeps
   * what it owns.
   */
  private checkStillOwned(): void {
    if (this.host.ownsExactly(this.range)) return;
    throw new Error(`range [${this.range.start}, ${this.range.end}) at view ${this.range.view} is no longer owned here as such (split, merged or reassigned since)`);
  }

  /** What the hand-over's entries carry: every completion record of the range, then the hot records (copied together only when there are some). */
  private entriesFor(final: { pending: number[] } | null): Buffer {
    const completions = this.host.completionEntries(this.range);
    const hot = this.hotFor(final);
    return hot.length === 0 ? completions : Buffer.concat([completions, hot]);
  }

  /** The hot records to send: all sampled (no pre-copy), those in pending slices, or none (nothing pending). */
  private hotFor(final: { pending: number[] } | null): Buffer {
    if (final === null) return this.host.hotRecords(this.id, null);
    if (final.pending.length === 0) return EMPTY;
    const pending = new Set(final.pending);
    return this.host.hotRecords(this.id, (hi) => pending.has(this.slices.sliceOf(hi)), PENDING_HOT_KEYS_MAX);
  }

  /**
   * The slices written since the last pre-copy round (the range is no longer served: final): the
   * records of the first ones, up to FINAL_INLINE_BYTES, go with ownership; the rest are pending.
   * Synchronous: scanned while the hand-over's durable writes are under way.
   */
  private finalSlices(tracker: WriteTracker): { replaced: number[]; pending: number[]; records: Buffer } {
    const all = [...tracker.writtenSoFar];
    const run = new RecordRun(FINAL_INLINE_BYTES, RUN_SLACK_BYTES);
    let at = 0;
    for (; at < all.length && run.length < FINAL_INLINE_BYTES; at++) this.scanSlice(all[at], run);
    this.pendingSlices = all.length - at;
    this.recordsMoved += run.records;
    this.bytesMoved += run.length;
    return { replaced: all.slice(0, at), pending: all.slice(at), records: run.view() };
  }

  /** The bulk copy of the whole range (no pre-copy). */
  private async moveData(): Promise<void> {
    let cursor = Number(this.range.start >> 32n);
    await this.pump(async (run) => {
      const chunk = await this.scanChunk(cursor, run, null);
      cursor = chunk.next;
      return chunk;
    }, (chunk) => this.peer.call('MoveData', this.moveDataRequest(chunk, chunk.next), 60_000));
  }

  /** After a pre-copy: the pending slices, in order (each chunk's mark is the next slice's start). */
  private async movePending(pending: number[]): Promise<void> {
    let at = 0;
    await this.pump(async (run) => {
      const chunk = await this.scanSlices(pending, at, run, null);
      at += chunk.slices.length;
      return chunk;
    }, (chunk) => this.peer.call('MoveData', this.moveDataRequest(chunk, chunk.next === SCAN_DONE ? SCAN_DONE : this.slices.startHiOf(pending[chunk.next])), 60_000));
  }

  private moveDataRequest(chunk: Chunk, next: number): object {
    const last = next === SCAN_DONE;
    return { migrationId: this.id, records: chunk.records, sentBelowHi: last ? 0xffff_ffff : next, last };
  }

  /**
   * Sends chunks, at most `inFlightMax` at a time, the next one produced while earlier ones travel
   * and are installed; throttle, pacing and pause apply between chunks. MOVE_DATA sends one at a
   * time (each chunk moves the target's progress mark, so their order matters); pre-copy chunks of
   * one round hold disjoint keys and may overtake each other (a round ends when all are answered).
   * A cancel before the transfer stops it.
   */
  private async pump(produce: (run: RecordRun) => Promise<Chunk>, send: (chunk: Chunk) => Promise<unknown>, inFlightMax = 1,
    chunkBytes = CHUNK_BYTES_MAX): Promise<void> {
    // Runs used in turn: one per chunk in flight and one being scanned (no new external memory
    // per chunk: that churn set off full GCs on the source).
    const runs = Array.from({ length: inFlightMax + 1 }, () => new RecordRun(chunkBytes, RUN_SLACK_BYTES));
    const inFlight: Promise<void>[] = [];
    let failure: unknown = null;
    const drain = async (keep: number): Promise<void> => {
      while (inFlight.length > keep) await inFlight.shift();
      if (failure !== null) throw failure;
    };
    let turn = 0;
    let chunk = await produce(runs[turn]);
    for (;;) {
      await this.whileHeld();
      if (this.cancelRequested && !this.gaveUp) return drain(0);
      const started = this.host.nowMs();
      const sent = chunk;
      inFlight.push(send(sent).then(() => {
        this.recordsMoved += sent.count;
        this.bytesMoved += sent.records.length;
      }, (error: unknown) => {
        failure ??= error;
      }));
      turn = (turn + 1) % runs.length;
      const following = sent.next === SCAN_DONE ? null : await produce(runs[turn]);
      await drain(following === null ? 0 : inFlightMax - 1);
      // Only the first round is paced: later rounds are short, and slowing them lets writes outrun them
      // (tried: pacing every round took 4-5 rounds and left ~4000 slices pending at the switch, gap 60-73 ms).
      if (this.pacer !== null && this.preCopyRounds === 0 && !this.gaveUp) await this.pacer.pace();
      const throttle = this.throttleBytesPerSecond;
      // Unref'd: a long throttle pause must not keep a stopped pod's process alive.
      if (throttle > 0) await sleep(Math.max(0, (sent.records.length / throttle) * 1000 - (this.host.nowMs() - started)), undefined, { ref: false });
      if (following === null) return;
      chunk = following;
    }
  }

  /**
   * Scans the next chunk of the range into `run` a slice at a time, yielding to the event loop
   * between slices: a FetchKeys for an op waiting at the target is answered within a slice, not
   * after a whole chunk. A pre-copy's tracker learns how far the copy got after every step.
   */
  private async scanChunk(cursor: number, run: RecordRun, tracker: WriteTracker | null): Promise<Chunk> {
    run.reset();
    let chunk = this.host.chunk(this.range, cursor, SCAN_SLICE_BYTES, run);
    if (tracker !== null) tracker.copiedBelowHi = copiedBelow(chunk.next);
    while (chunk.next !== SCAN_DONE && run.length < run.chunkBytes) {
      await new Promise((resolve) => setImmediate(resolve));
      chunk = this.host.chunk(this.range, chunk.next, Math.min(run.chunkBytes, run.length + SCAN_SLICE_BYTES), run);
      if (tracker !== null) tracker.copiedBelowHi = copiedBelow(chunk.next);
    }
    return { ...chunk, slices: [] };
  }

  /**
   * Scans whole slices `list[from...]` into `run` until it holds a chunk; `next` is the index in
   * `list` of the first slice not scanned (SCAN_DONE: none left). Yields between scan slices.
   */
  private async scanSlices(list: readonly number[], from: number, run: RecordRun, tracker: WriteTracker | null): Promise<Chunk> {
    run.reset();
    let at = from;
    let sinceYield = 0;
    while (at < list.length && run.length < run.chunkBytes) {
      const before = run.length;
      this.scanSlice(list[at], run);
      at++;
      if (tracker !== null) tracker.nextSlice = list[at - 1] + 1;
      sinceYield += run.length - before + 64;
      if (sinceYield >= SCAN_SLICE_BYTES) {
        sinceYield = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    return { records: run.view(), count: run.records, next: at < list.length ? at : SCAN_DONE, slices: list.slice(from, at) };
  }

  /** Appends every live record of slice `slice` to `run`. */
  private scanSlice(slice: number, run: RecordRun): void {
    const range = this.slices.hashRange(slice, slice + 1);
    this.host.chunk(range, Number(range.start >> 32n), Infinity, run);
  }

  private async whileHeld(): Promise<void> {
    while (this.paused) await new Promise<void>((resolve) => (this.resumeWaiter = resolve));
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.resumeWaiter?.();
    this.resumeWaiter = null;
  }

  /** Cancelling is possible until ownership moves; after that the migration completes (or fails). */
  cancel(): boolean {
    if (this.phase.phase !== 'PREPARE') return false;
    this.cancelRequested = true;
    return true;
  }
}

/** A chunk of records; `next`: where to go on (SCAN_DONE: nothing left); `slices`: the whole slices it holds (slice scans). */
interface Chunk {
  readonly records: Buffer;
  readonly count: number;
  readonly next: number;
  readonly slices: number[];
}

const EMPTY = Buffer.alloc(0);

/** The pre-copy's mark after a scan step that stopped at `next`. */
function copiedBelow(next: number): number {
  return next === SCAN_DONE ? Infinity : next;
}

