// A growable buffer of log entries (walEntry.ts format) copied out of the engine's records, or of
// the records themselves in the engine's layout: the payload of checkpoint frames, and of the
// record chunks a migration sends to its target.

import { assert } from '../store/assert.js';
import type { RecordRef } from '../store/index.js';
import { ENTRY_HEADER_BYTES, WalEntryKind, entryBytes, writeEntryHeader } from './walEntry.js';

export class EntryBuffer {
  buffer: Buffer;
  used: number;

  /** `headerBytes`: room kept at the front (a frame header), not part of the payload. */
  constructor(private readonly headerBytes = 0, initialBytes = 512 * 1024) {
    this.buffer = Buffer.allocUnsafe(Math.max(initialBytes, headerBytes));
    this.used = headerBytes;
  }

  /** PUT: the record's key and value. COMPLETION: its key, with its payload as the completion. */
  entry(kind: WalEntryKind.PUT | WalEntryKind.COMPLETION, record: RecordRef): void {
    const keyLength = record.keyLength;
    const valueLength = kind === WalEntryKind.PUT ? record.valueLength : 0;
    const completionLength = kind === WalEntryKind.COMPLETION ? record.valueLength : 0;
    const size = entryBytes(keyLength, valueLength, completionLength);
    this.makeRoom(size);
    writeEntryHeader(this.buffer, this.used, kind, keyLength, valueLength, record.version, completionLength);
    const at = this.used + ENTRY_HEADER_BYTES;
    record.bytes.copy(this.buffer, at, record.keyOffset, record.keyOffset + keyLength);
    record.bytes.copy(this.buffer, at + keyLength, record.valueOffset, record.valueOffset + record.valueLength);
    this.used += size;
  }

  /** The record verbatim, in the engine's layout (header with its checksum, key, value, padding). */
  record(record: RecordRef): void {
    assert(record.checksumValid && record.recordBytes > 0 && record.recordBytes % 4 === 0, 'only intact records are copied verbatim');
    this.makeRoom(record.recordBytes);
    record.bytes.copy(this.buffer, this.used, record.recordOffset, record.recordOffset + record.recordBytes);
    this.used += record.recordBytes;
  }

  private makeRoom(size: number): void {
    if (this.used + size <= this.buffer.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.used + size));
    this.buffer.copy(next, 0, 0, this.used);
    this.buffer = next;
  }

  get payloadBytes(): number {
    return this.used - this.headerBytes;
  }

  /** Forgets what was buffered (the caller has copied it out). */
  clear(): void {
    this.used = this.headerBytes;
  }

  /** A copy of what was buffered (header room included); the buffer starts empty again. */
  take(): Buffer {
    const copy = Buffer.from(this.buffer.subarray(0, this.used));
    this.used = this.headerBytes;
    return copy;
  }
}
