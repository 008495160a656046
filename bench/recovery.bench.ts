// Recovery benchmark (issue 4): how long slicekv takes to get 1M keys back after a crash, by one
// pod restarting and by three pods recovering a dead pod's ranges in parallel, against the Debian
// redis-server loading an RDB and an AOF of the same data, in the same run; and what the write-ahead
// log costs in write throughput, against redis-server's appendfsync settings (STYLE.md,
// "Benchmarks are code").
//
//   npm run bench:recovery              full run (1M keys, 100k-key log tail, 5 s per throughput cell)
//   npm run bench:recovery -- --smoke   CI run (20k keys, 2k tail, 0.5 s per cell; well under a minute)
//   ... -- --cpu-prof-dir DIR           also write V8 CPU profiles of the restarted, recovering and throughput pods
//
// Data: 16-byte keys, 100-byte values (support/workload.ts, as bench:ycsb), fixed seed; loaded once,
// then a tail of overwrites (support/recoveryData.ts). Everything runs on loopback, every server is a
// child process (support/serverProcess.ts kills them all if the benchmark dies), every phase is
// bounded in time, and the two systems never run at the same time.
//
// 1. redis-server: the same load and tail into a redis-server with appendonly yes (appendfsync
//    everysec, aof-use-rdb-preamble no), then SAVE; restarted with appendonly no it loads the RDB,
//    restarted with appendonly yes it loads the AOF (1M + tail SETs, as slicekv replays a
//    checkpoint plus a log). Load times are what redis-server logs.
// 2. Restart, 1 pod: a pod (--wal async, fsync every 10 ms) owning the keyspace as 6 ranges is loaded
//    through the SDK (mput in chunks), checkpointed (Admin Checkpoint), given the tail, and after
//    ASYNC_COMMIT_WAIT_MS (so the async log has written the tail; its loss window is the crash test's
//    subject, not this one's) killed with SIGKILL. Its data dir is copied twice for phase 3, then it
//    is restarted on the same dir and port: recoverSeconds1Pod is the `seconds` of its `recovered`
//    log line (checkpoints read and log replayed); spawn-to-listening is reported too. Each restart
//    is followed by redis-server's restarts of the same round (RDB, then AOF), so the two systems'
//    restarts alternate: recover1PodVsRdb is the median over rounds of each round's ratio (the
//    machine's page-fault cost drifts within minutes here; recover1PodVsRdbOfMedians is the ratio
//    of the medians). Then the pod is started once more, checkpoints everything (tail included) and
//    is killed again, and restarts from that checkpoint with next to no log:
//    recoverSeconds1PodCheckpointOnly, a snapshot load like redis's RDB load (the tail case is
//    reported against both the RDB and the AOF load).
//    Both sides read their files from a warm page cache (just written; `sync` runs before each restart).
// 3. Partitioned recovery: on a copy of the dead pod's data dir, three fresh pods each RecoverRanges
//    two of its six ranges, in parallel: recoverSeconds3Pods is the wall time from sending the three
//    RPCs to the last reply. For comparison, on the other copy one fresh pod recovers all six.
// 4. Write throughput: puts through the SDK at depth 64 against a fresh pod with --wal off / async /
//    sync, and SETs through ioredis at depth 64 against a fresh redis-server with appendonly yes and
//    appendfsync no / everysec / always, each from its own client process (support/putLoop.ts).
//    Both keep their defaults otherwise (slicekv: checkpoint every 256 MiB of log or 60 s; redis:
//    AOF rewrite at 64 MB and +100%). Each round runs the pairs (off / no, async / everysec, sync /
//    always) back to back, slicekv first in odd rounds and redis first in even ones; syncVsAlways
//    (and the other two) is the median over rounds of each pair's ratio, as for the restarts (the
//    VM's fsync speed wanders within minutes here); the ratio of the medians is kept beside it.
//
// Every recovery is checked: its key count, and a sample of keys read back byte for byte (tail
// keys must hold their tail value). Any op error, missing key, wrong value or count mismatch makes
// `ok` false and the exit code 1. The goals of issue 4 are reported as booleans, never enforced
// by tuning: they do not change the exit code.

import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { createClient, type SlicekvClient } from '../client/index.js';
import { evenSplit, type HashRange } from '../proto/keyspace/range.js';
import { rangeToMessage } from '../proto/messages.js';
import { fixedFreePort } from '../test/support/dataplaneProcess.js';
import { bounded, sleep } from './support/bounded.js';
import { runChild, optionValue } from './support/childRunner.js';
import { startDurablePod, type DurablePod, type RecoveredLine, type WalFlag } from './support/durablePodProcess.js';
import { describeMachine, machineInfo, type MachineInfo } from './support/machine.js';
import { runPutLoop, type PutLoopResult } from './support/putLoop.js';
import { RecoveryData, describeSample, sampleOk, type SampleCheck } from './support/recoveryData.js';
import { startRedisPersistence, type AppendFsync, type RedisPersistenceServer } from './support/redisPersistenceProcess.js';
import { killAllServerProcesses, killServerProcessesOnExit } from './support/serverProcess.js';
import { KEY_BYTES, VALUE_BYTES } from './support/workload.js';
import { connectRedis, connectSlicekv, ioredisVersion, type KvDriver } from './support/ycsbDrivers.js';
import { redisServerVersion } from './support/ycsbServers.js';

const SEED = 0x5c5b_2024;
const DEAD_POD = 'pod-0';
const RANGE_COUNT = 6;
const RECOVERING_PODS: readonly string[] = ['pod-a', 'pod-b', 'pod-c'];
const SINGLE_RECOVERER = 'pod-x';
const DEPTH = 64;
const WAL_MODES: readonly WalFlag[] = ['off', 'async', 'sync'];
const APPEND_FSYNCS: readonly AppendFsync[] = ['no', 'everysec', 'always'];
/** After the tail's last ack, before kill -9: 50 async commit intervals. */
const ASYNC_COMMIT_WAIT_MS = 500;
const FSYNC_INTERVAL_MS = 10;
/** Phases 1-2: only the benchmark's own Admin Checkpoint runs, so the log tail is exactly the tail. */
const NO_AUTOMATIC_CHECKPOINTS: readonly string[] = ['--checkpoint-interval-ms', '86400000', '--checkpoint-wal-bytes', '1024GiB'];
const LOAD_CHUNK_KEYS = 4096;
const READ_CHUNK_KEYS = 1000;
const REDIS_PIPELINE_KEYS = 10_000;
const GOALS = { recover1PodSecondsMax: 1, recover1PodVsRdbMax: 0.5, syncVsAlwaysMin: 1 } as const;

