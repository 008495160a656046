import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { LINE_DELAY_MS, deferredLog } from '../../dataplane/server/deferredLog.js';

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('deferred log: lines are written together after a moment, in order, with the time they were logged', async () => {
  const written: [string, { atMs?: number; x?: number }][] = [];
  const { log } = deferredLog((message, fields) => written.push([message, fields]));
  const before = Date.now();
  log('a', {});
  log('b', { x: 1 });
  await immediate();
  assert.equal(written.length, 0, 'nothing is written in the tick that logged, nor at the next check phase');
  await sleep(LINE_DELAY_MS * 3);
  assert.deepEqual(written.map(([message]) => message), ['a', 'b']);
  assert.equal(written[1][1].x, 1, 'fields are kept');
  for (const [, fields] of written) assert.ok(fields.atMs! >= before && fields.atMs! <= before + LINE_DELAY_MS, 'atMs is when the line was logged');
  log('c', {});
  await sleep(LINE_DELAY_MS * 3);
  assert.deepEqual(written.map(([message]) => message), ['a', 'b', 'c']);
});

test('deferred log: bounded (a full queue is written at once), and flush() writes what waits', () => {
  const written: number[] = [];
  const { log, flush } = deferredLog((_message, fields) => written.push((fields as { i: number }).i));
  for (let i = 0; i < 1000; i++) log('line', { i });
  assert.ok(1000 - written.length < 256, `fewer than 256 lines wait (${1000 - written.length} waiting)`);
  flush();
  assert.deepEqual(written, Array.from({ length: 1000 }, (_, i) => i));
});
