// Runs the ops of one batch against the engine: range and view check, exactly-once bookkeeping,
// the engine call, the result. This is the one place where engine statuses become wire
// statuses. No gRPC here: the session layer hands in an opened BatchReader and a begun
// ResultWriter, which keeps this testable op by op.

import { KeyHasher } from '../../proto/keyspace/hash.js';
import type { RouteTable } from '../../proto/keyspace/routes.js';
import { BatchReader, Opcode, ResultWriter, WireDetail, WireStatus } from '../../proto/wire/index.js';
import { RangeCheck, type OwnedRanges } from '../ranges/ownedRanges.js';
import { RiflCheck, type ClientState, type ClientTable } from '../rifl/clientTable.js';
import { ErrorDetail, Status, recordBytes, type Store } from '../store/index.js';
import { assert } from '../store/assert.js';
import { WalEntryKind } from '../durability/walEntry.js';
import type { WalWriter } from '../durability/walWriter.js';
import type { Migrations } from '../migration/migrations.js';
import type { ArrivingRange } from '../ranges/ownedRanges.js';
import { boundsContain } from '../../proto/keyspace/range.js';

// The engine's ErrorDetail values travel as WireDetail values (detailOf below): they must agree.
assert([
  [ErrorDetail.KEY_EMPTY, WireDetail.KEY_EMPTY], [ErrorDetail.KEY_TOO_LARGE, WireDetail.KEY_TOO_LARGE],
  [ErrorDetail.VALUE_TOO_LARGE, WireDetail.VALUE_TOO_LARGE], [ErrorDetail.VALUE_NOT_INTEGER, WireDetail.VALUE_NOT_INTEGER],
  [ErrorDetail.INCREMENT_OVERFLOW, WireDetail.INCREMENT_OVERFLOW], [ErrorDetail.DELTA_NOT_SAFE_INTEGER, WireDetail.DELTA_NOT_SAFE_INTEGER],
  [ErrorDetail.VERSION_INVALID, WireDetail.VERSION_INVALID], [ErrorDetail.LOG_FULL, WireDetail.LOG_FULL],
  [ErrorDetail.INDEX_FULL, WireDetail.INDEX_FULL],
].every(([engine, wire]) => (engine as number) === (wire as number)), 'engine and wire error details agree');

/** Bytes of the largest result a mutation can save (INCR_BY: 4 common + 8 version + 8 value). */
const MUTATION_RESULT_BYTES_MAX = 20;

export interface ExecutorContext {
  readonly store: Store;
  readonly ranges: OwnedRanges;
  readonly clients: ClientTable;
  /** The cluster routing table, to name the owner in WRONG_RANGE; null before the first assignment. */
  readonly routes: () => RouteTable | null;
  /** This pod's client address, named as owner when only the view was wrong. */
  readonly selfAddress: () => string;
  /** The write-ahead log every mutation and completion record goes to; null when durability is off. */
  readonly wal: () => WalWriter | null;
  /** False while the pod is self-fenced (dataplane/lease): every op gets UNAVAILABLE and nothing runs. Absent: serving. */
  readonly serving?: () => boolean;
  /** Live migration (dataplane/migration): hot-key sampling on the source, key fetching on the target. */
  readonly migrations?: Migrations;
}

/** opCounts index: opcode * STATUS_SLOTS + wire status. */
export const STATUS_SLOTS = 16;

export class BatchExecutor {
  private readonly hasher = new KeyHasher();
  /** Ops answered, by opcode and wire status (metrics read these). */
  readonly opCounts = new Float64Array(8 * STATUS_SLOTS);

  constructor(private readonly context: ExecutorContext) {}

  /**
   * Runs the ops of `reader` for `client` — all of them, or those whose index is in `only` —
   * except those in `skip`, writing one result per op run into `writer`, in op order.
   */
  run(reader: BatchReader, client: ClientState, writer: ResultWriter, only: ReadonlySet<number> | null = null, skip: ReadonlySet<number> | null = null): void {
    if (this.context.serving?.() === false) {
      this.refuseAll(reader, writer, only, skip);
      return;
    }
    const { clients } = this.context;
    clients.renew(client);
    if (Number.isSafeInteger(reader.firstIncompleteSeq) && clients.acknowledge(client, reader.firstIncompleteSeq)) {
      this.context.wal()?.appendAck(clients.ackPayload(client));
    }
    for (let index = 0; reader.next(); index++) {
      if (!included(index, only, skip)) continue;
      this.runOp(reader, client, writer);
      this.opCounts[reader.opcode * STATUS_SLOTS + writer.lastStatus]++;
    }
  }

