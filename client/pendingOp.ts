// One operation between the caller's call and its final result. It outlives the caller's
// promise when that times out: a mutation is retried until a pod answers it, so its RIFL
// sequence number can be acknowledged (see sequenceTracker.ts).

import { Opcode, type BatchWriter } from '../proto/wire/index.js';
import type { SlicekvError } from './errors.js';

export interface OpResult {
  status: number;
  detail: number;
  version: number;
  value: Buffer | null;
  integer: number | bigint;
}

export class PendingOp {
  attempts = 0;
  /** The client id generation the seq belongs to (client.ts rotates ids after SESSION_EXPIRED). */
  generation = 0;
  /** The view of the key's range the op was last routed by. */
  view = 0;
  /** Where the next attempt goes instead of where the routing table says (a WRONG_RANGE named a newer owner). */
  redirect: { address: string; view: number } | null = null;
  /** Sent to the new owner a WRONG_RANGE named: its answer starts the route refresh (client.ts, followMove). */
  followedMove = false;
  /** The caller's promise is settled (result, error or timeout). */
  settled = false;
  /** Top 32 bits and low 32 bits of the key hash. */
  hashHi = 0;
  hashLo = 0;
  /** The caller's deadline, cleared when the op settles. */
  deadline: NodeJS.Timeout | null = null;

  constructor(
    readonly opcode: Opcode,
    readonly key: Buffer,
    readonly value: Buffer | null,
    readonly expectedVersion: number,
    readonly delta: number | bigint,
    /** RIFL sequence number; 0 for reads, and for a mutation until the client's window admits it. */
    public seq: number,
    private readonly settle: { resolve(result: OpResult): void; reject(error: SlicekvError): void },
  ) {}

  resolve(result: OpResult): void {
    if (this.settled) return;
    this.markSettled();
    this.settle.resolve(result);
  }

  reject(error: SlicekvError): void {
    if (this.settled) return;
    this.markSettled();
    this.settle.reject(error);
  }

  private markSettled(): void {
    this.settled = true;
    if (this.deadline !== null) clearTimeout(this.deadline);
    this.deadline = null;
  }

  /** Byte size of its value (for batch sizing). */
  get valueLength(): number {
    return this.value?.length ?? 0;
  }

  /** Appends the op to a batch frame at its current view. */
  writeTo(writer: BatchWriter): void {
    switch (this.opcode) {
      case Opcode.GET: return writer.get(this.key, this.view);
      case Opcode.PUT: return writer.put(this.key, this.value ?? EMPTY, this.view, this.seq);
      case Opcode.DELETE: return writer.delete(this.key, this.view, this.seq);
      case Opcode.PUT_IF_VERSION: return writer.putIfVersion(this.key, this.value ?? EMPTY, this.expectedVersion, this.view, this.seq);
      case Opcode.DELETE_IF_VERSION: return writer.deleteIfVersion(this.key, this.expectedVersion, this.view, this.seq);
      case Opcode.INCR_BY: return writer.incrBy(this.key, this.delta, this.view, this.seq);
    }
  }
}

const EMPTY = Buffer.alloc(0);
