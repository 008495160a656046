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
import { PhaseMachine } from './migrationPhase.js';
import { rangeToMessage } from '../../proto/messages.js';

/** What a migration needs from the pod it runs on. */
export interface OutgoingHost {
  /** Samples ops on `range` for `durationMs`; returns the hottest keys' records as entries. */
  sampleHotRecords(range: HashRange, durationMs: number): Promise<Buffer>;
  /** Every version this pod has given out is below this. */
  versionFloor(): number;
  /** Completion records of the range, as entries. */
  completionEntries(range: HashRange): Buffer;
  /** Where the range is durable here (JSON for the target's manifest); '' when durability is off. */
  durableSources(range: HashRange): string;
  /** Stops serving `range` here; routes it to the target at `view`; returns the routes to hand over. */
  giveUp(range: OwnedRange, targetPod: string, targetAddress: string, view: number): Promise<object[]>;
  /** One chunk of the range's records from `cursor`: entries and the next cursor (SCAN_DONE at the end). */
  chunk(range: HashRange, cursor: number, bytesMax: number): { entries: Buffer; next: number; records: number };
  /**
   * The target failed after taking the range: serve it here again at `view`, with the writes the
   * target accepted (its log from `targetWalLsn`) replayed over this pod's copy.
   */
  takeBack(range: HashRange, view: number, targetPod: string, targetWalLsn: number, durableSources: string): Promise<void>;
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

const SAMPLE_MS = 20;
const CHUNK_BYTES_MAX = 256 * 1024;

export class OutgoingMigration {
  readonly phase: PhaseMachine;
  recordsMoved = 0;
  bytesMoved = 0;
  paused = false;
  cancelRequested = false;
  error = '';
  private resumeWaiter: (() => void) | null = null;
  /** Known once the target took ownership. */
  private targetWalLsn = -1;
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
      if (this.cancelRequested) return this.cancelBeforeTransfer();
      await this.transfer();
      await this.moveData();
      this.phase.transitionTo(['MOVE_DATA'], 'CHECKPOINT', this.host.nowMs());
      await this.checkpointTarget();
      this.phase.transitionTo(['CHECKPOINT'], 'COMPLETE', this.host.nowMs());
      await this.peer.call('FinishMigration', { migrationId: this.id });
      await this.host.dropRange(this.range);
    } catch (error) {
      this.error = (error as Error).message;
      this.host.log(`migration ${this.id} failed in ${this.phase.phase}: ${this.error}`, { migration: this.id, error: this.error });
      await this.abort();
    }
  }

  /**
   * After ownership moved and before COMPLETE, a failure gives the range back to the source at
   * a new view, with what the target accepted (DESIGN.md §6). Before it, nothing moved: FAILED.
   */
  private async abort(): Promise<void> {
    if (this.phase.finished) return;
    const tookOwnership = this.targetWalLsn >= 0 && ['MOVE_DATA', 'CHECKPOINT'].includes(this.phase.phase);
    if (!tookOwnership) {
      this.phase.transitionTo(['PREPARE', 'TRANSFER_OWNERSHIP'], 'FAILED', this.host.nowMs());
      return;
    }
    try {
      await this.host.takeBack(this.range, this.newView + 1, this.targetPod, this.targetWalLsn, this.durableSources);
      this.phase.transitionTo(['MOVE_DATA', 'CHECKPOINT'], 'ABORTED', this.host.nowMs());
    } catch (error) {
      this.error += `; taking the range back failed: ${(error as Error).message}`;
      this.phase.transitionTo(['MOVE_DATA', 'CHECKPOINT'], 'FAILED', this.host.nowMs());
    }
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
    const hot = await this.host.sampleHotRecords(this.range, SAMPLE_MS);
    this.phase.transitionTo(['PREPARE'], 'TRANSFER_OWNERSHIP', this.host.nowMs());
    const durableSources = this.host.durableSources(this.range);
    this.durableSources = durableSources;
    // From here the source answers WRONG_RANGE for the range: nothing it holds changes any more.
    const routes = await this.host.giveUp(this.range, this.targetPod, this.targetAddress, this.newView);
    const entries = Buffer.concat([this.host.completionEntries(this.range), hot]);
    const ack = await this.peer.call('ReceiveOwnership', {
      migrationId: this.id, range: rangeToMessage({ ...this.range, view: this.newView }), entries, durableSources, routes,
      versionFloor: String(this.host.versionFloor()),
    });
    this.targetWalLsn = Number(ack.walLsn ?? 0);
    this.phase.transitionTo(['TRANSFER_OWNERSHIP'], 'MOVE_DATA', this.host.nowMs());
  }

  private async moveData(): Promise<void> {
    let cursor = Number(this.range.start >> 32n);
    let last = false;
    while (!last) {
      await this.whileHeld();
      const started = this.host.nowMs();
      const { entries, next, records } = this.host.chunk(this.range, cursor, CHUNK_BYTES_MAX);
      this.recordsMoved += records;
      last = next === SCAN_DONE;
      cursor = next;
      await this.peer.call('MoveData', { migrationId: this.id, entries, sentBelowHi: last ? 0xffff_ffff : next, last }, 60_000);
      this.bytesMoved += entries.length;
      const throttle = this.throttleBytesPerSecond;
      if (throttle > 0) await sleep(Math.max(0, (entries.length / throttle) * 1000 - (this.host.nowMs() - started)));
    }
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