interface Plan {
  smoke: boolean;
  keyCount: number;
  tailCount: number;
  sampleCount: number;
  podMemory: string;
  warmUpMs: number;
  measureMs: number;
  /** Server start, recovery included. */
  startTimeoutMs: number;
  phaseTimeoutMs: number;
  workerTimeoutMs: number;
  rpcDeadlineMs: number;
  /**
   * Restarts (of the pod, of redis-server on its RDB and on its AOF) and throughput cells are
   * each measured this many times, interleaved, and reported as the median: the disk is shared
   * and its fsync latency moves from minute to minute.
   */
  rounds: number;
}

const FULL_PLAN: Plan = {
  smoke: false, keyCount: 1_000_000, tailCount: 100_000, sampleCount: 10_000, podMemory: '1GiB', warmUpMs: 1000, measureMs: 5000,
  startTimeoutMs: 120_000, phaseTimeoutMs: 600_000, workerTimeoutMs: 120_000, rpcDeadlineMs: 120_000, rounds: 5,
};
const SMOKE_PLAN: Plan = {
  smoke: true, keyCount: 20_000, tailCount: 2_000, sampleCount: 2_000, podMemory: '256MiB', warmUpMs: 200, measureMs: 500,
  startTimeoutMs: 30_000, phaseTimeoutMs: 60_000, workerTimeoutMs: 30_000, rpcDeadlineMs: 30_000, rounds: 2,
};

/** Where each phase keeps its files, under one temporary directory removed at exit. */
interface WorkDirs {
  root: string;
  restart: string;
  partitioned3: string;
  partitioned1: string;
  redis: string;
}

const round = (value: number, digits = 3): number => Math.round(value * 10 ** digits) / 10 ** digits;
const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a === null || a === undefined || b === null || b === undefined || b === 0 ? null : round(a / b, 3);
const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The median of the values (the mean of the middle two for an even count); null for none. */
function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function directoryBytes(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + directoryBytes(join(path, name)), 0);
}

/** Writes dirty pages out, so a restart's timing does not share the disk with a flush. */
function syncDisks(): void {
  execFileSync('sync');
}

// ---- slicekv -----------------------------------------------------------------------------------

interface LoadFigures {
  keys: number;
  seconds: number;
  putsPerSec: number;
}

async function putAll(client: SlicekvClient, count: number, data: RecoveryData, valueOf: (i: number) => Buffer): Promise<LoadFigures> {
  const started = performance.now();
  for (let from = 0; from < count; from += LOAD_CHUNK_KEYS) {
    const entries: [Buffer, Buffer][] = [];
    for (let i = from; i < Math.min(count, from + LOAD_CHUNK_KEYS); i++) entries.push([data.keyAt(i), valueOf(i)]);
    await client.mput(entries);
  }
  const seconds = (performance.now() - started) / 1000;
  return { keys: count, seconds: round(seconds), putsPerSec: Math.round(count / seconds) };
}

function readSlicekv(client: SlicekvClient): (keys: Buffer[]) => Promise<(Buffer | null)[]> {
  return async (keys) => (await client.mget(keys)).map((entry) => (entry === null ? null : entry.value));
}

async function podKeyCount(pod: DurablePod, plan: Plan): Promise<number> {
  return Number((await pod.admin.call('Stats', {}, plan.rpcDeadlineMs)).keyCount);
}

function profileArgs(cpuProfileDir: string | null, name: string): string[] {
  return cpuProfileDir === null ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfileDir, '--cpu-prof-name', `${name}.cpuprofile`];
}

function durablePodOptions(plan: Plan, podName: string, dataDir: string, port: number, nodeArgs: string[]): Parameters<typeof startDurablePod>[0] {
  return {
    podName, dataDir, wal: 'async', port, memory: plan.podMemory, nodeArgs, startTimeoutMs: plan.startTimeoutMs,
    extraArgs: ['--fsync-interval-ms', String(FSYNC_INTERVAL_MS), ...NO_AUTOMATIC_CHECKPOINTS],
  };
}

interface RestartRound {
  recovered: RecoveredLine;
  spawnToListeningSeconds: number;
  keyCountAfter: number;
  sample: SampleCheck;
}

interface RestartFigures {
  wal: WalFlag;
  fsyncIntervalMs: number;
  load: LoadFigures;
  checkpoint: { ranges: number; bytes: number; records: number; seconds: number };
  tail: LoadFigures;
  dataDirBytes: number;
  /** One per restart, each after a kill -9 of the one before (a SIGTERM when profiling). */
  rounds: RestartRound[];
  /**
   * Then the pod checkpoints everything it recovered and is killed again: restarts from a
   * checkpoint with (almost) no log after it. That is what redis's RDB load is (a snapshot);
   * `rounds` (checkpoint + a 100k-write log tail) is the harder case, closer to its AOF load.
   */
  checkpointOnlyRounds: RestartRound[];
}

/** The dead pod: loaded, checkpointed, given the tail, then SIGKILLed; returns what it took. */
async function loadAndCrash(plan: Plan, data: RecoveryData, dataDir: string, port: number): Promise<Pick<RestartFigures, 'load' | 'checkpoint' | 'tail'>> {
  const pod = await startDurablePod(durablePodOptions(plan, DEAD_POD, dataDir, port, []));
  const client = createClient({ seeds: [pod.address], timeoutMs: plan.rpcDeadlineMs });
  try {
    const ranges = evenSplit(RANGE_COUNT).map((range) => rangeToMessage({ ...range, view: 1 }));
    await pod.admin.call('AssignRanges', { owned: ranges, routes: ranges.map((r) => ({ ...r, owner: DEAD_POD, address: pod.address })) }, plan.rpcDeadlineMs);
    const load = await putAll(client, data.keyCount, data, (i) => data.loadValueOf(i));
    const reply = await pod.admin.call('Checkpoint', {}, plan.rpcDeadlineMs);
    const checkpoint = { ranges: Number(reply.ranges), bytes: Number(reply.bytes), records: Number(reply.records), seconds: round(Number(reply.seconds)) };
    const tail = await putAll(client, data.tailCount, data, (i) => data.tailValueOf(i));
    await sleep(ASYNC_COMMIT_WAIT_MS);
    return { load, checkpoint, tail };
  } finally {
    client.close();
    await pod.kill9();
  }
}

