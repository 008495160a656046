// The bulk channel (docs/migration.md, "Bulk channel"; dataplane/migration/bulk*.ts) over real
// loopback sockets: chunks arrive whole and word aligned however the bytes are cut; a refused
// chunk fails only its own send; the hand-over (OWNERSHIP) is answered once the target's handler
// settles, with its refusal as the error; a HELLO may come before the source expects it;
// malformed or oversized frames end that connection and nobody else's; a silent target fails the send.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { BulkListener } from '../../dataplane/migration/bulkListener.js';
import { openBulkReceiver, type BulkHandlers } from '../../dataplane/migration/bulkReceiver.js';
import {
  BulkFrameError, FRAME_HEADER_BYTES, FRAME_MAGIC, FRAME_RECORDS_BYTES_MAX, FrameKind, FrameReader, HAND_OVER_BYTES_MAX, frameHead, smallFrame, type Frame,
} from '../../dataplane/migration/bulkFrame.js';
import { Random } from '../support/random.js';
import { replayHint, seedFromEnvironment } from '../support/environment.js';

/** Handlers that only install chunks (a hand-over is refused). */
function installing(install: (records: Buffer, slices: Buffer) => void): BulkHandlers {
  return { install, takeOwnership: () => Promise.reject(new Error('no hand-over in this test')) };
}

async function channel(t: { after(fn: () => unknown): void }, install: (records: Buffer, slices: Buffer) => void,
  takeOwnership?: BulkHandlers['takeOwnership']) {
  const listener = await BulkListener.listen('127.0.0.1', 0);
  const handlers = installing(install);
  const socket = await openBulkReceiver(`127.0.0.1:${listener.port}`, 'm1', takeOwnership === undefined ? handlers : { ...handlers, takeOwnership });
  const sender = await listener.expect('m1', 2000);
  t.after(() => {
    sender.close();
    socket.destroy();
    listener.close();
  });
  return { listener, socket, sender };
}

test('chunks arrive intact and word aligned, each acknowledged once installed; a refused chunk fails only its own send', async (t) => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const seen: { records: Buffer; slices: Buffer; aligned: boolean }[] = [];
  const { sender } = await channel(t, (records, slices) => {
    if (records.length > 0 && records[0] === 0xee) throw new Error('refused on purpose');
    seen.push({ records: Buffer.from(records), slices: Buffer.from(slices), aligned: records.byteOffset % 4 === 0 });
  });
  const sent: { records: Buffer; slices: Buffer }[] = [];
  for (let i = 0; i < 12; i++) {
    const records = random.bytes(4 * random.between(1, i % 3 === 0 ? 300_000 : 2000));
    records[0] = i;
    const slices = random.bytes(4 * random.between(0, 64));
    sent.push({ records, slices });
    await sender.send('m1', records, slices, 5000);
  }
  const refused = Buffer.alloc(64, 0xee);
  await assert.rejects(sender.send('m1', refused, Buffer.alloc(0), 5000), /refused on purpose/);
  await sender.send('m1', Buffer.alloc(8, 1), Buffer.alloc(0), 5000);
  assert.equal(seen.length, 13, replayHint(seed));
  for (let i = 0; i < 12; i++) {
    assert.ok(seen[i].records.equals(sent[i].records) && seen[i].slices.equals(sent[i].slices), `chunk ${i}: bytes as sent ${replayHint(seed)}`);
    assert.ok(seen[i].aligned, `chunk ${i}: records word aligned`);
  }
});

test('the hand-over: answered once the target\'s handler settles (after the chunks before it), its refusal as the error', async (t) => {
  const order: string[] = [];
  let release: () => void = () => undefined;
  const { sender } = await channel(t, (records) => order.push(`chunk ${records.length}`), async (request) => {
    order.push(`ownership ${request.toString()}`);
    if (request.toString() === 'refuse') throw new Error('range refused on purpose');
    await new Promise<void>((resolve) => (release = resolve));
    order.push('adopted');
  });
  await sender.send('m1', Buffer.alloc(8), Buffer.alloc(0), 5000);
  let settled = false;
  const handedOver = sender.handOver('m1', Buffer.from('take it'), 5000).then(() => (settled = true));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(settled, false, 'not acknowledged before the handler is done');
  release();
  await handedOver;
  assert.deepEqual(order, ['chunk 8', 'ownership take it', 'adopted']);
  await assert.rejects(sender.handOver('m1', Buffer.from('refuse'), 5000), /target refused hand-over: range refused on purpose/);
  assert.equal(sender.open, true, 'a refusal leaves the channel working');
  sender.close();
  assert.equal(sender.open, false, 'closed: a source hands over by ReceiveOwnership call instead');
  await assert.rejects(sender.handOver('m1', Buffer.from('take it'), 5000), /bulk channel closed/);
});

