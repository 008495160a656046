// What a first write to a page of fresh memory costs on this machine, printed with every result:
// on the VMs this project runs on it has measured from ~1.5 us to 10-13 us per 4 KiB page from
// one boot to the next, and every memory-bound figure (loads, restarts, copies, event-loop
// maxima) moves with it, on both sides of a comparison ("Event-loop bounds" in
// docs/design-notes.md, "Session 10" in docs/durability.md). An estimate: a fresh 16 MiB block
// (calloc'd, so a new mapping in a fresh process) written once per page.

import { performance } from 'node:perf_hooks';

const PROBE_BYTES = 16 * 1024 * 1024;
const PAGE_BYTES = 4096;

/** Microseconds per first write to a 4 KiB page, then per write to the same pages once resident. */
export interface PageFaultCost {
  firstTouchMicrosPerPage: number;
  residentMicrosPerPage: number;
}

export function probePageFaultCost(): PageFaultCost {
  const pages = new Uint8Array(new ArrayBuffer(PROBE_BYTES));
  const pass = (value: number): number => {
    const started = performance.now();
    for (let at = 0; at < PROBE_BYTES; at += PAGE_BYTES) pages[at] = value;
    return ((performance.now() - started) * 1000) / (PROBE_BYTES / PAGE_BYTES);
  };
  const firstTouchMicrosPerPage = pass(1);
  const residentMicrosPerPage = pass(2);
  return { firstTouchMicrosPerPage: round(firstTouchMicrosPerPage), residentMicrosPerPage: round(residentMicrosPerPage) };
}

function round(micros: number): number {
  return Math.round(micros * 1000) / 1000;
}
