// The source's side of a live migration: runs the whole protocol once started (DESIGN.md §6,
// Shadowfax): PREPARE (the target learns the range is coming; the source samples its hottest
// keys) -> TRANSFER_OWNERSHIP (the source stops serving the range, bumps its view, and hands
// ownership, every completion record of the range and the hot records to the target) ->
// MOVE_DATA (the rest, in chunks, throttled, pausable; the target fetches keys it needs sooner)
// -> CHECKPOINT (the target makes the range durable on its own) -> COMPLETE (the source drops
// its copy). See docs/migration.md.

import type { HashRange } from '../../proto/keyspace/range.js';
import { SCAN_DONE } from '../store/index.js';
import type { OwnedRange } from '../ranges/ownedRanges.js';
import { PhaseMachine, type MigrationPhase } from './migrationPhase.js';
import { RecordRun } from './recordRun.js';
import { rangeToMessage } from '../../proto/messages.js';

/** What a migration needs from the pod it runs on. */
export interface OutgoingHost {
  /** Samples ops on `range` for `durationMs`; returns the hottest keys' records as entries. */
  sampleHotRecords(id: string, range: HashRange, durationMs: number): Promise<Buffer>;
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
}

export interface OutgoingPeer {
  call(method: string, request: object, deadlineMs?: number): Promise<Record<string, unknown>>;
}

/** Hot-key sampling before the transfer; the source serves meanwhile. */
const SAMPLE_MS = 100;
/** How long a source whose transfer broke off keeps asking an unanswering target who owns the range. */
const RESOLVE_WAIT_MS = 120_000;
const RESOLVE_ATTEMPTS_MAX = 1000;
const CHUNK_BYTES_MAX = 256 * 1024;
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

  readonly id: string;
  readonly range: OwnedRange;
  readonly targetPod: string;
  readonly targetAddress: string;
  throttleBytesPerSecond: number;
  private readonly selfPod: string;
  private readonly selfAddress: string;

  constructor(spec: OutgoingSpec, private readonly host: OutgoingHost, private readonly peer: OutgoingPeer) {
    ({ id: this.id, range: this.range, targetPod: this.targetPod, targetAddress: this.targetAddress,
      throttleBytesPerSecond: this.throttleBytesPerSecond, selfPod: this.selfPod, selfAddress: this.selfAddress } = spec);
    this.newView = spec.range.view + 1;
    this.phase = new PhaseMachine((from, to) => host.log(`migration ${spec.id}: ${from} -> ${to}`, { migration: spec.id, from, to }), host.nowMs());
  }

  /** Runs to COMPLETE, CANCELLED or FAILED; never rejects. */
  async run(): Promise<void> {
    try {
      await this.prepare();
      await this.host.faultPoint('PREPARE');
      if (this.cancelRequested) return this.cancelBeforeTransfer();
      await this.transfer();
      await this.moveData();
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
      await this.abort();
    }
  }

  /**
   * A failure before this pod gave the range up leaves it serving the range: FAILED. After it,
   * the target's answer decides (resolve()). See docs/migration.md, "Failures".
   */
  private async abort(): Promise<void> {
    if (this.phase.finished) return;
    if (!this.gaveUp) {
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
    await this.peer.call('PrepareMigration', {
      migrationId: this.id, range: rangeToMessage(rangeAtNewView), sourcePod: this.selfPod, sourceAddress: this.selfAddress,
    });
  }

  private async cancelBeforeTransfer(): Promise<void> {
    this.phase.transitionTo(['PREPARE'], 'CANCELLED', this.host.nowMs());
    await this.peer.call('FinishMigration', { migrationId: this.id }).catch(() => undefined);
  }

  private async transfer(): Promise<void> {
    const hot = await this.host.sampleHotRecords(this.id, this.range, SAMPLE_MS);
    this.phase.transitionTo(['PREPARE'], 'TRANSFER_OWNERSHIP', this.host.nowMs());
    const durableSources = this.host.durableSources(this.range);
    this.durableSources = durableSources;
    // From here the source answers WRONG_RANGE for the range: nothing it holds changes any more.
    // Whatever happens next, only the target's answer can give it back (resolve()).
    this.gaveUp = true;
    const routes = await this.host.giveUp(this.range, this.targetPod, this.targetAddress, this.newView, this.id, durableSources);
    await this.host.faultPoint('TRANSFER_OWNERSHIP');
    const entries = Buffer.concat([this.host.completionEntries(this.range), hot]);
    await this.peer.call('ReceiveOwnership', {
      migrationId: this.id, range: rangeToMessage({ ...this.range, view: this.newView }), entries, durableSources, routes,
      versionFloor: String(this.host.versionFloor()),
    });
    this.phase.transitionTo(['TRANSFER_OWNERSHIP'], 'MOVE_DATA', this.host.nowMs());
  }

  /**
   * The bulk copy: one chunk in flight at a time (the target relies on their order: each moves the
   * progress mark), the next one scanned while the previous travels and is installed.
   */
  private async moveData(): Promise<void> {
    // Two runs, used in turn: one is in flight while the next is scanned into the other (no new
    // external memory per chunk: that churn set off full GCs on the source).
    const runs = [new RecordRun(CHUNK_BYTES_MAX + RUN_SLACK_BYTES), new RecordRun(CHUNK_BYTES_MAX + RUN_SLACK_BYTES)];
    let turn = 0;
    let chunk = await this.scanChunk(Number(this.range.start >> 32n), runs[turn]);
    for (;;) {
      await this.whileHeld();
      const started = this.host.nowMs();
      const last = chunk.next === SCAN_DONE;
      const sent = this.peer.call('MoveData', { migrationId: this.id, records: chunk.records, sentBelowHi: last ? 0xffff_ffff : chunk.next, last }, 60_000);
      // The range no longer changes here (given up): scanning ahead reads what the target will get.
      turn ^= 1;
      const [, following] = await Promise.all([sent, last ? null : this.scanChunk(chunk.next, runs[turn])]);
      this.recordsMoved += chunk.count;
      this.bytesMoved += chunk.records.length;
      const throttle = this.throttleBytesPerSecond;
      if (throttle > 0) await sleep(Math.max(0, (chunk.records.length / throttle) * 1000 - (this.host.nowMs() - started)));
      if (following === null) return;
      chunk = following;
    }
  }

  /**
   * Scans the next chunk into `run` a slice at a time, yielding to the event loop between slices:
   * a FetchKeys for an op waiting at the target is answered within a slice, not after a whole chunk.
   */
  private async scanChunk(cursor: number, run: RecordRun): Promise<{ records: Buffer; next: number; count: number }> {
    run.reset();
    let chunk = this.host.chunk(this.range, cursor, SCAN_SLICE_BYTES, run);
    while (chunk.next !== SCAN_DONE && run.length < CHUNK_BYTES_MAX) {
      await new Promise((resolve) => setImmediate(resolve));
      chunk = this.host.chunk(this.range, chunk.next, Math.min(CHUNK_BYTES_MAX, run.length + SCAN_SLICE_BYTES), run);
    }
    return chunk;
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
