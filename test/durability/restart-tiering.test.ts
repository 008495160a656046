// RestartTiering (dataplane/durability/restartTiering.ts): while a restart recovers, V8 waits three
// times as long before it optimizes a function; end() puts its default back. Checked on V8's own
// account of what it decided (`--trace-opt`) in a child process: a function run as often as V8's
// default budget needs to mark it for optimization is not marked during the recovery, and its
// twin run as often after end() is.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RestartTiering } from '../../dataplane/durability/restartTiering.js';

const MODULE_PATH = fileURLToPath(new URL('../../dataplane/durability/restartTiering.js', import.meta.url));
/** Calls per function: V8 11.3 marks `hot` after ~60-100 at its default budget, ~250-300 at 3x. */
const CALLS = 150;

const CHILD = `
import { RestartTiering } from ${JSON.stringify(MODULE_PATH)};
const words = new Int32Array(16);
function during(a) { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * 3 + (a[i] >> 2); return s; }
function after(a) { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * 3 + (a[i] >> 2); return s; }
const tiering = RestartTiering.begin();
let sum = 0;
for (let k = 0; k < ${CALLS}; k++) sum += during(words);
tiering?.end();
tiering?.end();
for (let k = 0; k < ${CALLS}; k++) sum += after(words);
console.log(JSON.stringify({ raised: tiering !== null, sum }));
`;

test('RestartTiering: V8 optimizes later while a restart recovers, and as usual after end()', () => {
  const child = spawnSync(process.execPath, ['--trace-opt', '--input-type=module', '-e', CHILD], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(child.status, 0, child.stderr);
  const lines = child.stdout.trim().split('\n');
  const { raised } = JSON.parse(lines[lines.length - 1]) as { raised: boolean };
  const marked = (name: string): boolean => lines.some((line) => line.startsWith('[marking') && line.includes(`<JSFunction ${name} `));
  if (!process.versions.v8.startsWith('11.3.')) {
    assert.equal(raised, false, 'left alone on a V8 it was not measured on');
    return;
  }
  assert.equal(raised, true, 'raised on V8 11.3');
  assert.equal(marked('during'), false, `not marked for optimization after ${CALLS} calls during the recovery`);
  assert.equal(marked('after'), true, `marked after ${CALLS} calls once the default is back`);
});

test('RestartTiering: nothing changes on another V8, or when node was given a budget', () => {
  assert.equal(RestartTiering.begin('12.4.254.21-node.33', []), null);
  assert.equal(RestartTiering.begin('11.3.244.8-node.26', ['--interrupt-budget=1000']), null);
  assert.equal(RestartTiering.begin('11.3.244.8-node.26', ['--interrupt_budget', '1000']), null);
});
