// Engine statuses: returned on the hot path instead of thrown errors (STYLE.md). The server maps
// them to wire statuses in one place; the engine never throws for caller input.

export const enum Status {
  OK = 0,
  NOT_FOUND = 1,
  VERSION_MISMATCH = 2,
  OUT_OF_MEMORY = 3,
  INVALID_ARGUMENT = 4,
  /** The record's checksum does not match: the engine refuses to serve corrupt data. */
  CORRUPT = 5,
}

/** Why an operation returned INVALID_ARGUMENT or OUT_OF_MEMORY (Store.errorDetail). */
export const enum ErrorDetail {
  NONE = 0,
  KEY_EMPTY = 1,
  KEY_TOO_LARGE = 2,
  VALUE_TOO_LARGE = 3,
  VALUE_NOT_INTEGER = 4,
  INCREMENT_OVERFLOW = 5,
  DELTA_NOT_SAFE_INTEGER = 6,
  VERSION_INVALID = 7,
  /** All segments hold live data the cleaner cannot compact further. */
  LOG_FULL = 8,
  /** Too many keys collide into one index bucket chain (overflow area exhausted). */
  INDEX_FULL = 9,
}

const STATUS_NAMES = ['OK', 'NOT_FOUND', 'VERSION_MISMATCH', 'OUT_OF_MEMORY', 'INVALID_ARGUMENT', 'CORRUPT'];
const DETAIL_MESSAGES = [
  '',
  'key must be at least 1 byte',
  'key is longer than the configured maximum',
  'value is longer than the configured maximum',
  'value is not a 64-bit signed decimal integer',
  'increment would overflow a 64-bit signed integer',
  'increment must be a safe integer',
  'version must be a non-negative safe integer',
  'memory limit reached: live data fills the log',
  'index bucket chain full: too many colliding keys',
];

export function statusName(status: Status): string {
  return STATUS_NAMES[status] ?? `STATUS_${status}`;
}

export function errorDetailMessage(detail: ErrorDetail): string {
  return DETAIL_MESSAGES[detail] ?? `detail ${detail}`;
}
