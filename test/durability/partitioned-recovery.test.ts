// Partitioned recovery (RAMCloud): a pod dies; three live pods each load a third of its ranges
// from its checkpoints and log on the shared data dir, in parallel, and serve them at a new view.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '../../client/index.js';
import { adminClient } from '../../proto/adminClient.js';
import { evenSplit } from '../../proto/keyspace/range.js';
import { rangeToMessage } from '../../proto/messages.js';
import { abandon, durablePod } from '../support/durablePod.js';

const KEYS = 6000;
const value = (i: number, phase: string): string => `${phase}-${i}-`.padEnd(100, 'x');

test('RecoverRanges: three pods each recover a third of a dead pod\'s ranges in parallel; all data present', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'slicekv-partitioned-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const ranges = evenSplit(6);
  const dead = durablePod(dataDir, 'pod-d');
  const deadAddress = await dead.start();
  const admin = adminClient(deadAddress);
  await admin.call('AssignRanges', {
    owned: ranges.map((r) => rangeToMessage({ ...r, view: 1 })),
    routes: ranges.map((r) => ({ ...rangeToMessage({ ...r, view: 1 }), owner: 'pod-d', address: deadAddress })),
  });
  const writer = createClient({ seeds: [deadAddress] });
  await writer.mput([...Array(KEYS).keys()].map((i) => [`k${i}`, value(i, 'first')]));
  await admin.call('Checkpoint', {});
  admin.close();
  await writer.mput([...Array(KEYS / 2).keys()].map((i) => [`k${i}`, value(i, 'second')]));
  for (let i = 0; i < 30; i++) await writer.incrBy(`counter-${i % 10}`, i);
  writer.close();
  await abandon(dead);

  const pods = ['pod-a', 'pod-b', 'pod-c'].map((name) => durablePod(dataDir, name));
  const addresses = await Promise.all(pods.map((pod) => pod.start()));
  t.after(() => Promise.all(pods.map((pod) => pod.stop())));
  const shares = [0, 1, 2].map((p) => ranges.slice(2 * p, 2 * p + 2).map((r) => ({ ...r, view: 2 })));
  const started = performance.now();
  const replies = await Promise.all(pods.map(async (_pod, p) => {
    const client = adminClient(addresses[p]);
    try {
      return await client.call('RecoverRanges', { deadPod: 'pod-d', ranges: shares[p].map(rangeToMessage) }, 30_000);
    } finally {
      client.close();
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  for (const reply of replies) {
    assert.deepEqual(reply.problems, []);
    assert.ok(Number(reply.checkpointRecords) > 0 && Number(reply.logRecords) > 0, 'each share comes from a checkpoint and the log');
  }
  const recoveredTotal = replies.reduce((sum, r) => sum + Number(r.checkpointRecords), 0);
  assert.ok(recoveredTotal >= KEYS, `the checkpoint entries of all shares add up to every key (${recoveredTotal})`);
  const routes = shares.flatMap((share, p) => share.map((r) => ({ ...rangeToMessage(r), owner: `pod-${'abc'[p]}`, address: addresses[p] })));
  await Promise.all(addresses.map(async (address, p) => {
    const client = adminClient(address);
    await client.call('AssignRanges', { owned: shares[p].map(rangeToMessage), routes });
    client.close();
  }));
  const reader = createClient({ seeds: [addresses[0]] });
  t.after(() => reader.close());
  const values = await reader.mget([...Array(KEYS).keys()].map((i) => `k${i}`));
  values.forEach((entry, i) => assert.equal(entry?.value.toString(), value(i, i < KEYS / 2 ? 'second' : 'first'), `k${i}`));
  for (let c = 0; c < 10; c++) {
    const expected = [...Array(30).keys()].filter((i) => i % 10 === c).reduce((a, b) => a + b, 0);
    assert.equal((await reader.get(`counter-${c}`))?.value.toString(), String(expected), `counter-${c}`);
  }
  const back = durablePod(dataDir, 'pod-d');
  await back.start();
  assert.deepEqual(back.ranges.list(), [], 'the dead pod, back, no longer claims the recovered ranges');
  await back.stop();
  const manifest = JSON.parse(readFileSync(join(dataDir, 'pods', 'pod-d', 'manifest.json'), 'utf8')) as { ranges: unknown[] };
  assert.deepEqual(manifest.ranges, [], 'and its manifest says so');
  t.diagnostic(`3 pods recovered ${recoveredTotal} checkpoint records in ${seconds.toFixed(3)} s`);
});
