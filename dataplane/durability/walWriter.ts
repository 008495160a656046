// The write-ahead log of one pod: entries are appended to an in-memory buffer by the batch
// executor, and written to the current file in frames by group commit (one write() and one
// fdatasync() for everything appended since the last commit). See "Write-ahead log" in
// docs/durability.md.
//
// - sync: a batch's reply waits (whenDurable) until the fdatasync covering its entries is done;
//   commits run back to back, so every batch that arrives while one is in flight joins the next.
// - async: replies do not wait; a commit runs every fsyncIntervalMs (and sooner when the buffer
//   passes commitBytesTarget). A crash loses at most the entries of the last interval and of a
//   commit in flight (a tick during a commit starts the next one as it ends).
//
// The buffer is bounded: past backlogBytesMax the server refuses new batches (OVERLOADED).

import { closeSync, fdatasync, fdatasyncSync, mkdirSync, openSync, unlinkSync, write, writeSync } from 'node:fs';
import { fsyncDirectorySync } from './fsyncDirectory.js';
import { dirname, join } from 'node:path';
import { assert } from '../store/assert.js';
import { ENTRY_HEADER_BYTES, WalEntryKind, writeEntryHeader } from './walEntry.js';
import { FRAME_HEADER_BYTES, sealFrame } from './walFrame.js';
import { listWalFiles, walFileName } from './walFiles.js';
import { WalSpareFile } from './walSpareFile.js';

export type WalMode = 'sync' | 'async';

export interface WalConfig {
  readonly dir: string;
  readonly mode: WalMode;
  /** async mode: the longest time an entry waits for its fdatasync. */
  readonly fsyncIntervalMs: number;
  /** A file is closed and a new one started once it holds this many bytes. */
  readonly fileBytesMax: number;
  /** Entries buffered but not yet written; past it the server refuses batches. */
  readonly backlogBytesMax: number;
  /** A frame is sealed once its payload passes this size. */
  readonly framePayloadBytesTarget: number;
}

export const DEFAULT_WAL_CONFIG: Omit<WalConfig, 'dir'> = {
  mode: 'sync',
  fsyncIntervalMs: 10,
  fileBytesMax: 16 * 1024 * 1024,
  backlogBytesMax: 256 * 1024 * 1024,
  framePayloadBytesTarget: 1024 * 1024,
};

export interface WalCommitObserver {
  /** A commit wrote `bytes` and its fdatasync took `syncSeconds`. */
  committed(bytes: number, syncSeconds: number): void;
}

interface Waiter {
  readonly lsn: number;
  readonly done: () => void;
}

const BUFFER_BYTES_INITIAL = 1024 * 1024;

export class WalWriter {
  /** LSN just past the last appended entry. */
  appendedLsn: number;
  /** Every entry below this LSN is on disk and synced. */
  durableLsn: number;
  bytesWritten = 0;
  commits = 0;
  private buffer = Buffer.allocUnsafe(BUFFER_BYTES_INITIAL);
  private spare = Buffer.allocUnsafe(BUFFER_BYTES_INITIAL);
  /** Bytes used in `buffer`, frames and the open frame's payload included. */
  private used = FRAME_HEADER_BYTES;
  /** Where the open (unsealed) frame starts in `buffer`, and the LSN of its first entry. */
  private frameStart = 0;
  private frameLsn: number;
  private fd: number;
  private fileBytes = 0;
  private readonly spareFile: WalSpareFile;
  private committing = false;
  private commitScheduled = false;
  private closed = false;
  private readonly waiters: Waiter[] = [];
  /** close() calls waiting for the commit in flight to end. */
  private readonly idleWaiters: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** async mode: a timer tick came while a commit was in flight (see tick()). */
  private tickDue = false;
  observer: WalCommitObserver | null = null;
  /** The last commit's error; the log refuses further use after one (the pod must restart). */
  failure: Error | null = null;

