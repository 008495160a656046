// Records of a range a pod no longer owns must not come back when the range is given back to it.
// An AssignRanges that takes a range away drops its records in the background (checked first);
// then the leftovers are put back into the engine directly — the state a background drop leaves
// when it stops at a failed delete, which no gRPC call can provoke (see drop-failures.test.ts).
// Then AssignRanges gives the range back (it starts empty), or RecoverRanges loads it from the pod
// that owned it since.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '../../client/index.js';
import { adminClient } from '../../proto/adminClient.js';
import { keyHash64 } from '../../proto/keyspace/hash.js';
import { Status } from '../../dataplane/store/index.js';
import type { Pod } from '../../dataplane/server/pod.js';
import { abandon } from '../support/durablePod.js';
import { HALF, twoDurablePods } from '../support/twoDurablePods.js';

const KEYS = 2000;
const LOWER = { start: '0', end: HALF, view: 2 };
const UPPER = { start: HALF, end: '0', view: 2 };
const valueOf = (i: number): string => `old-${i}-`.padEnd(60, '.');
const isUpper = (i: number): boolean => keyHash64(Buffer.from(`k${i}`)) >= 1n << 63n;

function holds(pod: Pod, key: string): boolean {
  return pod.store.get(Buffer.from(key), 0, key.length) === Status.OK;
}

async function until(done: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !done(); await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
  }
}

/**
 * pod-s owns both halves with KEYS keys, then an assignment takes the upper half away (to pod-t,
 * at view 3): pod-s drops its records there in the background, the lower half stays. Then the
 * upper half's records are put back into pod-s's engine (newer versions than pod-t's), as leftovers.
 */
async function upperLeftAtSource(t: { after(fn: () => unknown): void }): Promise<Awaited<ReturnType<typeof twoDurablePods>>> {
  const pods = await twoDurablePods(t, KEYS, valueOf);
  const { source, target, admin } = pods;
  const routes = [{ ...LOWER, owner: 'pod-s', address: source.address }, { ...UPPER, view: 3, owner: 'pod-t', address: target.address }];
  await admin.call('AssignRanges', { owned: [LOWER], routes });
  const targetAdmin = adminClient(target.address);
  await targetAdmin.call('AssignRanges', { owned: [{ ...UPPER, view: 3 }], routes });
  targetAdmin.close();
  const upper = [...Array(KEYS).keys()].filter(isUpper);
  assert.ok(upper.length > 500, `${upper.length} keys in the upper half`);
  await until(() => upper.every((i) => !holds(source, `k${i}`)), 'pod-s dropped the records of the range taken away');
  assert.ok([...Array(KEYS).keys()].filter((i) => !isUpper(i)).every((i) => holds(source, `k${i}`)), 'the lower half is untouched');
  for (const i of upper) {
    const key = Buffer.from(`k${i}`);
    const value = Buffer.from(valueOf(i));
    assert.equal(source.store.put(key, 0, key.length, value, 0, value.length), Status.OK);
  }
  return pods;
}

const backAtSource = (address: string, view: number): object => ({
  owned: [LOWER, { ...UPPER, view }], routes: [{ ...LOWER, owner: 'pod-s', address }, { ...UPPER, view, owner: 'pod-s', address }],
});

test('AssignRanges: a range given back to a pod that still holds records of it starts empty there', { timeout: 60_000 }, async (t) => {
  const { source, target, admin } = await upperLeftAtSource(t);
  t.after(() => Promise.all([source.stop(), target.stop()]));
  await admin.call('AssignRanges', backAtSource(source.address, 4));
  const reader = createClient({ seeds: [source.address] });
  t.after(() => reader.close());
  const values = await reader.mget([...Array(KEYS).keys()].map((i) => `k${i}`));
  values.forEach((entry, i) => assert.equal(entry?.value.toString(), isUpper(i) ? undefined : valueOf(i), `k${i}`));
  // Named again unchanged (or at a new view), an owned range keeps its records.
  await admin.call('AssignRanges', backAtSource(source.address, 4));
  assert.equal((await reader.get('k1'))?.value.toString(), isUpper(1) ? undefined : valueOf(1));
  assert.ok([...Array(KEYS).keys()].filter((i) => !isUpper(i)).every((i) => holds(source, `k${i}`)), 'the lower half is untouched');
});

test('AssignRanges: assignments take effect in the order they arrived, also when the first waits for leftovers to be dropped', { timeout: 60_000 }, async (t) => {
  const { source, target, admin } = await upperLeftAtSource(t);
  t.after(() => Promise.all([source.stop(), target.stop()]));
  // The first gives the upper half back (its leftovers are dropped first), the second, newer, only the lower half at a new view.
  const routes = [{ ...LOWER, view: 3, owner: 'pod-s', address: source.address }, { ...UPPER, view: 3, owner: 'pod-t', address: target.address }];
  await Promise.all([admin.call('AssignRanges', backAtSource(source.address, 4)), admin.call('AssignRanges', { owned: [{ ...LOWER, view: 3 }], routes })]);
  assert.deepEqual(source.ranges.list().map((r) => [String(r.start), r.view]), [['0', 3]], 'the newer assignment is in effect');
});

test('RecoverRanges: a range recovered by a pod that still holds records of it holds exactly the dead owner\'s data', { timeout: 60_000 }, async (t) => {
  const { source, target, admin } = await upperLeftAtSource(t);
  t.after(() => source.stop());
  // The range's owner since, pod-t, rewrote part of it, then died.
  const upper = [...Array(KEYS).keys()].filter(isUpper);
  const rewritten = upper.slice(0, 100);
  const writer = createClient({ seeds: [target.address] });
  await writer.mput(rewritten.map((i) => [`k${i}`, `new-${i}`]));
  writer.close();
  await abandon(target);
  const reply = await admin.call('RecoverRanges', { deadPod: 'pod-t', ranges: [{ ...UPPER, view: 4 }] }, 30_000);
  assert.deepEqual(reply.problems, []);
  await admin.call('AssignRanges', backAtSource(source.address, 4));
  const reader = createClient({ seeds: [source.address] });
  t.after(() => reader.close());
  const values = await reader.mget([...Array(KEYS).keys()].map((i) => `k${i}`));
  const expected = (i: number): string | undefined => (rewritten.includes(i) ? `new-${i}` : isUpper(i) ? undefined : valueOf(i));
  values.forEach((entry, i) => assert.equal(entry?.value.toString(), expected(i), `k${i}`));
});
