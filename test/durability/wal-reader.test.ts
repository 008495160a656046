// readWal (dataplane/durability/walReader.ts) reads its first file from the first frame that
// reaches into the replay window: frames wholly before it are hopped over by their headers (magic,
// length, an LSN that follows on), not read. Checked on hand-made log files: the window's entries
// come back with their LSNs whatever the frames before it hold; a header before the window that
// does not check out is where reading starts, so its damage is reported at its own offset; and a
// prefetched first file reads the same as one read by readWal itself.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FRAME_HEADER_BYTES } from '../../dataplane/durability/walFrame.js';
import { putFrames } from '../support/walPutFrames.js';
import { walFileName } from '../../dataplane/durability/walFiles.js';
import { prefetchWal, readWal } from '../../dataplane/durability/walReader.js';
import { startedReaders, walReadWays, type WalReadWay } from '../support/walReadWays.js';

const ENTRIES_PER_FRAME = 10;
const FRAMES = 8;
const START_LSN = 1000;

/** One log file of FRAMES frames of ENTRIES_PER_FRAME PUT entries; entry i's version is i + 1. Returns each frame's offset. */
function writeLog(dir: string): { frameOffsets: number[]; entryLsns: number[] } {
  const { bytes, frameOffsets, entryLsns } = putFrames(FRAMES, ENTRIES_PER_FRAME, START_LSN, 0);
  writeFileSync(join(dir, walFileName(START_LSN)), bytes);
  return { frameOffsets, entryLsns };
}

async function versionsFrom(dir: string, fromLsn: number, prefetch: boolean, way: WalReadWay): Promise<{ versions: number[]; lsns: number[]; result: Awaited<ReturnType<typeof readWal>> }> {
  const versions: number[] = [];
  const lsns: number[] = [];
  const result = await readWal(dir, {
    fromLsn, toLsn: null, yieldEveryEntries: 1000, prefetched: prefetch ? prefetchWal(dir, fromLsn, way.readers) : null, ...way,
    visit: (entry, lsn) => {
      versions.push(entry.version);
      lsns.push(lsn);
    },
  });
  return { versions, lsns, result };
}

test('readWal: the window of the first file is read from its first frame on, whatever the frames before it hold', async (t) => {
  const readers = await startedReaders();
  t.after(() => readers.close());
  for (const way of walReadWays(readers)) await windowRead(way);
});

async function windowRead(way: WalReadWay): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'slicekv-wal-reader-'));
  try {
    const { frameOffsets, entryLsns } = writeLog(dir);
    // From the middle of frame 5: frames 0-4 are hopped over.
    const from = entryLsns[5 * ENTRIES_PER_FRAME + 3];
    const whole = await versionsFrom(dir, from, false, way);
    assert.deepEqual(whole.versions, Array.from({ length: FRAMES * ENTRIES_PER_FRAME - 53 }, (_, i) => 54 + i));
    assert.deepEqual(whole.lsns, entryLsns.slice(53));
    assert.equal(whole.result.problem, null);
    const path = join(dir, walFileName(START_LSN));
    assert.equal(whole.result.bytesRead, statSync(path).size - frameOffsets[5], 'the frames before the window were not read');
    assert.deepEqual(await versionsFrom(dir, from, true, way).then((r) => r.versions), whole.versions, 'prefetched reads the same');

    // A payload byte damaged before the window: not replayed, not read, not a problem.
    const bytes = readFileSync(path);
    bytes[frameOffsets[2] + FRAME_HEADER_BYTES + 30] ^= 0xff;
    writeFileSync(path, bytes);
    assert.deepEqual((await versionsFrom(dir, from, false, way)).versions, whole.versions);

    // A damaged header before the window: reading starts there, and the damage is reported at its offset.
    bytes[frameOffsets[3] + 1] ^= 0xff;
    writeFileSync(path, bytes);
    for (const prefetch of [false, true]) {
      const damaged = await versionsFrom(dir, from, prefetch, way);
      assert.deepEqual(damaged.versions, []);
      assert.equal(damaged.result.problem?.offsetBytes, frameOffsets[3], `prefetch ${prefetch}, ${way.name}`);
      assert.equal(damaged.result.problem?.reason, 'corrupt');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
