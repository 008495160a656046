// Operation codes and statuses as they travel on the wire (docs/wire-format.md). Their numbers
// are part of the contract: never renumber, only append.

export const enum Opcode {
  GET = 1,
  PUT = 2,
  DELETE = 3,
  PUT_IF_VERSION = 4,
  DELETE_IF_VERSION = 5,
  INCR_BY = 6,
}

export const OPCODE_MAX = 6;

/** Per-operation result status. 0-5 have the engine's meaning (dataplane/store/status.ts). */
export const enum WireStatus {
  OK = 0,
  NOT_FOUND = 1,
  VERSION_MISMATCH = 2,
  OUT_OF_MEMORY = 3,
  INVALID_ARGUMENT = 4,
  CORRUPT = 5,
  /** The pod does not own the key's range at the op's view: refresh routes and retry. */
  WRONG_RANGE = 6,
  /** The client's RIFL lease expired: the op was not executed. */
  SESSION_EXPIRED = 7,
  /** Back-pressure: the op was not executed; retry later. */
  OVERLOADED = 8,
  /** The range is recovering or migrating in: retry later. */
  UNAVAILABLE = 9,
}

export const WIRE_STATUS_MAX = 9;

/** Why an op is INVALID_ARGUMENT (the result's detail field); values shared with the engine's ErrorDetail. */
export const enum WireDetail {
  NONE = 0,
  KEY_EMPTY = 1,
  KEY_TOO_LARGE = 2,
  VALUE_TOO_LARGE = 3,
  VALUE_NOT_INTEGER = 4,
  INCREMENT_OVERFLOW = 5,
  DELTA_NOT_SAFE_INTEGER = 6,
  VERSION_INVALID = 7,
  LOG_FULL = 8,
  INDEX_FULL = 9,
  /** A mutation without a usable RIFL sequence number (0, or not a safe integer). */
  SEQUENCE_MISSING = 10,
  /** A retry of a seq the client already acknowledged (below its first incomplete seq). */
  SEQUENCE_STALE = 11,
}

const OPCODE_NAMES = ['', 'GET', 'PUT', 'DELETE', 'PUT_IF_VERSION', 'DELETE_IF_VERSION', 'INCR_BY'];
const STATUS_NAMES = ['OK', 'NOT_FOUND', 'VERSION_MISMATCH', 'OUT_OF_MEMORY', 'INVALID_ARGUMENT', 'CORRUPT',
  'WRONG_RANGE', 'SESSION_EXPIRED', 'OVERLOADED', 'UNAVAILABLE'];

export function opcodeName(opcode: number): string {
  return OPCODE_NAMES[opcode] ?? `OPCODE_${opcode}`;
}

export function wireStatusName(status: number): string {
  return STATUS_NAMES[status] ?? `STATUS_${status}`;
}

export function isMutation(opcode: Opcode): boolean {
  return opcode !== Opcode.GET;
}
