// async mode's loss window (docs/durability.md, "Modes and their loss windows"): a commit starts
// every fsyncIntervalMs. A timer tick that came while a commit was in flight used to be skipped,
// so entries appended during a slow commit waited for the next tick: a commit plus a whole
// interval more. Now the commit that ends starts the next at once.
//
// The commit is held in flight deterministically: every thread of libuv's pool is blocked in a
// read of a FIFO until the test writes to it, so the commit's write() cannot run meanwhile.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, open, read, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_WAL_CONFIG, WalWriter } from '../../dataplane/durability/walWriter.js';
import { appendPuts } from '../support/walAppends.js';

const POOL_THREADS = Number(process.env.UV_THREADPOOL_SIZE ?? 4);

/** Occupies every thread of the pool with a read of its own FIFO; returns the FIFOs' paths once all are blocked. */
async function blockThreadPool(dir: string): Promise<{ fifos: string[]; reads: Promise<void>[] }> {
  const fifos: string[] = [];
  const reads: Promise<void>[] = [];
  for (let i = 0; i < POOL_THREADS; i++) {
    const path = join(dir, `fifo-${i}`);
    execFileSync('mkfifo', [path]);
    // O_RDWR: opening a FIFO so does not wait for a writer (Linux); the read then waits for data.
    const fd = await new Promise<number>((resolve, reject) => open(path, 'r+', (error, opened) => (error === null ? resolve(opened) : reject(error))));
    fifos.push(path);
    reads.push(new Promise<void>((resolve) => read(fd, Buffer.alloc(1), 0, 1, null, () => resolve())));
  }
  return { fifos, reads };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('WalWriter (async): a timer tick during a commit in flight is not lost: the next commit starts as that one ends', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'slicekv-wal-tick-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const intervalMs = 50;
  const wal = WalWriter.open({ ...DEFAULT_WAL_CONFIG, dir, mode: 'async', fsyncIntervalMs: intervalMs }, 0);
  t.after(() => wal.close());
  let afterFirstCommit: boolean | null = null;
  wal.observer = {
    committed: () => {
      // Runs inside the commit's completion, before the writer decides what to do next; the
      // microtask runs right after that decision, long before the next timer tick.
      if (afterFirstCommit === null) queueMicrotask(() => (afterFirstCommit = wal.commitInFlight));
    },
  };
  const { fifos, reads } = await blockThreadPool(dir);
  appendPuts(wal, 1, 2);
  await sleep(intervalMs * 1.5); // a tick starts the commit of entry 1; its write() waits for a pool thread
  assert.ok(wal.commitInFlight, 'the first commit is in flight');
  appendPuts(wal, 2, 3);
  await sleep(intervalMs * 3); // ticks come while it is in flight
  assert.equal(wal.durableLsn, 0, 'nothing committed while the pool is blocked');
  for (const fifo of fifos) writeFileSync(fifo, 'x');
  await Promise.all(reads);
  for (let waited = 0; wal.durableLsn === 0 && waited < 10_000; waited += 5) await sleep(5);
  assert.ok(wal.durableLsn > 0, 'the first commit ended');
  assert.equal(afterFirstCommit, true, 'entry 2, appended during the first commit, is being committed as soon as it ends, not at a later tick');
  for (let waited = 0; wal.durableLsn < wal.appendedLsn && waited < 10_000; waited += 5) await sleep(5);
  assert.equal(wal.durableLsn, wal.appendedLsn);
});
