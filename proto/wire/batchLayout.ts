// Byte layout of a batch frame: the ops of one Batch message, packed into its `ops` bytes so the
// server reads them without building a JavaScript object per op. Drawn in docs/wire-format.md;
// all integers little-endian.
//
//  batch header (16 bytes)
//  +-----------------+--------------+---------------+------------------------------+
//  | u16 version = 1 | u16 flags = 0| u32 op count  | u64 first incomplete seq     |
//  +-----------------+--------------+---------------+------------------------------+
//
//  op: common part (8 bytes), then the opcode's fields, then the key, then the value
//  +-----------+----------+----------------+-------------+
//  | u8 opcode | u8 flags | u16 key length | u32 view    |
//  +-----------+----------+----------------+-------------+
//   GET                 -
//   PUT                 u32 value length, u64 seq
//   DELETE              u64 seq
//   PUT_IF_VERSION      u32 value length, u64 expected version, u64 seq
//   DELETE_IF_VERSION   u64 expected version, u64 seq
//   INCR_BY             i64 delta, u64 seq

import { Opcode } from './codes.js';

export const BATCH_HEADER_BYTES = 16;
export const BATCH_AT_VERSION = 0;
export const BATCH_AT_FLAGS = 2;
export const BATCH_AT_OP_COUNT = 4;
export const BATCH_AT_FIRST_INCOMPLETE = 8;

export const OP_COMMON_BYTES = 8;
export const OP_AT_OPCODE = 0;
export const OP_AT_FLAGS = 1;
export const OP_AT_KEY_LENGTH = 2;
export const OP_AT_VIEW = 4;

/** Bytes of each opcode's fixed fields after the common part; indexed by opcode. */
export const OP_FIELDS_BYTES: readonly number[] = [
  -1, // unused
  0, // GET
  4 + 8, // PUT: value length, seq
  8, // DELETE: seq
  4 + 8 + 8, // PUT_IF_VERSION: value length, expected version, seq
  8 + 8, // DELETE_IF_VERSION: expected version, seq
  8 + 8, // INCR_BY: delta, seq
];

export function carriesValue(opcode: Opcode): boolean {
  return opcode === Opcode.PUT || opcode === Opcode.PUT_IF_VERSION;
}
