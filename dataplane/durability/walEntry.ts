// Write-ahead log entries. Every mutation a pod applies becomes one entry, carrying the state it
// left (not the op): the record's new value and version, or the key's deletion. Replaying the
// entries of a range in log order over a fuzzy checkpoint therefore reproduces the range exactly,
// whatever the checkpoint caught of writes made while it was taken (see "Checkpoints and redo" in
// docs/durability.md). The completion record of the op (RIFL) travels in the same entry, so a
// mutation and its completion record are durable together or not at all.
//
//  byte 0        4      5      6        8            12           16           20              24
//  +-------------+------+------+--------+------------+------------+------------+---------------+-----+-------+------------+-----+
//  | entryBytes  | kind | 0    | keyLen | valueLen   | version lo | version hi | completionLen | key | value | completion | pad |
//  +-------------+------+------+--------+------------+------------+------------+---------------+-----+-------+------------+-----+
//
// - kind PUT: the key now holds `value` at `version`. DELETE: the key is gone (version = the
//   store's version clock at the time, for diagnostics). COMPLETION: only a completion record (an
//   op that completed without changing data, e.g. a failed compare-and-set). ACK: the client in
//   the completion field (16-byte id + u64 first incomplete seq) acknowledged every seq below.
// - completion: the RIFL completion payload (dataplane/rifl/completionPayload.ts), or empty.
// - entryBytes includes the header and the padding to a 4-byte boundary.

import { assert } from '../store/assert.js';
import { uint16At, uint32At } from './littleEndian.js';

export const ENTRY_HEADER_BYTES = 24;

export const enum WalEntryKind {
  PUT = 1,
  DELETE = 2,
  COMPLETION = 3,
  ACK = 4,
}

const TWO_POW_32 = 0x1_0000_0000;

export function entryBytes(keyLength: number, valueLength: number, completionLength: number): number {
  return (ENTRY_HEADER_BYTES + keyLength + valueLength + completionLength + 3) & ~3;
}

/** Writes an entry header at `at` of `target`; the caller copies key, value and completion after it. */
export function writeEntryHeader(target: Buffer, at: number, kind: WalEntryKind, keyLength: number, valueLength: number,
  version: number, completionLength: number): number {
  assert(Number.isSafeInteger(version) && version >= 0, 'entry versions are safe integers');
  const size = entryBytes(keyLength, valueLength, completionLength);
  target.writeUInt32LE(size, at);
  target[at + 4] = kind;
  target[at + 5] = 0;
  target.writeUInt16LE(keyLength, at + 6);
  target.writeUInt32LE(valueLength, at + 8);
  target.writeUInt32LE(version % TWO_POW_32, at + 12);
  target.writeUInt32LE(Math.floor(version / TWO_POW_32), at + 16);
  target.writeUInt32LE(completionLength, at + 20);
  const padFrom = at + ENTRY_HEADER_BYTES + keyLength + valueLength + completionLength;
  target.fill(0, padFrom, at + size);
  return size;
}

/** Reads entries out of a frame payload, one at a time, into its fields (no object per entry). */
export class WalEntryCursor {
  bytes: Buffer = Buffer.alloc(0);
  /** Position of the current entry's first byte. */
  at = 0;
  private end = 0;
  kind: WalEntryKind = WalEntryKind.PUT;
  keyOffset = 0;
  keyLength = 0;
  valueOffset = 0;
  valueLength = 0;
  version = 0;
  completionOffset = 0;
  completionLength = 0;
  size = 0;

  /** Starts reading the entries in bytes[start, end). */
  reset(bytes: Buffer, start: number, end: number): void {
    assert(start >= 0 && end <= bytes.length, 'entries are read inside their buffer');
    this.bytes = bytes;
    this.at = start;
    this.end = end;
    this.size = 0;
  }

  /**
   * Moves to the next entry. False at the end. Throws WalFormatError when an entry does not fit
   * its frame or has an unknown kind: the frame's checksum matched, so this is a writer bug or a
   * checksum collision, and either way nothing after it can be trusted.
   */
  next(): boolean {
    this.at += this.size;
    if (this.at >= this.end) return false;
    const b = this.bytes;
    const at = this.at;
    if (this.end - at < ENTRY_HEADER_BYTES) throw new WalFormatError(`entry header at ${at} runs past its frame`);
    // The header lies inside the frame (checked above), which lies inside `bytes` (reset).
    this.size = uint32At(b, at);
    this.kind = b[at + 4] as WalEntryKind;
    this.keyLength = uint16At(b, at + 6);
    this.valueLength = uint32At(b, at + 8);
    this.version = uint32At(b, at + 16) * TWO_POW_32 + uint32At(b, at + 12);
    this.completionLength = uint32At(b, at + 20);
    this.keyOffset = at + ENTRY_HEADER_BYTES;
    this.valueOffset = this.keyOffset + this.keyLength;
    this.completionOffset = this.valueOffset + this.valueLength;
    const expected = entryBytes(this.keyLength, this.valueLength, this.completionLength);
    if (this.size !== expected || at + this.size > this.end) throw new WalFormatError(`entry at ${at} has an inconsistent size`);
    if (this.kind < WalEntryKind.PUT || this.kind > WalEntryKind.ACK) throw new WalFormatError(`entry at ${at} has unknown kind ${this.kind}`);
    return true;
  }

  key(): Buffer {
    return this.bytes.subarray(this.keyOffset, this.keyOffset + this.keyLength);
  }
}

export class WalFormatError extends Error {
  override readonly name = 'WalFormatError';
}