  /**
   * Target of a live migration: the ops (all, or those in `only`) whose keys have not arrived
   * yet, each with the promise of its key's arrival (asked for now), and the ops at the new view
   * of a range whose ownership is on its way, with the promise of its arrival; in op order; null
   * when none (the batch can run now). The reader is left rewound.
   */
  deferredOps(reader: BatchReader, only: ReadonlySet<number> | null = null): DeferredOp[] | null {
    const preparing = (this.context.migrations?.preparingCount ?? 0) > 0;
    if (this.context.ranges.arrivingCount === 0 && !preparing) return null;
    const deferred: DeferredOp[] = [];
    const wanted = new Map<ArrivingRange, { indexes: number[]; keys: Buffer[] }>();
    for (let index = 0; reader.next(); index++) {
      if (reader.opDetail === WireDetail.NONE && included(index, only, null)) this.deferOp(reader, index, preparing, deferred, wanted);
    }
    reader.rewind();
    for (const [range, { indexes, keys }] of wanted) {
      const arrivals = range.arrivals(keys);
      indexes.forEach((index, i) => deferred.push({ index, arrival: arrivals[i] }));
    }
    return deferred.length === 0 ? null : deferred.sort((a, b) => a.index - b.index);
  }

  /** Adds the op at the reader to `deferred` (waiting for ownership) or `wanted` (its key must be fetched) if it must wait. */
  private deferOp(reader: BatchReader, index: number, preparing: boolean, deferred: DeferredOp[],
    wanted: Map<ArrivingRange, { indexes: number[]; keys: Buffer[] }>): void {
    this.hasher.hashKey(reader.frame, reader.keyOffset, reader.keyLength);
    const { hi, lo } = this.hasher;
    const ownership = preparing ? this.context.migrations!.awaitingOwnership(hi, lo, reader.view) : null;
    if (ownership !== null) {
      deferred.push({ index, arrival: ownership });
      return;
    }
    const arriving = this.context.ranges.arrivingAt(hi, lo, reader.view);
    if (arriving === null || !arriving.needsFetch(hi, reader.frame, reader.keyOffset, reader.keyLength)) return;
    const entry = wanted.get(arriving) ?? { indexes: [], keys: [] };
    entry.indexes.push(index);
    entry.keys.push(Buffer.from(reader.frame.subarray(reader.keyOffset, reader.keyOffset + reader.keyLength)));
    wanted.set(arriving, entry);
  }

  /** Self-fenced: every op is answered UNAVAILABLE (retryable) and none runs, not even the RIFL acknowledgement. */
  private refuseAll(reader: BatchReader, writer: ResultWriter, only: ReadonlySet<number> | null, skip: ReadonlySet<number> | null): void {
    for (let index = 0; reader.next(); index++) {
      if (!included(index, only, skip)) continue;
      writer.status(WireStatus.UNAVAILABLE, reader.opcode);
      this.opCounts[reader.opcode * STATUS_SLOTS + writer.lastStatus]++;
    }
  }

  private runOp(op: BatchReader, client: ClientState, writer: ResultWriter): void {
    if (op.opDetail !== WireDetail.NONE) {
      writer.status(WireStatus.INVALID_ARGUMENT, op.opcode, op.opDetail);
      return;
    }
    this.hasher.hashKey(op.frame, op.keyOffset, op.keyLength);
    const check = this.context.ranges.check(this.hasher.hi, this.hasher.lo, op.view);
    if (check === RangeCheck.RECOVERING) {
      writer.status(WireStatus.UNAVAILABLE, op.opcode);
      return;
    }
    if (check !== RangeCheck.SERVE) {
      this.wrongRange(op.opcode, check, writer);
      return;
    }
    if (this.context.migrations !== undefined) this.timeMigratingOp(op);
    if (op.opcode === Opcode.GET) {
      this.get(op, writer);
      return;
    }
    this.mutate(op, client, writer);
  }

