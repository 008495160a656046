// Values whose every byte depends on (key number, write number), so a value served for the wrong
// key, a stale write, or a torn or shifted copy in the log is detected byte for byte.
//
//  [u32 key number][u32 write number][pattern ... ]  pattern byte j = mix(key, write) + j

export const STAMP_HEADER_BYTES = 8;

function patternSeed(keyNumber: number, writeNumber: number): number {
  return (Math.imul(keyNumber, 0x9e3779b1) ^ Math.imul(writeNumber + 1, 0x85ebca6b)) >>> 0;
}

export function stampedValue(keyNumber: number, writeNumber: number, length: number): Buffer {
  if (length < STAMP_HEADER_BYTES) throw new RangeError(`stamped values need at least ${STAMP_HEADER_BYTES} bytes`);
  const value = Buffer.allocUnsafe(length);
  value.writeUInt32LE(keyNumber >>> 0, 0);
  value.writeUInt32LE(writeNumber >>> 0, 4);
  const seed = patternSeed(keyNumber, writeNumber);
  for (let j = STAMP_HEADER_BYTES; j < length; j++) value[j] = (seed >>> ((j & 3) * 8)) + j;
  return value;
}

/** Why `value` is not the stamped value for (key, write, length), or null when it is. */
export function stampMismatch(value: Uint8Array, keyNumber: number, writeNumber: number, length: number): string | null {
  if (value.length !== length) return `length ${value.length}, expected ${length}`;
  const view = Buffer.from(value.buffer, value.byteOffset, value.length);
  const key = view.readUInt32LE(0);
  const write = view.readUInt32LE(4);
  if (key !== keyNumber >>> 0 || write !== writeNumber >>> 0) {
    return `stamp says key ${key} write ${write}, expected key ${keyNumber} write ${writeNumber}`;
  }
  const seed = patternSeed(keyNumber, writeNumber);
  for (let j = STAMP_HEADER_BYTES; j < length; j++) {
    if (view[j] !== (((seed >>> ((j & 3) * 8)) + j) & 0xff)) return `byte ${j} differs`;
  }
  return null;
}
