// Damaged durable state: a torn log tail, a flipped byte inside the log, and a corrupted
// checkpoint. Recovery keeps what is valid, says what it dropped, never serves damaged data, and
// the pod keeps working (and the next restart finds a clean log).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type SlicekvClient } from '../../client/index.js';
import { adminClient } from '../../proto/adminClient.js';
import type { Pod } from '../../dataplane/server/pod.js';
import { assignWholeKeyspace } from '../support/assignRanges.js';
import { abandon, durablePod } from '../support/durablePod.js';

const KEYS = 6000;
/** 100-byte values, as in the benchmarks, so a checkpoint spans several frames. */
const valueOf = (prefix: string, i: number): string => `${prefix}-${i}-`.padEnd(100, 'x');

async function writeKeys(client: SlicekvClient, prefix: string, from: number, to: number): Promise<void> {
  await client.mput([...Array(to - from).keys()].map((i) => [`k${from + i}`, valueOf(prefix, from + i)]));
}

/**
 * A pod that wrote KEYS keys as "v" (checkpointed when asked, then wrote `tail` if given), then
 * crashed; returns the data dir.
 */
async function crashedPod(t: { after(fn: () => void): void }, checkpointFirst: boolean,
  tail: ((client: SlicekvClient) => Promise<void>) | null = null): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'slicekv-corrupt-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const pod = durablePod(dataDir, 'pod-c');
  const address = await pod.start();
  await assignWholeKeyspace(address, 'pod-c');
  const client = createClient({ seeds: [address] });
  if (checkpointFirst) {
    await writeKeys(client, 'v', 0, KEYS);
    const admin = adminClient(address);
    await admin.call('Checkpoint', {});
    admin.close();
    await tail?.(client);
  } else {
    for (let from = 0; from < KEYS; from += 300) await writeKeys(client, 'v', from, from + 300);
  }
  client.close();
  await abandon(pod);
  return dataDir;
}

function walFiles(dataDir: string): string[] {
  const dir = join(dataDir, 'pods', 'pod-c', 'wal');
  return readdirSync(dir).filter((n) => n.endsWith('.log')).sort().map((n) => join(dir, n));
}

/** Every key is either absent or holds exactly what was written: damaged data is never served. */
async function readBack(pod: Pod): Promise<{ present: number; client: SlicekvClient }> {
  const client = createClient({ seeds: [pod.address] });
  const values = await client.mget([...Array(KEYS).keys()].map((i) => `k${i}`));
  let present = 0;
  values.forEach((entry, i) => {
    if (entry === null) return;
    assert.equal(entry.value.toString(), valueOf('v', i));
    present++;
  });
  return { present, client };
}

test('recovery: a torn log tail is cut off and reported; what precedes it is served; the next restart is clean', async (t) => {
  const dataDir = await crashedPod(t, false);
  const [last] = walFiles(dataDir).slice(-1);
  const size = statSync(last).size;
  truncateSync(last, size - 7);
  appendFileSync(last, Buffer.from('torn!'));
  const pod = durablePod(dataDir, 'pod-c');
  await pod.start();
  const problems = pod.lastRecovery?.problems ?? [];
  assert.equal(problems.length, 1, JSON.stringify(problems));
  assert.match(problems[0], /log of pod-c: (torn|corrupt) at .* byte \d+; replay stopped at lsn \d+, \d+ bytes dropped/);
  const { present, client } = await readBack(pod);
  assert.ok(present >= KEYS - 300 && present < KEYS, `only the last frame's keys are lost (${present} of ${KEYS} present)`);
  await client.put('after-repair', 'yes');
  client.close();
  await abandon(pod);
  const again = durablePod(dataDir, 'pod-c');
  await again.start();
  t.after(() => again.stop());
  assert.deepEqual(again.lastRecovery?.problems, [], 'the repaired log reads clean');
  const check = createClient({ seeds: [again.address] });
  assert.equal((await check.get('after-repair'))?.value.toString(), 'yes', 'writes after the repair are recovered');
  check.close();
});

