// The worker thread of FrameReaders (frameReaders.ts): reads byte ranges of files into one reused
// buffer and copies them into the caller's SharedArrayBuffer-backed parts. Its messages: a job
// { id, fd, position, parts: [{ memory, offsetBytes, length }] }; its answers { id, bytesRead } or
// { id, error }. The file descriptors are the calling thread's (one process), open until answered.

import { readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

interface Part {
  readonly memory: SharedArrayBuffer;
  readonly offsetBytes: number;
  readonly length: number;
}

interface Job {
  readonly id: number;
  readonly fd: number;
  readonly position: number;
  readonly parts: readonly Part[];
}

/** Grows to the largest job (a checkpoint frame: at most a segment plus its hashes) and stays. */
let scratch = Buffer.allocUnsafeSlow(1 << 20);

function run(job: Job): number {
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

parentPort?.on('message', (job: Job) => {
  try {
    parentPort?.postMessage({ id: job.id, bytesRead: run(job) });
  } catch (error) {
    parentPort?.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) });
  }
});