/**
 * Restarts the crashed pod `plan.rounds` times; after each, `between(r)` runs the peer's restarts
 * of round r, so that both systems' restarts alternate and see the same machine (its page-fault
 * cost moves from minute to minute on a shared VM: docs/durability.md "Session 11").
 */
async function phaseRestart(plan: Plan, data: RecoveryData, work: WorkDirs, cpuProfileDir: string | null,
  between: (round: number) => Promise<void>): Promise<RestartFigures> {
  const port = await fixedFreePort();
  const crashed = await loadAndCrash(plan, data, work.restart, port);
  console.log(`  loaded ${data.keyCount} keys in ${crashed.load.seconds} s (${crashed.load.putsPerSec} puts/s), checkpoint of ` +
    `${crashed.checkpoint.records} records / ${crashed.checkpoint.bytes} bytes in ${crashed.checkpoint.seconds} s, tail of ${data.tailCount} puts; kill -9`);
  // Phase 3 recovers exactly what this crash left, from copies made before anything reads it.
  cpSync(work.restart, work.partitioned3, { recursive: true });
  cpSync(work.restart, work.partitioned1, { recursive: true });
  const figures: RestartFigures = {
    wal: 'async', fsyncIntervalMs: FSYNC_INTERVAL_MS, ...crashed, dataDirBytes: directoryBytes(work.restart), rounds: [], checkpointOnlyRounds: [],
  };
  await restartRounds(plan, data, work.restart, port, { cpuProfileDir, name: 'restart' }, figures.rounds, between);
  await checkpointAndCrash(plan, work.restart, port);
  console.log('  the restarted pod checkpointed everything and was killed again (kill -9): restarts from that checkpoint');
  await restartRounds(plan, data, work.restart, port, { cpuProfileDir, name: 'restart-checkpoint-only' }, figures.checkpointOnlyRounds, async () => undefined);
  return figures;
}

async function restartRounds(plan: Plan, data: RecoveryData, dataDir: string, port: number, profile: { cpuProfileDir: string | null; name: string },
  into: RestartRound[], between: (round: number) => Promise<void>): Promise<void> {
  for (let r = 1; r <= plan.rounds; r++) {
    const restarted = await restartOnce(plan, data, dataDir, port, profileArgs(profile.cpuProfileDir, `${profile.name}-pod-${r}`));
    into.push(restarted);
    console.log(`  ${profile.name} ${r}: recovered ${restarted.recovered.checkpointRecords} checkpoint + ${restarted.recovered.logRecords} log records in ` +
      `${restarted.recovered.seconds.toFixed(3)} s (spawn to listening ${restarted.spawnToListeningSeconds} s); ${describeSample(restarted.sample)}`);
    await between(r);
  }
}

/** Restarts the dead pod, has it checkpoint every range it recovered, and kills it (kill -9). */
async function checkpointAndCrash(plan: Plan, dataDir: string, port: number): Promise<void> {
  const pod = await startDurablePod(durablePodOptions(plan, DEAD_POD, dataDir, port, []));
  try {
    await pod.admin.call('Checkpoint', {}, plan.rpcDeadlineMs);
    await sleep(ASYNC_COMMIT_WAIT_MS);
  } finally {
    await pod.kill9();
  }
}

/** Restarts the dead pod on its data dir and port, checks what it recovered, and crashes it again. */
async function restartOnce(plan: Plan, data: RecoveryData, dataDir: string, port: number, nodeArgs: string[]): Promise<RestartRound> {
  syncDisks();
  const pod = await startDurablePod(durablePodOptions(plan, DEAD_POD, dataDir, port, nodeArgs));
  const client = createClient({ seeds: [pod.address], timeoutMs: plan.rpcDeadlineMs });
  try {
    if (pod.recovered === null) throw new Error('the restarted pod logged no `recovered` line');
    const sample = await data.check(data.sample(plan.sampleCount), READ_CHUNK_KEYS, readSlicekv(client));
    return { recovered: pod.recovered, spawnToListeningSeconds: round(pod.spawnToListeningSeconds), keyCountAfter: await podKeyCount(pod, plan), sample };
  } finally {
    client.close();
    // A profile is written only on a clean exit.
    await (nodeArgs.length > 0 ? pod.stop() : pod.kill9());
  }
}

interface PartitionedFigures {
  pods: number;
  seconds: number;
  /** Per pod: its reply's own `seconds`, checkpoint and log records. */
  replies: { pod: string; ranges: number; seconds: number; checkpointRecords: number; logRecords: number; problems: string[] }[];
  checkpointRecords: number;
  logRecords: number;
  keyCountAfter: number;
  sample: SampleCheck;
}

