// One client session: a KV.Session stream bound to this pod's event loop. The first message
// opens it (RIFL client id); then every batch is run to completion as it arrives, so replies
// leave in request order. Back-pressure: when the stream's send buffer is full the session
// stops reading (gRPC flow control then slows the client); when the whole pod holds too many
// unsent replies, new batches are answered BATCH_OVERLOADED without running.

import type * as grpc from '@grpc/grpc-js';
import { BatchReader, FrameError, FRAME_FORMAT_VERSION, ResultWriter, type FrameLimits } from '../../proto/wire/index.js';
import type { ClientState, ClientTable } from '../rifl/clientTable.js';
import type { BatchExecutor, DeferredOp } from './batchExecutor.js';
import type { WalWriter } from '../durability/walWriter.js';
import type { BatchMessage, BatchStatusName, SessionOpenMessage, SessionReplyMessage, SessionRequestMessage } from '../../proto/messages.js';

const CLIENT_ID_BYTES = 16;

/** What sessions share: one per pod. */
export interface SessionHost {
  readonly podName: string;
  readonly limits: FrameLimits;
  readonly clients: ClientTable;
  readonly executor: BatchExecutor;
  /** Replies written to streams and not yet handed to the transport, across all sessions. */
  unsentReplies: number;
  readonly unsentRepliesMax: number;
  readonly batchesInFlightMax: number;
  draining: boolean;
  /**
   * Test seam (fault injection): run the next batch, then drop its reply and break the stream,
   * as a network failure after the pod applied the ops would.
   */
  dropNextReply: boolean;
  /** The write-ahead log, when durability is on. In sync mode replies wait for their fdatasync. */
  readonly wal: WalWriter | null;
  /** Called after each batch ran, with its op count and duration. */
  onBatch(opCount: number, durationSeconds: number): void;
  /** Pods clients will soon be sent to (targets of ranges about to move away): BatchReply.connect_hints. */
  readonly connectHints?: readonly string[];
}

export type SessionStream = grpc.ServerDuplexStream<SessionRequestMessage, SessionReplyMessage>;

export class Session {
  private client: ClientState | null = null;
  /** Connect hints already given to this client. */
  private readonly hinted = new Set<string>();
  private readonly reader: BatchReader;
  private readonly writer = new ResultWriter();
  private awaitingDrain = false;
  /** Reply slots: the next one to take, the next one to send, and replies ready out of turn. */
  private nextSlot = 0;
  private nextToSend = 0;
  private readonly held = new Map<number, SessionReplyMessage>();
  /** Batches waiting for migrating keys (bounded by the client's batches in flight). */
  private waitingForKeys = 0;
  /** The client takes a batch answered in parts (SessionOpen.partial_replies). */
  private partial = false;

  constructor(private readonly host: SessionHost, private readonly stream: SessionStream) {
    this.reader = new BatchReader(host.limits);
    stream.on('data', (message: SessionRequestMessage) => this.onMessage(message));
    stream.on('end', () => stream.end());
    stream.on('error', () => undefined);
  }

  private onMessage(message: SessionRequestMessage): void {
    if (message.open) this.open(message.open);
    else if (message.batch) this.batch(message.batch);
    else this.fail(3 /* INVALID_ARGUMENT */, 'a session message must carry open or batch');
  }

  private open(open: SessionOpenMessage): void {
    if (open.clientId.length !== CLIENT_ID_BYTES) {
      this.fail(3 /* INVALID_ARGUMENT */, `client_id must be ${CLIENT_ID_BYTES} bytes, got ${open.clientId.length}`);
      return;
    }
    if (open.frameFormatVersion !== FRAME_FORMAT_VERSION) {
      this.fail(3 /* INVALID_ARGUMENT */, `frame format ${open.frameFormatVersion} is not supported (this pod speaks ${FRAME_FORMAT_VERSION})`);
      return;
    }
    this.partial = open.partialReplies === true;
    this.client = this.host.clients.open(open.clientId);
    if (this.client === null) {
      this.fail(9 /* FAILED_PRECONDITION */, 'SESSION_EXPIRED: this client id expired or the pod tracks too many clients; start over with a new id');
      return;
    }
    const { limits } = this.host;
    this.send({
      opened: {
        pod: this.host.podName, keyLengthMax: limits.keyLengthMax, valueLengthMax: limits.valueLengthMax,
        batchOpsMax: limits.opCountMax, batchBytesMax: limits.frameBytesMax, batchesInFlightMax: this.host.batchesInFlightMax,
        repliesWaitForFsync: this.host.wal?.config.mode === 'sync',
      },
    });
  }

