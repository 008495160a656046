// `slicekv local` end to end: three pod processes, the SDK and the CLI against them, and a clean
// shutdown of every process on SIGTERM.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createClient } from '../../client/index.js';

const BIN = fileURLToPath(new URL('../../../bin/slicekv.js', import.meta.url));
const run = promisify(execFile);

test('slicekv local: three pods serve the SDK and the CLI, and all stop on SIGTERM', async () => {
  // Below Linux's ephemeral range (32768+), so no outgoing connection holds one of these ports.
  const basePort = 10000 + Math.floor(Math.random() * 19000);
  const local = spawn(process.execPath, [BIN, 'local', '--pods', '3', '--base-port', String(basePort), '--status-interval-ms', '200'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  local.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  local.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const exited = new Promise<number | null>((resolve) => local.once('exit', (code) => resolve(code)));
  try {
    for (let i = 0; i < 100 && !output.includes('pod-0:') ; i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(output, /slicekv local cluster: 3 pods, 12 ranges/);
    const seeds = [`127.0.0.1:${basePort}`];
    const client = createClient({ seeds });
    try {
      await client.mput([...Array(200).keys()].map((i) => [`key-${i}`, `value-${i}`]));
      const values = await client.mget([...Array(200).keys()].map((i) => `key-${i}`));
      assert.ok(values.every((v, i) => v?.value.toString() === `value-${i}`));
      assert.equal((await client.routeTable()).addresses().length, 3);
    } finally {
      client.close();
    }
    const got = await run(process.execPath, [BIN, 'get', 'key-7', '--seeds', seeds[0]]);
    assert.equal(got.stdout.trim(), 'value-7');
    const stats = await run(process.execPath, [BIN, 'stats', '--seeds', seeds[0]]);
    const keys = [...stats.stdout.matchAll(/(\d+) keys/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    assert.equal(keys, 200, stats.stdout);
    await new Promise((r) => setTimeout(r, 300));
    assert.match(output, /ops\/s, \d+ keys/, 'a live status line is printed');
  } finally {
    local.kill('SIGTERM');
    assert.equal(await exited, 0);
  }
  // The pods were children of `local`: nothing may still listen on their ports.
  const probe = createClient({ seeds: [`127.0.0.1:${basePort}`], timeoutMs: 500, attemptsMax: 2 });
  await assert.rejects(probe.get('key-1'));
  probe.close();
});
