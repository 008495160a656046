import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from '../../client/index.js';
import { adminClient } from '../../proto/adminClient.js';
import { DEFAULT_POD_CONFIG, Pod } from '../../dataplane/server/pod.js';
import { LeaseConflictError, type LeaseRecord, type LeaseStore } from '../../dataplane/lease/leaseKeeper.js';
import { startSelfFencing } from '../../dataplane/lease/selfFencing.js';
import { assignWholeKeyspace } from '../support/assignRanges.js';

async function startPod(name: string): Promise<{ pod: Pod; address: string }> {
  const pod = new Pod({ ...DEFAULT_POD_CONFIG, podName: name, store: { memoryLimitBytes: 64 * 2 ** 20 } });
  const address = await pod.start();
  await assignWholeKeyspace(address, name);
  return { pod, address };
}

async function health(address: string): Promise<Record<string, unknown>> {
  const admin = adminClient(address);
  try {
    return await admin.call('Health', {}, 2000);
  } finally {
    admin.close();
  }
}

class FakeLease implements LeaseStore {
  record: LeaseRecord | null = null;
  private version = 0;
  down = false;

  async get(): Promise<LeaseRecord | null> {
    if (this.down) throw new Error('apiserver unreachable');
    return this.record;
  }

  async create(record: LeaseRecord): Promise<LeaseRecord> {
    if (this.down) throw new Error('apiserver unreachable');
    if (this.record !== null) throw new LeaseConflictError('exists');
    this.record = { ...record, resourceVersion: String(++this.version) };
    return this.record;
  }

  async update(record: LeaseRecord): Promise<LeaseRecord> {
    if (this.down) throw new Error('apiserver unreachable');
    if (this.record?.resourceVersion !== record.resourceVersion) throw new LeaseConflictError('stale');
    this.record = { ...record, resourceVersion: String(++this.version) };
    return this.record;
  }
}

const quiet = { info: () => undefined, warn: () => undefined };

test('Pod.setServing(false): every op gets UNAVAILABLE and nothing is applied; Health says why; serving again after', async () => {
  const { pod, address } = await startPod('fenced-0');
  const client = createClient({ seeds: [address], attemptsMax: 3 });
  try {
    await client.put('before', 'v1');
    pod.setServing(false, 'lease lost: not renewed for 10000 ms');
    await assert.rejects(client.put('during', 'x'), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'SLICEKV_RETRIES_EXHAUSTED');
      assert.match(error.message, /answered 9/, 'UNAVAILABLE is wire status 9');
      return true;
    });
    await assert.rejects(client.get('before'), /answered 9/);
    assert.deepEqual(await health(address), { serving: false, pod: 'fenced-0', reason: 'lease lost: not renewed for 10000 ms' });
    pod.setServing(true, 'lease held');
    assert.equal((await client.get('during')), null, 'the fenced put was never applied');
    assert.equal((await client.get('before'))?.value.toString(), 'v1');
    assert.deepEqual(await health(address), { serving: true, pod: 'fenced-0', reason: '' });
  } finally {
    client.close();
    await pod.stop(100);
  }
});

test('Pod fencing: an op retried by the SDK completes once the pod serves again', async () => {
  const { pod, address } = await startPod('fenced-1');
  const client = createClient({ seeds: [address], attemptsMax: 16 });
  try {
    pod.setServing(false, 'lease not yet acquired');
    const put = client.put('k', 'v');
    await sleep(150);
    pod.setServing(true, 'lease held');
    await put;
    assert.equal((await client.get('k'))?.value.toString(), 'v');
  } finally {
    client.close();
    await pod.stop(100);
  }
});

test('startSelfFencing: not serving until the lease is held; fenced when renewals fail; serving again; stop() releases', async () => {
  const { pod, address } = await startPod('fenced-2');
  const lease = new FakeLease();
  lease.down = true;
  const fencing = await startSelfFencing({ 'lease-name': 'fenced-2', 'lease-namespace': 'ns', 'lease-duration-ms': '2000' }, 'fenced-2', pod, quiet, lease);
  assert.ok(fencing !== null);
  try {
    await sleep(50);
    assert.equal((await health(address)).serving, false, 'the API server is down: never acquired');
    assert.equal((await health(address)).reason, 'lease not yet acquired');
    lease.down = false;
    await sleep(600);
    assert.equal((await health(address)).serving, true);
    assert.match(lease.record?.holderIdentity ?? '', /^fenced-2_no-uid_[0-9a-f]{8}$/);
    lease.down = true;
    const fencedBy = Date.now() + 1333 + 400;
    while ((await health(address)).serving && Date.now() < fencedBy) await sleep(50);
    const reason = String((await health(address)).reason);
    assert.match(reason, /^lease lost: not renewed for 1333 ms \(apiserver unreachable\)$/);
    lease.down = false;
    await sleep(600);
    assert.equal((await health(address)).serving, true);
  } finally {
    await fencing.stop();
    await pod.stop(100);
  }
  assert.equal(lease.record?.holderIdentity, '', 'released on stop');
  assert.equal(await startSelfFencing({}, 'x', pod, quiet), null, 'no --lease-name: no fencing');
});
