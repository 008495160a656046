import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkQueue, backoffMs } from '../../operator/core/workQueue.js';
import type { ReconcileOutcome } from '../../operator/core/stepResult.js';
import { recordingLogger, type LogLine } from './fixture.js';

const FAST = { depthMax: 100, workersMax: 4, backoffBaseMs: 5, backoffMaxMs: 40, retriesMax: 4 };

test('backoffMs: doubles from the base and stops at the maximum', () => {
  const options = { backoffBaseMs: 100, backoffMaxMs: 30_000 };
  assert.deepEqual([1, 2, 3, 4, 10, 50, 1000].map((n) => backoffMs(n, options)), [100, 200, 400, 800, 30_000, 30_000, 30_000]);
});

test('work queue: a key added many times while waiting runs once', async () => {
  const runs: string[] = [];
  const queue = new WorkQueue(async (key) => {
    runs.push(key);
    return { kind: 'done' };
  }, { ...FAST, workersMax: 1 }, recordingLogger([]));
  queue.add('a');
  for (let i = 0; i < 10; i++) queue.add('b');
  await queue.whenIdle();
  assert.deepEqual(runs, ['a', 'b']);
});

test('work queue: one reconcile per key at a time; an add during a run runs it once more afterwards', async () => {
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  const queue = new WorkQueue(async () => {
    running++;
    runs++;
    maxRunning = Math.max(maxRunning, running);
    await sleep(20);
    running--;
    return { kind: 'done' };
  }, FAST, recordingLogger([]));
  queue.add('k');
  await sleep(5);
  for (let i = 0; i < 5; i++) queue.add('k');
  await sleep(60);
  await queue.whenIdle();
  assert.equal(maxRunning, 1);
  assert.equal(runs, 2);
});

test('work queue: failures are retried with growing delays, then given up after retriesMax', async () => {
  const times: number[] = [];
  const log: LogLine[] = [];
  const queue = new WorkQueue(async (): Promise<ReconcileOutcome> => {
    times.push(Date.now());
    return { kind: 'retry', error: new Error('port down') };
  }, FAST, recordingLogger(log));
  queue.add('k');
  await sleep(400);
  assert.equal(times.length, FAST.retriesMax + 1, 'first run plus retriesMax retries');
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  assert.ok(gaps[0] >= 4 && gaps[2] >= 18 && gaps[3] >= 36, `gaps grow: ${gaps.join(',')}`);
  assert.equal(queue.depth, 0);
  assert.ok(log.some((l) => l.level === 'error' && /giving up/.test(l.message)));
});

test('work queue: a success resets the failure count; requeue runs again after the delay', async () => {
  let calls = 0;
  const queue = new WorkQueue(async (): Promise<ReconcileOutcome> => {
    calls++;
    if (calls === 1) return { kind: 'retry', error: new Error('once') };
    if (calls === 2) return { kind: 'requeue', afterMs: 10 };
    return { kind: 'done' };
  }, FAST, recordingLogger([]));
  queue.add('k');
  await queue.whenIdle();
  assert.equal(queue.failuresOf('k'), 1);
  await sleep(60);
  assert.equal(calls, 3);
  assert.equal(queue.failuresOf('k'), 0);
});

test('work queue: a thrown error counts as a failure', async () => {
  const queue = new WorkQueue(async () => {
    throw new Error('boom');
  }, FAST, recordingLogger([]));
  queue.add('k');
  await queue.whenIdle();
  assert.equal(queue.failuresOf('k'), 1);
  await queue.stop();
});

test('work queue: refuses keys beyond depthMax and after stop; stop aborts the signal of a run in flight', async () => {
  let seen: AbortSignal | null = null;
  const queue = new WorkQueue(async (_key, signal) => {
    seen = signal;
    await sleep(20);
    return { kind: 'done' };
  }, { ...FAST, workersMax: 1, depthMax: 2 }, recordingLogger([]));
  assert.equal(queue.add('a'), true);
  assert.equal(queue.add('b'), true);
  assert.equal(queue.add('c'), true);
  assert.equal(queue.add('d'), false, 'two waiting already');
  await queue.stop();
  assert.equal((seen as AbortSignal | null)?.aborted, true);
  assert.equal(queue.add('e'), false);
});
