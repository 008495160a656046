// FrameReaders (dataplane/durability/frameReaders.ts): worker threads read file bytes into shared
// memory exactly as readv would — the same bytes, split over the parts in order, fewer at the end
// of the file — and anything they cannot serve (memory that is not shared, readers closed) is
// read by readv instead.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameReaders, sharedBuffer } from '../../dataplane/durability/frameReaders.js';
import { Random } from '../support/random.js';
import { replayHint, seedFromEnvironment } from '../support/environment.js';
import { startedReaders } from '../support/walReadWays.js';
import { processRssBytes } from '../../bench/support/procStats.js';

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

/** Offset of the last non-zero byte of `bytes` (-1: none), the slow way. */
function lastNonZeroIn(bytes: Buffer): number {
  for (let i = bytes.length - 1; i >= 0; i--) if (bytes[i] !== 0) return i;
  return -1;
}

/** This process's resident memory, in bytes (Linux). */
function residentBytes(): number {
  const bytes = processRssBytes(process.pid);
  assert.ok(bytes !== null, 'resident memory readable in /proc');
  return bytes;
}

test('FrameReaders.touch: the workers fault shared zeroed memory in (resident memory grows by it) and leave it zero; other memory is refused', async (t) => {
  const readers = FrameReaders.start();
  assert.ok(readers !== null);
  t.after(() => readers.close());
  // Both workers up first (their start-up grows resident memory too).
  assert.equal(await readers.touch([new Uint8Array(new SharedArrayBuffer(4096)), new Uint8Array(new SharedArrayBuffer(4096))]), true);
  const areas = Array.from({ length: 6 }, () => new Uint8Array(new SharedArrayBuffer(16 * 1024 * 1024)));
  const before = residentBytes();
  assert.equal(await readers.touch(areas), true, 'the workers touched them');
  const grown = residentBytes() - before;
  // Not exactly 96 MiB: a collection meanwhile may give some of the heap's pages back.
  assert.ok(grown >= 72 * 1024 * 1024, `resident memory grew by ${grown} bytes for 96 MiB touched`);
  for (const area of areas) assert.ok(area.every((byte) => byte === 0), 'nothing but zeros written');

  assert.equal(await readers.touch([new Uint8Array(4096)]), false, 'memory that is not shared');
  await readers.close();
  assert.equal(await readers.touch([new Uint8Array(new SharedArrayBuffer(4096))]), false, 'closed readers');
});

test('FrameReaders.readZeroed: the bytes and where the last non-zero one is, pages of zeros left unmapped; other memory and dead workers fall back to the pool', async (t) => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const dir = mkdtempSync(join(tmpdir(), 'slicekv-frame-readers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // 64 MiB of zeros but for 4 MiB of random bytes (every 16th MiB) and a last non-zero byte at 13 MiB - 1.
  const mib = 1024 * 1024;
  const content = Buffer.alloc(64 * mib);
  for (let m = 0; m < 64; m += 16) random.bytes(mib).copy(content, m * mib);
  content[13 * mib - 1] = 7;
  writeFileSync(join(dir, 'f'), content);
  const file = await open(join(dir, 'f'), 'r');
  t.after(() => file.close());
  const readers = await startedReaders();
  t.after(() => readers.close());

  // Both workers' buffers in use first (their first reads map them).
  await Promise.all([0, 1, 2, 3].map((m) => readers.readZeroed(file, sharedBuffer(mib), m * mib)));
  // In 1 MiB reads, as the log reader does (the workers' buffer stays at its size).
  const whole = sharedBuffer(content.length);
  const before = residentBytes();
  const reads = await Promise.all(Array.from({ length: 64 }, (_, m) => readers.readZeroed(file, whole.subarray(m * mib, (m + 1) * mib), m * mib)));
  const grown = residentBytes() - before;
  assert.ok(whole.equals(content), `the bytes ${replayHint(seed)}`);
  reads.forEach((read, m) => assert.deepEqual(read, { bytesRead: mib, lastNonZero: lastNonZeroIn(content.subarray(m * mib, (m + 1) * mib)) }, `MiB ${m}`));
  assert.equal(reads[12].lastNonZero, mib - 1);
  assert.equal(reads[13].lastNonZero, -1);
  assert.ok(grown < 24 * mib, `~4 MiB of data mapped, not the 60 MiB of zero pages: resident memory grew by ${grown} bytes`);

  const tail = sharedBuffer(mib);
  assert.deepEqual(await readers.readZeroed(file, tail, 63 * mib + 5), { bytesRead: mib - 5, lastNonZero: lastNonZeroIn(content.subarray(63 * mib + 5)) }, 'short at the end');
  const plain = Buffer.alloc(4096);
  assert.deepEqual(await readers.readZeroed(file, plain, 13 * mib - 4096), { bytesRead: 4096, lastNonZero: 4095 }, 'not shared: by the pool');

  const pending = Array.from({ length: 20 }, (_, i) => {
    const part = sharedBuffer(mib);
    return readers.readZeroed(file, part, i * mib).then((read) => ({ i, part, read }));
  });
  await (readers as unknown as { workers: { terminate(): Promise<number> }[] }).workers[1].terminate();
  for (const { i, part, read } of await Promise.all(pending)) {
    assert.ok(part.equals(content.subarray(i * mib, (i + 1) * mib)), `MiB ${i} after a worker died ${replayHint(seed)}`);
    assert.deepEqual(read, { bytesRead: mib, lastNonZero: lastNonZeroIn(part) }, `MiB ${i} after a worker died`);
  }
});
