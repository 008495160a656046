// One session to one pod (DESIGN.md §4): a KV.Session stream carrying batches. Ops queue until
// the end of the current tick (or until a batch is full), then go out as one batch; up to
// batchesInFlightMax batches are in flight. Replies are matched by batch id: a pod may answer a
// batch in parts (partial replies, docs/wire-format.md), e.g. while some of its keys are migrating.

import * as grpc from '@grpc/grpc-js';
import { slicekvServices } from '../proto/grpcDefinition.js';
import type { BatchMessage, SessionReplyMessage } from '../proto/messages.js';
import { BatchWriter, DEFAULT_FRAME_LIMITS, FRAME_FORMAT_VERSION, ResultReader, type FrameLimits } from '../proto/wire/index.js';
import type { PendingOp } from './pendingOp.js';

/** What a session needs from its client. */
export interface SessionOwner {
  readonly clientId: Buffer;
  readonly zone: string;
  firstIncomplete(): number;
  /** A result for `op` is in `reader`. */
  onResult(op: PendingOp, reader: ResultReader): void;
  /** The batch holding these ops was refused as a whole (status name, message). */
  onBatchRefused(ops: PendingOp[], status: string, message: string): void;
  /** The pod refused our client id (its lease expired there). */
  onSessionExpired(): void;
  /** The stream failed or closed; these ops got no answer. */
  onSessionLost(session: ClientSession, ops: PendingOp[]): void;
  /** A pod says ops may soon be sent to `address` (BatchReply.connect_hints): connect ahead. */
  onConnectHint(address: string): void;
}

type Duplex = grpc.ClientDuplexStream<{ open?: object; batch?: BatchMessage }, SessionReplyMessage>;

const DEFAULT_BATCHES_IN_FLIGHT_MAX = 64;
const FRAMES_PER_FLUSH = 4;
const FRAME_OPS_MIN = 16;

export class ClientSession {
  private readonly stream: Duplex;
  private writer: BatchWriter;
  private readonly reader = new ResultReader();
  private readonly queue: PendingOp[] = [];
  /** Batches sent and not fully answered: their ops, null once answered. */
  private readonly inFlight = new Map<string, { ops: (PendingOp | null)[]; unanswered: number }>();
  private limits: FrameLimits = DEFAULT_FRAME_LIMITS;
  private batchesInFlightMax = DEFAULT_BATCHES_IN_FLIGHT_MAX;
  /**
   * Frames a tick's ops are split into. A pod whose replies wait for fsync (--wal sync) gets one:
   * each frame there may cost a disk flush. SDK put loop at depth 64 against such a pod, quiet VM:
   * 97-105k ops/s with one frame per tick, 80k with four.
   */
  private framesPerFlush = FRAMES_PER_FLUSH;
  private opened = false;
  private closed = false;
  private flushScheduled = false;
  private nextBatchId = 1;

  constructor(readonly address: string, private readonly owner: SessionOwner, channel: grpc.Client) {
    this.writer = new BatchWriter(this.limits);
    const kv = channel as unknown as { Session(): Duplex };
    this.stream = kv.Session();
    this.stream.on('data', (reply: SessionReplyMessage) => this.onReply(reply));
    this.stream.on('error', (error: grpc.ServiceError) => {
      if (error.code === grpc.status.FAILED_PRECONDITION && /SESSION_EXPIRED/.test(error.details)) this.owner.onSessionExpired();
      this.lost();
    });
    this.stream.on('end', () => this.lost());
    this.stream.write({ open: { clientId: owner.clientId, zone: owner.zone, frameFormatVersion: FRAME_FORMAT_VERSION, partialReplies: true } });
  }

