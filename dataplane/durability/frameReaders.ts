// Worker threads that read recovery's checkpoint frames into segment memory, instead of libuv's
// pool reading them straight in (FileHandle.readv). Why: on a VM with shadow paging (the 2-vCPU test
// VM is one) the first touch of a page costs a fault per privilege mode, ~12 us for the first and
// ~6.5 us for the other: a page the kernel's read() filled, then the JavaScript thread checked and
// indexed, cost both, and the user-mode one fell on the JavaScript thread (~230 ms of a 1M-key
// restart's ~620 ms on-CPU, visible as crc32 time). A worker reads into one reused buffer (its pages
// mapped once) and copies into the segment in user mode: one fault per fresh page, off the
// JavaScript thread, which then finds the memory mapped. See docs/durability.md, "Session 12".
//
// The same workers read a restart's log files in chunks (readZeroed: walFileBytes.ts) and fault
// its presized index in (touch: faultAhead.ts); see docs/durability.md, "Session 13".
//
// The destination must be SharedArrayBuffer memory (the engine's segments are: segments.ts; the
// reader's scratch comes from sharedBuffer()). Anything else, or readers that could not start,
// falls back to readv on the pool: same bytes, same errors (a short read is a torn frame).

import type { FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { lastNonZero } from './walDataEnd.js';

/** Workers per load: the 2-vCPU machine gained from the second (page faults run in parallel). */
const READERS_MAX = 2;

/** A worker's answer: bytes read (0 for a touch), the chunk's last non-zero byte for a zeroed read, or an error. */
interface Answer {
  readonly id: number;
  readonly bytesRead?: number;
  readonly lastNonZero?: number;
  readonly error?: string;
}

interface Waiter {
  readonly settle: (answer: Answer) => void;
  readonly reject: (error: Error) => void;
  /** Does the job another way (readv on the pool; nothing, for a touch), should the worker that has it die. */
  readonly retry: () => void;
}

/** What a read into zeroed memory found: bytes read, and the offset of the last non-zero one (-1: none). */
export interface ZeroedRead {
  readonly bytesRead: number;
  readonly lastNonZero: number;
}

/** A job for a worker (frameReadWorker.ts): a read, or a touch. */
type Job = { readonly id: number } & ({ readonly fd: number; readonly position: number; readonly parts: readonly SharedPart[]; readonly zeroed?: boolean }
  | { readonly touch: readonly SharedPart[] });

/** Shared memory as the workers' messages carry it. */
interface SharedPart {
  readonly memory: SharedArrayBuffer;
  readonly offsetBytes: number;
  readonly length: number;
}

function sharedPart(part: Uint8Array): SharedPart {
  return { memory: part.buffer as SharedArrayBuffer, offsetBytes: part.byteOffset, length: part.length };
}

/** Reads from `file` at `position` into `part` through libuv's pool, as far as the file goes; returns the bytes read. */
export async function readFully(file: FileHandle, part: Buffer, position: number): Promise<number> {
  let bytesRead = 0;
  while (bytesRead < part.length) {
    const count = (await file.read(part, bytesRead, part.length - bytesRead, position + bytesRead)).bytesRead;
    if (count === 0) break;
    bytesRead += count;
  }
  return bytesRead;
}

/** A buffer over fresh SharedArrayBuffer memory, which FrameReaders can fill. */
export function sharedBuffer(bytes: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(bytes), 0, bytes);
}

function isShared(part: Uint8Array): boolean {
  return part.buffer instanceof SharedArrayBuffer;
}

export class FrameReaders {
  private readonly workers: Worker[] = [];
  /** Workers whose thread has started (zeroed reads go to these). */
  private readonly online: Worker[] = [];
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 1;
  private failure: Error | null = null;
  /** Reads the workers did (the rest went to readv), and areas they touched. */
  workerReads = 0;
  workerTouches = 0;

  private constructor(count: number) {
    for (let i = 0; i < count; i++) {
      const worker = new Worker(new URL('./frameReadWorker.js', import.meta.url));
      // A load in progress keeps the process alive by its own promises; idle readers must not.
      worker.unref();
      worker.on('online', () => this.online.push(worker));
      worker.on('message', (answer: Answer) => this.answer(answer));
      // A worker that fails (it should not) leaves its reads, and all later ones, to readv.
      worker.on('error', (error) => this.fail(error, true));
      worker.on('exit', () => this.fail(new Error('a frame reader exited'), true));
      this.workers.push(worker);
    }
  }

