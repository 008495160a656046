// Copies a run of bytes between Uint8Arrays without allocating for short runs: `set(subarray())`
// makes a view object per call, which on the serving path is an object per op (a GET's value into
// the reply frame was ~9 MB/s of garbage at 143k ops/s in bench:migration's source). Short runs
// go byte by byte; long ones pay the one view, which their copy dwarfs. Shared by the engine, the
// wire writers and the migration's key lists.

/** Runs up to this length are copied with a loop; longer ones with TypedArray.set. */
export const COPY_LOOP_BYTES_MAX = 128;

export function copyBytes(source: Uint8Array, sourceOffset: number, length: number, target: Uint8Array, targetOffset: number): void {
  if (length <= COPY_LOOP_BYTES_MAX) {
    for (let i = 0; i < length; i++) target[targetOffset + i] = source[sourceOffset + i];
  } else {
    target.set(source.subarray(sourceOffset, sourceOffset + length), targetOffset);
  }
}
