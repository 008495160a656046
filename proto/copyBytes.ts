// Copies a run of bytes between Uint8Arrays. Shared by the engine, the wire writers and the
// migration's key lists.
//
// Runs up to COPY_LOOP_BYTES_MAX go byte by byte: no call into C++ and no view object (a
// `set(subarray())` per GET's value into its reply frame was ~9 MB/s of garbage at 143k ops/s in
// bench:migration's source). Longer runs go through Buffer's native copy, which takes any
// Uint8Array as its source: the loop, whose feedback sees both Buffers and Uint8Arrays, takes
// ~1.2 ns a byte, the native copy ~45 ns flat up to 128 B, so they cross near 32 B (a 100-byte
// value: 120 vs 45 ns; a 1M-key restart's 100k merged restores spent ~7 ms less of the JavaScript
// thread; docs/durability.md "Session 9"). Node 20's native copy still makes a view per call
// (`_copyActual`), so runs over 32 B trade that garbage for the time.

/** Runs up to this length are copied with a loop; longer ones with Buffer's native copy. */
const COPY_LOOP_BYTES_MAX = 32;
const nativeCopy = Buffer.prototype.copy;

export function copyBytes(source: Uint8Array, sourceOffset: number, length: number, target: Uint8Array, targetOffset: number): void {
  if (length <= COPY_LOOP_BYTES_MAX) {
    for (let i = 0; i < length; i++) target[targetOffset + i] = source[sourceOffset + i];
  } else {
    nativeCopy.call(source as Buffer, target, targetOffset, sourceOffset, sourceOffset + length);
  }
}