/** Fresh pods on a copy of the dead pod's data dir each recover an equal share of its ranges, in parallel. */
async function phasePartitioned(plan: Plan, data: RecoveryData, dataDir: string, podNames: readonly string[],
  cpuProfileDir: string | null): Promise<PartitionedFigures> {
  const perPod = RANGE_COUNT / podNames.length;
  if (!Number.isInteger(perPod)) throw new RangeError(`${RANGE_COUNT} ranges do not split evenly over ${podNames.length} pods`);
  const ranges = evenSplit(RANGE_COUNT);
  const shares: HashRange[][] = podNames.map((_name, p) => ranges.slice(p * perPod, (p + 1) * perPod));
  const pods: DurablePod[] = [];
  let client: SlicekvClient | null = null;
  try {
    const options = podNames.map((name) => durablePodOptions(plan, name, dataDir, 0, profileArgs(cpuProfileDir, `recover-${podNames.length}-${name}`)));
    pods.push(...(await Promise.all(options.map((o) => startDurablePod(o)))));
    const messages = shares.map((share) => share.map((range) => rangeToMessage({ ...range, view: 2 })));
    const started = performance.now();
    const replies = await Promise.all(pods.map((pod, p) => pod.admin.call('RecoverRanges', { deadPod: DEAD_POD, ranges: messages[p] }, plan.rpcDeadlineMs)));
    const seconds = (performance.now() - started) / 1000;
    const routes = messages.flatMap((share, p) => share.map((r) => ({ ...r, owner: pods[p].podName, address: pods[p].address })));
    await Promise.all(pods.map((pod, p) => pod.admin.call('AssignRanges', { owned: messages[p], routes }, plan.rpcDeadlineMs)));
    client = createClient({ seeds: [pods[0].address], timeoutMs: plan.rpcDeadlineMs });
    const sample = await data.check(data.sample(plan.sampleCount), READ_CHUNK_KEYS, readSlicekv(client));
    const keyCounts = await Promise.all(pods.map((pod) => podKeyCount(pod, plan)));
    const figures = replies.map((reply, p) => ({
      pod: pods[p].podName, ranges: messages[p].length, seconds: round(Number(reply.seconds)), checkpointRecords: Number(reply.checkpointRecords),
      logRecords: Number(reply.logRecords), problems: Array.isArray(reply.problems) ? reply.problems.map(String) : [],
    }));
    return {
      pods: pods.length, seconds: round(seconds), replies: figures, sample, keyCountAfter: keyCounts.reduce((a, b) => a + b, 0),
      checkpointRecords: figures.reduce((sum, r) => sum + r.checkpointRecords, 0), logRecords: figures.reduce((sum, r) => sum + r.logRecords, 0),
    };
  } finally {
    client?.close();
    await Promise.all(pods.map((pod) => pod.stop()));
  }
}

// ---- redis-server ------------------------------------------------------------------------------

async function redisPutAll(redis: Redis, count: number, data: RecoveryData, valueOf: (i: number) => Buffer): Promise<LoadFigures> {
  const started = performance.now();
  for (let from = 0; from < count; from += REDIS_PIPELINE_KEYS) {
    const pipeline = redis.pipeline();
    for (let i = from; i < Math.min(count, from + REDIS_PIPELINE_KEYS); i++) pipeline.set(data.keyAt(i), valueOf(i));
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error !== null);
    if (failed !== undefined) throw new Error(`redis SET failed: ${message(failed[0])}`);
  }
  const seconds = (performance.now() - started) / 1000;
  return { keys: count, seconds: round(seconds), putsPerSec: Math.round(count / seconds) };
}

interface RedisRestartFigures {
  loadSeconds: number;
  spawnToReadySeconds: number;
  keyCountAfter: number;
  sample: SampleCheck;
}

interface RedisFigures {
  load: LoadFigures;
  tail: LoadFigures;
  saveSeconds: number;
  rdbBytes: number;
  aofBytes: number;
  args: readonly string[];
  /** One per restart, RDB and AOF restarts alternating. */
  rdb: RedisRestartFigures[];
  aof: RedisRestartFigures[];
}

async function redisRestart(plan: Plan, data: RecoveryData, dir: string, port: number, appendOnly: boolean): Promise<RedisRestartFigures> {
  syncDisks();
  const server = await startRedisPersistence({ dir, port, appendOnly, appendFsync: 'everysec', startTimeoutMs: plan.startTimeoutMs });
  let redis: Redis | null = null;
  try {
    const loadSeconds = appendOnly ? server.aofLoadSeconds : server.rdbLoadSeconds;
    if (loadSeconds === null) throw new Error(`redis-server logged no "DB loaded from ${appendOnly ? 'append only file' : 'disk'}" line`);
    redis = await server.connect();
    const client = redis;
    const sample = await data.check(data.sample(plan.sampleCount), READ_CHUNK_KEYS, (keys) => client.mgetBuffer(...keys));
    return { loadSeconds, spawnToReadySeconds: round(server.spawnToReadySeconds), keyCountAfter: await redis.dbsize(), sample };
  } finally {
    redis?.disconnect();
    await server.stop();
  }
}

/** redis-server's side of the restarts: its files and port, and its loads so far. */
interface RedisRestarts {
  dir: string;
  port: number;
  figures: RedisFigures;
}

/** Writes the same data into a redis-server with appendonly yes, SAVEs an RDB too, and stops it. */
async function phaseRedisWrite(plan: Plan, data: RecoveryData, dir: string): Promise<RedisRestarts> {
  const port = await fixedFreePort();
  mkdirSync(dir, { recursive: true });
  const writer: RedisPersistenceServer = await startRedisPersistence({ dir, port, appendOnly: true, appendFsync: 'everysec', startTimeoutMs: plan.startTimeoutMs });
  let written: Pick<RedisFigures, 'load' | 'tail' | 'saveSeconds'>;
  try {
    const redis = await writer.connect();
    const load = await redisPutAll(redis, data.keyCount, data, (i) => data.loadValueOf(i));
    const tail = await redisPutAll(redis, data.tailCount, data, (i) => data.tailValueOf(i));
    const saveStarted = performance.now();
    await redis.save();
    written = { load, tail, saveSeconds: round((performance.now() - saveStarted) / 1000) };
    const keyCount = await redis.dbsize();
    redis.disconnect();
    if (keyCount !== data.keyCount) throw new Error(`redis-server holds ${keyCount} keys after the load, expected ${data.keyCount}`);
  } finally {
    // SIGTERM: redis-server fsyncs and closes its AOF (no RDB: save is off).
    await writer.stop();
  }
  console.log(`  loaded ${data.keyCount} keys in ${written.load.seconds} s (${written.load.putsPerSec} SETs/s, pipelines of ${REDIS_PIPELINE_KEYS}), ` +
    `tail of ${data.tailCount}, SAVE in ${written.saveSeconds} s`);
  const figures: RedisFigures = {
    ...written, rdbBytes: directoryBytes(join(dir, 'dump.rdb')), aofBytes: directoryBytes(join(dir, 'appendonlydir')), args: writer.args, rdb: [], aof: [],
  };
  return { dir, port, figures };
}

