// The worker thread of FrameReaders (frameReaders.ts): reads byte ranges of files into one reused
// buffer and copies them into the caller's SharedArrayBuffer-backed parts, or faults zeroed shared
// memory in. Its messages: a job { id, fd, position, parts: [{ memory, offsetBytes, length }] } or
// { id, touch: [parts] }; its answers { id, bytesRead } (0 for a touch) or { id, error }. The file
// descriptors are the calling thread's (one process), open until answered.

import { readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { lastNonZero } from './walDataEnd.js';

interface Part {
  readonly memory: SharedArrayBuffer;
  readonly offsetBytes: number;
  readonly length: number;
}

/** Read from `fd` at `position` into `parts`, in order; `zeroed`: they hold zeros, copy only pages that are not. */
interface ReadJob {
  readonly id: number;
  readonly fd: number;
  readonly position: number;
  readonly parts: readonly Part[];
  readonly zeroed?: boolean;
}

/** Fault these pages in: zero memory nothing else uses yet (FrameReaders.touch). */
interface TouchJob {
  readonly id: number;
  readonly touch: readonly Part[];
}

/** Bytes between touches: a page (larger pages are touched more than once, harmlessly). */
const PAGE_BYTES = 4096;

/** Grows to the largest job (a checkpoint frame: at most a segment plus its hashes) and stays. */
let scratch = Buffer.allocUnsafeSlow(1 << 20);

/** Writes a 0 into each page: a write, so the page is mapped for writing (a read would map the shared zero page). */
function touch(job: TouchJob): number {
  for (const part of job.touch) {
    const bytes = new Uint8Array(part.memory, part.offsetBytes, part.length);
    for (let at = 0; at < bytes.length; at += PAGE_BYTES) bytes[at] = 0;
  }
  return 0;
}

/** Reads the job's bytes into the scratch buffer; returns how many the file had. */
function readIntoScratch(job: ReadJob): number {
  let total = 0;
  for (const part of job.parts) total += part.length;
  if (scratch.length < total) scratch = Buffer.allocUnsafeSlow(total);
  let bytesRead = 0;
  while (bytesRead < total) {
    const count = readSync(job.fd, scratch, bytesRead, total - bytesRead, job.position + bytesRead);
    if (count === 0) break;
    bytesRead += count;
  }
  return bytesRead;
}

function read(job: ReadJob): { bytesRead: number; lastNonZero?: number } {
  const bytesRead = readIntoScratch(job);
  if (job.zeroed === true) return { bytesRead, lastNonZero: copyNonZeroPages(job.parts[0], bytesRead) };
  let at = 0;
  for (const part of job.parts) {
    if (at >= bytesRead) break;
    const count = Math.min(part.length, bytesRead - at);
    scratch.copy(Buffer.from(part.memory, part.offsetBytes, count), 0, at, at + count);
    at += count;
  }
  return { bytesRead };
}

/**
 * Copies scratch[0, bytesRead) into `part` (zeroed memory) page by page, leaving out pages of
 * zeros (their memory stays unmapped); returns the offset of the last non-zero byte (-1: none).
 */
function copyNonZeroPages(part: Part, bytesRead: number): number {
  const target = Buffer.from(part.memory, part.offsetBytes, Math.min(part.length, bytesRead));
  let last = -1;
  for (let from = 0; from < target.length; from += PAGE_BYTES) {
    const end = Math.min(target.length, from + PAGE_BYTES);
    const inPage = lastNonZero(scratch.subarray(from, end), end - from);
    if (inPage < 0) continue;
    scratch.copy(target, from, from, end);
    last = from + inPage;
  }
  return last;
}

parentPort?.on('message', (job: ReadJob | TouchJob) => {
  try {
    parentPort?.postMessage('touch' in job ? { id: job.id, bytesRead: touch(job) } : { id: job.id, ...read(job) });
  } catch (error) {
    parentPort?.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) });
  }
});
