// The environment a data-plane process is started with: whoever launches `slicekv dataplane`
// (the Dockerfile's ENV, the local cluster, the benchmarks, the tests) takes it from here, and
// the process itself says at start whether it got it (dataplane/main.ts logs a warning if not).
//
// MALLOC_TUNABLE fixes glibc's mmap threshold at 256 KiB (and its trim threshold at 64 MiB, below). The engine's index tables are typed
// arrays (calloc'd by Node); glibc's default threshold starts at 128 KiB and rises to the size of
// each mmap'd block freed, up to 32 MiB, so after the first index doubling freed a table, the next
// tables came from the brk heap, and every table a doubling freed later stayed resident there (glibc
// returns only the heap's top to the system). Measured on a 1M-key load (bench:store's worker,
// /proc/self/smaps before and after): the brk heap grew by 42 MB for 17 MB of live index, and RSS
// was 189 B/key; with the threshold fixed, each table is its own mapping, unmapped when freed, and
// RSS was 166 B/key (engine-accounted 161). Blocks under 256 KiB (messages, log frames, small
// tables) still come from the heap. See "Memory: freed index tables" in docs/design-notes.md.
//
// A fixed mmap threshold also stops glibc adjusting its trim threshold, which then stays at 128
// KiB: the heap's top was given back and faulted in again over and over, and a 1M-key restart
// took 22 ms longer (median of per-pair differences, 10 interleaved pairs: 0.350 vs 0.328 s). With
// the trim threshold at 64 MiB, the most the dynamic default raises it to, the pairs were even
// (0.329 vs 0.329 s, +1 ms) and RSS after the 1M-key load 169-171 B/key instead of 164-166.

export const MALLOC_TUNABLE = 'glibc.malloc.mmap_threshold=262144:glibc.malloc.trim_threshold=67108864';

/** GLIBC_TUNABLES with MALLOC_TUNABLE added to what `env` already sets (colon-separated). */
export function tunablesWithMalloc(existing: string | undefined): string {
  if (existing === undefined || existing === '') return MALLOC_TUNABLE;
  if (mallocTunableIn(existing)) return existing;
  return `${existing}:${MALLOC_TUNABLE}`;
}

/** `base` with GLIBC_TUNABLES carrying MALLOC_TUNABLE: the environment to start a data-plane process in. */
export function dataplaneEnvironment(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, GLIBC_TUNABLES: tunablesWithMalloc(base.GLIBC_TUNABLES) };
}

/** Whether a GLIBC_TUNABLES value sets the mmap threshold (to any value: an operator's own choice stands, trim threshold and all). */
export function mallocTunableIn(tunables: string | undefined): boolean {
  return tunables !== undefined && tunables.split(':').some((t) => t.startsWith('glibc.malloc.mmap_threshold='));
}