  /**
   * Live migration: a served mutation in a range being pre-copied is marked (its slice is copied
   * again); a served op in a range about to leave feeds the hot-key sampler and times the last op
   * served here; the first op served in an arriving range is timed (the owner-switch gap).
   */
  private timeMigratingOp(op: BatchReader): void {
    const migrations = this.context.migrations!;
    if (migrations.trackers.length > 0 && op.opcode !== Opcode.GET) migrations.markWritten(this.hasher.hi, this.hasher.lo);
    const sampling = migrations.sampling;
    if (sampling !== null && boundsContain(sampling.bounds, this.hasher.hi, this.hasher.lo)) {
      sampling.sampler?.observe(op.frame, op.keyOffset, op.keyLength, this.hasher.hi);
      sampling.lastServedAtMs = performance.timeOrigin + performance.now();
    }
    const timing = this.context.ranges.servedTiming();
    if (timing !== null && timing.firstServedAtMs === 0) timing.firstServedAtMs = performance.timeOrigin + performance.now();
  }

  private wrongRange(opcode: Opcode, check: RangeCheck, writer: ResultWriter): void {
    if (check === RangeCheck.WRONG_VIEW) {
      writer.wrongRange(opcode, this.context.ranges.currentView, this.context.selfAddress());
      return;
    }
    const route = this.context.routes()?.find(this.hasher.hi, this.hasher.lo);
    writer.wrongRange(opcode, route?.view ?? 0, route?.address ?? '');
  }

  private get(op: BatchReader, writer: ResultWriter): void {
    const store = this.context.store;
    const status = store.get(op.frame, op.keyOffset, op.keyLength);
    if (status === Status.OK) writer.value(store.resultVersion, store.resultBytes, store.resultValueOffset, store.resultValueLength);
    else writer.status(wireStatusOf(status), Opcode.GET, detailOf(status, store));
  }

  private mutate(op: BatchReader, client: ClientState, writer: ResultWriter): void {
    const { clients, store } = this.context;
    switch (clients.check(client, op.seq)) {
      case RiflCheck.DUPLICATE:
        this.answerDuplicate(op.opcode, writer);
        return;
      case RiflCheck.EXPIRED:
        writer.status(WireStatus.SESSION_EXPIRED, op.opcode);
        return;
      case RiflCheck.STALE:
        writer.status(WireStatus.INVALID_ARGUMENT, op.opcode, WireDetail.SEQUENCE_STALE);
        return;
      case RiflCheck.WINDOW_FULL:
        writer.status(WireStatus.OVERLOADED, op.opcode);
        return;
      case RiflCheck.NEW:
        break;
    }
    // The mutation and its completion record go in back to back, or not at all.
    const completionBytes = recordBytes(op.keyLength, clients.completionPayloadBytes(MUTATION_RESULT_BYTES_MAX));
    if (store.ensureSpace(recordBytes(op.keyLength, op.valueLength) + completionBytes) !== Status.OK) {
      writer.status(WireStatus.OUT_OF_MEMORY, op.opcode, store.errorDetail as number as WireDetail);
      return;
    }
    const start = writer.byteLength;
    const status = this.apply(op, writer);
    // An op that ran to a result is complete and its result is saved; one that could not run
    // (out of memory, corrupt data) may be retried and run later.
    if (status === Status.OUT_OF_MEMORY || status === Status.CORRUPT) return;
    const wal = this.context.wal();
    // Where the new value is, read before the completion record is appended (no cleaning runs
    // in between: space for both was ensured above).
    const fromFrame = op.opcode === Opcode.PUT || op.opcode === Opcode.PUT_IF_VERSION;
    const valueBytes = fromFrame ? op.frame : store.resultBytes;
    const valueOffset = fromFrame ? op.valueOffset : store.resultValueOffset;
    const valueLength = fromFrame ? op.valueLength : store.resultValueLength;
    const version = store.resultVersion;
    clients.record(client, op.seq, op.frame, op.keyOffset, op.keyLength, writer, start);
    if (wal !== null) this.log(wal, op, status, valueBytes, valueOffset, valueLength, version);
  }

