// Byte layout of a result frame: one result per op of the batch, in order (docs/wire-format.md).
//
//  result header (8 bytes)
//  +-----------------+--------------+-------------------+
//  | u16 version = 1 | u16 flags = 0| u32 result count  |
//  +-----------------+--------------+-------------------+
//
//  result: common part (4 bytes), then fields that depend on status and opcode
//  +-----------+-----------+------------+
//  | u8 status | u8 opcode | u16 detail |
//  +-----------+-----------+------------+
//   OK, GET                    u64 version, u32 value length, value
//   OK, INCR_BY                u64 version, i64 new value
//   OK, other mutations        u64 version written (0 for deletes)
//   VERSION_MISMATCH           u64 current version (0: absent)
//   WRONG_RANGE                u32 current view, u16 owner length, owner address (UTF-8)
//   anything else              -

export const RESULT_HEADER_BYTES = 8;
export const RESULT_AT_VERSION = 0;
export const RESULT_AT_FLAGS = 2;
export const RESULT_AT_COUNT = 4;

export const RESULT_COMMON_BYTES = 4;
export const RESULT_AT_STATUS = 0;
export const RESULT_AT_OPCODE = 1;
export const RESULT_AT_DETAIL = 2;
