// Checkpoint format 3's frame directory (dataplane/durability/checkpointDirectory.ts): a file is
// read several frames at once by the directory its END frame holds, and loads exactly what it
// held; a damaged frame still stops the load there (frames before it loaded, the rest reported);
// a damaged trailer or a torn tail makes the loader read frame after frame, which finds the
// damage itself; a format-2 file (no directory) still loads.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../dataplane/clock.js';
import { ClientTable, DEFAULT_CLIENT_TABLE_CONFIG } from '../../dataplane/rifl/clientTable.js';
import { MIB, Status, Store } from '../../dataplane/store/index.js';
import { writeCheckpoint } from '../../dataplane/durability/checkpointWriter.js';
import { loadCheckpoint, type CheckpointReadResult, type CheckpointSink } from '../../dataplane/durability/checkpointReader.js';
import { readFrameDirectory, type FrameSlot } from '../../dataplane/durability/checkpointDirectory.js';
import { CHECKPOINT_TRAILER_BYTES, CheckpointFrame } from '../../dataplane/durability/checkpointFile.js';
import { FRAME_HEADER_BYTES, sealFrame } from '../../dataplane/durability/walFrame.js';
import { KEYSPACE_END } from '../../proto/keyspace/range.js';

const KEYS = 20_000;
const KEY_BYTES = 12;
const config = { memoryLimitBytes: 64 * MIB, segmentSizeBytes: MIB, valueLengthMax: 4096 };

function keyOf(i: number): Buffer {
  return Buffer.from(`key-${i.toString().padStart(8, '0')}`);
}

/** A checkpoint of KEYS keys (100-byte values: ~10 RECORDS frames) in a fresh folder. */
async function writeOne(t: { after(fn: () => void): void }): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'slicekv-ckpt-dir-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new Store(config);
  for (let i = 0; i < KEYS; i++) {
    const value = Buffer.alloc(100, i & 0xff);
    assert.equal(store.put(keyOf(i), 0, KEY_BYTES, value, 0, value.length), Status.OK);
  }
  const clients = new ClientTable(store, new ManualClock(0), DEFAULT_CLIENT_TABLE_CONFIG);
  const path = join(dir, 'range.ckpt');
  await writeCheckpoint({ store, clients }, { start: 0n, end: KEYSPACE_END }, path, { walLsn: 0, pod: 'pod-t', createdAt: new Date(0).toISOString() }, 2048);
  return path;
}

async function load(path: string): Promise<{ result: CheckpointReadResult; store: Store }> {
  const store = new Store(config);
  const bulk = store.beginBulkLoad();
  const sink: CheckpointSink = {
    bulk, plan: () => ({ keep: null, compact: false }), completion: () => undefined,
    refused: (status) => {
      throw new Error(`refused: ${status}`);
    },
  };
  const result = await loadCheckpoint(path, sink);
  bulk.finish();
  return { result, store };
}

async function directoryOf(path: string): Promise<FrameSlot[] | null> {
  const file = await open(path, 'r');
  try {
    return await readFrameDirectory(file, (await file.stat()).size);
  } finally {
    await file.close();
  }
}

/** Keys 0 .. KEYS-1 that read back whole. */
function present(store: Store): number {
  let count = 0;
  for (let i = 0; i < KEYS; i++) if (store.get(keyOf(i), 0, KEY_BYTES) === Status.OK) count++;
  return count;
}

test('checkpoint directory: a format-3 file lists its frames and loads whole by them', async (t) => {
  const path = await writeOne(t);
  const slots = await directoryOf(path);
  assert.ok(slots !== null && slots.length > 5, `a directory of ${slots?.length} frames`);
  const { result, store } = await load(path);
  assert.equal(result.problem, null);
  assert.equal(result.end?.entryCount, KEYS);
  assert.equal(store.stats().keyCount, KEYS);
  assert.equal(present(store), KEYS);
});

test('checkpoint directory: a damaged frame stops the load there; the frames before it load', async (t) => {
  const path = await writeOne(t);
  const bytes = readFileSync(path);
  const at = Math.floor(bytes.length * 0.5);
  bytes[at] ^= 0x20;
  writeFileSync(path, bytes);
  assert.ok((await directoryOf(path)) !== null, 'the directory itself is intact');
  const { result, store } = await load(path);
  assert.equal(result.problem?.reason, 'bad frame checksum');
  assert.ok((result.problem?.offsetBytes ?? Infinity) <= at && (result.problem?.droppedBytes ?? 0) >= bytes.length - at, JSON.stringify(result.problem));
  const loaded = present(store);
  assert.ok(loaded > 0 && loaded < KEYS, `${loaded} keys loaded`);
  assert.equal(store.stats().keyCount, loaded);
});

test('checkpoint directory: a damaged trailer makes the loader read frame after frame; the file still loads whole', async (t) => {
  const path = await writeOne(t);
  const bytes = readFileSync(path);
  bytes[bytes.length - 3] ^= 0x01;
  writeFileSync(path, bytes);
  assert.equal(await directoryOf(path), null);
  const { result, store } = await load(path);
  assert.equal(result.problem, null);
  assert.equal(present(store), KEYS);
});

test('checkpoint directory: a torn file has no directory and is reported torn where it ends', async (t) => {
  const path = await writeOne(t);
  const size = readFileSync(path).length;
  truncateSync(path, Math.floor(size * 0.7));
  assert.equal(await directoryOf(path), null);
  const { result, store } = await load(path);
  assert.equal(result.problem?.reason, 'torn frame');
  const loaded = present(store);
  assert.ok(loaded > 0 && loaded < KEYS, `${loaded} keys loaded`);
});

test('checkpoint directory: a format-2 file (no trailer, format 2 in its META frame) still loads', async (t) => {
  const path = await writeOne(t);
  const bytes = readFileSync(path);
  // The END frame's directory is extra JSON a format-2 reader never looked at.
  const formatted = Buffer.from(bytes.subarray(0, bytes.length - CHECKPOINT_TRAILER_BYTES));
  const metaBytes = formatted.readUInt32LE(4);
  const meta = formatted.toString('utf8', FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + metaBytes);
  assert.ok(meta.includes('"format":3'), meta);
  formatted.write(meta.replace('"format":3', '"format":2'), FRAME_HEADER_BYTES, 'utf8');
  sealFrame(formatted, 0, metaBytes, CheckpointFrame.META);
  writeFileSync(path, formatted);
  assert.equal(await directoryOf(path), null);
  const { result, store } = await load(path);
  assert.equal(result.problem, null);
  assert.equal(result.meta?.format, 2);
  assert.equal(present(store), KEYS);
});
