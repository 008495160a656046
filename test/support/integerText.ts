// The model of incrBy's integer values: canonical decimal text of a signed 64-bit integer
// (no '+', no leading zeros, no "-0"), computed with BigInt so values past 2^53 are exact.

export const INT64_MIN = -(1n << 63n);
export const INT64_MAX = (1n << 63n) - 1n;

const CANONICAL_INTEGER = /^(0|-?[1-9][0-9]*)$/;

/** The integer a value holds for incrBy, or null when it holds none. */
export function parseIntegerValue(value: Uint8Array): bigint | null {
  const text = Buffer.from(value.buffer, value.byteOffset, value.length).toString('latin1');
  if (!CANONICAL_INTEGER.test(text)) return null;
  const integer = BigInt(text);
  return integer < INT64_MIN || integer > INT64_MAX ? null : integer;
}

export function fitsInt64(value: bigint): boolean {
  return value >= INT64_MIN && value <= INT64_MAX;
}

/** Texts that look numeric but are not canonical int64 values. */
export const NOT_INTEGER_TEXTS: readonly string[] = [
  '', '-', '+5', '007', '-0', '00', ' 5', '5 ', '1e3', '1.0', '0x10', '--1', '9223372036854775808',
  '-9223372036854775809', '12345678901234567890123', '５',
];
