// Completion records met while replaying a write-ahead log are held back until the end of that
// log instead of being restored at once. Most of them are released by an ACK entry a little
// later in the same log (the client acknowledged the op), and restoring one only to release it
// moments later cost ~0.7 us (an engine append with its checksum, two map updates, the client id
// as a hex string): ~70 ms of a 100k-write log tail. ACK entries still apply in log order; an
// ACK also drops the held-back records it covers; what is left is restored at the end, in log
// order. The result is the same as restoring at once: ClientTable.restoreCompletion skips any
// seq below the client's acknowledged mark, which is exactly what an ACK here drops.

import { assert } from '../store/assert.js';
import { CLIENT_ID_BYTES, PAYLOAD_AT_SEQ } from '../rifl/completionPayload.js';
import type { WalEntryCursor } from './walEntry.js';

/** Restores one completion record: key = bytes[keyOffset, +keyLength), payload likewise. */
export type RestoreCompletion = (bytes: Buffer, keyOffset: number, keyLength: number, payloadOffset: number, payloadLength: number) => void;

/** One client's held-back completion records: their seqs and where their bytes are in the arena. */
class HeldClient {
  readonly seqs: number[] = [];
  /** Per record: arena offset of its key, then key length, then payload length. */
  readonly places: number[] = [];
  /** Records below this index were acknowledged (seqs mostly rise in log order). */
  acknowledged = 0;

  constructor(readonly id: Buffer) {}
}

export class DeferredCompletions {
  private arena = Buffer.allocUnsafeSlow(1024 * 1024);
  private used = 0;
  private readonly clients = new Map<string, HeldClient>();
  /** Records in arrival order: [client, index into its lists], for a restore in log order. */
  private readonly order: HeldClient[] = [];
  private readonly orderIndexes: number[] = [];
  private last: HeldClient | null = null;
  held = 0;

  /** Holds back the completion record of a PUT, DELETE or COMPLETION entry. */
  add(entry: WalEntryCursor): void {
    const client = this.clientOf(entry.bytes, entry.completionOffset);
    const size = entry.keyLength + entry.completionLength;
    this.makeRoom(size);
    const at = this.used;
    copySmall(entry.bytes, entry.keyOffset, entry.keyLength, this.arena, at);
    copySmall(entry.bytes, entry.completionOffset, entry.completionLength, this.arena, at + entry.keyLength);
    this.used += size;
    client.seqs.push(seqAt(entry.bytes, entry.completionOffset));
    client.places.push(at, entry.keyLength, entry.completionLength);
    this.order.push(client);
    this.orderIndexes.push(client.seqs.length - 1);
    this.held++;
  }

  /**
   * An ACK entry (client id + u64 first incomplete seq): drops the run of the client's oldest
   * held records it acknowledges. One out of seq order stops the run; flush() leaves it to
   * restoreCompletion, which skips it by the client's final mark.
   */
  ack(ack: Buffer, offset: number): void {
    const client = this.clientOf(ack, offset);
    const firstIncomplete = seqAt(ack, offset);
    const seqs = client.seqs;
    while (client.acknowledged < seqs.length && seqs[client.acknowledged] < firstIncomplete) client.acknowledged++;
  }

  /** Restores every record still held, in log order, and starts empty again. */
  flush(restore: RestoreCompletion): void {
    for (let i = 0; i < this.order.length; i++) {
      const client = this.order[i];
      const index = this.orderIndexes[i];
      if (index < client.acknowledged) continue;
      const at = client.places[index * 3];
      const keyLength = client.places[index * 3 + 1];
      restore(this.arena, at, keyLength, at + keyLength, client.places[index * 3 + 2]);
    }
    this.clients.clear();
    this.order.length = 0;
    this.orderIndexes.length = 0;
    this.last = null;
    this.used = 0;
    this.held = 0;
  }

  /** The held-back records of the client whose 16-byte id is at bytes[offset]. */
  private clientOf(bytes: Buffer, offset: number): HeldClient {
    const last = this.last;
    // Consecutive entries are mostly one client's: compare bytes rather than build a hex key.
    if (last !== null && last.id.compare(bytes, offset, offset + CLIENT_ID_BYTES) === 0) return last;
    const key = bytes.toString('hex', offset, offset + CLIENT_ID_BYTES);
    let client = this.clients.get(key);
    if (client === undefined) {
      client = new HeldClient(Buffer.from(bytes.subarray(offset, offset + CLIENT_ID_BYTES)));
      this.clients.set(key, client);
    }
    this.last = client;
    return client;
  }

  private makeRoom(size: number): void {
    if (this.used + size <= this.arena.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(2 * this.arena.length, this.used + size));
    this.arena.copy(next, 0, 0, this.used);
    this.arena = next;
    assert(this.used + size <= this.arena.length, 'the arena grew enough');
  }
}

/** The u64 seq of a completion payload (or ACK) at bytes[offset] (payloadSeq without its Buffer view). */
function seqAt(bytes: Buffer, offset: number): number {
  return bytes.readUInt32LE(offset + PAYLOAD_AT_SEQ + 4) * 0x1_0000_0000 + bytes.readUInt32LE(offset + PAYLOAD_AT_SEQ);
}

/** Buffer.copy costs ~0.2 us a call; keys and completion payloads are a few dozen bytes. */
function copySmall(source: Buffer, from: number, length: number, target: Buffer, at: number): void {
  if (length > 256) {
    source.copy(target, at, from, from + length);
    return;
  }
  for (let i = 0; i < length; i++) target[at + i] = source[from + i];
}
