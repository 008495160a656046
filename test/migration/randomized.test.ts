// Randomised migrations between two `slicekv dataplane` processes (sync-mode durability on one
// data dir) under a recorded SDK workload: puts and gets (YCSB-A's 50/50 mix on 400 keys), incrBy
// on 4 shared counters and CAS on 3 shared hot keys, from 6 lanes. Each run has one event:
//
//   none, pause (+ resume), cancel, split (the range is split just before it moves),
//   merge-target (split, migrate both halves one after the other, merge them back on the target),
//   merge-source (split and re-merge the source's other range while this one migrates), or
//   kill-<victim>-<point>: a real `kill -9` of the source or the target at
//     PRE_COPY            (the source is pre-copying, throttled: the target holds part of the range)
//     PREPARE             (source waits at --test-fault-delay PREPARE: the target has prepared and
//                          got the pre-copy, if any)
//     TRANSFER_OWNERSHIP  (source waits after giving the range up, before ReceiveOwnership)
//     RECEIVE_OWNERSHIP   (target waits after adopting the range durably, before it answers)
//     MOVE_DATA           (the source is streaming, throttled)
//     CHECKPOINT          (source waits before asking the target to checkpoint)
//     COMPLETE            (just after the source saw COMPLETE; it may be dropping its copy)
//     ANY                 (0-60 ms or 0-1.5 s after StartMigration, wherever the protocol is then)
//   after which the killed pod is restarted as Kubernetes would (same name, data dir, address),
//   at once or after 3.5-5 s (long enough for the peer to notice and act alone).
//
// Who must own the range in the end (docs/migration.md, "Failures" — the rule is: the target
// decides; a migration rolls back only if the target never durably adopted the range):
//   PRE_COPY, PREPARE, TRANSFER_OWNERSHIP -> the source (never given up, or taken back at a new view)
//   RECEIVE_OWNERSHIP, MOVE_DATA, CHECKPOINT, COMPLETE -> the target (rolls forward; a target
//   missing data loads it from the source's files)
//   ANY, cancel -> either (exactly one); every other event -> the target.
// After each run: no client op failed (only re-routed and retried), exactly one pod owns the
// range, every bulk record reads back, every counter equals the number of incrBy acknowledged on
// it (none applied twice), and Porcupine says the history, with a final read of every key, is
// linearizable. Half the runs (chosen by the seed) pre-copy the range (the default), half move
// ownership first (skipPreCopy); PRE_COPY kills always pre-copy, MOVE_DATA kills never do (the
// copy after ownership is what they hit). 28 runs per CI run (each kill point and victim once,
// the other events twice), 280 in long mode (SLICEKV_TEST_LONG=1); SLICEKV_SEED replays a whole series.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type SlicekvClient } from '../../client/index.js';
import { adminClient, type AdminClient } from '../../proto/adminClient.js';
import { HistoryRecorder, type KvClient } from '../support/historyRecorder.js';
import { checkHistory } from '../support/linearizability.js';
import { isLongMode, seedFromEnvironment } from '../support/environment.js';
import { Random } from '../support/random.js';
import { fixedFreePort, startDataplane, type DataplaneProcess } from '../support/dataplaneProcess.js';
import { rangeFromMessage, type RangeSpecMessage } from '../../proto/messages.js';
import { rangesOverlap } from '../../proto/keyspace/range.js';

const RUNS = isLongMode() ? 280 : 28;
const HALF = 1n << 63n;
const QUARTER3 = 3n << 62n;
const BULK_KEYS = 3000;
const BULK_VALUE_BYTES = 300;
const KILL_POINTS = ['PRE_COPY', 'PREPARE', 'TRANSFER_OWNERSHIP', 'RECEIVE_OWNERSHIP', 'MOVE_DATA', 'CHECKPOINT', 'COMPLETE', 'ANY'] as const;
type KillPoint = (typeof KILL_POINTS)[number];
const OTHER_EVENTS = ['none', 'pause', 'cancel', 'split', 'merge-target', 'merge-source'] as const;
type Scenario = { event: (typeof OTHER_EVENTS)[number] } | { event: 'kill'; victim: 'source' | 'target'; point: KillPoint };
/** Kill points a pod waits at (--test-fault-delay), and which pod. */
const FAULT_POINTS: Partial<Record<KillPoint, 'source' | 'target'>> = { PREPARE: 'source', TRANSFER_OWNERSHIP: 'source', RECEIVE_OWNERSHIP: 'target', CHECKPOINT: 'source' };
const ROLLS_BACK: readonly KillPoint[] = ['PRE_COPY', 'PREPARE', 'TRANSFER_OWNERSHIP'];
const ACTIVE = ['PREPARE', 'TRANSFER_OWNERSHIP', 'MOVE_DATA', 'CHECKPOINT'];

