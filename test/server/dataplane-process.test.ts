// `slicekv dataplane` as a process: JSON logs, serving the SDK, and a clean exit on SIGTERM
// after draining.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createClient } from '../../client/index.js';
import { assignWholeKeyspace } from '../support/assignRanges.js';
import { MALLOC_TUNABLE, dataplaneEnvironment, tunablesWithMalloc } from '../../proto/dataplaneEnvironment.js';

const BIN = fileURLToPath(new URL('../../../bin/slicekv.js', import.meta.url));

test('slicekv dataplane: logs JSON, serves, and exits 0 after draining on SIGTERM', async () => {
  const child = spawn(process.execPath, [BIN, 'dataplane', '--listen', '127.0.0.1:0', '--metrics-port', '0', '--memory', '64MiB', '--pod-name', 'pod-t'],
    { stdio: ['ignore', 'pipe', 'inherit'], env: dataplaneEnvironment() });
  const logs: Record<string, unknown>[] = [];
  const listening = new Promise<string>((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (entry.event === 'listening') resolve(String(entry.address));
    });
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const address = await listening;
  await assignWholeKeyspace(address, 'pod-t');
  const client = createClient({ seeds: [address] });
  await client.mput([...Array(100).keys()].map((i) => [`k${i}`, `v${i}`]));
  assert.equal((await client.get('k42'))?.value.toString(), 'v42');
  client.close();
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  const events = logs.map((l) => l.event);
  assert.deepEqual(events.filter((e) => e !== undefined), ['listening', 'draining', 'stopped']);
  const stopped = logs.find((l) => l.event === 'stopped');
  assert.ok(Number(stopped?.ops) >= 101, 'the stop line reports the ops served');
  assert.equal(logs[0].pod, 'pod-t');
});

test('slicekv dataplane: warns at start when started without the malloc tunable', async () => {
  const env = { ...process.env };
  delete env.GLIBC_TUNABLES;
  const child = spawn(process.execPath, [BIN, 'dataplane', '--listen', '127.0.0.1:0', '--metrics-port', '0', '--memory', '64MiB', '--pod-name', 'pod-w'],
    { stdio: ['ignore', 'pipe', 'inherit'], env });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const warning = await new Promise<Record<string, unknown>>((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry.event === 'malloc-tunable-missing') resolve(entry);
    });
  });
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.equal(warning.expected, `GLIBC_TUNABLES=${MALLOC_TUNABLE}`);
});

test('dataplane environment: the malloc tunable joins other tunables and leaves a threshold already set alone', () => {
  assert.equal(tunablesWithMalloc(undefined), MALLOC_TUNABLE);
  assert.equal(tunablesWithMalloc(''), MALLOC_TUNABLE);
  assert.equal(tunablesWithMalloc('glibc.malloc.arena_max=2'), `glibc.malloc.arena_max=2:${MALLOC_TUNABLE}`);
  assert.equal(tunablesWithMalloc('glibc.malloc.mmap_threshold=1048576'), 'glibc.malloc.mmap_threshold=1048576');
  assert.ok(MALLOC_TUNABLE.split(':').every((t) => /^glibc\.malloc\.\w+=\d+$/.test(t)), MALLOC_TUNABLE);
  assert.equal(dataplaneEnvironment({ PATH: '/bin' }).GLIBC_TUNABLES, MALLOC_TUNABLE);
  assert.equal(dataplaneEnvironment({ PATH: '/bin' }).PATH, '/bin');
});