/** Round r of redis-server's restarts: one on its RDB, one on its AOF. */
async function redisRestartRound(plan: Plan, data: RecoveryData, side: RedisRestarts, r: number): Promise<void> {
  const { figures } = side;
  for (const [name, list, bytes, appendOnly] of [['RDB', figures.rdb, figures.rdbBytes, false], ['AOF', figures.aof, figures.aofBytes, true]] as const) {
    const restarted = await redisRestart(plan, data, side.dir, side.port, appendOnly);
    list.push(restarted);
    console.log(`  redis restart ${r}: ${name} (${(bytes / 2 ** 20).toFixed(1)} MiB) loaded in ${restarted.loadSeconds.toFixed(3)} s ` +
      `(spawn to ready ${restarted.spawnToReadySeconds} s); ${describeSample(restarted.sample)}`);
  }
}

// ---- write throughput --------------------------------------------------------------------------

interface WorkerParams {
  system: 'slicekv' | 'redis';
  address: string;
  serverPid: number;
  keyCount: number;
  depth: number;
  warmUpMs: number;
  measureMs: number;
}

interface ThroughputCell extends PutLoopResult {
  system: 'slicekv' | 'redis';
  mode: string;
  keyCountAfter: number;
}

async function workerMain(params: WorkerParams): Promise<void> {
  const data = new RecoveryData(params.keyCount, 0, SEED);
  const probe = data.keyAt(0);
  const run = async <R>(driver: KvDriver<R>): Promise<PutLoopResult> => {
    const result = await runPutLoop(driver, data, params.depth, params.warmUpMs, params.measureMs, params.serverPid);
    await driver.close();
    return result;
  };
  const result = params.system === 'slicekv' ? await run(await connectSlicekv(params.address, probe)) : await run(await connectRedis(params.address, probe));
  console.log(JSON.stringify(result));
}

async function runWorker(plan: Plan, system: WorkerParams['system'], address: string, serverPid: number): Promise<PutLoopResult> {
  const params: WorkerParams = { system, address, serverPid, keyCount: plan.keyCount, depth: DEPTH, warmUpMs: plan.warmUpMs, measureMs: plan.measureMs };
  const outcome = await runChild<PutLoopResult>(fileURLToPath(import.meta.url), {
    nodeArgs: [], scriptArgs: ['--worker', JSON.stringify(params)], timeoutMs: plan.workerTimeoutMs,
  });
  if (!outcome.ok) throw new Error(`${system} client worker: ${outcome.reason}`);
  return outcome.result;
}

