// RIFL's server side (SOSP '15; DESIGN.md §5): which client ops have completed here, and where
// their completion records are. Every mutation carries (client id, seq); a retry of a completed
// op is answered from its completion record instead of running again. Records are released
// when the client acknowledges them (its first incomplete seq moves past them) or when its
// lease expires (idle longer than leaseDurationMs); ops from an expired client are refused with
// SESSION_EXPIRED and never run.
//
// This table is also the index of completion records for the engine's cleaner
// (CompletionTracker): the engine asks whether a record is still needed and reports moves.

import { assert } from '../store/assert.js';
import { Status, type CompletionTracker, type RecordRef, type Store } from '../store/index.js';
import type { Clock } from '../clock.js';
import type { ResultWriter } from '../../proto/wire/index.js';
import { CompletionSlots } from './completionSlots.js';
import { CLIENT_ID_BYTES, PAYLOAD_AT_RESULT, payloadClientKey, payloadSeq, writePayloadHeader } from './completionPayload.js';

export interface ClientTableConfig {
  /** A client idle this long loses its completion records and gets SESSION_EXPIRED. */
  readonly leaseDurationMs: number;
  /** Unacknowledged completed ops one client may have; more gets OVERLOADED (RIFL: 512). */
  readonly windowMax: number;
  /** Live clients this pod tracks; beyond it an idle client without completion records is forgotten, or the new one refused. */
  readonly clientCountMax: number;
  /** Expired client ids remembered, so a returning one is told rather than treated as new. */
  readonly expiredIdsMax: number;
}

export const DEFAULT_CLIENT_TABLE_CONFIG: ClientTableConfig = {
  leaseDurationMs: 10 * 60 * 1000,
  windowMax: 512,
  clientCountMax: 100_000,
  expiredIdsMax: 100_000,
};

/** Completion records one expireIdle() call releases at most (plus one client's windowMax). */
export const EXPIRE_RELEASES_PER_CALL = 4096;

export const enum RiflCheck {
  /** Not seen: run it, then record its result. */
  NEW = 0,
  /** Completed before: answer with the saved result (completionSegmentId / completionOffset). */
  DUPLICATE = 1,
  /** Below the client's acknowledged mark: the client said it has the result already. */
  STALE = 2,
  /** The client has windowMax unacknowledged completed ops. */
  WINDOW_FULL = 3,
  /** The client's lease expired. */
  EXPIRED = 4,
}

export class ClientState {
  leaseExpiresAtMs = 0;
  /** Every seq below this is acknowledged by the client. */
  firstIncomplete = 1;
  /** Its completion records, every seq at or above firstIncomplete. */
  readonly completions = new CompletionSlots();

  constructor(readonly key: string, readonly id: Buffer) {}
}

export class ClientTable implements CompletionTracker {
  private readonly clients = new Map<string, ClientState>();
  /** Insertion-ordered, bounded: oldest forgotten first. */
  private readonly expiredIds = new Set<string>();
  private scratch = Buffer.allocUnsafe(4096);
  private readonly ackScratch = Buffer.allocUnsafe(PAYLOAD_AT_RESULT);
  /** Length of lastPayload. */
  lastPayloadLength = 0;
  /** Where the saved result of the last DUPLICATE check is. */
  completionSegmentId = 0;
  completionOffset = 0;
  duplicateHits = 0;
  evictions = 0;

  /** Gives a released completion record's bytes back to the engine (bound once: no closure per call). */
  private readonly release = (segmentId: number, offsetBytes: number): void => this.store.releaseCompletion(segmentId, offsetBytes);