  /** The mutation's effect and its completion record, as one log entry. */
  private log(wal: WalWriter, op: BatchReader, status: Status, valueBytes: Uint8Array, valueOffset: number, valueLength: number,
    version: number): void {
    const { clients, store } = this.context;
    const completion = clients.lastPayload;
    const completionLength = clients.lastPayloadLength;
    if (status !== Status.OK) {
      wal.appendKeyOnly(WalEntryKind.COMPLETION, op.frame, op.keyOffset, op.keyLength, 0, completion, completionLength);
    } else if (op.opcode === Opcode.DELETE || op.opcode === Opcode.DELETE_IF_VERSION) {
      wal.appendKeyOnly(WalEntryKind.DELETE, op.frame, op.keyOffset, op.keyLength, store.versionNow, completion, completionLength);
    } else {
      wal.appendPut(op.frame, op.keyOffset, op.keyLength, valueBytes, valueOffset, valueLength, version, completion, completionLength);
    }
  }

  /** Runs one mutation in the engine and writes its result; returns the engine status. */
  private apply(op: BatchReader, writer: ResultWriter): Status {
    const store = this.context.store;
    const f = op.frame;
    let status: Status;
    switch (op.opcode) {
      case Opcode.PUT:
        status = store.put(f, op.keyOffset, op.keyLength, f, op.valueOffset, op.valueLength);
        break;
      case Opcode.PUT_IF_VERSION:
        status = store.putIfVersion(f, op.keyOffset, op.keyLength, f, op.valueOffset, op.valueLength, op.expectedVersion);
        break;
      case Opcode.DELETE:
        status = store.delete(f, op.keyOffset, op.keyLength);
        break;
      case Opcode.DELETE_IF_VERSION:
        status = store.deleteIfVersion(f, op.keyOffset, op.keyLength, op.expectedVersion);
        break;
      default:
        status = store.incrBy(f, op.keyOffset, op.keyLength, op.delta);
        if (status === Status.OK) {
          writer.integer(store.resultVersion, store.resultInteger);
          return status;
        }
    }
    this.writeMutationResult(op.opcode, status, writer);
    return status;
  }

  private writeMutationResult(opcode: Opcode, status: Status, writer: ResultWriter): void {
    const store = this.context.store;
    if (status === Status.OK) {
      const deletes = opcode === Opcode.DELETE || opcode === Opcode.DELETE_IF_VERSION;
      writer.written(opcode, deletes ? 0 : store.resultVersion);
    } else if (status === Status.VERSION_MISMATCH) {
      writer.versionMismatch(opcode, store.resultVersion);
    } else {
      writer.status(wireStatusOf(status), opcode, detailOf(status, store));
    }
  }

  private answerDuplicate(opcode: Opcode, writer: ResultWriter): void {
    const { clients, store } = this.context;
    if (clients.loadSavedResult() !== Status.OK) {
      writer.status(WireStatus.CORRUPT, opcode);
      return;
    }
    writer.raw(store.resultBytes, store.resultValueOffset, store.resultValueLength);
  }
}

/** An op of a batch on a migrating key that has not arrived: it runs once `arrival` settles. */
export interface DeferredOp {
  readonly index: number;
  readonly arrival: Promise<void>;
}

function included(index: number, only: ReadonlySet<number> | null, skip: ReadonlySet<number> | null): boolean {
  return (only === null || only.has(index)) && (skip === null || !skip.has(index));
}

/** Engine status to wire status: the one place they meet. */
function wireStatusOf(status: Status): WireStatus {
  switch (status) {
    case Status.OK: return WireStatus.OK;
    case Status.NOT_FOUND: return WireStatus.NOT_FOUND;
    case Status.VERSION_MISMATCH: return WireStatus.VERSION_MISMATCH;
    case Status.OUT_OF_MEMORY: return WireStatus.OUT_OF_MEMORY;
    case Status.INVALID_ARGUMENT: return WireStatus.INVALID_ARGUMENT;
    case Status.CORRUPT: return WireStatus.CORRUPT;
  }
}

/** The engine's ErrorDetail values are the wire's WireDetail values (proto/wire/codes.ts). */
function detailOf(status: Status, store: Store): WireDetail {
  return status === Status.INVALID_ARGUMENT || status === Status.OUT_OF_MEMORY ? (store.errorDetail as number as WireDetail) : WireDetail.NONE;
}