  /** Starts the readers (their start-up takes tens of ms: start them before they are needed); null if none can start. */
  static start(): FrameReaders | null {
    try {
      return new FrameReaders(Math.max(1, Math.min(READERS_MAX, availableParallelism())));
    } catch {
      return null;
    }
  }

  /** Whether a worker's thread has started and none has failed: a read given now is taken up at once. */
  get ready(): boolean {
    return this.failure === null && this.online.length > 0;
  }

  /**
   * Reads from `file` at `position` into `parts` in order (as readv does); resolves with the bytes
   * read (fewer at the end of the file).
   */
  readv(file: FileHandle, parts: readonly Buffer[], position: number): Promise<number> {
    const byPool = (): Promise<number> => file.readv(parts as Buffer[], position).then((r) => r.bytesRead);
    if (this.failure !== null || !parts.every(isShared)) return byPool();
    this.workerReads++;
    const id = this.nextId++;
    return this.post(this.workers[id % this.workers.length], { id, fd: file.fd, position, parts: parts.map(sharedPart) },
      (answer) => answer.bytesRead ?? 0, byPool);
  }

  /**
   * Reads from `file` at `position` into `part`, memory that holds zeros (fresh: its pages
   * unmapped), as far as the file goes; a worker leaves the pages that would stay zero untouched.
   * Resolves with the bytes read and where the last non-zero one is.
   */
  readZeroed(file: FileHandle, part: Buffer, position: number): Promise<ZeroedRead> {
    const byPool = async (): Promise<ZeroedRead> => {
      const bytesRead = await readFully(file, part, position);
      return { bytesRead, lastNonZero: lastNonZero(part, bytesRead) };
    };
    if (this.failure !== null || !isShared(part)) return byPool();
    this.workerReads++;
    const id = this.nextId++;
    const workers = this.online.length > 0 ? this.online : this.workers;
    return this.post(workers[id % workers.length], { id, fd: file.fd, position, parts: [sharedPart(part)], zeroed: true },
      (answer) => ({ bytesRead: answer.bytesRead ?? 0, lastNonZero: answer.lastNonZero ?? -1 }), byPool);
  }

  /**
   * Faults `areas` in from the workers (a write of 0 to each page: only for memory that holds
   * zeros and that nothing else uses until this resolves), spread over them. Resolves with whether
   * the workers did it; false (at once) for memory that is not shared or readers that failed, and
   * when a worker dies or the readers close meanwhile (pages not reached are faulted in by their
   * first use).
   */
  touch(areas: readonly Uint8Array[]): Promise<boolean> {
    if (this.failure !== null || !areas.every(isShared)) return Promise.resolve(false);
    const jobs = this.workers.map((worker, w) => {
      const share = areas.filter((_area, i) => i % this.workers.length === w);
      if (share.length === 0) return Promise.resolve(true);
      this.workerTouches += share.length;
      return this.post(worker, { id: this.nextId++, touch: share.map(sharedPart) }, () => true, () => Promise.resolve(false));
    });
    return Promise.all(jobs).then((done) => done.every(Boolean), () => false);
  }

  /** Stops the readers; reads still waiting fail (a load closes them once its reads are done). */
  async close(): Promise<void> {
    this.fail(new Error('frame readers closed'), false);
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  /** Sends `job` to `worker`; its answer becomes the result by `result`, or `retry` does the job if the worker dies. */
  private post<T>(worker: Worker, job: Job, result: (answer: Answer) => T, retry: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(job.id, {
        settle: (answer) => (answer.error === undefined ? resolve(result(answer)) : reject(new Error(answer.error))),
        reject,
        retry: () => retry().then(resolve, reject),
      });
      worker.postMessage(job);
    });
  }

  private answer(answer: Answer): void {
    const waiter = this.waiting.get(answer.id);
    if (waiter === undefined) return;
    this.waiting.delete(answer.id);
    waiter.settle(answer);
  }

  /** No more reads by the workers; those waiting are done another way (`retry`) or fail. */
  private fail(error: Error, retry: boolean): void {
    this.failure ??= error;
    for (const waiter of this.waiting.values()) {
      if (retry) waiter.retry();
      else waiter.reject(error);
    }
    this.waiting.clear();
  }
}
