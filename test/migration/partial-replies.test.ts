// The target of a live migration answers a batch in parts (SessionOpen.partial_replies): ops on
// keys that have not arrived wait for their fetch while the batch's other ops are answered at
// once; ops waiting on the same key run in the order they arrived, across batches; a client
// without partial replies gets one reply per batch, as before. An op at the new view that reaches
// the target before ownership does waits for it (bounded), instead of bouncing between pods.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '../../client/index.js';
import { adminClient, type AdminClient } from '../../proto/adminClient.js';
import { DEFAULT_POD_CONFIG, Pod } from '../../dataplane/server/pod.js';
import { MIB } from '../../dataplane/store/index.js';
import { keyHash64 } from '../../proto/keyspace/hash.js';
import { BatchWriter, ResultReader, WireStatus } from '../../proto/wire/index.js';
import type { SessionReplyMessage } from '../../proto/messages.js';
import { TestSession } from '../support/podSession.js';

const HALF = 1n << 63n;
/** Keys hashing this high are in the last chunks of the copy: still on the source while it is throttled. */
const LATE = 0xfn << 60n;

function pod(name: string): Pod {
  return new Pod({ ...DEFAULT_POD_CONFIG, podName: name, store: { memoryLimitBytes: 64 * MIB, segmentSizeBytes: MIB, valueLengthMax: 64 * 1024 } });
}

function frame(build: (w: BatchWriter) => void): Buffer {
  const writer = new BatchWriter();
  writer.begin(1);
  build(writer);
  return Buffer.from(writer.finish());
}

/** [status, value] of each result. */
function results(reply: SessionReplyMessage): [number, string][] {
  const reader = new ResultReader();
  reader.open(reply.batch?.results ?? Buffer.alloc(0));
  const out: [number, string][] = [];
  while (reader.next()) out.push([reader.status, reader.status === WireStatus.OK && reader.valueLength > 0 ? reader.value().toString() : '']);
  return out;
}

function keysWhere(prefix: string, count: number, keep: (hash: bigint) => boolean): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) if (keep(keyHash64(Buffer.from(`${prefix}${i}`)))) keys.push(`${prefix}${i}`);
  return keys;
}

async function phaseOf(admin: AdminClient, id: string): Promise<string> {
  return ((await admin.call('MigrationStatus', { migrationId: id })).migrations as { phase: string }[])[0]?.phase ?? '';
}

