// Durability in one process: a pod writes its log and checkpoints, is abandoned without a clean
// shutdown (nothing more reaches the disk), and a new pod on the same data dir recovers every
// acknowledged write with its version, its deletions, and its completion records.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '../../client/index.js';
import { adminClient } from '../../proto/adminClient.js';
import { assignWholeKeyspace } from '../support/assignRanges.js';
import { abandon, durablePod } from '../support/durablePod.js';

test('restart: checkpoint plus log replay restores values, versions, deletions and completion records', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'slicekv-restart-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = durablePod(dataDir, 'pod-r');
  const address = await first.start();
  // A failed assertion must not leave a pod or a client keeping the file's process alive.
  t.after(() => abandon(first));
  await assignWholeKeyspace(address, 'pod-r');
  const client = createClient({ seeds: [address] });
  t.after(() => client.close());
  await client.mput([...Array(2000).keys()].map((i) => [`k${i}`, `before-${i}`]));
  for (let i = 0; i < 10; i++) await client.incrBy('counter', 1);
  const admin = adminClient(address);
  t.after(() => admin.close());
  const checkpoint = await admin.call('Checkpoint', {});
  assert.equal(checkpoint.ranges, 1);
  assert.ok(Number(checkpoint.records) >= 2001, `checkpoint holds the records (${String(checkpoint.records)})`);
  admin.close();
  await client.mput([...Array(500).keys()].map((i) => [`k${i}`, `after-${i}`]));
  for (let i = 0; i < 100; i++) assert.equal(await client.delete(`k${1000 + i}`), true);
  const { version } = await client.put('versioned', 'x');
  for (let i = 0; i < 5; i++) await client.incrBy('counter', 1);
  client.close();
  await abandon(first);

  const second = durablePod(dataDir, 'pod-r');
  const address2 = await second.start();
  t.after(() => second.stop());
  const report = second.lastRecovery;
  assert.ok(report !== null && report.problems.length === 0, JSON.stringify(report?.problems));
  const reader = createClient({ seeds: [address2] });
  t.after(() => reader.close());
  const keys = [...Array(2000).keys()].map((i) => `k${i}`);
  const values = await reader.mget(keys);
  values.forEach((entry, i) => {
    if (i >= 1000 && i < 1100) assert.equal(entry, null, `k${i} stays deleted`);
    else assert.equal(entry?.value.toString(), i < 500 ? `after-${i}` : `before-${i}`, `k${i}`);
  });
  assert.equal((await reader.get('versioned'))?.version, version, 'versions survive recovery');
  assert.equal(await reader.incrBy('counter', 1), 16);
  const { version: next } = await reader.put('versioned', 'y');
  assert.ok(next > version, 'new versions exceed recovered ones');
});

test('restart: ranges split and merged after a checkpoint recover from the parent checkpoint and the log', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'slicekv-split-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = durablePod(dataDir, 'pod-s');
  const address = await first.start();
  t.after(() => abandon(first));
  await assignWholeKeyspace(address, 'pod-s');
  const client = createClient({ seeds: [address] });
  t.after(() => client.close());
  await client.mput([...Array(3000).keys()].map((i) => [`k${i}`, `one-${i}`]));
  const admin = adminClient(address);
  t.after(() => admin.close());
  await admin.call('Checkpoint', {});
  const half = (1n << 63n).toString();
  const quarter = (1n << 62n).toString();
  await admin.call('SplitRange', { range: { start: '0', end: '0', view: 1 }, at: half });
  await admin.call('SplitRange', { range: { start: half, end: '0', view: 2 }, at: (3n << 62n).toString() });
  await admin.call('SplitRange', { range: { start: '0', end: half, view: 2 }, at: quarter });
  await admin.call('MergeRanges', { left: { start: '0', end: quarter, view: 3 }, right: { start: quarter, end: half, view: 3 } });
  const owned = (await admin.call('Stats', {})).ranges as unknown[];
  assert.equal(owned.length, 3, 'one merged and two split ranges');
  admin.close();
  const writer = createClient({ seeds: [address] });
  t.after(() => writer.close());
  await writer.mput([...Array(1000).keys()].map((i) => [`k${i}`, `two-${i}`]));
  writer.close();
  client.close();
  await abandon(first);

  const second = durablePod(dataDir, 'pod-s');
  const address2 = await second.start();
  t.after(() => second.stop());
  assert.deepEqual(second.lastRecovery?.problems, []);
  assert.deepEqual(second.ranges.list().map((r) => r.view), [4, 3, 3], 'views survive the restart');
  const reader = createClient({ seeds: [address2] });
  t.after(() => reader.close());
  const values = await reader.mget([...Array(3000).keys()].map((i) => `k${i}`));
  values.forEach((entry, i) => assert.equal(entry?.value.toString(), i < 1000 ? `two-${i}` : `one-${i}`, `k${i}`));
});

test('restart: log files rotated into zero-filled spares read back whole; the zero tail is the clean end', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'slicekv-spare-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = durablePod(dataDir, 'pod-z', 'sync', 64 * 1024);
  const address = await first.start();
  t.after(() => abandon(first));
  await assignWholeKeyspace(address, 'pod-z');
  const client = createClient({ seeds: [address] });
  t.after(() => client.close());
  const walDir = join(dataDir, 'pods', 'pod-z', 'wal');
  const logFiles = (): string[] => readdirSync(walDir).filter((n) => n.endsWith('.log'));
  const spareUsed = (): boolean => logFiles().some((n) => statSync(join(walDir, n)).size === 64 * 1024);
  // Spares are zero-filled (and fsynced) in the background: on a loaded machine the first
  // rotations may come before one is ready, so write on, a round at a time, until the log has
  // rotated into one (at most 100 rounds).
  let rounds = 0;
  while (rounds < 20 || ((!spareUsed() || logFiles().length < 4) && rounds < 100)) {
    const round = rounds++;
    await client.mput([...Array(100).keys()].map((i) => [`k${round * 100 + i}`, `${round}-${i}-`.padEnd(200, 'z')]));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  client.close();
  await abandon(first);
  const files = logFiles();
  assert.ok(files.length >= 4, `the log rotated (${files.length} files)`);
  assert.ok(spareUsed(), `some files were zero-filled spares (${rounds} rounds written)`);
  const second = durablePod(dataDir, 'pod-z');
  const address2 = await second.start();
  t.after(() => second.stop());
  assert.deepEqual(second.lastRecovery?.problems, []);
  const reader = createClient({ seeds: [address2] });
  t.after(() => reader.close());
  for (let from = 0; from < rounds * 100; from += 1000) {
    const values = await reader.mget([...Array(Math.min(1000, rounds * 100 - from)).keys()].map((i) => `k${from + i}`));
    values.forEach((entry, i) => assert.equal(entry?.value.toString(), `${Math.floor((from + i) / 100)}-${(from + i) % 100}-`.padEnd(200, 'z'), `k${from + i}`));
  }
});
