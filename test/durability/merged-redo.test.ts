// Merged redo (dataplane/durability/mergedRedo.ts) replays a log tail's data entries in key-hash
// order, entries of equal hash in log order, each only once every checkpoint record below its hash
// is in. Checked here against a plain sort, for random hashes with many repeats (several entries
// per key) spread over both digits of the radix sort, and for entries spread over several buffers.
// Each entry is replayed with the hash it was queued with (both words).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MergedRedo } from '../../dataplane/durability/mergedRedo.js';
import { ENTRY_HEADER_BYTES, WalEntryCursor, writeEntryHeader } from '../../dataplane/durability/walEntry.js';
import { Random } from '../support/random.js';
import { replayHint, seedFromEnvironment } from '../support/environment.js';

const PUT = 1;
const ENTRIES_PER_BUFFER = 1000;
/** Each entry in a slot of its own (a short key's entry is smaller). */
const ENTRY_SLOT_BYTES = 64;

/** Queues `count` PUT entries whose version is their log position + 1, with hashes (hiOf(i), i). */
function queue(redo: MergedRedo, count: number, hiOf: (i: number) => number): number[] {
  const his: number[] = [];
  const cursor = new WalEntryCursor();
  for (let first = 0; first < count; first += ENTRIES_PER_BUFFER) {
    const n = Math.min(ENTRIES_PER_BUFFER, count - first);
    const bytes = Buffer.alloc(n * ENTRY_SLOT_BYTES);
    for (let i = first; i < first + n; i++) {
      const at = (i - first) * ENTRY_SLOT_BYTES;
      const key = Buffer.from(`k${i}`);
      writeEntryHeader(bytes, at, PUT, key.length, 0, i + 1, 0);
      key.copy(bytes, at + ENTRY_HEADER_BYTES);
      cursor.reset(bytes, at, at + ENTRY_SLOT_BYTES);
      assert.ok(cursor.next());
      const hi = hiOf(i);
      his.push(hi);
      redo.add(cursor, hi, i);
    }
  }
  return his;
}

test('merged redo: entries replay in hash order, log order within a hash, each below its watermark', () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const applied: number[] = [];
  const given: [number, number][] = [];
  const redo = new MergedRedo((entry, hi, lo) => {
    applied.push(entry.version - 1);
    given.push([hi, lo]);
  });
  // 40k entries over ~5k distinct hashes: low and high 16 bits both vary, and hashes repeat.
  const distinct = Array.from({ length: 5000 }, () => random.uint32());
  distinct.push(0, 0xffff_ffff, 0x0001_0000, 0x0000_ffff);
  const his = queue(redo, 40_000, () => distinct[Math.floor(random.float() * distinct.length)]);
  redo.seal();
  const expected = his.map((hi, i) => [hi, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, i]) => i);

  // Watermarks rise in random steps; every entry applied so far lies below the current one.
  const marks = Array.from({ length: 50 }, () => random.uint32()).sort((a, b) => a - b);
  for (const mark of marks) {
    redo.applyBelow(mark);
    for (const i of applied) assert.ok(his[i] < mark, `${replayHint(seed)}: entry ${i} (hash ${his[i]}) applied below ${mark}`);
    const next = expected[applied.length];
    if (next !== undefined) assert.ok(his[next] >= mark || applied.length % 16_384 === 0, `${replayHint(seed)}: stopped early at ${mark}`);
  }
  while (applied.length < expected.length) redo.applyBelow(Infinity);
  assert.deepEqual(applied, expected, replayHint(seed));
  assert.deepEqual(given, expected.map((i) => [his[i], i]), `${replayHint(seed)}: each entry replays with its own hash`);
});

test('merged redo: one call replays at most 16384 entries (the yield interval)', async () => {
  const applied: number[] = [];
  const redo = new MergedRedo((entry) => applied.push(entry.version));
  queue(redo, 20_000, (i) => i);
  redo.seal();
  redo.applyBelow(Infinity);
  assert.equal(applied.length, 16_384);
  await redo.applyRest();
  assert.equal(applied.length, 20_000);
});
