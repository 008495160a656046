// The pod's /metrics: our metrics appear with the values the request path produced, and the
// exposition passes `promtool check metrics` (Debian package prometheus; CI installs it and sets
// SLICEKV_REQUIRE_PROMTOOL=1, elsewhere the lint step is skipped when promtool is absent).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DEFAULT_POD_CONFIG, Pod } from '../../dataplane/server/pod.js';
import { podRegistry, serveMetrics } from '../../dataplane/server/metrics.js';
import { MIB } from '../../dataplane/store/index.js';
import { BatchWriter } from '../../proto/wire/index.js';
import { TestSession } from '../support/podSession.js';
import { assignWholeKeyspace } from '../support/assignRanges.js';
import { durablePod } from '../support/durablePod.js';
import { createClient } from '../../client/index.js';
import { adminClient } from '../../proto/adminClient.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function promtoolCheck(text: string): void {
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (promtool.error !== undefined) {
    assert.notEqual(process.env.SLICEKV_REQUIRE_PROMTOOL, '1', 'promtool is required here but not installed');
    return;
  }
  assert.equal(promtool.status, 0, `promtool check metrics:\n${promtool.stdout}${promtool.stderr}`);
}

test('metrics: ops by op and status, batch histograms, memory; promtool check metrics passes', async () => {
  const pod = new Pod({ ...DEFAULT_POD_CONFIG, store: { memoryLimitBytes: 16 * MIB, segmentSizeBytes: MIB, valueLengthMax: 64 * 1024 } });
  const address = await pod.start();
  const metrics = await serveMetrics(podRegistry(pod), '127.0.0.1', 0);
  const session = new TestSession(address);
  try {
    await assignWholeKeyspace(address, pod.podName);
    session.open(1);
    await session.next();
    const writer = new BatchWriter();
    writer.begin(1);
    for (let i = 1; i <= 5; i++) writer.put(Buffer.from(`k${i}`), Buffer.from('v'), 1, i);
    writer.get(Buffer.from('k1'), 1);
    writer.get(Buffer.from('missing'), 1);
    session.batch('1', Buffer.from(writer.finish()));
    assert.equal((await session.next()).batch?.status, 'BATCH_OK');
    const text = await (await fetch(`http://127.0.0.1:${metrics.port}/metrics`)).text();
    assert.match(text, /slicekv_ops_total\{op="PUT",status="OK",pod="pod-0"\} 5/);
    assert.match(text, /slicekv_ops_total\{op="GET",status="NOT_FOUND",pod="pod-0"\} 1/);
    assert.match(text, /slicekv_batch_ops_count\{pod="pod-0"\} 1/);
    assert.match(text, /slicekv_batch_duration_seconds_bucket/);
    assert.match(text, /slicekv_keys\{pod="pod-0"\} 5/);
    assert.match(text, /slicekv_range_keys\{range="\[0x0000000000000000, 2\^64\)",pod="pod-0"\} 5/);
    assert.match(text, /slicekv_range_ops\{range="\[0x0000000000000000, 2\^64\)",pod="pod-0"\} 7/);
    assert.doesNotMatch(text, /nodejs_/, 'no default Node metrics');
    promtoolCheck(text);
  } finally {
    session.stream.end();
    metrics.server.close();
    await pod.stop();
  }
});

test('metrics: write-ahead log bytes and fsync latency, checkpoint duration and size, last recovery; promtool passes', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'slicekv-metrics-'));
  const pod = durablePod(dataDir, 'pod-m');
  const address = await pod.start();
  const metrics = await serveMetrics(podRegistry(pod), '127.0.0.1', 0);
  t.after(async () => {
    metrics.server.close();
    await pod.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  await assignWholeKeyspace(address, 'pod-m');
  const client = createClient({ seeds: [address] });
  await client.mput([...Array(100).keys()].map((i) => [`k${i}`, `v${i}`]));
  client.close();
  const admin = adminClient(address);
  await admin.call('Checkpoint', {});
  admin.close();
  const text = await (await fetch(`http://127.0.0.1:${metrics.port}/metrics`)).text();
  const value = (name: string): number => Number(new RegExp(`^${name}\\{pod="pod-m"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  assert.ok(value('slicekv_wal_written_bytes_total') > 100 * 24, 'every put reached the log');
  assert.ok(value('slicekv_wal_commits_total') >= 1);
  assert.ok(value('slicekv_wal_fsync_duration_seconds_count') >= 1);
  assert.equal(value('slicekv_checkpoint_duration_seconds_count'), 1);
  assert.ok(value('slicekv_checkpoint_last_size_bytes') > 100 * 24);
  assert.equal(value('slicekv_recovery_problems'), 0);
  promtoolCheck(text);
});
