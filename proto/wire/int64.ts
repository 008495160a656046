// 64-bit integers in frames, little-endian, as JavaScript numbers where they are safe integers.
// Versions and sequence numbers stay below 2^53 by design; deltas and integer values may be any
// int64 and come back as bigint only when they are not safe integers.

const TWO_POW_32 = 0x1_0000_0000;

/** Reads an unsigned 64-bit value; NaN when it is not a safe integer. */
export function readUint64(bytes: Buffer, at: number): number {
  const value = bytes.readUInt32LE(at + 4) * TWO_POW_32 + bytes.readUInt32LE(at);
  return Number.isSafeInteger(value) ? value : Number.NaN;
}

/** Writes a non-negative safe integer as an unsigned 64-bit value. */
export function writeUint64(bytes: Buffer, at: number, value: number): void {
  bytes.writeUInt32LE(value % TWO_POW_32, at);
  bytes.writeUInt32LE(Math.floor(value / TWO_POW_32), at + 4);
}

/** Reads a signed 64-bit value; NaN when it is not a safe integer (see readInt64Exact). */
export function readInt64(bytes: Buffer, at: number): number {
  const value = bytes.readInt32LE(at + 4) * TWO_POW_32 + bytes.readUInt32LE(at);
  return Number.isSafeInteger(value) ? value : Number.NaN;
}

/** Reads a signed 64-bit value exactly: a number when safe, else a bigint. */
export function readInt64Exact(bytes: Buffer, at: number): number | bigint {
  const value = readInt64(bytes, at);
  return Number.isNaN(value) ? bytes.readBigInt64LE(at) : value;
}

/** Writes a signed 64-bit value (a safe integer or any int64 bigint). */
export function writeInt64(bytes: Buffer, at: number, value: number | bigint): void {
  if (typeof value === 'bigint') {
    bytes.writeBigInt64LE(value, at);
    return;
  }
  bytes.writeUInt32LE(((value % TWO_POW_32) + TWO_POW_32) % TWO_POW_32, at);
  bytes.writeInt32LE(Math.floor(value / TWO_POW_32), at + 4);
}
