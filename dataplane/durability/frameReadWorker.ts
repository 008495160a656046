// The worker thread of FrameReaders (frameReaders.ts): reads byte ranges of files into one reused
// buffer and copies them into the caller's SharedArrayBuffer-backed parts, or faults zeroed shared
// memory in. Its messages: a job { id, fd, position, parts: [{ memory, offsetBytes, length }] } or
// { id, touch: [parts] }; its answers { id, bytesRead } (0 for a touch) or { id, error }. The file
// descriptors are the calling thread's (one process), open until answered.

import { readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

interface Part {
  readonly memory: SharedArrayBuffer;
  readonly offsetBytes: number;
  readonly length: number;
}

/** Read from `fd` at `position` into `parts`, in order. */
interface ReadJob {
  readonly id: number;
  readonly fd: number;
  readonly position: number;
  readonly parts: readonly Part[];
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

function read(job: ReadJob): number {
  let total = 0;
  for (const part of job.parts) total += part.length;
  if (scratch.length < total) scratch = Buffer.allocUnsafeSlow(total);
  let bytesRead = 0;
  while (bytesRead < total) {
    const count = readSync(job.fd, scratch, bytesRead, total - bytesRead, job.position + bytesRead);
    if (count === 0) break;
    bytesRead += count;
  }
  let at = 0;
  for (const part of job.parts) {
    if (at >= bytesRead) break;
    const count = Math.min(part.length, bytesRead - at);
    scratch.copy(Buffer.from(part.memory, part.offsetBytes, count), 0, at, at + count);
    at += count;
  }
  return bytesRead;
}

parentPort?.on('message', (job: ReadJob | TouchJob) => {
  try {
    parentPort?.postMessage({ id: job.id, bytesRead: 'touch' in job ? touch(job) : read(job) });
  } catch (error) {
    parentPort?.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) });
  }
});