  constructor(private readonly store: Store, private readonly clock: Clock,
    readonly config: ClientTableConfig = DEFAULT_CLIENT_TABLE_CONFIG) {
    store.setCompletionTracker(this);
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /**
   * The client's state, its lease renewed; creates it for a new id. Null when the id expired
   * (the client must start over with a new id) or the table is full.
   */
  open(clientId: Uint8Array): ClientState | null {
    assert(clientId.length === CLIENT_ID_BYTES, 'client ids are 16 bytes (checked at the edge)');
    const key = Buffer.from(clientId.buffer, clientId.byteOffset, CLIENT_ID_BYTES).toString('hex');
    let client = this.clients.get(key);
    if (client === undefined) {
      if (this.expiredIds.has(key)) return null;
      if (this.clients.size >= this.config.clientCountMax && !this.evictIdle()) return null;
      client = new ClientState(key, Buffer.from(clientId));
      this.clients.set(key, client);
    }
    client.leaseExpiresAtMs = this.clock.nowMs() + this.config.leaseDurationMs;
    return client;
  }

  /** Renews the lease of a client that is still live (every batch counts as activity). */
  renew(client: ClientState): void {
    if (!this.isExpired(client)) client.leaseExpiresAtMs = this.clock.nowMs() + this.config.leaseDurationMs;
  }

  isExpired(client: ClientState): boolean {
    return !this.clients.has(client.key) || this.clock.nowMs() >= client.leaseExpiresAtMs;
  }

  /** Releases completions the client acknowledged: every seq below `firstIncomplete`. True if the mark moved. */
  acknowledge(client: ClientState, firstIncomplete: number): boolean {
    if (!(firstIncomplete > client.firstIncomplete)) return false;
    client.completions.releaseSpan(client.firstIncomplete, firstIncomplete, this.release);
    client.firstIncomplete = firstIncomplete;
    return true;
  }

  /** The client's acknowledgement as logged (write-ahead log ACK entry): client id + u64 first incomplete seq. */
  ackPayload(client: ClientState): Buffer {
    writePayloadHeader(this.ackScratch, client.id, client.firstIncomplete);
    return this.ackScratch;
  }

  /** The payload of the completion record the last record() call appended (valid until the next call). */
  get lastPayload(): Buffer {
    return this.scratch;
  }

  /** What to do with mutation `seq` of `client`. */
  check(client: ClientState, seq: number): RiflCheck {
    if (this.isExpired(client)) return RiflCheck.EXPIRED;
    const done = client.completions.find(seq);
    if (done >= 0) {
      this.completionSegmentId = client.completions.segmentIdAt(done);
      this.completionOffset = client.completions.offsetAt(done);
      this.duplicateHits++;
      return RiflCheck.DUPLICATE;
    }
    if (seq < client.firstIncomplete) return RiflCheck.STALE;
    if (client.completions.size >= this.config.windowMax) return RiflCheck.WINDOW_FULL;
    return RiflCheck.NEW;
  }

  /** Bytes the completion record of a result of `resultLength` bytes adds to the log. */
  completionPayloadBytes(resultLength: number): number {
    return PAYLOAD_AT_RESULT + resultLength;
  }

  /**
   * Saves the result of `seq` (its wire bytes: what `results` wrote from `resultStart` on) in a completion record keyed by `key`. The caller
   * ensured space for it before running the op.
   */
  record(client: ClientState, seq: number, key: Uint8Array, keyOffset: number, keyLength: number, results: ResultWriter, resultStart: number): void {
    const resultLength = results.byteLength - resultStart;
    const result = results.bytes;
    const payloadLength = PAYLOAD_AT_RESULT + resultLength;
    if (this.scratch.length < payloadLength) this.scratch = Buffer.allocUnsafe(Math.max(payloadLength, this.scratch.length * 2));
    const scratch = this.scratch;
    writePayloadHeader(scratch, client.id, seq);
    // A mutation's result is a few bytes (at most 20): copied by hand, no view made per mutation.
    for (let i = 0; i < resultLength; i++) scratch[PAYLOAD_AT_RESULT + i] = result[resultStart + i];
    this.lastPayloadLength = payloadLength;
    const status = this.store.appendCompletion(key, keyOffset, keyLength, this.scratch, 0, payloadLength);
    assert(status === Status.OK, 'space for the completion record was ensured before the op ran');
    // Acknowledged while the op waited (a client that acknowledges what it has no result for):
    // nothing will ask for it, and the table holds only seqs at or above the mark.
    if (seq < client.firstIncomplete) this.store.releaseCompletion(this.store.resultSegmentId, this.store.resultRecordOffset);
    else client.completions.add(seq, this.store.resultSegmentId, this.store.resultRecordOffset);
  }

  // ---- recovery (dataplane/durability) --------------------------------------------------------

  /**
   * Re-creates a completion record read back from a checkpoint or the write-ahead log: `payload`
   * is the record's whole payload (client id, seq, result). Skipped when the seq is already known
   * or acknowledged. OUT_OF_MEMORY when the log has no room.
   */
  restoreCompletion(key: Uint8Array, keyOffset: number, keyLength: number, payload: Buffer, payloadOffset: number,
    payloadLength: number): Status {
    assert(payloadLength >= PAYLOAD_AT_RESULT, 'a completion payload holds a client id and a seq');
    const client = this.restoredClient(payload.subarray(payloadOffset, payloadOffset + CLIENT_ID_BYTES));
    const seq = payloadSeq(payload, payloadOffset);
    if (client.completions.find(seq) >= 0 || seq < client.firstIncomplete) return Status.OK;
    const status = this.store.appendCompletion(key, keyOffset, keyLength, payload, payloadOffset, payloadLength);
    if (status !== Status.OK) return status;
    client.completions.add(seq, this.store.resultSegmentId, this.store.resultRecordOffset);
    return Status.OK;
  }

  /** Replays a logged acknowledgement: client `clientId` (16 bytes) acknowledged every seq below `firstIncomplete`. */
  restoreAck(clientId: Buffer, firstIncomplete: number): void {
    assert(clientId.length === CLIENT_ID_BYTES, 'client ids are 16 bytes');
    this.acknowledge(this.restoredClient(clientId), firstIncomplete);
  }

  /** A recovered client: known again, with a fresh lease, even if this pod had expired it. */
  private restoredClient(clientId: Buffer): ClientState {
    const key = clientId.toString('hex');
    let client = this.clients.get(key);
    if (client === undefined) {
      this.expiredIds.delete(key);
      client = new ClientState(key, Buffer.from(clientId));
      this.clients.set(key, client);
    }
    client.leaseExpiresAtMs = this.clock.nowMs() + this.config.leaseDurationMs;
    return client;
  }

  /** Every live completion record's address (a migration's hand-over copies them out). */
  forEachCompletion(visit: (segmentId: number, offsetBytes: number) => void): void {
    for (const client of this.clients.values()) client.completions.forEach(visit);
  }

  /**
   * The live completion records a client at a time (at most windowMax each), for a caller that
   * lets the event loop run between clients (a checkpoint). Each step visits one client's records
   * at their current addresses. Clients added while this runs are visited too, clients gone
   * before their turn are not (a Map's iterator): what changes meanwhile is in the log.
   */
  *completionsByClient(): Generator<(visit: (segmentId: number, offsetBytes: number) => void) => void> {
    for (const client of this.clients.values()) yield (visit) => client.completions.forEach(visit);
  }

  /** Loads the saved result of the last DUPLICATE into the store's result fields; CORRUPT if damaged. */
  loadSavedResult(): Status {
    const status = this.store.readCompletion(this.completionSegmentId, this.completionOffset);
    if (status !== Status.OK) return status;
    this.store.resultValueOffset += PAYLOAD_AT_RESULT;
    this.store.resultValueLength -= PAYLOAD_AT_RESULT;
    return Status.OK;
  }

  /** Expires clients whose lease ran out: their completions are released. Returns how many. */
  expireIdle(releasesMax = EXPIRE_RELEASES_PER_CALL): number {
    const now = this.clock.nowMs();
    let expired = 0;
    let released = 0;
    for (const client of this.clients.values()) {
      // Bounded work per maintenance tick: many clients whose leases lapsed together (each with up
      // to windowMax records) are expired over several ticks. Their batches are refused from the
      // lapse on meanwhile (check() reads the lease, not this table's membership).
      if (released >= releasesMax) break;
      if (now < client.leaseExpiresAtMs) continue;
      released += client.completions.size;
      client.completions.releaseAll(this.release);
      this.clients.delete(client.key);
      this.rememberExpired(client.key);
      expired++;
    }
    return expired;
  }

  /**
   * Makes room for a new client by forgetting the longest-known one that holds no completion
   * records: nothing of it needs protecting, and if it returns it simply starts afresh. False
   * when every client holds completion records (then the new client is refused).
   */
  private evictIdle(): boolean {
    for (const client of this.clients.values()) {
      if (client.completions.size > 0) continue;
      this.clients.delete(client.key);
      this.evictions++;
      return true;
    }
    return false;
  }

  private rememberExpired(key: string): void {
    this.expiredIds.add(key);
    if (this.expiredIds.size > this.config.expiredIdsMax) {
      const oldest = this.expiredIds.values().next().value;
      if (oldest !== undefined) this.expiredIds.delete(oldest);
    }
  }

  // ---- CompletionTracker ---------------------------------------------------------------------

  isLive(record: RecordRef): boolean {
    const client = this.ownerOf(record);
    const slot = client === undefined ? -1 : client.completions.find(payloadSeq(record.bytes, record.valueOffset));
    return slot >= 0 && client!.completions.segmentIdAt(slot) === record.segmentId && client!.completions.offsetAt(slot) === record.recordOffset;
  }

  moved(record: RecordRef, segmentId: number, offsetBytes: number): void {
    const client = this.ownerOf(record);
    const slot = client === undefined ? -1 : client.completions.find(payloadSeq(record.bytes, record.valueOffset));
    assert(slot >= 0, 'only live completion records move');
    client!.completions.moveAt(slot, segmentId, offsetBytes);
  }

  /** The client whose completion record `record` is (undefined: not a completion payload, or a client not known). */
  private ownerOf(record: RecordRef): ClientState | undefined {
    if (record.valueLength < PAYLOAD_AT_RESULT) return undefined;
    return this.clients.get(payloadClientKey(record.bytes, record.valueOffset));
  }
}
