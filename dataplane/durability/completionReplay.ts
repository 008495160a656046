// Completion records met while replaying a write-ahead log file are held back until the end of
// that file instead of being restored at once. Most of them are acknowledged by an ACK entry a
// little later in the same file (the client moved its first-incomplete mark past them), and
// restoring one only to release it moments later cost ~0.7 us (an engine append with its
// checksum, two map updates, the client id as a hex string): ~70 ms of a 100k-write log tail.
// Holding one back costs a position (the file's bytes stay in memory while it is replayed anyway).
// ACK entries still apply to the client table in log order; here they only raise each client's
// mark. At the end of the file the held records whose seq is below their client's mark are
// dropped and the rest are restored in log order. The result is what restoring at once gives:
// ClientTable.restoreCompletion skips any seq below the client's mark, and an ACK releases those
// it covers, so either way exactly the records at or above the final mark remain.
//
// ACKs are held back too: at a flush each client whose mark rose is acknowledged once, at its
// highest mark, before the held records are restored. An acknowledgement releases the client's
// records below the mark and raises its first incomplete seq, so acknowledging m1 then m2 leaves
// what acknowledging max(m1, m2) leaves; and nothing reads the client table between an ACK and
// the next flush (completion records from the log only go in at flushes). Applying each of a 100k
// tail's ~5k ACKs at once (the client's id as a hex string, a map lookup, a walk over the client's
// completion records) was ~5-9 ms of a restart's log read.

import { CLIENT_ID_BYTES, PAYLOAD_AT_SEQ } from '../rifl/completionPayload.js';
import { uint32At } from './littleEndian.js';
import { WalEntryCursor } from './walEntry.js';

/** Restores one completion record: key = bytes[keyOffset, +keyLength), payload likewise. */
export type RestoreCompletion = (bytes: Buffer, keyOffset: number, keyLength: number, payloadOffset: number, payloadLength: number) => void;

/** Acknowledges, in the client table, every seq of client `clientId` (16 bytes) below `mark`. */
export type Acknowledge = (clientId: Buffer, mark: number) => void;

/** A client's highest acknowledged mark seen in this replay (first incomplete seq). */
interface ClientMark {
  readonly id: Buffer;
  mark: number;
  /** The mark last passed to `acknowledge` (0: none yet). */
  acknowledged: number;
}

export class DeferredCompletions {
  /** The file whose entries are held, and where they start in it. */
  private bytes: Buffer | null = null;
  /** Per held record: where its entry starts, and where its completion payload does. */
  private readonly positions: number[] = [];
  private readonly payloads: number[] = [];
  private readonly marks = new Map<string, ClientMark>();
  private last: ClientMark | null = null;
  /** Clients whose mark rose since the last flush. */
  private readonly raised: ClientMark[] = [];
  private readonly entry = new WalEntryCursor();
  /** Records restored, and dropped as acknowledged, so far. */
  restored = 0;
  dropped = 0;

  constructor(private readonly restore: RestoreCompletion, private readonly acknowledge: Acknowledge) {}

  /** Holds back the completion record of the entry (PUT, DELETE or COMPLETION) the cursor is on. */
  add(entry: WalEntryCursor): void {
    if (entry.bytes !== this.bytes) {
      this.flush();
      this.bytes = entry.bytes;
    }
    this.positions.push(entry.at);
    this.payloads.push(entry.completionOffset);
  }

  /** An ACK entry (client id + u64 first incomplete seq) at bytes[offset]. */
  ack(ack: Buffer, offset: number): void {
    const client = this.clientOf(ack, offset);
    const mark = seqAt(ack, offset);
    if (!(mark > client.mark)) return;
    if (client.mark === client.acknowledged) this.raised.push(client);
    client.mark = mark;
  }

  /**
   * Acknowledges each client whose mark rose at its highest mark, then restores, in log order,
   * every held record its client has not acknowledged; holds nothing after.
   */
  flush(): void {
    for (const client of this.raised) {
      this.acknowledge(client.id, client.mark);
      client.acknowledged = client.mark;
    }
    this.raised.length = 0;
    const bytes = this.bytes;
    if (bytes === null) return;
    const entry = this.entry;
    for (let i = 0; i < this.positions.length; i++) {
      const payload = this.payloads[i];
      if (seqAt(bytes, payload) < this.clientOf(bytes, payload).mark) {
        this.dropped++;
        continue;
      }
      entry.reset(bytes, this.positions[i], bytes.length);
      entry.next();
      this.restore(bytes, entry.keyOffset, entry.keyLength, entry.completionOffset, entry.completionLength);
      this.restored++;
    }
    this.positions.length = 0;
    this.payloads.length = 0;
    this.bytes = null;
  }

  /** The mark of the client whose 16-byte id is at bytes[offset]. */
  private clientOf(bytes: Buffer, offset: number): ClientMark {
    const last = this.last;
    // Consecutive entries are mostly one client's: compare words rather than build a hex key.
    if (last !== null && sameId(last.id, bytes, offset)) return last;
    const key = bytes.toString('hex', offset, offset + CLIENT_ID_BYTES);
    let client = this.marks.get(key);
    if (client === undefined) {
      client = { id: Buffer.from(bytes.subarray(offset, offset + CLIENT_ID_BYTES)), mark: 0, acknowledged: 0 };
      this.marks.set(key, client);
    }
    this.last = client;
    return client;
  }
}

/** The u64 seq of a completion payload (or ACK) at bytes[offset] (payloadSeq without its Buffer view). */
function seqAt(bytes: Buffer, offset: number): number {
  return uint32At(bytes, offset + PAYLOAD_AT_SEQ + 4) * 0x1_0000_0000 + uint32At(bytes, offset + PAYLOAD_AT_SEQ);
}

/** Whether bytes[offset, +16) is the client id `id` (Buffer.compare costs ~0.15 us a call). */
function sameId(id: Buffer, bytes: Buffer, offset: number): boolean {
  for (let i = 0; i < CLIENT_ID_BYTES; i += 4) {
    if (uint32At(id, i) !== uint32At(bytes, offset + i)) return false;
  }
  return true;
}