/** One block of 28 scenarios: every kill point with either victim once, every other event twice. */
function block(): Scenario[] {
  const kills = KILL_POINTS.flatMap((point) => (['source', 'target'] as const).map((victim) => ({ event: 'kill' as const, victim, point })));
  return [...OTHER_EVENTS, ...OTHER_EVENTS].map((event) => ({ event }) as Scenario).concat(kills);
}

function shuffled<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.below(i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

function nameOf(s: Scenario): string {
  return s.event === 'kill' ? `kill-${s.victim}-${s.point}` : s.event;
}

interface MigrationInfo { migrationId: string; role: string; phase: string; error: string; bytesMoved: string }

async function migrationsOf(admin: AdminClient): Promise<MigrationInfo[]> {
  return (await admin.call('MigrationStatus', { migrationId: '' }, 5000)).migrations as MigrationInfo[];
}

async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe().catch(() => null);
    if (found !== null) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function sourceReaches(admin: AdminClient, id: string, done: (m: MigrationInfo) => boolean): Promise<MigrationInfo> {
  return waitFor(`migration ${id}`, async () => (await migrationsOf(admin)).find((m) => m.migrationId === id && m.role === 'SOURCE' && done(m)) ?? null);
}

interface Pools { counters: string[]; hot: string[]; keys: string[] }

interface LaneResult { failures: unknown[]; increments: Map<string, number> }

async function lane(client: KvClient, random: Random, laneId: number, pools: Pools, stop: () => boolean, result: LaneResult): Promise<void> {
  const pick1 = (pool: string[]): string => pool[random.uint32() % pool.length];
  for (let n = 0; !stop() && n < 1_000_000; n++) {
    const pick = random.uint32() % 10;
    try {
      if (pick < 2) {
        const counter = pick1(pools.counters);
        await client.incrBy(counter, 1);
        result.increments.set(counter, (result.increments.get(counter) ?? 0) + 1);
      } else if (pick < 3) {
        const key = pick1(pools.hot);
        const current = await client.get(key);
        await client.putIfVersion(key, `${laneId}-${n}`, current?.version ?? 0);
      } else if (pick < 7) await client.put(pick1(pools.keys), `${laneId}-${n}`);
      else await client.get(pick1(pools.keys));
    } catch (error) {
      result.failures.push(error);
    }
  }
}

/** The pair of dataplane processes of one run; a killed one comes back on the same name, data dir and address. */
class Pods {
  readonly admins = new Map<string, AdminClient>();
  readonly pods = new Map<string, DataplaneProcess>();
  private readonly args = new Map<string, string[]>();

  constructor(private readonly dataDir: string, private readonly checkpointIntervalMs: number) {}

  async start(name: string, faults: string[]): Promise<DataplaneProcess> {
    const port = await fixedFreePort();
    this.args.set(name, ['--listen', `127.0.0.1:${port}`, '--pod-name', name, '--memory', '128MiB', '--data-dir', this.dataDir, '--wal', 'sync',
      '--checkpoint-interval-ms', String(this.checkpointIntervalMs)]);
    const pod = await startDataplane([...this.args.get(name)!, ...faults.flatMap((f) => ['--test-fault-delay', f])]);
    this.pods.set(name, pod);
    this.admins.set(name, adminClient(pod.address));
    return pod;
  }

  admin(name: string): AdminClient {
    return this.admins.get(name)!;
  }

  async killAndRestart(name: string, downMs: number): Promise<void> {
    await this.pods.get(name)!.kill9();
    await new Promise((resolve) => setTimeout(resolve, downMs));
    this.pods.set(name, await startDataplane(this.args.get(name)!));
  }

  async close(): Promise<void> {
    for (const admin of this.admins.values()) admin.close();
    await Promise.all([...this.pods.values()].map((pod) => pod.kill9()));
  }
}

/** Waits until exactly one pod owns the moving range and no migration is still running; returns the owner. */
async function settle(pods: Pods, range: { start: bigint; end: bigint }, sourceKilled: boolean): Promise<string> {
  return waitFor('the range to settle', async () => {
    const owners: string[] = [];
    for (const name of ['pod-s', 'pod-t']) {
      const stats = await pods.admin(name).call('Stats', {}, 5000);
      const owned = (stats.ranges as { range: RangeSpecMessage }[]).map((r) => rangeFromMessage(r.range));
      if (owned.some((r) => rangesOverlap(r, range))) owners.push(name);
      const running = (await migrationsOf(pods.admin(name))).filter((m) => ACTIVE.includes(m.phase) && !(sourceKilled && m.role === 'TARGET' && m.phase === 'PREPARE'));
      if (running.length > 0) return null;
    }
    return owners.length === 1 ? owners[0] : null;
  });
}

// eslint-disable-next-line complexity -- one scenario read top to bottom: set-up, the event, settle, checks
async function runOnce(seed: number, scenario: Scenario): Promise<{ owner: string; ops: number; preCopy: boolean }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'slicekv-rand-'));
  const random = new Random(seed);
  const pods = new Pods(dataDir, 500 + (random.uint32() % 3000));
  const kill = scenario.event === 'kill' ? scenario : null;
  const faultAt = kill === null ? undefined : FAULT_POINTS[kill.point];
  // The pod that waits at the fault point holds there until killed, or (the other pod is the
  // victim) long enough for the kill to land while it waits.
  const faultDelay = `${kill?.point}=${kill?.victim === faultAt ? 10_000 : 1000}`;
  const source = await pods.start('pod-s', faultAt === 'source' ? [faultDelay] : []);
  const target = await pods.start('pod-t', faultAt === 'target' ? [faultDelay] : []);
  const admin = pods.admin('pod-s');
  const client = createClient({ seeds: [source.address, target.address], timeoutMs: 60_000, attemptsMax: 1000 });
  const result: LaneResult = { failures: [], increments: new Map() };
  let stopped = false;
  const preCopy = kill?.point === 'PRE_COPY' || (kill?.point !== 'MOVE_DATA' && random.chance(0.5));
  const context = `seed ${seed} (${nameOf(scenario)}${preCopy ? '' : ', no pre-copy'})`;
  try {
    const whole = { start: '0', end: '0', view: 1 };
    await admin.call('AssignRanges', { owned: [whole], routes: [{ ...whole, owner: 'pod-s', address: source.address }] });
    await admin.call('SplitRange', { range: whole, at: HALF.toString() });
    await client.mput([...Array(BULK_KEYS).keys()].map((i) => [`bulk-${i}`, `b${i}`.padEnd(BULK_VALUE_BYTES, '.')]));
    const recorder = new HistoryRecorder();
    const pools: Pools = { counters: names('counter-', 4), hot: names('hot-', 3), keys: names('k', 400) };
    const lanes = [...Array(6).keys()].map((l) => lane(recorder.client(client, l), new Random(random.uint32()), l, pools, () => stopped, result));
    await new Promise((resolve) => setTimeout(resolve, 50 + (random.uint32() % 100)));
    const throttle = kill?.point === 'MOVE_DATA' || kill?.point === 'PRE_COPY' ? 300_000 : random.uint32() % 2 === 0 ? 0 : 200_000 + (random.uint32() % 600_000);
    const start = (id: string, range: object): Promise<unknown> => admin.call('StartMigration', {
      migrationId: id, range, targetPod: 'pod-t', targetAddress: target.address, throttleBytesPerSecond: String(throttle), skipPreCopy: !preCopy,
    });
    let moving = { start: HALF, end: 1n << 64n };
    if (scenario.event === 'split' || scenario.event === 'merge-target') {
      await admin.call('SplitRange', { range: { start: HALF.toString(), end: '0', view: 2 }, at: QUARTER3.toString() });
    }
    if (scenario.event === 'split') {
      moving = { start: QUARTER3, end: 1n << 64n };
      await start('r', { start: QUARTER3.toString(), end: '0', view: 3 });
    } else if (scenario.event === 'merge-target') {
      await mergeOnTarget(pods, start);
    } else {
      await start('r', { start: HALF.toString(), end: '0', view: 2 });
    }
    if (scenario.event === 'cancel') await admin.call('ControlMigration', { migrationId: 'r', action: 'CANCEL' }).catch(() => undefined);
    if (scenario.event === 'pause') await pauseAndResume(admin);
    if (scenario.event === 'merge-source') await splitAndMergeLowerHalf(admin);
    if (kill !== null) await killAt(pods, kill, random);
    const owner = await settle(pods, moving, kill?.victim === 'source');
    const expected = expectedOwners(scenario);
    assert.ok(expected.includes(owner), `${context}: the range ended at ${owner}, expected ${expected.join(' or ')}; migrations: ` +
      `${JSON.stringify(await migrationsOf(pods.admin('pod-s')))} ${JSON.stringify(await migrationsOf(pods.admin('pod-t')))}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    stopped = true;
    await Promise.all(lanes);
    assert.deepEqual(result.failures.map(String), [], `${context}: no client op failed`);
    await checkData(client, recorder, pools, result, context);
    if (owner === 'pod-s') await targetEmpties(pods.admin('pod-t'), context);
    const verdict = await checkHistory(recorder.ops(), { timeoutSeconds: 60 });
    assert.ok(verdict.linearizable, `${context}: the history is linearizable`);
    // How the source saw it end (after a restart: how its in-doubt record was resolved, or 'gone').
    const sourcePhase = (await migrationsOf(admin)).find((m) => m.migrationId === 'r' && m.role === 'SOURCE')?.phase ?? 'gone';
    return { owner: `${owner === 'pod-s' ? 'source' : 'target'}/${sourcePhase}`, ops: verdict.ops, preCopy };
  } finally {
    stopped = true;
    client.close();
    await pods.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The range stayed at the source: the target, owning nothing, must end up holding no records
 * (a pre-copy's are dropped on cancel, or once its watchdog finds the source no longer runs the
 * migration). Records left behind could come back if the range were ever recovered there.
 */
async function targetEmpties(admin: AdminClient, context: string): Promise<void> {
  const keys = await waitFor(`${context}: the target drops what it was sent`, async () => {
    const count = Number((await admin.call('Stats', {}, 5000)).keyCount);
    return count === 0 ? count : null;
  }, 15_000).catch(async () => Number((await admin.call('Stats', {}, 5000)).keyCount));
  assert.equal(keys, 0, `${context}: the target owns nothing and holds no records`);
}

function names(prefix: string, count: number): string[] {
  return [...Array(count).keys()].map((i) => `${prefix}${i}`);
}

function expectedOwners(scenario: Scenario): string[] {
  if (scenario.event === 'cancel' || (scenario.event === 'kill' && scenario.point === 'ANY')) return ['pod-s', 'pod-t'];
  if (scenario.event === 'kill' && ROLLS_BACK.includes(scenario.point)) return ['pod-s'];
  return ['pod-t'];
}

/** Bulk records intact; each counter moved once per acknowledged incrBy; a final read of every key joins the history. */
async function checkData(client: SlicekvClient, recorder: HistoryRecorder, pools: Pools, result: LaneResult, context: string): Promise<void> {
  const bulk = await client.mget([...Array(BULK_KEYS).keys()].map((i) => `bulk-${i}`));
  bulk.forEach((entry, i) => assert.equal(entry?.value.toString(), `b${i}`.padEnd(BULK_VALUE_BYTES, '.'), `${context}: bulk-${i}`));
  const reader = recorder.client(client, 6);
  for (const counter of pools.counters) {
    const value = await reader.get(counter);
    assert.equal(Number(value?.value.toString() ?? '0'), result.increments.get(counter) ?? 0, `${context}: ${counter} moved once per acknowledged incrBy`);
  }
  const keys = [...pools.hot, ...pools.keys];
  for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((key) => reader.get(key)));
}

async function pauseAndResume(admin: AdminClient): Promise<void> {
  // While data moves: in the pre-copy, or after ownership moved.
  await sourceReaches(admin, 'r', (m) => (m.phase === 'PREPARE' && Number(m.bytesMoved) > 0) || (m.phase !== 'PREPARE' && m.phase !== 'TRANSFER_OWNERSHIP'));
  await admin.call('ControlMigration', { migrationId: 'r', action: 'PAUSE' }).catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await admin.call('ControlMigration', { migrationId: 'r', action: 'RESUME' }).catch(() => undefined);
}

/** Moves [H, 3/4) and then [3/4, 2^64) to the target, then merges them there into [H, 2^64). */
async function mergeOnTarget(pods: Pods, start: (id: string, range: object) => Promise<unknown>): Promise<void> {
  const admin = pods.admin('pod-s');
  await start('r', { start: HALF.toString(), end: QUARTER3.toString(), view: 3 });
  const first = await sourceReaches(admin, 'r', (m) => !ACTIVE.includes(m.phase));
  assert.equal(first.phase, 'COMPLETE', first.error);
  await start('r2', { start: QUARTER3.toString(), end: '0', view: 3 });
  const second = await sourceReaches(admin, 'r2', (m) => !ACTIVE.includes(m.phase));
  assert.equal(second.phase, 'COMPLETE', second.error);
  await pods.admin('pod-t').call('MergeRanges', { left: { start: HALF.toString(), end: QUARTER3.toString(), view: 4 }, right: { start: QUARTER3.toString(), end: '0', view: 4 } });
}

/** While the upper half migrates, the source splits its lower half and merges it back. */
async function splitAndMergeLowerHalf(admin: AdminClient): Promise<void> {
  const quarter = (1n << 62n).toString();
  await admin.call('SplitRange', { range: { start: '0', end: HALF.toString(), view: 2 }, at: quarter });
  await new Promise((resolve) => setTimeout(resolve, 20));
  await admin.call('MergeRanges', { left: { start: '0', end: quarter, view: 3 }, right: { start: quarter, end: HALF.toString(), view: 3 } });
}

/** Waits for the kill point, kills the victim with SIGKILL, restarts it after 0-300 ms. */
async function killAt(pods: Pods, kill: { victim: 'source' | 'target'; point: KillPoint }, random: Random): Promise<void> {
  const waiter = FAULT_POINTS[kill.point];
  if (waiter !== undefined) {
    const pod = pods.pods.get(waiter === 'source' ? 'pod-s' : 'pod-t')!;
    await waitFor(`fault point ${kill.point}`, () => Promise.resolve(pod.logs.some((l) => l.faultPoint === kill.point) ? true : null), 30_000);
  } else if (kill.point === 'MOVE_DATA') {
    await sourceReaches(pods.admin('pod-s'), 'r', (m) => m.phase === 'MOVE_DATA' && Number(m.bytesMoved) > 0);
  } else if (kill.point === 'PRE_COPY') {
    await sourceReaches(pods.admin('pod-s'), 'r', (m) => m.phase === 'PREPARE' && Number(m.bytesMoved) > 0);
  } else if (kill.point === 'COMPLETE') {
    await sourceReaches(pods.admin('pod-s'), 'r', (m) => m.phase === 'COMPLETE');
  } else {
    // Half of them within the first 60 ms, where PREPARE and the transfer are.
    await new Promise((resolve) => setTimeout(resolve, random.chance(0.5) ? random.below(60) : random.below(1500)));
  }
  // Back at once, or only after the peer had time to notice (the target's 3 s watchdog, the source's retries).
  const downMs = random.chance(0.5) ? random.below(300) : 3500 + random.below(1500);
  await pods.killAndRestart(kill.victim === 'source' ? 'pod-s' : 'pod-t', downMs);
}

test(`migration: ${RUNS} randomised runs between dataplane processes (throttle, pause, cancel, split, merges, kill -9 of either side at eight points; with and without pre-copy) stay linearizable with no failed op`, { timeout: 3_600_000 }, async (t) => {
  const base = seedFromEnvironment();
  const random = new Random(base);
  const counts = new Map<string, { runs: number; owners: Map<string, number> }>();
  let ops = 0;
  let preCopied = 0;
  const started = Date.now();
  let scenarios: Scenario[] = [];
  for (let run = 0; run < RUNS; run++) {
    if (scenarios.length === 0) scenarios = shuffled(block(), random);
    const scenario = scenarios.pop()!;
    const seed = random.uint32();
    const outcome = await runOnce(seed, scenario);
    ops += outcome.ops;
    if (outcome.preCopy) preCopied++;
    const entry = counts.get(nameOf(scenario)) ?? { runs: 0, owners: new Map<string, number>() };
    entry.runs++;
    entry.owners.set(outcome.owner, (entry.owners.get(outcome.owner) ?? 0) + 1);
    counts.set(nameOf(scenario), entry);
  }
  const table = [...counts.entries()].sort().map(([name, c]) => `${name}=${c.runs}(${[...c.owners.entries()].map(([o, n]) => `${o}:${n}`).join(',')})`);
  t.diagnostic(`base seed ${base} (SLICEKV_SEED replays all runs); ${RUNS} runs (${preCopied} with pre-copy), ${ops} ops checked, ${((Date.now() - started) / 1000).toFixed(0)} s: ${table.join(' ')}`);
});