test('a hand-over larger than a frame goes in parts and reaches the handler whole; past its bound it is refused and the channel still works', async (t) => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const received: Buffer[] = [];
  const { sender } = await channel(t, () => undefined, async (request) => void received.push(request));
  const large = random.bytes(2 * FRAME_RECORDS_BYTES_MAX + 4 * random.between(1, 1000));
  await sender.handOver('m1', large, 10_000);
  assert.equal(received.length, 1);
  assert.ok(received[0].equals(large), `the handler got the ${large.length} bytes as sent ${replayHint(seed)}`);

  // Parts past the bound (only a misbehaving source sends them: handOver asserts the bound): the
  // part that crosses it is refused, and so is the OWNERSHIP frame that would end that hand-over.
  const frame = (sender as unknown as { frame(kind: FrameKind, id: string, records: Buffer, slices: Buffer, timeoutMs: number): Promise<void> }).frame
    .bind(sender);
  const part = Buffer.alloc(FRAME_RECORDS_BYTES_MAX);
  const parts = HAND_OVER_BYTES_MAX / FRAME_RECORDS_BYTES_MAX;
  for (let i = 0; i < parts; i++) await frame(FrameKind.OWNERSHIP_PART, 'm1', part, Buffer.alloc(0), 10_000);
  await assert.rejects(frame(FrameKind.OWNERSHIP_PART, 'm1', Buffer.alloc(4), Buffer.alloc(0), 10_000), /hand-over larger than/);
  await assert.rejects(frame(FrameKind.OWNERSHIP, 'm1', Buffer.from('rest'), Buffer.alloc(0), 10_000), /hand-over larger than .* or a part of it refused/);
  assert.equal(received.length, 1, 'no partial hand-over reached the handler');
  await sender.handOver('m1', Buffer.from('next'), 5000);
  assert.deepEqual(received.slice(1).map(String), ['next'], 'a later hand-over starts afresh');
});

test('frames are reassembled however the bytes are cut', () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const got: string[] = [];
  const reader = new FrameReader((frame: Frame) => {
    got.push(`${frame.kind}/${frame.seq}/${frame.id}/${frame.slices.toString('hex')}/${frame.records.toString('hex')}`);
  });
  const wire: Buffer[] = [];
  const expected: string[] = [];
  for (let i = 0; i < 40; i++) {
    const slices = random.bytes(4 * random.between(0, 5));
    const records = random.bytes(random.between(0, 3000));
    const id = i % 5 === 0 ? `migration-${i}` : '';
    wire.push(frameHead(FrameKind.CHUNK, i, id, slices.length, records.length), slices, records);
    expected.push(`${FrameKind.CHUNK}/${i}/${id}/${slices.toString('hex')}/${records.toString('hex')}`);
  }
  const bytes = Buffer.concat(wire);
  for (let at = 0; at < bytes.length;) {
    const take = Math.min(bytes.length - at, random.between(1, 700));
    reader.push(bytes.subarray(at, at + take), take);
    at += take;
  }
  assert.deepEqual(got, expected, replayHint(seed));
});

test('a malformed or oversized header is a BulkFrameError', () => {
  const reader = new FrameReader(() => assert.fail('no frame is delivered'));
  const bad = Buffer.alloc(FRAME_HEADER_BYTES);
  bad.writeUInt32LE(0xdeadbeef, 0);
  assert.throws(() => reader.push(bad, bad.length), BulkFrameError);
  const huge = frameHead(FrameKind.CHUNK, 1, '', 0, 0);
  huge.writeUInt32LE(FRAME_RECORDS_BYTES_MAX + 4, 20);
  assert.throws(() => new FrameReader(() => undefined).push(huge, huge.length), /out of bounds/);
  const kind = smallFrame(FrameKind.ACK, 1, '');
  kind.writeUInt8(99, 4);
  assert.throws(() => new FrameReader(() => undefined).push(kind, kind.length), /unknown frame kind/);
});

test('a HELLO before the source expects it is kept for it; expecting one that never comes fails in time', async (t) => {
  const listener = await BulkListener.listen('127.0.0.1', 0);
  t.after(() => listener.close());
  const installed: number[] = [];
  const socket = await openBulkReceiver(`127.0.0.1:${listener.port}`, 'early', installing((records) => installed.push(records.length)));
  t.after(() => socket.destroy());
  await new Promise((resolve) => setTimeout(resolve, 100));
  const sender = await listener.expect('early', 1000);
  await sender.send('early', Buffer.alloc(16), Buffer.alloc(0), 5000);
  assert.deepEqual(installed, [16]);
  sender.close();
  await assert.rejects(listener.expect('never', 200), /no bulk connection for migration never/);
});

test('garbage on one connection ends that connection only; the listener and other channels keep working', async (t) => {
  const installed: number[] = [];
  const { listener, sender } = await channel(t, (records) => installed.push(records.length));
  const rogue = net.connect(listener.port, '127.0.0.1');
  await once(rogue, 'connect');
  rogue.write(Buffer.alloc(64, 0x41));
  rogue.on('error', () => undefined);
  await once(rogue, 'close');
  await sender.send('m1', Buffer.alloc(32), Buffer.alloc(0), 5000);
  const second = await openBulkReceiver(`127.0.0.1:${listener.port}`, 'm2', installing((records) => installed.push(records.length)));
  t.after(() => second.destroy());
  const other = await listener.expect('m2', 2000);
  await other.send('m2', Buffer.alloc(12), Buffer.alloc(0), 5000);
  other.close();
  assert.deepEqual(installed, [32, 12]);
});

test('a source sending a malformed frame loses its connection; a target that never answers fails the send in time', async (t) => {
  const server = net.createServer((socket) => {
    socket.on('data', () => undefined);
    const bad = smallFrame(FrameKind.ACK, 1, '');
    bad.writeUInt32LE(FRAME_MAGIC ^ 1, 0);
    socket.write(bad);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const socket = await openBulkReceiver(`127.0.0.1:${(server.address() as net.AddressInfo).port}`, 'm1', installing(() => assert.fail('nothing to install')));
  await once(socket, 'close');

  const listener = await BulkListener.listen('127.0.0.1', 0);
  t.after(() => listener.close());
  const mute = net.connect(listener.port, '127.0.0.1');
  mute.on('error', () => undefined);
  t.after(() => mute.destroy());
  await once(mute, 'connect');
  mute.write(smallFrame(FrameKind.HELLO, 0, 'mute'));
  const sender = await listener.expect('mute', 2000);
  await assert.rejects(sender.send('mute', Buffer.alloc(8), Buffer.alloc(0), 300), /not acknowledged in 300 ms/);
});