  private constructor(readonly config: WalConfig, startLsn: number) {
    this.appendedLsn = startLsn;
    this.durableLsn = startLsn;
    this.frameLsn = startLsn;
    this.fd = openNewFile(config.dir, startLsn);
    this.spareFile = new WalSpareFile(config.dir, config.fileBytesMax);
    if (config.mode === 'async') {
      this.timer = setInterval(() => this.tick(), config.fsyncIntervalMs);
      this.timer.unref();
    }
  }

  /** Opens the log for appending at `startLsn` (the end of what recovery read) in a new file. */
  static open(config: WalConfig, startLsn: number): WalWriter {
    mkdirSync(config.dir, { recursive: true });
    return new WalWriter(config, startLsn);
  }

  /** Bytes appended and not yet handed to the file system. */
  get backlogBytes(): number {
    return this.appendedLsn - this.durableLsn;
  }

  /** A commit's write or fdatasync is under way. */
  get commitInFlight(): boolean {
    return this.committing;
  }

  get full(): boolean {
    return this.backlogBytes >= this.config.backlogBytesMax || this.failure !== null;
  }

  // eslint-disable-next-line max-params -- the hot path: flat arguments, no object per mutation.
  appendPut(key: Uint8Array, keyOffset: number, keyLength: number, value: Uint8Array, valueOffset: number, valueLength: number,
    version: number, completion: Uint8Array, completionLength: number): void {
    const at = this.reserve(WalEntryKind.PUT, keyLength, valueLength, version, completionLength);
    this.buffer.set(key.subarray(keyOffset, keyOffset + keyLength), at);
    this.buffer.set(value.subarray(valueOffset, valueOffset + valueLength), at + keyLength);
    this.buffer.set(completion.subarray(0, completionLength), at + keyLength + valueLength);
  }

  /** DELETE (the key is gone) or COMPLETION (only the completion record): key and completion. */
  appendKeyOnly(kind: WalEntryKind.DELETE | WalEntryKind.COMPLETION, key: Uint8Array, keyOffset: number, keyLength: number,
    version: number, completion: Uint8Array, completionLength: number): void {
    const at = this.reserve(kind, keyLength, 0, version, completionLength);
    this.buffer.set(key.subarray(keyOffset, keyOffset + keyLength), at);
    this.buffer.set(completion.subarray(0, completionLength), at + keyLength);
  }

  /** ACK: `ackPayload` = 16-byte client id + u64 first incomplete seq. */
  appendAck(ackPayload: Uint8Array): void {
    const at = this.reserve(WalEntryKind.ACK, 0, 0, 0, ackPayload.length);
    this.buffer.set(ackPayload, at);
  }

  /** Reserves room for an entry, writes its header, returns where its key goes. */
  private reserve(kind: WalEntryKind, keyLength: number, valueLength: number, version: number, completionLength: number): number {
    assert(!this.closed, 'no appends after close');
    const size = (ENTRY_HEADER_BYTES + keyLength + valueLength + completionLength + 3) & ~3;
    if (this.used - this.frameStart - FRAME_HEADER_BYTES >= this.config.framePayloadBytesTarget) this.sealOpenFrame(true);
    if (this.used + size > this.buffer.length) this.grow(size);
    const at = this.used;
    const written = writeEntryHeader(this.buffer, at, kind, keyLength, valueLength, version, completionLength);
    assert(written === size, 'entry size agrees with its header');
    this.used += size;
    this.appendedLsn += size;
    if (this.config.mode === 'async' && this.backlogBytes >= this.config.framePayloadBytesTarget * 4) this.scheduleCommit();
    return at + ENTRY_HEADER_BYTES;
  }

