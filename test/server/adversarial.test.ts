// Bad input against a real pod while a well-behaved session works beside it: garbage and
// truncated frames, a 100 MB message, 10k sessions opened and closed, oversized values, and a
// client whose lease expired. The good session must see no error and lose nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_CLIENT_TABLE_CONFIG } from '../../dataplane/rifl/clientTable.js';
import { DEFAULT_POD_CONFIG, Pod } from '../../dataplane/server/pod.js';
import { MIB } from '../../dataplane/store/index.js';
import { BatchWriter, ResultReader, WireDetail, WireStatus } from '../../proto/wire/index.js';
import { Random } from '../support/random.js';
import { seedFromEnvironment } from '../support/environment.js';
import { TestSession } from '../support/podSession.js';
import { assignWholeKeyspace } from '../support/assignRanges.js';

async function startPod(leaseDurationMs = DEFAULT_CLIENT_TABLE_CONFIG.leaseDurationMs): Promise<Pod> {
  const pod = new Pod({
    ...DEFAULT_POD_CONFIG,
    store: { memoryLimitBytes: 32 * MIB, segmentSizeBytes: MIB, valueLengthMax: 64 * 1024 },
    clients: { ...DEFAULT_CLIENT_TABLE_CONFIG, leaseDurationMs },
  });
  await assignWholeKeyspace(await pod.start(), pod.podName);
  return pod;
}

function frame(build: (w: BatchWriter) => void, firstIncomplete = 1): Buffer {
  const writer = new BatchWriter();
  writer.begin(firstIncomplete);
  build(writer);
  return Buffer.from(writer.finish());
}

function results(reply: Buffer): { status: number; detail: number; value: string }[] {
  const reader = new ResultReader();
  reader.open(reply);
  const out = [];
  while (reader.next()) out.push({ status: reader.status, detail: reader.detail, value: reader.opcode === 1 && reader.status === 0 ? reader.value().toString() : '' });
  return out;
}

/** The well-behaved client: writes seq n and reads it back; asserts it all went right. */
class GoodClient {
  private seq = 1;
  constructor(readonly session: TestSession) {}

  async roundTrip(): Promise<void> {
    const n = this.seq++;
    this.session.batch(String(n), frame((w) => {
      w.put(Buffer.from(`good-${n}`), Buffer.from(`v${n}`), 1, n);
      w.get(Buffer.from(`good-${n}`), 1);
    }, n));
    const reply = await this.session.next();
    assert.equal(reply.batch?.status, 'BATCH_OK', `good batch ${n}: ${reply.batch?.message}`);
    assert.deepEqual(results(reply.batch?.results ?? Buffer.alloc(0)).map((r) => [r.status, r.value]), [[WireStatus.OK, ''], [WireStatus.OK, `v${n}`]]);
  }
}

test('adversarial: garbage, truncated and oversized input leaves a good session untouched', async () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const pod = await startPod();
  const goodSession = new TestSession(pod.address);
  const bad = new TestSession(pod.address);
  try {
    goodSession.open(1);
    await goodSession.next();
    const good = new GoodClient(goodSession);
    bad.open(2);
    await bad.next();
    const valid = frame((w) => { for (let i = 0; i < 20; i++) w.put(Buffer.from(`bad-${i}`), Buffer.alloc(100), 1, i + 1); });
    for (let i = 0; i < 200; i++) {
      const garbage = i % 2 === 0 ? random.bytes(random.below(300)) : valid.subarray(0, random.below(valid.length));
      bad.batch(String(1000 + i), garbage);
      const reply = await bad.next();
      assert.equal(reply.batch?.status, 'BATCH_MALFORMED', `seed ${seed} garbage ${i}`);
      if (i % 20 === 0) await good.roundTrip();
    }
    bad.batch('5000', frame((w) => w.put(Buffer.from('k'), Buffer.alloc(65 * 1024), 1, 100)));
    const oversized = results((await bad.next()).batch?.results ?? Buffer.alloc(0));
    assert.deepEqual([oversized[0].status, oversized[0].detail], [WireStatus.INVALID_ARGUMENT, WireDetail.VALUE_TOO_LARGE]);
    assert.equal(pod.store.stats().keyCount, 10, 'only the good client wrote keys (one per round trip)');
    await good.roundTrip();
  } finally {
    goodSession.stream.end();
    bad.stream.end();
    await pod.stop();
  }
});

test('adversarial: a 100 MB message ends only its own stream', async () => {
  const pod = await startPod();
  const goodSession = new TestSession(pod.address);
  const huge = new TestSession(pod.address);
  try {
    goodSession.open(1);
    await goodSession.next();
    const good = new GoodClient(goodSession);
    huge.open(3);
    await huge.next();
    huge.batch('6000', Buffer.alloc(100 * MIB));
    const error = await huge.ended;
    assert.equal(error?.code, grpc.status.RESOURCE_EXHAUSTED);
    await good.roundTrip();
  } finally {
    goodSession.stream.end();
    await pod.stop();
  }
});

test('adversarial: 10k sessions opened and closed; the pod keeps serving and tracks no leftovers', async () => {
  const pod = await startPod();
  const goodSession = new TestSession(pod.address);
  try {
    goodSession.open(1);
    await goodSession.next();
    const good = new GoodClient(goodSession);
    const total = 10_000;
    const parallel = 250;
    for (let done = 0; done < total; done += parallel) {
      await Promise.all([...Array(parallel).keys()].map(async (i) => {
        const s = new TestSession(pod.address);
        const id = Buffer.alloc(16);
        id.writeUInt32LE(done + i + 10, 0);
        s.stream.write({ open: { clientId: id, zone: '', frameFormatVersion: 1 } });
        await s.next();
        s.stream.end();
        await s.ended;
      }));
      if (done % 2500 === 0) await good.roundTrip();
    }
    await good.roundTrip();
    for (let i = 0; i < 50 && pod.sessionsOpen > 1; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(pod.sessionsOpen, 1, 'only the good session is still open');
  } finally {
    goodSession.stream.end();
    await pod.stop();
  }
});

test('adversarial: a client whose lease expired gets SESSION_EXPIRED and its op does not run', async () => {
  const pod = await startPod(150);
  const session = new TestSession(pod.address);
  try {
    session.open(9);
    await session.next();
    session.batch('1', frame((w) => w.put(Buffer.from('lease'), Buffer.from('first'), 1, 1)));
    assert.equal(results((await session.next()).batch?.results ?? Buffer.alloc(0))[0].status, WireStatus.OK);
    await new Promise((r) => setTimeout(r, 250));
    session.batch('2', frame((w) => {
      w.put(Buffer.from('lease'), Buffer.from('second'), 1, 2);
      w.get(Buffer.from('lease'), 1);
    }));
    const [put, get] = results((await session.next()).batch?.results ?? Buffer.alloc(0));
    assert.equal(put.status, WireStatus.SESSION_EXPIRED);
    assert.equal(get.value, 'first', "the expired client's put did not run");
  } finally {
    session.stream.end();
    await pod.stop();
  }
});
