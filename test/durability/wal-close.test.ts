// A clean shutdown commits everything the log holds (WalWriter.close). In async mode a commit
// writes and fdatasyncs on the thread pool; a close() that came while one was in flight closed
// the file under it (its write failed with EBADF) and never wrote the entries appended since it
// began: a SIGTERM'd async pod lost acknowledged writes that a kill -9 a moment later would not
// have (the async timer would have committed them).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_WAL_CONFIG, WalWriter, type WalMode } from '../../dataplane/durability/walWriter.js';
import { readWal } from '../../dataplane/durability/walReader.js';
import { appendPuts } from '../support/walAppends.js';

async function versionsIn(dir: string): Promise<{ versions: number[]; problem: unknown }> {
  const versions: number[] = [];
  const result = await readWal(dir, { fromLsn: 0, toLsn: null, yieldEveryEntries: 10_000, visit: (entry) => versions.push(entry.version) });
  return { versions, problem: result.problem };
}

for (const mode of ['async', 'sync'] as WalMode[]) {
  test(`WalWriter.close (${mode}): entries appended while a commit is in flight are committed too, and the commit in flight lands`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'slicekv-wal-close-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // A long interval: only the commit started below and the close write anything.
    const wal = WalWriter.open({ ...DEFAULT_WAL_CONFIG, dir, mode, fsyncIntervalMs: 60_000 }, 0);
    appendPuts(wal, 1, 2001);
    wal.scheduleCommit();
    // The commit starts at the next check phase; in async mode its write is then on the thread pool.
    await new Promise<void>((resolve) => setImmediate(resolve));
    appendPuts(wal, 2001, 3001);
    await wal.close();
    assert.equal(wal.failure, null, `no commit failed (${String(wal.failure)})`);
    assert.equal(wal.durableLsn, wal.appendedLsn, 'everything appended is durable once closed');
    const { versions, problem } = await versionsIn(dir);
    assert.equal(problem, null);
    assert.deepEqual(versions, Array.from({ length: 3000 }, (_, i) => i + 1), 'every entry is in the log, in order');
  });
}
