// The pre-copy pacer (dataplane/migration/copyPacer.ts) against a simulated range load: it pauses
// the copy while the served op rate is below 90% of the rate before the copy, backs off as the
// rate recovers, starts slow under load (the longest pause first), and never pauses a copy of a
// range without load.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CopyPacer } from '../../dataplane/migration/copyPacer.js';

/** A range served at `perMs()` ops per ms of real time. */
function load(perMs: () => number): { servedOps(): number; nowMs(): number } {
  let ops = 0;
  let last = performance.now();
  return {
    servedOps: () => {
      const now = performance.now();
      ops += (now - last) * perMs();
      last = now;
      return Math.floor(ops);
    },
    nowMs: () => performance.now(),
  };
}

test('copy pacer: pauses while the range\'s op rate is below 90% of its rate before the copy, and stops pausing once it recovers', async () => {
  let rate = 100;
  const pacer = new CopyPacer(load(() => rate));
  await pacer.measureBaseline();
  rate = 40; // the copy hurts the load
  const delays: number[] = [];
  for (let i = 0; i < 12; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    await pacer.pace();
    delays.push(pacer.delayMs);
  }
  assert.ok(Math.max(...delays) >= 4, `the pause grew while the rate was low: ${delays.join(' ')}`);
  rate = 100; // back to normal
  for (let i = 0; i < 16 && pacer.delayMs > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    await pacer.pace();
  }
  assert.equal(pacer.delayMs, 0, 'no pause once the rate is back');
  assert.ok(pacer.pausedMsTotal > 0);
});

test('copy pacer: under load the copy starts with the longest pause and shortens it while the load keeps its rate', async () => {
  const pacer = new CopyPacer(load(() => 100));
  await pacer.measureBaseline();
  assert.equal(pacer.delayMs, 64, 'the first chunk waits the longest');
  const delays: number[] = [];
  for (let i = 0; i < 40 && pacer.delayMs > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    await pacer.pace();
    delays.push(pacer.delayMs);
  }
  assert.equal(pacer.delayMs, 0, `halved down to none while the rate held: ${delays.join(' ')}`);
  assert.ok(delays.every((d, i) => i === 0 || d <= delays[i - 1]), `never longer again: ${delays.join(' ')}`);
});

test('copy pacer: a range without load is copied without pauses', async () => {
  const pacer = new CopyPacer(load(() => 0));
  await pacer.measureBaseline();
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    await pacer.pace();
  }
  assert.equal(pacer.pausedMsTotal, 0);
});
