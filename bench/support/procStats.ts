// CPU time and memory of another process, from Linux /proc: the YCSB benchmark reads its server's
// CPU time around each measurement to say which side was the bottleneck. Elsewhere these return
// null and the benchmark reports no server CPU figures.

import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux we run on). */
const CLOCK_TICKS_PER_SECOND = 100;
/** utime and stime are fields 14 and 15 of stat; counted from the field after "(comm)", 11 and 12. */
const UTIME_AFTER_COMM = 11;
const STIME_AFTER_COMM = 12;

/** User + system CPU seconds of a process, all its threads, null if unavailable. */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: split after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[UTIME_AFTER_COMM]) + Number(fields[STIME_AFTER_COMM]);
    return Number.isFinite(ticks) ? ticks / CLOCK_TICKS_PER_SECOND : null;
  } catch {
    return null;
  }
}

/** Resident set size of a process, null if unavailable. */
export function processRssBytes(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}
