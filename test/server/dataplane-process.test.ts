// `slicekv dataplane` as a process: JSON logs, serving the SDK, and a clean exit on SIGTERM
// after draining.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createClient } from '../../client/index.js';
import { assignWholeKeyspace } from '../support/assignRanges.js';

const BIN = fileURLToPath(new URL('../../../bin/slicekv.js', import.meta.url));

test('slicekv dataplane: logs JSON, serves, and exits 0 after draining on SIGTERM', async () => {
  const child = spawn(process.execPath, [BIN, 'dataplane', '--listen', '127.0.0.1:0', '--metrics-port', '0', '--memory', '64MiB', '--pod-name', 'pod-t'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
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
