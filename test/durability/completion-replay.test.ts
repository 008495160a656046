// DeferredCompletions (dataplane/durability/completionReplay.ts) holds a log file's completion
// records and ACKs back until the end of the file. Driven with random completion records and ACKs
// of a few clients over several files, it must leave the client table exactly as applying every
// entry at once, in log order, does; and it acknowledges a client only when its mark rose since.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeferredCompletions } from '../../dataplane/durability/completionReplay.js';
import { WalEntryCursor, writeEntryHeader, ENTRY_HEADER_BYTES } from '../../dataplane/durability/walEntry.js';
import { CLIENT_ID_BYTES, PAYLOAD_AT_RESULT, payloadSeq, writePayloadHeader } from '../../dataplane/rifl/completionPayload.js';
import { Random } from '../support/random.js';
import { replayHint, seedFromEnvironment } from '../support/environment.js';

const COMPLETION = 3;
const ACK = 4;

/** A client table reduced to what replay changes: first incomplete seq and the live completion seqs. */
class TableModel {
  readonly firstIncomplete = new Map<string, number>();
  readonly live = new Map<string, Set<number>>();

  restore(client: string, seq: number): void {
    if (seq < (this.firstIncomplete.get(client) ?? 0)) return;
    this.live.set(client, (this.live.get(client) ?? new Set()).add(seq));
  }

  acknowledge(client: string, mark: number): void {
    if (!(mark > (this.firstIncomplete.get(client) ?? 0))) return;
    for (const seq of this.live.get(client) ?? []) if (seq < mark) this.live.get(client)?.delete(seq);
    this.firstIncomplete.set(client, mark);
  }

  state(): string {
    const clients = [...new Set([...this.firstIncomplete.keys(), ...this.live.keys()])].sort();
    return JSON.stringify(clients.map((c) => [c, this.firstIncomplete.get(c) ?? 0, [...(this.live.get(c) ?? [])].sort((a, b) => a - b)]));
  }
}

interface Entry {
  kind: number;
  client: number;
  seq: number;
}

/** One log file's entries in a buffer (as the log reader hands them over). */
function fileOf(entries: readonly Entry[]): Buffer {
  const key = Buffer.from('k');
  const parts = entries.map((entry) => {
    const payloadLength = entry.kind === ACK ? PAYLOAD_AT_RESULT : PAYLOAD_AT_RESULT + 3;
    const bytes = Buffer.alloc(ENTRY_HEADER_BYTES + 64 + payloadLength);
    const size = writeEntryHeader(bytes, 0, entry.kind, entry.kind === ACK ? 0 : key.length, 0, 0, payloadLength);
    const payloadAt = ENTRY_HEADER_BYTES + (entry.kind === ACK ? 0 : key.length);
    if (entry.kind !== ACK) key.copy(bytes, ENTRY_HEADER_BYTES);
    writePayloadHeader(bytes.subarray(payloadAt), Buffer.alloc(CLIENT_ID_BYTES, entry.client + 1), entry.seq);
    return bytes.subarray(0, size);
  });
  return Buffer.concat(parts);
}

test('deferred completions: held records and ACKs leave the client table as applying each entry at once does', () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  for (let round = 0; round < 50; round++) {
    const direct = new TableModel();
    const deferredTable = new TableModel();
    const acknowledged = new Map<string, number>();
    const deferred = new DeferredCompletions(
      (bytes, _keyOffset, _keyLength, payloadOffset) => deferredTable.restore(bytes.toString('hex', payloadOffset, payloadOffset + CLIENT_ID_BYTES), payloadSeq(bytes, payloadOffset)),
      (clientId, mark) => {
        const client = clientId.toString('hex');
        assert.ok(mark > (acknowledged.get(client) ?? 0), `${replayHint(seed)}: acknowledged again only at a higher mark`);
        acknowledged.set(client, mark);
        deferredTable.acknowledge(client, mark);
      });
    const next = [0, 0, 0];
    const cursor = new WalEntryCursor();
    for (let file = 0; file < 4; file++) {
      const entries: Entry[] = Array.from({ length: random.between(0, 40) }, () => {
        const client = random.below(3);
        if (random.below(3) === 0) return { kind: ACK, client, seq: Math.max(0, next[client] - random.below(6)) };
        return { kind: COMPLETION, client, seq: next[client]++ };
      });
      const bytes = fileOf(entries);
      cursor.reset(bytes, 0, bytes.length);
      while (cursor.next()) {
        const client = bytes.toString('hex', cursor.completionOffset, cursor.completionOffset + CLIENT_ID_BYTES);
        const seq = payloadSeq(bytes, cursor.completionOffset);
        if (cursor.kind === ACK) {
          direct.acknowledge(client, seq);
          deferred.ack(bytes, cursor.completionOffset);
        } else {
          direct.restore(client, seq);
          deferred.add(cursor);
        }
      }
      // The log reader flushes when the next file's first completion record arrives, and at the end.
      if (random.below(2) === 0 || file === 3) deferred.flush();
    }
    assert.equal(deferredTable.state(), direct.state(), `${replayHint(seed)}: round ${round}`);
  }
});