async function slicekvCell(plan: Plan, mode: WalFlag, root: string, cpuProfileDir: string | null): Promise<ThroughputCell> {
  const dataDir = join(root, `throughput-${mode}`);
  const pod = await startDurablePod({
    podName: 'pod-w', dataDir: mode === 'off' ? null : dataDir, wal: mode, port: 0, memory: plan.podMemory, startTimeoutMs: plan.startTimeoutMs,
    nodeArgs: profileArgs(cpuProfileDir, `put-${mode}-pod`), extraArgs: mode === 'off' ? [] : ['--fsync-interval-ms', String(FSYNC_INTERVAL_MS)],
  });
  try {
    const whole = { start: '0', end: '0', view: 1 };
    await pod.admin.call('AssignRanges', { owned: [whole], routes: [{ ...whole, owner: pod.podName, address: pod.address }] }, plan.rpcDeadlineMs);
    const result = await runWorker(plan, 'slicekv', pod.address, pod.process.pid);
    return { system: 'slicekv', mode, ...result, keyCountAfter: await podKeyCount(pod, plan) };
  } finally {
    await pod.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function redisCell(plan: Plan, appendFsync: AppendFsync, root: string): Promise<ThroughputCell> {
  const dir = join(root, `throughput-redis-${appendFsync}`);
  mkdirSync(dir, { recursive: true });
  const server = await startRedisPersistence({ dir, port: await fixedFreePort(), appendOnly: true, appendFsync, startTimeoutMs: plan.startTimeoutMs });
  try {
    const result = await runWorker(plan, 'redis', server.address, server.process.pid);
    const redis = await server.connect();
    const keyCountAfter = await redis.dbsize();
    redis.disconnect();
    return { system: 'redis', mode: appendFsync, ...result, keyCountAfter };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function describeCell(cell: ThroughputCell): string {
  return `  ${cell.system.padEnd(7)} ${(cell.system === 'slicekv' ? `--wal ${cell.mode}` : `appendfsync ${cell.mode}`).padEnd(20)} ` +
    `${cell.opsPerSec.toLocaleString('en-US').padStart(9)} ops/s  (${cell.measuredOps} ops in ${cell.elapsedMs} ms; client ${cell.clientCpuCores} cores, ` +
    `server ${cell.serverCpuCores ?? '?'} cores)${cell.errorCount > 0 ? `  ${cell.errorCount} ERRORS: ${cell.firstErrors.join(' | ')}` : ''}`;
}

// ---- checks and report -------------------------------------------------------------------------

interface Results {
  restart: RestartFigures | null;
  partitioned3: PartitionedFigures | null;
  partitioned1: PartitionedFigures | null;
  redis: RedisFigures | null;
  /** Per mode, one cell per round. */
  slicekvCells: Partial<Record<WalFlag, ThroughputCell[]>>;
  redisCells: Partial<Record<AppendFsync, ThroughputCell[]>>;
  failures: string[];
}

function checkRestart(r: RestartFigures, plan: Plan, failures: string[]): void {
  if (r.checkpoint.records !== plan.keyCount) failures.push(`restart: the checkpoint wrote ${r.checkpoint.records} records, expected ${plan.keyCount}`);
  for (const [name, rounds, tailExpected] of [['restart', r.rounds, true], ['restart from a checkpoint only', r.checkpointOnlyRounds, false]] as const) {
    if (rounds.length !== plan.rounds) failures.push(`${name}: ${rounds.length} restarts measured, expected ${plan.rounds}`);
    rounds.forEach((round, i) => checkRestartRound(`${name} ${i + 1}`, round, plan, tailExpected, failures));
  }
}

function checkRestartRound(what: string, round: RestartRound, plan: Plan, tailExpected: boolean, failures: string[]): void {
  const rec = round.recovered;
  if (rec.problems.length > 0) failures.push(`${what}: recovery reported problems: ${rec.problems.join(' | ')}`);
  // Checkpoints also hold the RIFL completion records of the load's puts, so more than the keys.
  if (rec.checkpointRecords < plan.keyCount) failures.push(`${what}: ${rec.checkpointRecords} checkpoint records recovered, expected at least ${plan.keyCount}`);
  if (tailExpected && rec.logRecords < plan.tailCount) failures.push(`${what}: ${rec.logRecords} log records replayed, expected at least the ${plan.tailCount}-put tail`);
  if (!tailExpected && rec.logRecords >= plan.tailCount) failures.push(`${what}: ${rec.logRecords} log records replayed, expected the checkpoint to cover the tail`);
  if (round.keyCountAfter !== plan.keyCount) failures.push(`${what}: the pod holds ${round.keyCountAfter} keys after recovery, expected ${plan.keyCount}`);
  if (!sampleOk(round.sample, plan.sampleCount)) failures.push(`${what}: ${describeSample(round.sample)}`);
}

function checkPartitioned(p: PartitionedFigures, plan: Plan, failures: string[]): void {
  const what = `partitioned recovery by ${p.pods} pod(s)`;
  const problems = p.replies.flatMap((reply) => reply.problems);
  if (problems.length > 0) failures.push(`${what}: problems: ${problems.join(' | ')}`);
  if (p.checkpointRecords < plan.keyCount) failures.push(`${what}: ${p.checkpointRecords} checkpoint records, expected at least ${plan.keyCount}`);
  if (p.logRecords < plan.tailCount) failures.push(`${what}: ${p.logRecords} log records replayed, expected at least ${plan.tailCount}`);
  if (p.keyCountAfter !== plan.keyCount) failures.push(`${what}: the pods hold ${p.keyCountAfter} keys, expected ${plan.keyCount}`);
  if (!sampleOk(p.sample, plan.sampleCount)) failures.push(`${what}: ${describeSample(p.sample)}`);
}

function checkRedis(r: RedisFigures, plan: Plan, failures: string[]): void {
  for (const [name, restarts] of [['RDB', r.rdb], ['AOF', r.aof]] as const) {
    if (restarts.length !== plan.rounds) failures.push(`redis ${name}: ${restarts.length} restarts measured, expected ${plan.rounds}`);
    for (const restart of restarts) {
      if (restart.keyCountAfter !== plan.keyCount) failures.push(`redis ${name} load: ${restart.keyCountAfter} keys, expected ${plan.keyCount}`);
      if (!sampleOk(restart.sample, plan.sampleCount)) failures.push(`redis ${name} load: ${describeSample(restart.sample)}`);
    }
  }
}

function checkCell(cell: ThroughputCell, plan: Plan, failures: string[]): void {
  const what = `${cell.system} ${cell.mode} throughput`;
  if (cell.errorCount > 0) failures.push(`${what}: ${cell.errorCount} put errors: ${cell.firstErrors.join(' | ')}`);
  if (cell.measuredOps === 0) failures.push(`${what}: no put completed`);
  const expected = Math.min(cell.totalOps, plan.keyCount);
  if (cell.keyCountAfter !== expected) failures.push(`${what}: the server holds ${cell.keyCountAfter} keys, expected ${expected}`);
}

/** The headline figures of the issue, their ratios and the goals. */
function headline(results: Results): Record<string, unknown> {
  const { restart, partitioned3, partitioned1, redis } = results;
  const opsMedian = (cells: ThroughputCell[] | undefined): number | null => {
    const value = median((cells ?? []).map((cell) => cell.opsPerSec));
    return value === null ? null : Math.round(value);
  };
  const put = (mode: WalFlag): number | null => opsMedian(results.slicekvCells[mode]);
  const set = (mode: AppendFsync): number | null => opsMedian(results.redisCells[mode]);
  const secondsMedian = (values: number[] | undefined): number | null => {
    const value = median(values ?? []);
    return value === null ? null : round(value);
  };
  const recoverSeconds1Pod = secondsMedian(restart?.rounds.map((r) => r.recovered.seconds));
  const checkpointOnlySeconds = secondsMedian(restart?.checkpointOnlyRounds.map((r) => r.recovered.seconds));
  const rdbSeconds = secondsMedian(redis?.rdb.map((r) => r.loadSeconds));
  const aofSeconds = secondsMedian(redis?.aof.map((r) => r.loadSeconds));
  return {
    recoverSeconds1Pod, recoverSeconds3Pods: partitioned3 === null ? null : partitioned3.seconds,
    redisRdbLoadSeconds: rdbSeconds, redisAofLoadSeconds: aofSeconds,
    putOpsPerSec: { off: put('off'), async: put('async'), sync: put('sync') },
    redisSetOpsPerSec: { no: set('no'), everysec: set('everysec'), always: set('always') },
    // Each restart is followed by the RDB and AOF loads of its round: the median of the rounds'
    // ratios compares runs that saw the same machine (the ratio of the medians is kept beside it).
    recover1PodVsRdb: pairedRatio(results, 'rdb'), recover1PodVsAof: pairedRatio(results, 'aof'),
    recover1PodVsRdbOfMedians: ratio(recoverSeconds1Pod, rdbSeconds),
    recoverSeconds1PodCheckpointOnly: checkpointOnlySeconds, recoverCheckpointOnlyVsRdb: ratio(checkpointOnlySeconds, rdbSeconds),
    // Likewise each round's throughput pair, measured back to back (the ratio of the medians beside it).
    syncVsAlways: pairedThroughputRatio(results, 'sync', 'always'), asyncVsEverysec: pairedThroughputRatio(results, 'async', 'everysec'),
    offVsNo: pairedThroughputRatio(results, 'off', 'no'),
    syncVsAlwaysOfMedians: ratio(put('sync'), set('always')), asyncVsEverysecOfMedians: ratio(put('async'), set('everysec')),
    offVsNoOfMedians: ratio(put('off'), set('no')),
    recoverRangesSeconds1Pod: partitioned1 === null ? null : partitioned1.seconds,
    recover3PodsSpeedup: ratio(partitioned1?.seconds, partitioned3?.seconds),
    restartToListeningSeconds1Pod: secondsMedian(restart?.rounds.map((r) => r.spawnToListeningSeconds)),
    redisRdbSpawnToReadySeconds: secondsMedian(redis?.rdb.map((r) => r.spawnToReadySeconds)),
    redisAofSpawnToReadySeconds: secondsMedian(redis?.aof.map((r) => r.spawnToReadySeconds)),
    runs: runsOf(results),
  };
}

/** Each round's slicekv restart / redis-server load of the same round (null where a figure is missing). */
function roundRatios(results: Results, load: 'rdb' | 'aof'): (number | null)[] {
  return (results.restart?.rounds ?? []).map((r, i) => ratio(r.recovered.seconds, results.redis?.[load][i]?.loadSeconds));
}

/** The median over rounds of (slicekv restart / redis-server load of the same round). */
function pairedRatio(results: Results, load: 'rdb' | 'aof'): number | null {
  const value = median(roundRatios(results, load).filter((each): each is number => each !== null));
  return value === null ? null : round(value);
}

/** Each round's slicekv puts/s / redis SETs/s of the same pair (null where a figure is missing). */
function throughputRatios(results: Results, mode: WalFlag, appendFsync: AppendFsync): (number | null)[] {
  const theirs = results.redisCells[appendFsync] ?? [];
  return (results.slicekvCells[mode] ?? []).map((cell, i) => ratio(cell.opsPerSec, theirs[i]?.opsPerSec));
}

/** The median over rounds of (slicekv puts/s / redis SETs/s of the same round's pair). */
function pairedThroughputRatio(results: Results, mode: WalFlag, appendFsync: AppendFsync): number | null {
  const value = median(throughputRatios(results, mode, appendFsync).filter((each): each is number => each !== null));
  return value === null ? null : round(value);
}

/** Every round's figure behind each median. */
function runsOf(results: Results): Record<string, unknown> {
  return {
    recoverSeconds1Pod: (results.restart?.rounds ?? []).map((r) => round(r.recovered.seconds)),
    recoverSeconds1PodCheckpointOnly: (results.restart?.checkpointOnlyRounds ?? []).map((r) => round(r.recovered.seconds)),
    redisRdbLoadSeconds: (results.redis?.rdb ?? []).map((r) => r.loadSeconds),
    redisAofLoadSeconds: (results.redis?.aof ?? []).map((r) => r.loadSeconds),
    recover1PodVsRdb: roundRatios(results, 'rdb'),
    putOpsPerSec: Object.fromEntries(WAL_MODES.map((mode) => [mode, (results.slicekvCells[mode] ?? []).map((cell) => cell.opsPerSec)])),
    redisSetOpsPerSec: Object.fromEntries(APPEND_FSYNCS.map((mode) => [mode, (results.redisCells[mode] ?? []).map((cell) => cell.opsPerSec)])),
    syncVsAlways: throughputRatios(results, 'sync', 'always'),
  };
}

function goalsOf(figures: Record<string, unknown>, plan: Plan): Record<string, unknown> {
  const met = (value: unknown, test: (v: number) => boolean): boolean | null => (typeof value === 'number' ? test(value) : null);
  return {
    ...GOALS, goalsStatedFor: '1M keys', goalsApplyToThisRun: !plan.smoke,
    recover1PodSecondsMet: met(figures.recoverSeconds1Pod, (v) => v <= GOALS.recover1PodSecondsMax),
    recover1PodVsRdbMet: met(figures.recover1PodVsRdb, (v) => v <= GOALS.recover1PodVsRdbMax),
    syncVsAlwaysMet: met(figures.syncVsAlways, (v) => v >= GOALS.syncVsAlwaysMin),
  };
}

function buildReport(plan: Plan, results: Results, versions: Record<string, string>, machine: MachineInfo): Record<string, unknown> {
  const figures = headline(results);
  return {
    bench: 'recovery', smoke: plan.smoke, ok: results.failures.length === 0, ...figures, goals: goalsOf(figures, plan),
    keys: { loaded: plan.keyCount, tail: plan.tailCount, sampled: plan.sampleCount, keyBytes: KEY_BYTES, valueBytes: VALUE_BYTES, seed: SEED },
    restart: results.restart, partitioned3: results.partitioned3, partitioned1: results.partitioned1, redis: results.redis,
    throughput: { depth: DEPTH, warmUpMs: plan.warmUpMs, measureMs: plan.measureMs, rounds: plan.rounds, slicekv: results.slicekvCells, redis: results.redisCells },
    failures: results.failures,
    notes: [
      `${machine.cpuCount} cores: the 3 recovering pods share them, so 3 pods cannot be 3x one pod here`,
      'slicekv recoverSeconds = the pod\'s `recovered` log line (checkpoints + log replay); redis = its "DB loaded" log line; both from a warm page cache',
      `phases 1-2 pod: --wal async --fsync-interval-ms ${FSYNC_INTERVAL_MS}, ${RANGE_COUNT} ranges, one Admin Checkpoint after the load, then the tail`,
      'recoverSeconds1PodCheckpointOnly: the same pod after it checkpointed everything (tail included) and was killed again: a snapshot load, as the RDB is',
    ],
    versions, machine,
  };
}

// ---- parent ------------------------------------------------------------------------------------

async function runPhase(results: Results, what: string, timeoutMs: number, body: () => Promise<void>): Promise<void> {
  console.log(`${what}:`);
  try {
    await bounded(what, timeoutMs, body);
  } catch (error) {
    results.failures.push(`${what}: ${message(error)}`);
    console.log(`  FAILED ${message(error)}`);
    // A failed or timed-out phase leaves no server behind for the next one.
    killAllServerProcesses();
  }
}

function versionsOf(): Record<string, string> {
  let redisServer: string;
  try {
    redisServer = redisServerVersion();
  } catch (error) {
    redisServer = `unavailable (${message(error)})`;
  }
  const slicekv = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return { slicekv, redisServer, ioredis: ioredisVersion(), node: process.version };
}

async function runRecoveryPhases(plan: Plan, data: RecoveryData, work: WorkDirs, cpuProfileDir: string | null, results: Results): Promise<void> {
  const peer: { side: RedisRestarts | null } = { side: null };
  await runPhase(results, '1. redis-server: the same data written (AOF, appendfsync everysec) and SAVEd (RDB)', plan.phaseTimeoutMs, async () => {
    peer.side = await phaseRedisWrite(plan, data, work.redis);
  });
  await runPhase(results, '2. restart recovery, 1 pod, each restart followed by redis-server\'s RDB and AOF loads', plan.phaseTimeoutMs, async () => {
    const r = await phaseRestart(plan, data, work, cpuProfileDir, async (round) => {
      if (peer.side !== null) await redisRestartRound(plan, data, peer.side, round);
    });
    results.restart = r;
    checkRestart(r, plan, results.failures);
    console.log(`  data dir ${(r.dataDirBytes / 2 ** 20).toFixed(1)} MiB`);
  });
  if (peer.side !== null) {
    results.redis = peer.side.figures;
    checkRedis(peer.side.figures, plan, results.failures);
  }
  for (const [key, pods] of [['partitioned3', RECOVERING_PODS], ['partitioned1', [SINGLE_RECOVERER]]] as const) {
    await runPhase(results, `3. partitioned recovery, ${pods.length} pod(s) recovering ${RANGE_COUNT} ranges`, plan.phaseTimeoutMs, async () => {
      if (results.restart === null) throw new Error('skipped: phase 2 left no dead pod');
      const p = await phasePartitioned(plan, data, work[key], pods, cpuProfileDir);
      results[key] = p;
      checkPartitioned(p, plan, results.failures);
      console.log(`  all ${p.pods} replied in ${p.seconds.toFixed(3)} s (pods' own: ${p.replies.map((r) => r.seconds.toFixed(3)).join(', ')} s); ` +
        `${p.checkpointRecords} checkpoint + ${p.logRecords} log records; ${describeSample(p.sample)}`);
    });
  }
}

async function runThroughputPhases(plan: Plan, root: string, cpuProfileDir: string | null, results: Results): Promise<void> {
  await runPhase(results, `4. write throughput at depth ${DEPTH}`, plan.phaseTimeoutMs, async () => {
    // Pairs measured back to back (off / no, async / everysec, sync / always) see the same disk.
    // Which system goes first alternates by round: the first of a pair follows the other
    // system's previous cell (its files' writeback, its page cache), the second its own kind.
    for (let r = 1; r <= plan.rounds; r++) {
      for (let pair = 0; pair < WAL_MODES.length; pair++) {
        const slicekv = (): Promise<ThroughputCell> => slicekvCell(plan, WAL_MODES[pair], root, r === 1 ? cpuProfileDir : null);
        const redis = (): Promise<ThroughputCell> => redisCell(plan, APPEND_FSYNCS[pair], root);
        const cells = r % 2 === 1 ? [await slicekv(), await redis()] : [await redis(), await slicekv()];
        const [ours, theirs] = r % 2 === 1 ? cells : [cells[1], cells[0]];
        (results.slicekvCells[WAL_MODES[pair]] ??= []).push(ours);
        (results.redisCells[APPEND_FSYNCS[pair]] ??= []).push(theirs);
        for (const cell of cells) {
          checkCell(cell, plan, results.failures);
          console.log(`  round ${r} ${describeCell(cell)}`);
        }
      }
    }
  });
}

function describeGoals(report: Record<string, unknown>): string {
  const goals = report.goals as Record<string, unknown>;
  const verdict = (value: unknown): string => (value === true ? 'met' : value === false ? 'MISSED' : 'not measured');
  return `goals${report.smoke === true ? ' (stated for 1M keys; this is a smoke run)' : ''}: ` +
    `1 pod recovers in <= ${GOALS.recover1PodSecondsMax} s: ${verdict(goals.recover1PodSecondsMet)} (${String(report.recoverSeconds1Pod)} s); ` +
    `<= ${GOALS.recover1PodVsRdbMax}x redis RDB load: ${verdict(goals.recover1PodVsRdbMet)} (${String(report.recover1PodVsRdb)}x); ` +
    `sync puts >= ${GOALS.syncVsAlwaysMin}x redis appendfsync always: ${verdict(goals.syncVsAlwaysMet)} (${String(report.syncVsAlways)}x)`;
}

async function parentMain(plan: Plan, cpuProfileDir: string | null): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'slicekv-bench-recovery-'));
  killServerProcessesOnExit(() => rmSync(root, { recursive: true, force: true }));
  const work: WorkDirs = {
    root, restart: join(root, 'restart'), partitioned3: join(root, 'partitioned-3'), partitioned1: join(root, 'partitioned-1'), redis: join(root, 'redis'),
  };
  const versions = versionsOf();
  // Taken before anything runs: its load average says what else the machine was doing.
  const machine = machineInfo();
  console.log(describeMachine(machine));
  console.log(`versions: slicekv ${versions.slicekv}, ${versions.redisServer}, ioredis ${versions.ioredis}`);
  console.log(`data: ${plan.keyCount} keys (${KEY_BYTES} B keys, ${VALUE_BYTES} B values) + a tail of ${plan.tailCount} overwrites, seed ${SEED}; ` +
    `${plan.sampleCount} keys read back after each recovery; throughput at depth ${DEPTH}, ${plan.warmUpMs} ms warm-up + ${plan.measureMs} ms measured` +
    `${plan.smoke ? '; SMOKE sizes' : ''}; files under ${root}`);
  const data = new RecoveryData(plan.keyCount, plan.tailCount, SEED);
  const results: Results = { restart: null, partitioned3: null, partitioned1: null, redis: null, slicekvCells: {}, redisCells: {}, failures: [] };
  await runRecoveryPhases(plan, data, work, cpuProfileDir, results);
  await runThroughputPhases(plan, root, cpuProfileDir, results);
  const report = buildReport(plan, results, versions, machine);
  console.log(describeGoals(report));
  for (const failure of results.failures) console.log(`FAILED ${failure}`);
  if (cpuProfileDir !== null) console.log(`CPU profiles written to ${cpuProfileDir}`);
  console.log(JSON.stringify(report));
  if (results.failures.length > 0) process.exitCode = 1;
}

// ---- entry -------------------------------------------------------------------------------------

async function main(argv: readonly string[]): Promise<void> {
  const workerParams = optionValue(argv, '--worker');
  if (workerParams !== null) {
    await workerMain(JSON.parse(workerParams) as WorkerParams);
    // Client libraries may keep timers or sockets alive a little; the result is out, so leave.
    process.exit(0);
  }
  await parentMain(argv.includes('--smoke') ? SMOKE_PLAN : FULL_PLAN, optionValue(argv, '--cpu-prof-dir'));
  // gRPC channels may linger; every server is stopped and the report is out (stdout to a pipe or a
  // file is synchronous on Linux), so leave now: the exit hook removes the work directory.
  process.exit(process.exitCode ?? 0);
}

await main(process.argv.slice(2));
