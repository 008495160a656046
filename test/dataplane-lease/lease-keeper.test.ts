import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../dataplane/clock.js';
import { LeaseConflictError, LeaseKeeper, leaseTimings, type LeaseRecord, type LeaseStore } from '../../dataplane/lease/leaseKeeper.js';

/** One Lease with resourceVersions, as the API server keeps it; can go down. */
class FakeLease implements LeaseStore {
  record: LeaseRecord | null = null;
  private version = 0;
  down = false;
  /** Records when the server stored each write, on the shared clock. */
  storedAtMs: number[] = [];

  constructor(private readonly clock: ManualClock) {}

  async get(): Promise<LeaseRecord | null> {
    if (this.down) throw new Error('connect ETIMEDOUT');
    return this.record;
  }

  async create(record: LeaseRecord): Promise<LeaseRecord> {
    if (this.down) throw new Error('connect ETIMEDOUT');
    if (this.record !== null) throw new LeaseConflictError('exists');
    return this.store(record);
  }

  async update(record: LeaseRecord): Promise<LeaseRecord> {
    if (this.down) throw new Error('connect ETIMEDOUT');
    if (this.record === null || this.record.resourceVersion !== record.resourceVersion) throw new LeaseConflictError('stale');
    return this.store(record);
  }

  private store(record: LeaseRecord): LeaseRecord {
    this.record = { ...record, resourceVersion: String(++this.version) };
    this.storedAtMs.push(this.clock.nowMs());
    return this.record;
  }
}

function keeper(lease: LeaseStore, clock: ManualClock, identity: string, events: string[]): LeaseKeeper {
  return new LeaseKeeper(lease, { identity, ...leaseTimings(15_000) }, clock, (serving, reason) => events.push(`${identity}:${serving ? 'serve' : 'fence'}:${reason}`));
}

test('leaseTimings: 15 s lease -> renew every 2 s, fence after 10 s', () => {
  assert.deepEqual(leaseTimings(15_000), { leaseDurationMs: 15_000, renewIntervalMs: 2000, fenceAfterMs: 10_000 });
  assert.throws(() => leaseTimings(1000), /at least 2000/);
});

test('LeaseKeeper: does not serve before it holds the lease; serves once it does', async () => {
  const clock = new ManualClock(1_000_000);
  const lease = new FakeLease(clock);
  const events: string[] = [];
  const pod = keeper(lease, clock, 'p0-a', events);
  assert.equal(pod.serving, false);
  await pod.tick();
  assert.equal(pod.serving, true);
  assert.equal(lease.record?.holderIdentity, 'p0-a');
  assert.deepEqual(events, ['p0-a:serve:lease held']);
});

test('LeaseKeeper: keeps serving while renewals succeed; fences exactly fenceAfter after the last successful renewal was sent', async () => {
  const clock = new ManualClock(1_000_000);
  const lease = new FakeLease(clock);
  const events: string[] = [];
  const pod = keeper(lease, clock, 'p0-a', events);
  for (let i = 0; i < 10; i++) {
    await pod.tick();
    assert.equal(pod.serving, true);
    clock.advance(2000);
  }
  const lastSentAt = clock.nowMs() - 2000;
  lease.down = true;
  let fencedAt = -1;
  for (let t = 0; t < 200 && fencedAt < 0; t++) {
    clock.advance(100);
    if (t % 20 === 0) await pod.tick();
    else pod.check();
    if (!pod.serving) fencedAt = clock.nowMs();
  }
  assert.equal(fencedAt - lastSentAt, 10_000);
  assert.match(events.at(-1) ?? '', /^p0-a:fence:lease lost: not renewed for 10000 ms \(connect ETIMEDOUT\)$/);
  lease.down = false;
  await pod.tick();
  assert.equal(pod.serving, true, 'serves again once it renews (it is still the holder)');
});

test('LeaseKeeper: the fencing inequality — the old holder stops serving before a successor may take the lease', async () => {
  // A successor (new incarnation of the pod) polls every 100 ms from the moment the old one is cut off.
  for (const requestDelayMs of [0, 500, 1900]) {
    const clock = new ManualClock(5_000_000);
    const lease = new FakeLease(clock);
    const oldEvents: string[] = [];
    const old = keeper(lease, clock, 'p0-old', oldEvents);
    await old.tick();
    clock.advance(requestDelayMs);
    const successor = keeper(lease, clock, 'p0-new', []);
    await successor.tick();
    lease.down = false;
    // The old pod is partitioned: its renewals never arrive. Walk time forward.
    let oldFencedAt = -1;
    let successorServedAt = -1;
    for (let t = 0; t < 400; t++) {
      clock.advance(100);
      old.check();
      if (!old.serving && oldFencedAt < 0) oldFencedAt = clock.nowMs();
      await successor.tick();
      if (successor.serving && successorServedAt < 0) successorServedAt = clock.nowMs();
    }
    assert.ok(oldFencedAt > 0 && successorServedAt > 0);
    const lastRenewStoredAt = lease.storedAtMs[0];
    assert.ok(successorServedAt - lastRenewStoredAt >= 15_000, `successor waited a full lease duration (delay ${requestDelayMs})`);
    assert.ok(successorServedAt - oldFencedAt >= 5000, `old fenced ${successorServedAt - oldFencedAt} ms before the successor served`);
  }
});

test('LeaseKeeper: a lease another holder renews is never taken', async () => {
  const clock = new ManualClock(1_000_000);
  const lease = new FakeLease(clock);
  const a = keeper(lease, clock, 'a', []);
  const b = keeper(lease, clock, 'b', []);
  for (let i = 0; i < 30; i++) {
    await a.tick();
    await b.tick();
    assert.equal(b.serving, false);
    clock.advance(2000);
  }
  assert.equal(lease.record?.holderIdentity, 'a');
});

test('LeaseKeeper: release() stops serving first and frees the lease for a successor at once', async () => {
  const clock = new ManualClock(1_000_000);
  const lease = new FakeLease(clock);
  const events: string[] = [];
  const a = keeper(lease, clock, 'a', events);
  const b = keeper(lease, clock, 'b', events);
  await a.tick();
  await b.tick();
  await a.release();
  assert.equal(a.serving, false);
  assert.equal(lease.record?.holderIdentity, '');
  await b.tick();
  assert.equal(b.serving, true);
  assert.deepEqual(events.map((e) => e.split(':').slice(0, 2).join(':')), ['a:serve', 'a:fence', 'b:serve']);
});

test('LeaseKeeper: a conflicting write (someone else wrote first) is not a renewal', async () => {
  const clock = new ManualClock(1_000_000);
  const lease = new FakeLease(clock);
  const a = keeper(lease, clock, 'a', []);
  await a.tick();
  const stale = lease.record!;
  lease.record = { ...stale, resourceVersion: '999' };
  const update = lease.update.bind(lease);
  lease.update = async (record) => {
    if (record.resourceVersion !== '999') return update(record);
    throw new LeaseConflictError('raced');
  };
  for (let i = 0; i < 6; i++) {
    clock.advance(2000);
    await a.tick();
  }
  assert.equal(a.serving, false, 'fenced: no renewal succeeded for 12 s');
});
