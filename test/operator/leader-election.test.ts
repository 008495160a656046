import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaderElector, type LeaseRecord, type LeaseStore } from '../../operator/core/leaderElection.js';
import { StoreError } from '../../operator/core/ports.js';
import { recordingLogger } from './fixture.js';

/** One Lease with resourceVersions, as the API server keeps it. */
class FakeLease implements LeaseStore {
  record: LeaseRecord | null = null;
  private version = 0;
  down = false;

  async get(): Promise<LeaseRecord | null> {
    if (this.down) throw new StoreError('Unavailable', 'apiserver down');
    return this.record;
  }

  async create(record: LeaseRecord): Promise<LeaseRecord> {
    if (this.down) throw new StoreError('Unavailable', 'apiserver down');
    if (this.record !== null) throw new StoreError('AlreadyExists', 'exists');
    this.record = { ...record, resourceVersion: String(++this.version) };
    return this.record;
  }

  async update(record: LeaseRecord): Promise<LeaseRecord> {
    if (this.down) throw new StoreError('Unavailable', 'apiserver down');
    if (this.record === null || record.resourceVersion !== this.record.resourceVersion) throw new StoreError('Conflict', 'stale');
    this.record = { ...record, resourceVersion: String(++this.version) };
    return this.record;
  }
}

class Clock {
  ms = 1_000_000;
  nowMs(): number {
    return this.ms;
  }
}

function elector(lease: LeaseStore, identity: string, clock: Clock, events: string[]): LeaderElector {
  return new LeaderElector(lease, { identity, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000 }, clock, recordingLogger([]), {
    onStartedLeading: () => events.push(`${identity} started`),
    onStoppedLeading: (reason) => events.push(`${identity} stopped: ${reason}`),
  });
}

test('leader election: the first replica takes the free lease; the second stands by while it is renewed', async () => {
  const lease = new FakeLease();
  const clock = new Clock();
  const events: string[] = [];
  const a = elector(lease, 'a', clock, events);
  const b = elector(lease, 'b', clock, events);
  assert.equal(await a.tick(), true);
  for (let i = 0; i < 20; i++) {
    clock.ms += 2000;
    assert.equal(await a.tick(), true);
    assert.equal(await b.tick(), false);
  }
  assert.equal(lease.record?.holderIdentity, 'a');
  assert.equal(lease.record?.leaseTransitions, 0);
  assert.deepEqual(events, ['a started']);
});

test('leader election: when the leader dies, the standby takes over only after a full lease duration of its own clock', async () => {
  const lease = new FakeLease();
  const clock = new Clock();
  const events: string[] = [];
  const a = elector(lease, 'a', clock, events);
  const b = elector(lease, 'b', clock, events);
  await a.tick();
  clock.ms += 2000;
  await b.tick();
  const diedAt = clock.ms;
  // a is killed: no more ticks from it.
  while (!(await b.tick())) {
    assert.ok(clock.ms - diedAt < 15_000, 'b must not take the lease within 15 s of last seeing it change');
    clock.ms += 2000;
  }
  assert.ok(clock.ms - diedAt >= 15_000 && clock.ms - diedAt <= 17_000, `took over ${clock.ms - diedAt} ms after the last renewal`);
  assert.equal(lease.record?.holderIdentity, 'b');
  assert.equal(lease.record?.leaseTransitions, 1);
});

test('leader election: a leader that cannot renew stops leading at the renew deadline, before anyone may take over', async () => {
  const lease = new FakeLease();
  const clock = new Clock();
  const events: string[] = [];
  const a = elector(lease, 'a', clock, events);
  const b = elector(lease, 'b', clock, events);
  await a.tick();
  const renewedAt = clock.ms;
  await b.tick();
  lease.down = true;
  let stoppedAt = -1;
  for (let t = 0; t < 20; t++) {
    clock.ms += 1000;
    await a.tick();
    if (!a.isLeader && stoppedAt < 0) stoppedAt = clock.ms;
  }
  assert.equal(stoppedAt - renewedAt, 10_000, 'steps down exactly at the renew deadline');
  assert.deepEqual(events, ['a started', 'a stopped: renew deadline passed']);
  lease.down = false;
  clock.ms = renewedAt + 14_999;
  assert.equal(await b.tick(), false, 'b still waits: the lease duration has not passed');
});

test('leader election: a lease another holder wrote meanwhile is not renewed over; the leader steps down at its deadline', async () => {
  const lease = new FakeLease();
  const clock = new Clock();
  const events: string[] = [];
  const a = elector(lease, 'a', clock, events);
  await a.tick();
  // Another writer bumps the record (e.g. a forced takeover by an admin).
  lease.record = { ...lease.record!, holderIdentity: 'intruder', resourceVersion: '99' };
  clock.ms += 2000;
  assert.equal(await a.tick(), true, 'still within its renew deadline');
  clock.ms += 8000;
  assert.equal(await a.tick(), false);
  assert.deepEqual(events, ['a started', 'a stopped: renew deadline passed']);
});

test('leader election: stop() releases the lease so the standby takes it at once', async () => {
  const lease = new FakeLease();
  const clock = new Clock();
  const events: string[] = [];
  const a = elector(lease, 'a', clock, events);
  const b = elector(lease, 'b', clock, events);
  await a.tick();
  await b.tick();
  await a.stop();
  assert.equal(lease.record?.holderIdentity, '');
  clock.ms += 100;
  assert.equal(await b.tick(), true);
  assert.deepEqual(events, ['a started', 'a stopped: stopping', 'b started']);
});

test('leader election: refuses timings where the renew deadline is not below the lease duration', () => {
  assert.throws(() => new LeaderElector(new FakeLease(), { identity: 'x', leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000 },
    new Clock(), recordingLogger([]), { onStartedLeading: () => undefined, onStoppedLeading: () => undefined }), /retryPeriod < renewDeadline < leaseDuration/);
});
