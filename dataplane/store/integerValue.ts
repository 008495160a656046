// Integer values for incrBy: stored as the decimal ASCII text of a 64-bit signed integer, as
// Redis does, so `put k 10` then `incrBy k 5` reads back "15" from any client or the CLI.
// Values up to 15 digits use plain numbers; longer ones take a BigInt path (rare, off the
// get/put hot path) so the full int64 range is exact.

const MINUS = 0x2d;
const ZERO = 0x30;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const DIGITS_FAST_MAX = 15;
/** "-9223372036854775808" */
export const INTEGER_TEXT_BYTES_MAX = 20;

/** Parses a canonical decimal int64 (no '+', no leading zeros, no "-0"); null if not one. */
export function parseInt64(bytes: Uint8Array, offset: number, length: number): number | bigint | null {
  if (length === 0 || length > INTEGER_TEXT_BYTES_MAX) return null;
  const negative = bytes[offset] === MINUS;
  const first = negative ? offset + 1 : offset;
  const end = offset + length;
  const digitCount = end - first;
  if (digitCount === 0) return null;
  if (bytes[first] === ZERO && (digitCount > 1 || negative)) return null;
  if (!allDigits(bytes, first, end)) return null;
  if (digitCount <= DIGITS_FAST_MAX) {
    let value = 0;
    for (let i = first; i < end; i++) value = value * 10 + (bytes[i] - ZERO);
    return negative ? -value : value;
  }
  const big = BigInt(Buffer.from(bytes.buffer, bytes.byteOffset + offset, length).toString('latin1'));
  return big < INT64_MIN || big > INT64_MAX ? null : big;
}

function allDigits(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const d = bytes[i] - ZERO;
    if (d < 0 || d > 9) return false;
  }
  return true;
}

/** current + delta as an int64; null on overflow. Safe-integer results come back as numbers. */
export function addInt64(current: number | bigint, delta: number): number | bigint | null {
  if (typeof current === 'number') {
    const sum = current + delta;
    if (Number.isSafeInteger(sum)) return sum;
  }
  const big = BigInt(current) + BigInt(delta);
  if (big < INT64_MIN || big > INT64_MAX) return null;
  const asNumber = Number(big);
  return Number.isSafeInteger(asNumber) ? asNumber : big;
}

/** Writes the decimal text of `value` at `target[0..]`; returns its length in bytes. */
export function formatInt64(value: number | bigint, target: Uint8Array): number {
  const text = String(value);
  for (let i = 0; i < text.length; i++) target[i] = text.charCodeAt(i);
  return text.length;
}
