// Range checks for the integers writers put into frames: a value that does not fit its field is
// refused with a RangeError before anything is written, never wrapped or truncated. Integral
// numbers beyond 2^53 are encoded exactly as given (readers flag them as not safe).

const TWO_POW_63 = 2 ** 63;
const TWO_POW_64 = 2 ** 64;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

export function checkUint32(name: string, value: number): void {
  if (!(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff)) throw new RangeError(`${name} must be an integer in [0, 2^32), got ${value}`);
}

export function checkUint64(name: string, value: number): void {
  if (!(Number.isInteger(value) && value >= 0 && value < TWO_POW_64)) throw new RangeError(`${name} must be an integer in [0, 2^64), got ${value}`);
}

export function checkInt64(name: string, value: number | bigint): void {
  const fits = typeof value === 'bigint'
    ? value >= INT64_MIN && value <= INT64_MAX
    : Number.isInteger(value) && value >= -TWO_POW_63 && value < TWO_POW_63;
  if (!fits) throw new RangeError(`${name} must be an integer in [-2^63, 2^63), got ${value}`);
}