test('recovery: a flipped byte inside the log stops replay there and reports the bytes dropped', async (t) => {
  const dataDir = await crashedPod(t, false);
  const [first] = walFiles(dataDir);
  const bytes = readFileSync(first);
  const at = Math.floor(bytes.length / 2);
  bytes[at] ^= 0x40;
  writeFileSync(first, bytes);
  const pod = durablePod(dataDir, 'pod-c');
  await pod.start();
  t.after(() => pod.stop());
  const problems = pod.lastRecovery?.problems ?? [];
  assert.equal(problems.length, 1, JSON.stringify(problems));
  assert.match(problems[0], /corrupt at .* byte \d+/);
  const dropped = Number(/(\d+) bytes dropped/.exec(problems[0])?.[1]);
  assert.ok(dropped > 0 && dropped <= bytes.length, `dropped ${dropped} bytes`);
  const { present, client } = await readBack(pod);
  client.close();
  assert.ok(present > 0 && present < KEYS, `keys before the damage are served, none after (${present})`);
});

test('recovery: a corrupted checkpoint loads up to the damage, says so, and serves nothing damaged', async (t) => {
  const dataDir = await crashedPod(t, true);
  const rangeDir = join(dataDir, 'ranges', readdirSync(join(dataDir, 'ranges'))[0]);
  const [file] = readdirSync(rangeDir).filter((n) => n.endsWith('.ckpt'));
  const path = join(rangeDir, file);
  const bytes = readFileSync(path);
  bytes[Math.floor(bytes.length * 0.6)] ^= 0x01;
  writeFileSync(path, bytes);
  const pod = durablePod(dataDir, 'pod-c');
  await pod.start();
  t.after(() => pod.stop());
  const problems = pod.lastRecovery?.problems ?? [];
  assert.equal(problems.length, 1, JSON.stringify(problems));
  assert.match(problems[0], /^checkpoint ranges\/.*: bad frame checksum at byte \d+; \d+ entries loaded, \d+ bytes dropped/);
  const { present, client } = await readBack(pod);
  client.close();
  assert.ok(present > 0 && present < KEYS, `the checkpoint's valid frames are loaded (${present} of ${KEYS}; ${problems[0]})`);
});

test('recovery: a checkpoint whose META frame is damaged loads nothing and says so; the log tail still replays', async (t) => {
  // The tail after the checkpoint: keys [0, 1000) written again. The log is small enough for merged
  // redo, but the merge order comes from the checkpoints' META frames: without one, the tail replays
  // after the (empty) load.
  const dataDir = await crashedPod(t, true, (client) => writeKeys(client, 'w', 0, 1000));
  const rangeDir = join(dataDir, 'ranges', readdirSync(join(dataDir, 'ranges'))[0]);
  const [file] = readdirSync(rangeDir).filter((n) => n.endsWith('.ckpt'));
  const bytes = readFileSync(join(rangeDir, file));
  bytes[30] ^= 0x01; // inside the META frame's payload
  writeFileSync(join(rangeDir, file), bytes);

  const pod = durablePod(dataDir, 'pod-c');
  await pod.start();
  t.after(() => pod.stop());
  const problems = pod.lastRecovery?.problems ?? [];
  assert.equal(problems.length, 1, JSON.stringify(problems));
  assert.match(problems[0], /^checkpoint ranges\/.*: bad frame checksum at byte 0; 0 entries loaded/);
  const reader = createClient({ seeds: [pod.address] });
  const values = await reader.mget([...Array(KEYS).keys()].map((i) => `k${i}`));
  reader.close();
  values.forEach((entry, i) => {
    if (i < 1000) assert.equal(entry?.value.toString(), valueOf('w', i), `k${i} comes back from the log`);
    else assert.equal(entry, null, `k${i} was only in the damaged checkpoint`);
  });
});