  private grow(size: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.used + size + FRAME_HEADER_BYTES));
    this.buffer.copy(next, 0, 0, this.used);
    this.buffer = next;
  }

  /** Seals the open frame (if it has entries) and, when `reopen`, starts the next one after it. */
  private sealOpenFrame(reopen: boolean): void {
    const payloadBytes = this.used - this.frameStart - FRAME_HEADER_BYTES;
    if (payloadBytes === 0) return;
    sealFrame(this.buffer, this.frameStart, payloadBytes, this.frameLsn);
    this.frameLsn += payloadBytes;
    if (!reopen) return;
    this.frameStart = this.used;
    if (this.used + FRAME_HEADER_BYTES > this.buffer.length) this.grow(FRAME_HEADER_BYTES);
    this.used += FRAME_HEADER_BYTES;
  }

  /**
   * Calls `done` once every entry below `lsn` is durable (sync mode), at once when it already is.
   * Waiters are answered in LSN order, which keeps a session's replies in request order.
   */
  whenDurable(lsn: number, done: () => void): void {
    if (lsn <= this.durableLsn) {
      done();
      return;
    }
    this.waiters.push({ lsn, done });
    this.scheduleCommit();
  }

  /**
   * async mode's timer. A tick that finds a commit in flight is not lost: the commit that ends
   * next starts another at once, so an entry waits at most an interval plus one commit in flight
   * (skipped, it waited a commit plus a whole interval more).
   */
  private tick(): void {
    if (this.committing) this.tickDue = true;
    else this.scheduleCommit();
  }

  /** Commits soon: batches that arrive in this turn of the event loop join the same commit. */
  scheduleCommit(): void {
    if (this.commitScheduled || this.committing || this.closed || this.failure !== null) return;
    if (this.appendedLsn === this.durableLsn) return;
    this.commitScheduled = true;
    setImmediate(() => {
      this.commitScheduled = false;
      this.commit();
    });
  }

  private commit(): void {
    if (this.committing || this.closed || this.appendedLsn === this.durableLsn || this.failure !== null) return;
    const endLsn = this.appendedLsn;
    const bytes = this.takePending();
    this.committing = true;
    this.tickDue = false;
    if (this.config.mode === 'sync') this.commitInline(bytes, endLsn);
    else this.writeAll(bytes, 0, () => this.sync(bytes.length, endLsn));
  }

  /** Seals the open frame and hands over the buffered frames; appends continue into the other buffer. */
  private takePending(): Buffer {
    this.sealOpenFrame(false);
    // An empty open frame (just reopened) is not written.
    const end = this.used - this.frameStart === FRAME_HEADER_BYTES ? this.frameStart : this.used;
    const bytes = this.buffer.subarray(0, end);
    const written = this.buffer;
    this.buffer = this.spare;
    this.spare = written;
    this.frameStart = 0;
    this.used = FRAME_HEADER_BYTES;
    return bytes;
  }

  /**
   * sync mode: write and fdatasync on the event loop, as redis does with appendfsync always.
   * Everyone is waiting for this commit anyway; the thread-pool round trips of async I/O (two
   * hops, each a turn of the loop) added ~0.6 ms per commit per the bench:recovery profile.
   * Batches that arrive meanwhile wait in the socket and form the next group. SDK put loop at
   * depth 64, quiet VM: inline 84-86k ops/s, one O_DSYNC write 75k, write + fdatasync 60k.
   */
  private commitInline(bytes: Buffer, endLsn: number): void {
    const started = performance.now();
    try {
      let from = 0;
      while (from < bytes.length) from += writeSync(this.fd, bytes, from, bytes.length - from);
      fdatasyncSync(this.fd);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    this.committed(bytes.length, endLsn, (performance.now() - started) / 1000);
  }

  private writeAll(bytes: Buffer, from: number, then: () => void): void {
    write(this.fd, bytes, from, bytes.length - from, null, (error, count) => {
      if (error !== null) return this.fail(error);
      if (from + count < bytes.length) return this.writeAll(bytes, from + count, then);
      then();
    });
  }

  private sync(byteCount: number, endLsn: number): void {
    const started = performance.now();
    fdatasync(this.fd, (error) => {
      if (error !== null) return this.fail(error);
      this.committed(byteCount, endLsn, (performance.now() - started) / 1000);
    });
  }

  private committed(byteCount: number, endLsn: number, syncSeconds: number): void {
    this.committing = false;
    this.commits++;
    this.bytesWritten += byteCount;
    this.fileBytes += byteCount;
    this.durableLsn = endLsn;
    this.observer?.committed(byteCount, syncSeconds);
    if (this.fileBytes >= this.config.fileBytesMax && !this.closed) this.rotate();
    else if (this.fileBytes >= this.config.fileBytesMax / 4) this.spareFile.prepare();
    this.answerWaiters();
    // sync: what arrived during the commit is committed in the next turn (setImmediate), after
    // the batches waiting in the sockets have run and joined it.
    if (this.config.mode === 'sync') this.scheduleCommit();
    else if (this.tickDue || this.backlogBytes >= this.config.framePayloadBytesTarget * 4) this.commit();
    this.answerIdleWaiters();
  }

  /** No commit in flight any more: close() may go on. */
  private answerIdleWaiters(): void {
    if (this.committing) return;
    for (const resume of this.idleWaiters.splice(0)) resume();
  }

  private answerWaiters(): void {
    let answered = 0;
    while (answered < this.waiters.length && this.waiters[answered].lsn <= this.durableLsn) answered++;
    const ready = this.waiters.splice(0, answered);
    for (const waiter of ready) waiter.done();
  }

  private rotate(): void {
    closeSync(this.fd);
    this.fd = this.spareFile.take(this.durableLsn) ?? openNewFile(this.config.dir, this.durableLsn);
    this.fileBytes = 0;
  }

  private fail(error: Error): void {
    this.committing = false;
    this.failure = error;
    this.answerIdleWaiters();
  }

  /**
   * Deletes the files every entry of which lies below `lsn` (checkpoints cover them). The file
   * being written is never deleted. Returns how many files went.
   */
  truncateBefore(lsn: number): number {
    const files = listWalFiles(this.config.dir);
    let deleted = 0;
    for (let i = 0; i + 1 < files.length; i++) {
      if (files[i + 1].startLsn > lsn) break;
      unlinkSync(files[i].path);
      deleted++;
    }
    return deleted;
  }

  /**
   * Commits what is buffered (shutdown) and closes the file, once the commit in flight, if any,
   * has ended. An async-mode commit writes and fdatasyncs on the thread pool: closing the file
   * under it made that write fail (EBADF), and the entries appended since it began were never
   * written, so a clean shutdown lost acknowledged writes.
   */
  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    while (this.committing) await new Promise<void>((resume) => this.idleWaiters.push(resume));
    this.closeIdle();
  }

  /** close() with no commit in flight: the last commit, synchronously whatever the mode, then the file is closed. */
  private closeIdle(): void {
    if (this.closed) return;
    assert(!this.committing, 'no commit is in flight when the file is closed');
    this.closed = true;
    if (this.failure === null && this.appendedLsn > this.durableLsn) {
      // The last commit, synchronously whatever the mode (it answers the waiters too).
      const endLsn = this.appendedLsn;
      const bytes = this.takePending();
      this.committing = true;
      this.commitInline(bytes, endLsn);
      if (this.failure !== null) {
        closeSync(this.fd);
        throw this.failure;
      }
    }
    closeSync(this.fd);
  }
}

/** Creates the file that starts at `startLsn` and makes its name durable (directory fsync). */
function openNewFile(dir: string, startLsn: number): number {
  const path = join(dir, walFileName(startLsn));
  // 'w': a file of this name can only be an empty one left by a crash right after it was made.
  const fd = openSync(path, 'w');
  fsyncDirectorySync(dirname(path));
  return fd;
}
