// A real pod over real gRPC on loopback: sessions, batches, routes and the Admin calls, plus bad
// input on one stream while another keeps working.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_POD_CONFIG, Pod } from '../../dataplane/server/pod.js';
import { slicekvServices } from '../../proto/grpcDefinition.js';
import { MIB } from '../../dataplane/store/index.js';
import { BatchWriter, ResultReader, WireStatus, FRAME_FORMAT_VERSION } from '../../proto/wire/index.js';
import { TestSession } from '../support/podSession.js';
import { assignWholeKeyspace } from '../support/assignRanges.js';
import { adminClient } from '../../proto/adminClient.js';

type UnaryClient = Record<string, (request: object, callback: (error: grpc.ServiceError | null, reply: Record<string, unknown>) => void) => void>;

async function startPod(): Promise<Pod> {
  const pod = new Pod({ ...DEFAULT_POD_CONFIG, store: { memoryLimitBytes: 16 * MIB, segmentSizeBytes: MIB, valueLengthMax: 64 * 1024 } });
  await assignWholeKeyspace(await pod.start(), pod.podName);
  return pod;
}

function unary(client: UnaryClient, method: string, request: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => client[method](request, (error, reply) => (error ? reject(error) : resolve(reply))));
}

function frame(build: (w: BatchWriter) => void, firstIncomplete = 1): Buffer {
  const writer = new BatchWriter();
  writer.begin(firstIncomplete);
  build(writer);
  return Buffer.from(writer.finish());
}

function statuses(results: Buffer): number[] {
  const reader = new ResultReader();
  reader.open(results);
  const out: number[] = [];
  while (reader.next()) out.push(reader.status);
  return out;
}

test('pod: a session opens, runs batches in order, and answers malformed frames without closing', async () => {
  const pod = await startPod();
  const session = new TestSession(pod.address);
  try {
    session.open();
    const opened = await session.next();
    assert.equal(opened.opened?.pod, 'pod-0');
    session.batch('1', frame((w) => w.put(Buffer.from('a'), Buffer.from('1'), 1, 1)));
    session.batch('2', Buffer.from([9, 9, 9]));
    session.batch('3', frame((w) => w.get(Buffer.from('a'), 1)));
    const [r1, r2, r3] = [await session.next(), await session.next(), await session.next()];
    assert.deepEqual([r1.batch?.batchId, r2.batch?.batchId, r3.batch?.batchId], ['1', '2', '3'], 'replies in order');
    assert.equal(r1.batch?.status, 'BATCH_OK');
    assert.deepEqual(statuses(r1.batch?.results ?? Buffer.alloc(0)), [WireStatus.OK]);
    assert.equal(r2.batch?.status, 'BATCH_MALFORMED');
    assert.match(r2.batch?.message ?? '', /TRUNCATED/);
    assert.equal(r3.batch?.status, 'BATCH_OK');
    const reader = new ResultReader();
    reader.open(r3.batch?.results ?? Buffer.alloc(0));
    assert.ok(reader.next());
    assert.equal(reader.value().toString(), '1');
  } finally {
    session.stream.end();
    await pod.stop();
  }
});

test('pod: a batch before open is refused; a bad client id ends only that stream', async () => {
  const pod = await startPod();
  const good = new TestSession(pod.address);
  const early = new TestSession(pod.address);
  const bad = new TestSession(pod.address);
  try {
    good.open(2);
    await good.next();
    early.batch('7', frame((w) => w.get(Buffer.from('a'), 1)));
    assert.equal((await early.next()).batch?.status, 'BATCH_SESSION_INVALID');
    bad.stream.write({ open: { clientId: Buffer.alloc(3), zone: '', frameFormatVersion: FRAME_FORMAT_VERSION } });
    const error = await bad.ended;
    assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
    good.batch('8', frame((w) => w.put(Buffer.from('b'), Buffer.from('2'), 1, 1)));
    assert.equal((await good.next()).batch?.status, 'BATCH_OK', 'the well-behaved session is unaffected');
  } finally {
    for (const s of [good, early]) s.stream.end();
    await pod.stop();
  }
});

test('pod: GetRoutes, Health and Stats answer; AssignRanges refuses overlapping ranges', async () => {
  const pod = await startPod();
  try {
    const kv = new (slicekvServices().KV)(pod.address, grpc.credentials.createInsecure()) as unknown as UnaryClient;
    const admin = adminClient(pod.address);
    const routes = await unary(kv, 'GetRoutes', {});
    assert.deepEqual((routes.routes as { start: string; end: string; address: string }[]).map((r) => [r.start, r.end, r.address]), [['0', '0', pod.address]]);
    assert.equal((await admin.call('Health', {})).serving, true);
    const stats = await admin.call('Stats', {});
    assert.equal((stats.ranges as unknown[]).length, 1);
    await assert.rejects(admin.call('AssignRanges', {
      owned: [{ start: '0', end: '100', view: 1 }, { start: '50', end: '200', view: 1 }], routes: [],
    }), (error: grpc.ServiceError) => error.code === grpc.status.INVALID_ARGUMENT);
  } finally {
    await pod.stop();
  }
});
