// A log file's zero-filled tail (walSpareFile.ts) is its clean end. readWal reads a file only up to
// its last non-zero byte and checks the zeros after it apart (dataplane/durability/walDataEnd.ts).
// Checked on hand-made log files with tails longer than the scan's chunk: the entries come back
// and no problem is reported; a last frame whose own bytes end in zeros still reads whole; a
// non-zero byte anywhere in the tail, or a frame torn in it, is reported at the same offset, with
// the same reason, as when the whole file was parsed; and the scan finds the data's end exactly.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FRAME_HEADER_BYTES } from '../../dataplane/durability/walFrame.js';
import { putFrames } from '../support/walPutFrames.js';
import { walFileName } from '../../dataplane/durability/walFiles.js';
import { readWal } from '../../dataplane/durability/walReader.js';
import { dataEndOf } from '../../dataplane/durability/walDataEnd.js';
import { startedReaders, walReadWays, type WalReadWay } from '../support/walReadWays.js';

const START_LSN = 4096;
const FRAMES = 4;
const ENTRIES_PER_FRAME = 8;
/** Longer than walDataEnd's scan chunk (256 KiB), and not a multiple of it. */
const TAIL_BYTES = 700 * 1024 + 3;

/** FRAMES frames of PUT entries whose values are zeros (so each frame's last bytes are zeros too). */
function frames(): { bytes: Buffer; frameOffsets: number[] } {
  return putFrames(FRAMES, ENTRIES_PER_FRAME, START_LSN, 40);
}

async function readDir(dir: string, way: WalReadWay): Promise<{ versions: number[]; result: Awaited<ReturnType<typeof readWal>> }> {
  const versions: number[] = [];
  const result = await readWal(dir, { fromLsn: START_LSN, toLsn: null, yieldEveryEntries: 1000, visit: (entry) => versions.push(entry.version), ...way });
  return { versions, result };
}

/** Each way of reading, readers started for the test and closed after it. */
async function ways(t: { after: (fn: () => Promise<void>) => void }): Promise<WalReadWay[]> {
  const readers = await startedReaders();
  t.after(() => readers.close());
  return walReadWays(readers);
}

async function withLog(contents: Buffer, body: (dir: string, path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'slicekv-wal-zero-tail-'));
  try {
    const path = join(dir, walFileName(START_LSN));
    writeFileSync(path, contents);
    await body(dir, path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ALL_VERSIONS = Array.from({ length: FRAMES * ENTRIES_PER_FRAME }, (_, i) => i + 1);

test('readWal: a long zero-filled tail is the clean end, and the frames before it read whole', async (t) => {
  const { bytes } = frames();
  assert.equal(bytes[bytes.length - 1], 0, 'the last frame ends in zeros (its value bytes)');
  for (const way of await ways(t)) {
    await withLog(Buffer.concat([bytes, Buffer.alloc(TAIL_BYTES)]), async (dir) => {
      const { versions, result } = await readDir(dir, way);
      assert.deepEqual(versions, ALL_VERSIONS, way.name);
      assert.equal(result.problem, null, way.name);
      assert.equal(result.framesRead, FRAMES, way.name);
    });
  }
});

test('readWal: a non-zero byte anywhere in the tail is damage, reported where the frames end', async (t) => {
  const { bytes } = frames();
  for (const way of await ways(t)) {
    for (const into of [0, 5, 256 * 1024 - 1, 256 * 1024, TAIL_BYTES - 1]) {
      const tail = Buffer.alloc(TAIL_BYTES);
      tail[into] = 0x5a;
      await withLog(Buffer.concat([bytes, tail]), async (dir) => {
        const { versions, result } = await readDir(dir, way);
        assert.deepEqual(versions, ALL_VERSIONS, `byte ${into} of the tail, ${way.name}`);
        assert.equal(result.problem?.offsetBytes, bytes.length, `byte ${into} of the tail, ${way.name}`);
        assert.equal(result.problem?.reason, 'corrupt', way.name);
      });
    }
  }
});

test('readWal: a frame torn in the zero-filled tail is reported at its offset', async (t) => {
  const { bytes, frameOffsets } = frames();
  const last = frameOffsets[FRAMES - 1];
  // The last frame's header and the first half of its payload landed; the rest is still zeros.
  const torn = Buffer.concat([bytes.subarray(0, last + FRAME_HEADER_BYTES + 100), Buffer.alloc(TAIL_BYTES)]);
  for (const way of await ways(t)) {
    await withLog(torn, async (dir) => {
      const { versions, result } = await readDir(dir, way);
      assert.deepEqual(versions, ALL_VERSIONS.slice(0, (FRAMES - 1) * ENTRIES_PER_FRAME), way.name);
      assert.equal(result.problem?.offsetBytes, last, way.name);
      assert.equal(result.problem?.reason, 'corrupt', way.name);
    });
  }
});

test('dataEndOf: just past the last non-zero byte, from any start, across scan chunks', async () => {
  const contents = Buffer.alloc(600 * 1024);
  for (const [nonZeroAt, from, expected] of [[-1, 0, 0], [0, 0, 1], [262_143, 0, 262_144], [262_144, 0, 262_145], [300_001, 10, 300_002], [500, 600, 600]] as const) {
    contents.fill(0);
    if (nonZeroAt >= 0) contents[nonZeroAt] = 1;
    await withLog(contents, async (_dir, path) => {
      const handle = await open(path, 'r');
      try {
        assert.equal(await dataEndOf(handle, from, contents.length), expected, `non-zero at ${nonZeroAt}, from ${from}`);
      } finally {
        await handle.close();
      }
    });
  }
});