  static channelFor(address: string): grpc.Client {
    return new (slicekvServices().KV)(address, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
      'grpc.keepalive_time_ms': 30_000,
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  enqueue(op: PendingOp): void {
    this.queue.push(op);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * An op re-routed here (a WRONG_RANGE named this pod): sent as soon as the reply being handled
   * is done (a microtask, so the reply's other re-routed ops share its batch), not at the next
   * check phase. At an owner switch the client's loop is busy with the old owner's WRONG_RANGE
   * replies, and a tick's wait there adds to the time nobody serves the range.
   */
  enqueueSoon(op: PendingOp): void {
    this.queue.push(op);
    if (this.flushSoon) return;
    this.flushSoon = true;
    queueMicrotask(() => {
      this.flushSoon = false;
      this.flush();
    });
  }

  private flushSoon = false;

  close(): void {
    if (this.closed) return;
    this.stream.end();
    this.lost();
  }

  /**
   * Sends what queued up during the tick, split into about FRAMES_PER_FLUSH frames (at least
   * FRAME_OPS_MIN ops each) so several are in flight: the pod works on one while the client
   * handles the reply to another. One frame per tick left client and pod taking turns, each idle
   * half the time: 64 outstanding ops as 4 frames of 16 ran YCSB-B at ~1.5x the ops/s of one
   * frame of 64 (bench/ycsb.bench.ts --smoke, this VM).
   */
  private flush(): void {
    this.flushScheduled = false;
    if (!this.opened || this.closed) return;
    const opsPerFrame = Math.max(FRAME_OPS_MIN, Math.ceil(this.queue.length / this.framesPerFlush));
    while (this.queue.length > 0 && this.inFlight.size < this.batchesInFlightMax) this.sendBatch(opsPerFrame);
  }

  private sendBatch(opsMax: number): void {
    const ops: PendingOp[] = [];
    this.writer.begin(this.owner.firstIncomplete());
    while (this.queue.length > 0 && ops.length < opsMax) {
      const op = this.queue[0];
      if (!this.writer.fits(op.opcode, op.key.length, op.valueLength)) break;
      op.writeTo(this.writer);
      ops.push(op);
      this.queue.shift();
    }
    if (ops.length === 0) {
      // Larger than a whole batch: the pod would refuse it anyway.
      const op = this.queue.shift();
      if (op !== undefined) this.owner.onBatchRefused([op], 'BATCH_MALFORMED', 'op does not fit in one batch');
      return;
    }
    const id = String(this.nextBatchId++);
    this.inFlight.set(id, { ops, unanswered: ops.length });
    this.stream.write({ batch: { batchId: id, ops: Buffer.from(this.writer.finish()) } });
  }

  private onReply(reply: SessionReplyMessage): void {
    if (reply.opened) {
      this.opened = true;
      this.limits = {
        keyLengthMax: reply.opened.keyLengthMax, valueLengthMax: reply.opened.valueLengthMax,
        opCountMax: reply.opened.batchOpsMax, frameBytesMax: reply.opened.batchBytesMax,
      };
      this.writer = new BatchWriter(this.limits);
      this.batchesInFlightMax = Math.max(1, reply.opened.batchesInFlightMax);
      this.framesPerFlush = reply.opened.repliesWaitForFsync ? 1 : FRAMES_PER_FLUSH;
      this.flush();
      return;
    }
    if (!reply.batch) return;
    for (const address of reply.batch.connectHints ?? []) this.owner.onConnectHint(address);
    const batch = this.inFlight.get(reply.batch.batchId);
    if (batch === undefined) {
      this.stream.cancel();
      return;
    }
    const ops = this.answered(batch, reply.batch.opIndexes ?? []);
    if (ops === null) {
      this.stream.cancel();
      return;
    }
    if (batch.unanswered === 0) this.inFlight.delete(reply.batch.batchId);
    if (reply.batch.status !== 'BATCH_OK') this.owner.onBatchRefused(ops, reply.batch.status, reply.batch.message);
    else this.deliver(ops, reply.batch.results);
    this.flush();
  }

  /** The ops a reply is for (all unanswered ones when it names none), now marked answered; null if it names a bad index. */
  private answered(batch: { ops: (PendingOp | null)[]; unanswered: number }, opIndexes: readonly number[]): PendingOp[] | null {
    const indexes = opIndexes.length > 0 ? opIndexes : [...batch.ops.keys()].filter((i) => batch.ops[i] !== null);
    const ops: PendingOp[] = [];
    let previous = -1;
    for (const index of indexes) {
      const op = batch.ops[index];
      if (op === null || op === undefined || index <= previous) return null;
      ops.push(op);
      previous = index;
    }
    for (const index of indexes) batch.ops[index] = null;
    batch.unanswered -= ops.length;
    return ops;
  }

  private deliver(ops: PendingOp[], results: Buffer): void {
    this.reader.open(results);
    for (const op of ops) {
      if (!this.reader.next()) {
        this.owner.onBatchRefused([op], 'BATCH_MALFORMED', 'fewer results than ops');
        continue;
      }
      this.owner.onResult(op, this.reader);
    }
  }

  private lost(): void {
    if (this.closed) return;
    this.closed = true;
    const ops = [...[...this.inFlight.values()].flatMap((b) => b.ops.filter((op): op is PendingOp => op !== null)), ...this.queue];
    this.inFlight.clear();
    this.queue.length = 0;
    this.owner.onSessionLost(this, ops);
  }
}