  private batch(batch: BatchMessage): void {
    // Every batch takes its reply slot on arrival: replies leave in request order even when a
    // batch waits (for migrating keys, or for the log's fsync) while later ones run.
    const slot = this.nextSlot++;
    if (this.client === null) return this.reply(slot, batch.batchId, 'BATCH_SESSION_INVALID', 'open the session first');
    if (this.host.draining) return this.reply(slot, batch.batchId, 'BATCH_DRAINING', 'the pod is shutting down');
    if (this.host.unsentReplies >= this.host.unsentRepliesMax) return this.reply(slot, batch.batchId, 'BATCH_OVERLOADED', 'too many replies waiting to be sent');
    const wal = this.host.wal;
    if (wal !== null && wal.full) {
      return this.reply(slot, batch.batchId, 'BATCH_OVERLOADED', wal.failure === null ? 'the write-ahead log is behind' : `the write-ahead log failed: ${wal.failure.message}`);
    }
    try {
      this.reader.open(batch.ops);
    } catch (error) {
      if (error instanceof FrameError) return this.reply(slot, batch.batchId, 'BATCH_MALFORMED', error.message);
      throw error;
    }
    const deferred = this.host.executor.deferredOps(this.reader);
    if (deferred === null) return this.run(slot, batch);
    if (this.waitingForKeys >= this.host.batchesInFlightMax) {
      return this.reply(slot, batch.batchId, 'BATCH_OVERLOADED', 'too many batches waiting for migrating keys');
    }
    this.waitingForKeys++;
    if (this.partial) this.runInParts(batch, deferred, null, { groups: 0 });
    else this.waitForKeys(slot, batch, deferred);
  }

  /**
   * Runs the batch open in the reader — all its ops, or those in `only`, except those in `skip` —
   * and delivers the reply (after the fsync in sync mode). `opIndexes`: the ops run when not all.
   */
  private run(slot: number, batch: BatchMessage, only: ReadonlySet<number> | null = null, skip: ReadonlySet<number> | null = null,
    opIndexes: readonly number[] = NONE): void {
    const client = this.client as ClientState;
    this.writer.begin();
    const started = performance.now();
    this.host.executor.run(this.reader, client, this.writer, only, skip);
    this.host.onBatch(opIndexes.length > 0 ? opIndexes.length : this.reader.opCount, (performance.now() - started) / 1000);
    if (this.host.dropNextReply) {
      this.host.dropNextReply = false;
      this.fail(14 /* UNAVAILABLE */, 'fault injected: reply dropped after the batch ran');
      return;
    }
    const results = Buffer.from(this.writer.finish());
    const wal = this.host.wal;
    const deliver = (): void => this.reply(slot, batch.batchId, 'BATCH_OK', '', results, opIndexes);
    // sync mode: nothing this batch did or saw is acknowledged before it is durable.
    if (wal !== null && wal.config.mode === 'sync') wal.whenDurable(wal.appendedLsn, deliver);
    else deliver();
  }

  /**
   * Live migration target, client without partial replies: the batch touches keys still on the
   * source. They are fetched, then the whole batch runs. The session's later batches run
   * meanwhile; their replies wait for this one's (concurrent batches carry no order between
   * their ops: a client sends an op only after the reply to its previous one).
   */
  private waitForKeys(slot: number, batch: BatchMessage, deferred: readonly DeferredOp[]): void {
    Promise.all(deferred.map((op) => op.arrival)).then(() => {
      if (this.host.draining) {
        this.waitingForKeys--;
        return this.reply(slot, batch.batchId, 'BATCH_DRAINING', 'the pod is shutting down');
      }
      this.reader.open(batch.ops);
      const again = this.host.executor.deferredOps(this.reader);
      if (again !== null) return this.waitForKeys(slot, batch, again);
      this.waitingForKeys--;
      this.run(slot, batch);
    }, (error: Error) => {
      this.waitingForKeys--;
      this.reply(slot, batch.batchId, 'BATCH_OVERLOADED', `keys of a migrating range could not be fetched yet: ${error.message}`);
    });
  }

