// FrameReaders (dataplane/durability/frameReaders.ts): worker threads read file bytes into shared
// memory exactly as readv would — the same bytes, split over the parts in order, fewer at the end
// of the file — and anything they cannot serve (memory that is not shared, readers closed) is
// read by readv instead.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameReaders, sharedBuffer } from '../../dataplane/durability/frameReaders.js';
import { Random } from '../support/random.js';
import { replayHint, seedFromEnvironment } from '../support/environment.js';

test('FrameReaders: reads into shared parts what readv reads, in order, short at the end of the file; other memory falls back to readv', async (t) => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const dir = mkdtempSync(join(tmpdir(), 'slicekv-frame-readers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const content = random.bytes(3 * 1024 * 1024 + 17);
  writeFileSync(join(dir, 'f'), content);
  const file = await open(join(dir, 'f'), 'r');
  t.after(() => file.close());
  const readers = FrameReaders.start();
  assert.ok(readers !== null, 'the readers start');
  t.after(() => readers.close());

  const reads = [];
  for (let i = 0; i < 40; i++) {
    const position = random.between(0, content.length - 1);
    const parts = [sharedBuffer(random.between(0, 64)), sharedBuffer(random.between(1, 2 * 1024 * 1024)), sharedBuffer(random.between(0, 300))];
    const wanted = parts.reduce((sum, p) => sum + p.length, 0);
    reads.push(readers.readv(file, parts, position).then((bytesRead) => ({ position, parts, wanted, bytesRead })));
  }
  for (const { position, parts, wanted, bytesRead } of await Promise.all(reads)) {
    assert.equal(bytesRead, Math.min(wanted, content.length - position), `bytes read at ${position} ${replayHint(seed)}`);
    assert.ok(Buffer.concat(parts).subarray(0, bytesRead).equals(content.subarray(position, position + bytesRead)), `bytes at ${position} ${replayHint(seed)}`);
  }

  assert.equal(readers.workerReads, 40, 'the workers did every read into shared memory');

  const plain = Buffer.alloc(1000);
  assert.equal(await readers.readv(file, [sharedBuffer(10), plain], 5), 1010, 'a part that is not shared: readv reads it');
  assert.ok(plain.equals(content.subarray(15, 1015)));

  assert.equal(readers.workerReads, 40, 'not this one');
  await readers.close();
  const after = sharedBuffer(100);
  assert.equal(await readers.readv(file, [after], 7), 100, 'closed: readv reads');
  assert.ok(after.equals(content.subarray(7, 107)));
  assert.equal(readers.workerReads, 40, 'nor this one');
});

test('FrameReaders: reads waiting on a worker that dies are done by readv, and so is everything after', async (t) => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const dir = mkdtempSync(join(tmpdir(), 'slicekv-frame-readers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const content = random.bytes(2 * 1024 * 1024);
  writeFileSync(join(dir, 'f'), content);
  const file = await open(join(dir, 'f'), 'r');
  t.after(() => file.close());
  const readers = FrameReaders.start();
  assert.ok(readers !== null);
  t.after(() => readers.close());
  const reads = [];
  for (let i = 0; i < 20; i++) {
    const position = random.between(0, content.length - 65536);
    const part = sharedBuffer(65536);
    reads.push(readers.readv(file, [part], position).then((bytesRead) => ({ position, part, bytesRead })));
  }
  // A worker gone (it should never happen; a crash of its thread would look like this).
  await (readers as unknown as { workers: { terminate(): Promise<number> }[] }).workers[0].terminate();
  for (const { position, part, bytesRead } of await Promise.all(reads)) {
    assert.equal(bytesRead, 65536);
    assert.ok(part.equals(content.subarray(position, position + 65536)), `bytes at ${position} ${replayHint(seed)}`);
  }
  const before = readers.workerReads;
  const after = sharedBuffer(100);
  assert.equal(await readers.readv(file, [after], 3), 100);
  assert.ok(after.equals(content.subarray(3, 103)));
  assert.equal(readers.workerReads, before, 'after a failure, readv reads');
});

/** The process's resident memory, in bytes (Linux). */
function residentBytes(): number {
  return Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096;
}

test('FrameReaders.touch: the workers fault shared zeroed memory in (resident memory grows by it) and leave it zero; other memory is refused', async (t) => {
  const readers = FrameReaders.start();
  assert.ok(readers !== null);
  t.after(() => readers.close());
  // Both workers up first (their start-up grows resident memory too).
  assert.equal(await readers.touch([new Uint8Array(new SharedArrayBuffer(4096)), new Uint8Array(new SharedArrayBuffer(4096))]), true);
  const areas = Array.from({ length: 5 }, () => new Uint8Array(new SharedArrayBuffer(8 * 1024 * 1024)));
  const before = residentBytes();
  assert.equal(await readers.touch(areas), true, 'the workers touched them');
  const grown = residentBytes() - before;
  assert.ok(grown >= 36 * 1024 * 1024, `resident memory grew by ${grown} bytes for 40 MiB touched`);
  for (const area of areas) assert.ok(area.every((byte) => byte === 0), 'nothing but zeros written');

  assert.equal(await readers.touch([new Uint8Array(4096)]), false, 'memory that is not shared');
  await readers.close();
  assert.equal(await readers.touch([new Uint8Array(new SharedArrayBuffer(4096))]), false, 'closed readers');
});
