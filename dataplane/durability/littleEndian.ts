// Little-endian integer reads for the per-entry paths of recovery (log entries, completion
// records), from byte loads, without Buffer.readUInt32LE's argument validation. That validation
// (validateNumber on every call) stayed in the cold code a restart runs once: reading a 100k-entry
// log tail's headers and completion payloads through these instead took ~14 ms less of the
// JavaScript thread ("Session 9" in docs/durability.md).
//
// No bounds check: the caller has checked that bytes[at, at + 4) (or + 2) lies inside `bytes`
// (a typed array read past its end gives undefined, which these turn into garbage, not a throw).

/** The unsigned 32-bit little-endian integer at bytes[at, at + 4). */
export function uint32At(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16)) + bytes[at + 3] * 0x100_0000;
}

/** The unsigned 16-bit little-endian integer at bytes[at, at + 2). */
export function uint16At(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8);
}
