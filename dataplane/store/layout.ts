// Record layout in a log segment. Records start on 4-byte boundaries so their header is read as
// 32-bit words through an Int32Array view of the segment; all words are little-endian.
//
//  byte 0          4               8               12      14     15     16              20
//  +---------------+---------------+---------------+-------+------+------+---------------+-----+-------+-----+
//  | checksum u32  | version lo u32| version hi u32| keyLen| kind | flags| valueLen u32  | key | value | pad |
//  +---------------+---------------+---------------+-------+------+------+---------------+-----+-------+-----+
//  word 0           word 1          word 2          word 3 = keyLen | kind << 16 | flags << 24
//
// - checksum: covers words 1 .. end of the padded record (padding bytes are zero), see checksum().
// - version: 64-bit unsigned, kept below 2^53 so it is exact in a JavaScript number.
// - kind: OBJECT, TOMBSTONE or COMPLETION (reserved for exactly-once completion records). Zero is
//   never a valid kind, so zeroed memory is never mistaken for a record.
// - flags: reserved, written as zero.
// - padding: 0-3 zero bytes so the next record is 4-byte aligned.

import { assert } from './assert.js';

export const HEADER_BYTES = 20;
export const WORD_CHECKSUM = 0;
export const WORD_VERSION_LO = 1;
export const WORD_VERSION_HI = 2;
export const WORD_KEY_LENGTH_KIND_FLAGS = 3;
export const WORD_VALUE_LENGTH = 4;
export const HEADER_WORDS = HEADER_BYTES >> 2;

export const KEY_LENGTH_MASK = 0xffff;
export const KIND_SHIFT = 16;
export const KIND_MASK = 0xff;

export const enum RecordKind {
  OBJECT = 1,
  TOMBSTONE = 2,
  /** Reserved for RIFL completion records (DESIGN.md §5); the engine writes none yet. */
  COMPLETION = 3,
}

/** Versions stay exact in a double. */
export const VERSION_MAX = Number.MAX_SAFE_INTEGER;
const TWO_POW_32 = 0x1_0000_0000;

assert(HEADER_BYTES === HEADER_WORDS * 4, 'header is a whole number of words');
assert(WORD_VALUE_LENGTH === HEADER_WORDS - 1, 'value length is the last header word');

/** Bytes a record occupies in a segment, including header and padding. */
export function recordBytes(keyLength: number, valueLength: number): number {
  return (HEADER_BYTES + keyLength + valueLength + 3) & ~3;
}

export function packKeyLengthKind(keyLength: number, kind: RecordKind): number {
  return keyLength | (kind << KIND_SHIFT);
}

export function versionOf(words: Int32Array, wordIndex: number): number {
  return (words[wordIndex + WORD_VERSION_HI] >>> 0) * TWO_POW_32 + (words[wordIndex + WORD_VERSION_LO] >>> 0);
}

export function writeVersion(words: Int32Array, wordIndex: number, version: number): void {
  assert(Number.isSafeInteger(version) && version >= 0, 'version is a safe non-negative integer');
  words[wordIndex + WORD_VERSION_LO] = version % TWO_POW_32;
  words[wordIndex + WORD_VERSION_HI] = Math.floor(version / TWO_POW_32);
}

export function keyLengthOf(words: Int32Array, wordIndex: number): number {
  return words[wordIndex + WORD_KEY_LENGTH_KIND_FLAGS] & KEY_LENGTH_MASK;
}

export function kindOf(words: Int32Array, wordIndex: number): number {
  return (words[wordIndex + WORD_KEY_LENGTH_KIND_FLAGS] >>> KIND_SHIFT) & KIND_MASK;
}

export function valueLengthOf(words: Int32Array, wordIndex: number): number {
  return words[wordIndex + WORD_VALUE_LENGTH] >>> 0;
}

/** Size in bytes of the record whose header starts at `wordIndex`. */
export function recordBytesAt(words: Int32Array, wordIndex: number): number {
  return recordBytes(keyLengthOf(words, wordIndex), valueLengthOf(words, wordIndex));
}

const CHECKSUM_SEED = 0x5c1ce4b1;
const CHECKSUM_PRIME = 0x9e3779b1;

/**
 * Checksum of a record: a multiply-rotate hash over its 32-bit words after the checksum word.
 * Every step is a bijection of the running state for a fixed word and of the word for a fixed
 * state, so any change confined to one word (any flipped byte) always changes the result.
 */
export function checksum(words: Int32Array, wordIndex: number, byteLength: number): number {
  let h = CHECKSUM_SEED ^ byteLength;
  const end = wordIndex + (byteLength >> 2);
  for (let i = wordIndex + 1; i < end; i++) {
    h = Math.imul(h ^ words[i], CHECKSUM_PRIME);
    h = (h << 13) | (h >>> 19);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h | 0;
}

export function checksumMatches(words: Int32Array, wordIndex: number): boolean {
  return words[wordIndex + WORD_CHECKSUM] === checksum(words, wordIndex, recordBytesAt(words, wordIndex));
}

/**
 * Whether the header at `wordIndex` describes a record that fits in the segment's filled part:
 * a valid kind, a non-empty key, and an end at or before `fillBytes`. Checked before any length
 * from a header is trusted, so a corrupt length never sends a read past the record.
 */
export function recordPlausible(words: Int32Array, wordIndex: number, fillBytes: number): boolean {
  const kind = kindOf(words, wordIndex);
  if (kind !== RecordKind.OBJECT && kind !== RecordKind.TOMBSTONE && kind !== RecordKind.COMPLETION) return false;
  const keyLength = keyLengthOf(words, wordIndex);
  return keyLength >= 1 && wordIndex * 4 + recordBytes(keyLength, valueLengthOf(words, wordIndex)) <= fillBytes;
}

/**
 * Size of the record at byte `at` if it is a plausible OBJECT record (non-empty key) ending by
 * byte `end`, else 0: the header decoded once, for a bulk load's install loop.
 */
export function objectBytesAt(words: Int32Array, at: number, end: number): number {
  const w = at >> 2;
  const keyLength = keyLengthOf(words, w);
  if (kindOf(words, w) !== RecordKind.OBJECT || keyLength < 1) return 0;
  const valueLength = valueLengthOf(words, w);
  if (valueLength > end - at) return 0;
  const size = recordBytes(keyLength, valueLength);
  return at + size <= end ? size : 0;
}

/** Plausible and its checksum matches: safe to read and to serve. */
export function recordIntact(words: Int32Array, wordIndex: number, fillBytes: number): boolean {
  return recordPlausible(words, wordIndex, fillBytes) && checksumMatches(words, wordIndex);
}
