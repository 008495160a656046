// Worker threads that read recovery's checkpoint frames into segment memory, instead of libuv's
// pool reading them straight in (FileHandle.readv). Why: on a VM with shadow paging (the 2-vCPU test
// VM is one) the first touch of a page costs a fault per privilege mode, ~12 us for the first and
// ~6.5 us for the other: a page the kernel's read() filled, then the JavaScript thread checked and
// indexed, cost both, and the user-mode one fell on the JavaScript thread (~230 ms of a 1M-key
// restart's ~620 ms on-CPU, visible as crc32 time). A worker reads into one reused buffer (its pages
// mapped once) and copies into the segment in user mode: one fault per fresh page, off the
// JavaScript thread, which then finds the memory mapped. See docs/durability.md, "Session 12".
//
// The destination must be SharedArrayBuffer memory (the engine's segments are: segments.ts; the
// reader's scratch comes from sharedBuffer()). Anything else, or readers that could not start,
// falls back to readv on the pool: same bytes, same errors (a short read is a torn frame).

import type { FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** Workers per load: the 2-vCPU machine gained from the second (page faults run in parallel). */
const READERS_MAX = 2;

interface Waiter {
  readonly resolve: (bytesRead: number) => void;
  readonly reject: (error: Error) => void;
  /** The same read by readv, should the worker that has it die (a touch: nothing to redo). */
  readonly retry: () => Promise<number>;
}

/** Shared memory as the workers' messages carry it. */
interface SharedPart {
  readonly memory: SharedArrayBuffer;
  readonly offsetBytes: number;
  readonly length: number;
}

function sharedPart(part: Uint8Array): SharedPart {
  return { memory: part.buffer as SharedArrayBuffer, offsetBytes: part.byteOffset, length: part.length };
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
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 1;
  private failure: Error | null = null;
  /** Reads the workers did (the rest went to readv). */
  workerReads = 0;

  private constructor(count: number) {
    for (let i = 0; i < count; i++) {
      const worker = new Worker(new URL('./frameReadWorker.js', import.meta.url));
      // A load in progress keeps the process alive by its own promises; idle readers must not.
      worker.unref();
      worker.on('message', (answer: { id: number; bytesRead?: number; error?: string }) => this.answer(answer));
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

  /**
   * Reads from `file` at `position` into `parts` in order (as readv does); resolves with the bytes
   * read (fewer at the end of the file).
   */
  readv(file: FileHandle, parts: readonly Buffer[], position: number): Promise<number> {
    const retry = (): Promise<number> => file.readv(parts as Buffer[], position).then((r) => r.bytesRead);
    if (this.failure !== null || !parts.every(isShared)) return retry();
    const id = this.nextId++;
    this.workerReads++;
    return new Promise<number>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, retry });
      this.workers[id % this.workers.length].postMessage({ id, fd: file.fd, position, parts: parts.map(sharedPart) });
    });
  }

  /**
   * Faults `areas` in from the workers (a write of 0 to each page: only for memory that holds
   * zeros and that nothing else uses until this resolves), spread over them. Resolves with whether
   * the workers did it; false (at once) for memory that is not shared or readers that failed, and
   * when a worker dies meanwhile (pages it did not reach are faulted in by their first use).
   */
  touch(areas: readonly Uint8Array[]): Promise<boolean> {
    if (this.failure !== null || !areas.every(isShared)) return Promise.resolve(false);
    const jobs = this.workers.map((worker, w) => {
      const share = areas.filter((_area, i) => i % this.workers.length === w);
      if (share.length === 0) return Promise.resolve(true);
      const id = this.nextId++;
      return new Promise<boolean>((resolve) => {
        this.waiting.set(id, { resolve: () => resolve(true), reject: () => resolve(false), retry: () => {
          resolve(false);
          return Promise.resolve(0);
        } });
        worker.postMessage({ id, touch: share.map(sharedPart) });
      });
    });
    return Promise.all(jobs).then((done) => done.every(Boolean));
  }

  /** Stops the readers; reads still waiting fail (a load closes them once its reads are done). */
  async close(): Promise<void> {
    this.fail(new Error('frame readers closed'), false);
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  private answer(answer: { id: number; bytesRead?: number; error?: string }): void {
    const waiter = this.waiting.get(answer.id);
    if (waiter === undefined) return;
    this.waiting.delete(answer.id);
    if (answer.error !== undefined) waiter.reject(new Error(answer.error));
    else waiter.resolve(answer.bytesRead ?? 0);
  }

  /** No more reads by the workers; those waiting are done by readv (`retry`) or fail. */
  private fail(error: Error, retry: boolean): void {
    this.failure ??= error;
    for (const waiter of this.waiting.values()) {
      if (retry) waiter.retry().then(waiter.resolve, waiter.reject);
      else waiter.reject(error);
    }
    this.waiting.clear();
  }
}