test('migration target: partial replies answer ready ops at once; ops on one key keep their order; whole replies without the option', { timeout: 60_000 }, async () => {
  const source = pod('pod-a');
  const target = pod('pod-b');
  const sourceAddress = await source.start();
  const targetAddress = await target.start();
  const admin = adminClient(sourceAddress);
  const client = createClient({ seeds: [sourceAddress] });
  const partial = new TestSession(targetAddress);
  const whole = new TestSession(targetAddress);
  try {
    const all = { start: '0', end: '0', view: 1 };
    await admin.call('AssignRanges', { owned: [all], routes: [{ ...all, owner: 'pod-a', address: sourceAddress }] });
    await admin.call('SplitRange', { range: all, at: HALF.toString() });
    // 2 MB in the upper half: the first chunk (256 KiB) goes at once, the throttle holds the rest back.
    const filler = keysWhere('fill-', 2000, (h) => h >= HALF);
    await client.mput(filler.map((k) => [k, 'f'.repeat(1000)]));
    const [late1, late2, late3] = keysWhere('late-', 3, (h) => h >= LATE);
    const [low] = keysWhere('low-', 1, (h) => h < HALF);
    await client.mput([[late1, 'one'], [late2, 'two'], [late3, 'three'], [low, 'low']]);
    await admin.call('StartMigration', { migrationId: 'p', range: { start: HALF.toString(), end: '0', view: 2 }, targetPod: 'pod-b', targetAddress, throttleBytesPerSecond: '1000', skipPreCopy: true });
    for (let i = 0; i < 200 && (await phaseOf(admin, 'p')) !== 'MOVE_DATA'; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(await phaseOf(admin, 'p'), 'MOVE_DATA');

    partial.open(1, true);
    await partial.next();
    partial.batch('1', frame((w) => {
      w.get(Buffer.from(late1), 3);
      w.get(Buffer.from(low), 2);
    }));
    const first = await partial.next();
    assert.deepEqual([first.batch?.batchId, first.batch?.opIndexes], ['1', [1]], 'the op not waiting for a key is answered first, alone');
    assert.equal(results(first)[0][0], WireStatus.WRONG_RANGE);
    const second = await partial.next();
    assert.deepEqual([second.batch?.batchId, second.batch?.opIndexes], ['1', [0]]);
    assert.deepEqual(results(second), [[WireStatus.OK, 'one']], 'the waiting op ran once its key arrived');

    // Two puts on a key still on the source, in two batches: both wait for it, and run in order.
    partial.batch('2', frame((w) => w.put(Buffer.from(late2), Buffer.from('first'), 3, 1)));
    partial.batch('3', frame((w) => w.put(Buffer.from(late2), Buffer.from('second'), 3, 2)));
    const replies = [await partial.next(), await partial.next()];
    assert.deepEqual(replies.map((r) => r.batch?.batchId), ['2', '3'], 'ops waiting on one key run in arrival order');
    partial.batch('4', frame((w) => w.get(Buffer.from(late2), 3)));
    assert.deepEqual(results(await partial.next()), [[WireStatus.OK, 'second']]);

    whole.open(2);
    await whole.next();
    whole.batch('9', frame((w) => {
      w.get(Buffer.from(late3), 3);
      w.get(Buffer.from(low), 2);
    }));
    const reply = await whole.next();
    assert.deepEqual(reply.batch?.opIndexes, [], 'without the option one reply answers every op');
    assert.deepEqual(results(reply).map(([status]) => status), [WireStatus.OK, WireStatus.WRONG_RANGE]);
  } finally {
    partial.stream.end();
    whole.stream.end();
    client.close();
    admin.close();
    await source.stop();
    await target.stop();
  }
});

test('migration target: an op at the new view that arrives before ownership waits for it, at most a second', { timeout: 30_000 }, async () => {
  const target = pod('pod-b');
  const targetAddress = await target.start();
  const admin = adminClient(targetAddress);
  const session = new TestSession(targetAddress);
  try {
    const upper = { start: HALF.toString(), end: '0', view: 3 };
    await admin.call('PrepareMigration', { migrationId: 'h', range: upper, sourcePod: 'pod-a', sourceAddress: '127.0.0.1:1' });
    session.open(1, true);
    await session.next();
    const [key] = keysWhere('held-', 1, (h) => h >= HALF);
    session.batch('1', frame((w) => w.put(Buffer.from(key), Buffer.from('v'), 3, 1)));
    const pending = session.next();
    const early = await Promise.race([pending, new Promise<null>((resolve) => setTimeout(() => resolve(null), 150))]);
    assert.equal(early, null, 'no answer while ownership is on its way');
    // The whole range is here (an empty last chunk), then ownership: the held op runs.
    await admin.call('MoveData', { migrationId: 'h', records: Buffer.alloc(0), sentBelowHi: 0xffff_ffff, last: true });
    await admin.call('ReceiveOwnership', { migrationId: 'h', entries: Buffer.alloc(0), durableSources: '', routes: [], versionFloor: '1' });
    const served = await pending;
    assert.deepEqual(served.batch?.opIndexes, [0]);
    assert.deepEqual(results(served), [[WireStatus.OK, '']], 'served once ownership arrived');

    // Ownership that never comes: after the bound, WRONG_RANGE as for any range not owned here.
    const lower = { start: '0', end: HALF.toString(), view: 5 };
    await admin.call('PrepareMigration', { migrationId: 'never', range: lower, sourcePod: 'pod-a', sourceAddress: '127.0.0.1:1' });
    const [other] = keysWhere('stray-', 1, (h) => h < HALF);
    const asked = Date.now();
    session.batch('2', frame((w) => w.get(Buffer.from(other), 5)));
    const reply = await session.next();
    const waitedMs = Date.now() - asked;
    assert.equal(results(reply)[0][0], WireStatus.WRONG_RANGE);
    assert.ok(waitedMs >= 900 && waitedMs < 5000, `waited ${waitedMs} ms`);
  } finally {
    session.stream.end();
    admin.close();
    await target.stop();
  }
});