  /**
   * Live migration target, client with partial replies: the ops whose keys are here (of all, or
   * of `only`) run and are answered now; the ops waiting on one key arrival run and are answered
   * when it settles. Ops waiting on the same key run in the order they arrived, across batches.
   */
  private runInParts(batch: BatchMessage, deferred: readonly DeferredOp[], only: ReadonlySet<number> | null, state: { groups: number }): void {
    const waiting = new Set(deferred.map((op) => op.index));
    const ready = (only === null ? [...Array(this.reader.opCount).keys()] : [...only]).filter((index) => !waiting.has(index));
    if (ready.length > 0) this.run(NO_SLOT, batch, only, waiting, ready);
    const groups = new Map<Promise<void>, number[]>();
    for (const op of deferred) groups.set(op.arrival, [...(groups.get(op.arrival) ?? []), op.index]);
    state.groups += groups.size;
    for (const [arrival, indexes] of groups) {
      arrival.then(() => this.arrived(batch, indexes, state), (error: Error) => {
        this.groupDone(state);
        this.reply(NO_SLOT, batch.batchId, 'BATCH_OVERLOADED', `keys of a migrating range could not be fetched yet: ${error.message}`, EMPTY, indexes);
      });
    }
  }

  /** The keys of a group of deferred ops arrived: they run (or wait again). */
  private arrived(batch: BatchMessage, indexes: number[], state: { groups: number }): void {
    if (this.host.draining) this.reply(NO_SLOT, batch.batchId, 'BATCH_DRAINING', 'the pod is shutting down', EMPTY, indexes);
    else {
      const group = new Set(indexes);
      this.reader.open(batch.ops);
      const again = this.host.executor.deferredOps(this.reader, group);
      if (again !== null) this.runInParts(batch, again, group, state);
      else this.run(NO_SLOT, batch, group, null, indexes);
    }
    this.groupDone(state);
  }

  /** One group of a batch's deferred ops is answered; the batch stops waiting with its last. */
  private groupDone(state: { groups: number }): void {
    state.groups--;
    if (state.groups === 0) this.waitingForKeys--;
  }

  /**
   * Sends a reply: with partial replies at once (the client matches batch ids), otherwise in
   * slot order. `opIndexes`: the ops the results (or the refusal) are for, when not all.
   */
  private reply(slot: number, batchId: string, status: BatchStatusName, message: string, results: Buffer = EMPTY, opIndexes: readonly number[] = NONE): void {
    const reply: SessionReplyMessage = { batch: { batchId, status, results, message, opIndexes: [...opIndexes], connectHints: this.newHints() } };
    if (this.partial || (slot === this.nextToSend && this.held.size === 0)) {
      if (!this.partial) this.nextToSend++;
      this.send(reply);
      return;
    }
    this.held.set(slot, reply);
    for (let next = this.held.get(this.nextToSend); next !== undefined; next = this.held.get(this.nextToSend)) {
      this.held.delete(this.nextToSend);
      this.nextToSend++;
      this.send(next);
    }
  }

  /** The host's connect hints this session has not been given yet (usually none: no migration). */
  private newHints(): string[] {
    const hints = this.host.connectHints;
    if (hints === undefined || hints.length === 0) return [];
    const fresh = hints.filter((address) => !this.hinted.has(address));
    for (const address of fresh) this.hinted.add(address);
    return fresh;
  }

  private send(reply: SessionReplyMessage): void {
    // A reply that waited for the log may find its stream gone: the client retries the batch.
    if (this.stream.cancelled || this.stream.destroyed) return;
    this.host.unsentReplies++;
    const room = this.stream.write(reply, () => {
      this.host.unsentReplies--;
    });
    if (!room && !this.awaitingDrain) {
      this.awaitingDrain = true;
      this.stream.pause();
      this.stream.once('drain', () => {
        this.awaitingDrain = false;
        this.stream.resume();
      });
    }
  }

  /** Ends this stream (only this one) with a gRPC error. */
  private fail(code: number, details: string): void {
    this.stream.emit('error', Object.assign(new Error(details), { code, details }));
  }
}

const EMPTY = Buffer.alloc(0);
const NONE: readonly number[] = [];
/** Replies of partial-reply sessions take no slot. */
const NO_SLOT = -1;
