// The Redis side of the migration benchmark (issue 5): the same data moved between the two masters
// of a Redis Cluster by `redis-cli --cluster reshard`, under the same YCSB-A load the slicekv side
// runs (support/migrationLoad.ts), through ioredis Cluster.
//
// Data: `keys` 16-byte keys chosen so that their hash slots (CRC16 mod 16384, as CLUSTER KEYSLOT)
// all fall in slots [0, slotCount): one contiguous slot range on master A (redis-cli --cluster
// create gives A slots 0-8191), mirroring "a range holding 1M keys" on the slicekv side. Keys look
// like bench:ycsb's ("key:" + 8 hex digits of a bijective mix of a counter + 4 hex digits of
// noise), with no '{': the whole key is hashed. Candidates are drawn until `keys` of them land in
// the range (16384 / slotCount candidates per key). The CRC16 here is checked against the
// server's CLUSTER KEYSLOT on a sample before anything is loaded.
//
// Steps, each bounded in time: start the cluster (support/redisCluster.ts); load every key into A
// over a plain connection (pipelined, not timed against anything); measure peak YCSB-A throughput
// through ioredis Cluster (concurrency lanes flat out); start the load at loadFraction of that peak;
// after leadInSeconds, a control window of controlSeconds (the load alone, reported as `control`),
// then run `redis-cli --cluster reshard A --cluster-from A --cluster-to B
// --cluster-slots slotCount --cluster-yes --cluster-pipeline pipelineKeys`, which moves A's lowest
// slotCount slots (exactly the key range: redis-cli takes a source's slots in ascending order); keep
// the load on for tailSeconds; stop it.
//
// Reported: `seconds`, redis-cli's wall time (spawn to exit); over the 100 ms buckets that overlap
// the reshard, the min of ops/target (`minThroughputRatio`) and the max p99 (`p99MsMax`);
// `failedOps`, the errors the application saw during the reshard (ioredis follows MOVED and ASK
// itself and retries TRYAGAIN and CLUSTERDOWN after 100 ms, so those count only when its retries
// run out; an op unanswered after opTimeoutMs counts as a failure); and, from the servers' INFO
// errorstats (reset right before the load), every error reply they sent: MOVED, ASK, TRYAGAIN...
// even those ioredis hid. (Every new ioredis connection adds two ERR replies: it sends CLIENT
// SETINFO, which redis 7.0 does not know; ioredis opens one per slot-map refresh after a MOVED.)
//
// Verified afterwards (a failure sets ok: false and lists the problem; the caller must fail): the
// cluster is ok with every moved slot owned by B, A holds no keys, B holds exactly `keys` keys, and
// `sampleKeys` keys read from B over a plain connection (a MOVED would be an error) hold the value
// last acknowledged to the load, or one of the benchmark's values where concurrent puts made the
// last value ambiguous. Every read during the load is checked the same way (wrongReads).

import { Cluster, Redis } from 'ioredis';
import { processCpuSeconds } from './procStats.js';
import { bounded, sleep } from './bounded.js';
import { CLUSTER_SLOT_COUNT, startRedisCluster, waitForClusterOk, type RedisCluster } from './redisCluster.js';
import {
  BUCKET_MS, MigrationLoad, MigrationWorkload, controlWindow, loadKeys, measurePeak, summarizeWindow,
  type LoadBucket, type LoadReport, type MigrationDriver, type PeakResult, type WindowMarks, type WindowSummary,
} from './migrationLoad.js';
import { KEY_BYTES, VALUE_BYTES, keysWhere } from './workload.js';

export interface RedisReshardOptions {
  readonly keys: number;
  /** Must be VALUE_BYTES (100): the workload's value pool is of that size. */
  readonly valueBytes: number;
  /** Target rate as a fraction of the measured peak (issue 5: 0.7). */
  readonly loadFraction: number;
  /** Slots [0, slotCount) hold the keys and move from A to B. */
  readonly slotCount: number;
  /** redis-cli --cluster-pipeline: keys per MIGRATE command. */
  readonly pipelineKeys: number;
  readonly concurrency: number;
  /**
   * ioredis enableAutoPipelining on the Cluster client. With it, ioredis batches the commands of a
   * tick per node and, when a batch mixes answered commands with MOVED/ASK ones (as it does while a
   * node's slots move), hands the MOVED/ASK errors to the application and does not refresh its slot
   * map (ioredis/built/Pipeline.js; redis/ioredis#2075, open): ops fail for the whole reshard and
   * after it. Without it, ioredis follows each redirection per command, as the comparison
   * intends; so false is the measured setting, true is kept to show the difference.
   */
  readonly autoPipelining: boolean;
  readonly peakSeconds: number;
  readonly warmUpSeconds: number;
  /** Load before the control window, and after the reshard ends (tailSeconds). */
  readonly leadInSeconds: number;
  /** The load alone, right before the reshard (migrationLoad.ts, controlWindow). */
  readonly controlSeconds: number;
  readonly tailSeconds: number;
  readonly opTimeoutMs: number;
  readonly reshardTimeoutMs: number;
  /** Server start, cluster create, loading, verifying: each. */
  readonly stepTimeoutMs: number;
  readonly sampleKeys: number;
  readonly sequenceLength: number;
  readonly seed: number;
  readonly log?: (line: string) => void;
}

export interface RedisReshardReport {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly keys: number;
  readonly slotsMoved: number;
  readonly pipelineKeys: number;
  /** redis-cli --cluster reshard wall time. */
  readonly seconds: number;
  readonly minThroughputRatio: number | null;
  readonly meanThroughputRatio: number | null;
  readonly p99MsMax: number | null;
  /** The same figures over the control window: the load alone, no reshard. */
  readonly control: WindowSummary;
  /** Failed ops during the reshard (buckets overlapping it); failedOpsTotal over the whole load. */
  readonly failedOps: number;
  readonly failedOpsTotal: number;
  readonly failureKinds: Readonly<Record<string, number>>;
  readonly failureTimesMs: readonly number[];
  readonly wrongReads: number;
  readonly skippedOps: number;
  readonly peak: PeakResult;
  readonly targetOpsPerSec: number;
  readonly concurrency: number;
  readonly loadSeconds: number;
  /** The load's timeline: ms since the load started. */
  readonly reshardStartMs: number;
  readonly reshardEndMs: number;
  readonly bucketMs: number;
  readonly perBucket: readonly LoadBucket[];
  /**
   * Error replies the servers sent during the load (to the load and to redis-cli alike), summed over
   * both masters: by prefix (INFO errorstats) and by command (commandstats failed + rejected calls).
   */
  readonly serverErrorReplies: Readonly<Record<string, number>>;
  readonly serverFailedCalls: Readonly<Record<string, number>>;
  /** CPU time over the reshard's wall time: 1 is one core kept busy. */
  readonly cpuCoresDuringReshard: { client: number; masterA: number | null; masterB: number | null; redisCli: number | null };
  readonly client: string;
  readonly sampleChecked: number;
}

// ---- keys in a slot range ----------------------------------------------------------------------

/** CRC16-CCITT (XModem), the polynomial Redis Cluster hashes keys with (cluster spec, "Keys distribution model"). */
const CRC16_TABLE = ((): Uint16Array => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[byte] = crc;
  }
  return table;
})();

function crc16(bytes: Buffer, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >>> 8) ^ bytes[i]) & 0xff];
  return crc;
}

/** The hash slot of a key with no '{' (the benchmark's keys never have one). */
export function keySlot(bytes: Buffer, start = 0, end = bytes.length): number {
  return crc16(bytes, start, end) & (CLUSTER_SLOT_COUNT - 1);
}

// The reference values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
if (crc16(Buffer.from('123456789'), 0, 9) !== 0x31c3) throw new Error('crc16 does not match the Redis Cluster spec');
if (keySlot(Buffer.from('foo')) !== 12182) throw new Error('keySlot("foo") is not 12182');

/** `keyCount` distinct 16-byte keys whose slots are all in [0, slotCount). */
export function keysInSlots(keyCount: number, slotCount: number, seed: number): Buffer {
  if (!(slotCount >= 1 && slotCount <= CLUSTER_SLOT_COUNT)) throw new RangeError(`slot count ${slotCount}`);
  return keysWhere(keyCount, seed, (keys, at) => keySlot(keys, at, at + KEY_BYTES) < slotCount, `found in ${slotCount} slots`);
}

// ---- drivers -----------------------------------------------------------------------------------

function bufferDriver(redis: Redis | Cluster): MigrationDriver {
  return { get: (key) => redis.getBuffer(key), put: (key, value) => redis.set(key, value) };
}

const clientDescription = (autoPipelining: boolean): string => `ioredis Cluster, enableAutoPipelining: ${autoPipelining}, ` +
  'default redirections (maxRedirections 16, retryDelayOnMoved 0, retryDelayOnTryAgain / OnClusterDown / OnFailover 100 ms), scaleReads master';

function connectCluster(cluster: RedisCluster, autoPipelining: boolean): Cluster {
  return new Cluster(cluster.masters.map((master) => ({ host: master.host, port: master.port })), {
    enableAutoPipelining: autoPipelining, scaleReads: 'master',
  });
}

// ---- steps -------------------------------------------------------------------------------------

const round = (value: number, digits = 3): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** Parses INFO errorstats: errorstat_MOVED:count=12 -> { MOVED: 12 }. */
function errorStats(info: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const match of info.matchAll(/^errorstat_([A-Z_-]+):count=(\d+)/gm)) counts[match[1]] = Number(match[2]);
  return counts;
}

/** The slot ranges master `id` owns, as CLUSTER NODES from one node says. */
function slotsOwnedBy(clusterNodes: string, id: string): string[] {
  const line = clusterNodes.split('\n').find((entry) => entry.startsWith(`${id} `));
  return line === undefined ? [] : line.trim().split(' ').slice(8).filter((range) => !range.startsWith('['));
}

function ownsSlots(ranges: readonly string[], fromSlot: number, toSlot: number): boolean {
  return ranges.some((range) => {
    const [start, end] = range.split('-').map(Number);
    return start <= fromSlot && (end ?? start) >= toSlot;
  });
}

/** Checks our CRC16 against CLUSTER KEYSLOT on some keys, and that A owns the key range. */
async function checkLayout(redis: Redis, workload: MigrationWorkload, slotCount: number, idA: string): Promise<void> {
  const step = Math.max(1, Math.floor(workload.keyCount / 1000));
  for (let i = 0; i < workload.keyCount; i += step) {
    const key = workload.keyAt(i);
    const slot = Number(await redis.cluster('KEYSLOT', key));
    if (slot !== keySlot(key)) throw new Error(`CLUSTER KEYSLOT ${key.toString('latin1')} is ${slot}, ours ${keySlot(key)}`);
  }
  const ranges = slotsOwnedBy(String(await redis.cluster('NODES')), idA);
  if (!ownsSlots(ranges, 0, slotCount - 1)) throw new Error(`master A owns ${ranges.join(' ')}, not slots 0-${slotCount - 1}`);
}

async function resetStats(clients: readonly Redis[]): Promise<void> {
  await Promise.all(clients.map((client) => client.config('RESETSTAT')));
}

/** Parses INFO commandstats: the commands with failed or rejected calls, "get": 12 (failed + rejected). */
function failedCalls(info: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([\w|-]+):.*rejected_calls=(\d+),failed_calls=(\d+)/gm)) {
    const count = Number(match[2]) + Number(match[3]);
    if (count > 0) counts[match[1]] = count;
  }
  return counts;
}

/** Error replies by prefix, and the commands that got them, summed over the masters. */
async function serverErrorReplies(clients: readonly Redis[]): Promise<{ byPrefix: Record<string, number>; byCommand: Record<string, number> }> {
  const byPrefix: Record<string, number> = {};
  const byCommand: Record<string, number> = {};
  const add = (total: Record<string, number>, counts: Record<string, number>): void => {
    for (const [kind, count] of Object.entries(counts)) total[kind] = (total[kind] ?? 0) + count;
  };
  for (const client of clients) {
    add(byPrefix, errorStats(await client.info('errorstats')));
    add(byCommand, failedCalls(await client.info('commandstats')));
  }
  return { byPrefix, byCommand };
}

interface ReshardRun {
  readonly exitCode: number | null;
  readonly seconds: number;
  readonly outputTail: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly cpuCores: RedisReshardReport['cpuCoresDuringReshard'];
}

function cpuDelta(before: number | null, after: number | null, seconds: number): number | null {
  return before === null || after === null || seconds <= 0 ? null : round((after - before) / seconds, 2);
}

/** redis-cli --cluster reshard of slots [0, slotCount) from A to B, timed, with the CPU each process used. */
async function reshard(cluster: RedisCluster, options: RedisReshardOptions, elapsedMs: () => number): Promise<ReshardRun> {
  const [a, b] = cluster.masters;
  const cpuBefore = { client: process.cpuUsage(), a: processCpuSeconds(a.process.pid), b: processCpuSeconds(b.process.pid) };
  const startMs = elapsedMs();
  const result = await cluster.runCli([
    '--cluster', 'reshard', a.address, '--cluster-from', a.id, '--cluster-to', b.id, '--cluster-slots', String(options.slotCount),
    '--cluster-yes', '--cluster-pipeline', String(options.pipelineKeys),
  ], options.reshardTimeoutMs);
  const endMs = elapsedMs();
  const client = process.cpuUsage(cpuBefore.client);
  const seconds = (endMs - startMs) / 1000;
  return {
    exitCode: result.exitCode, seconds: round(result.seconds), outputTail: result.outputTail, startMs: round(startMs, 1), endMs: round(endMs, 1),
    cpuCores: {
      client: round((client.user + client.system) / 1e6 / seconds, 2),
      masterA: cpuDelta(cpuBefore.a, processCpuSeconds(a.process.pid), seconds),
      masterB: cpuDelta(cpuBefore.b, processCpuSeconds(b.process.pid), seconds),
      redisCli: cpuDelta(0, result.cpuSeconds, seconds),
    },
  };
}

/** The paced load: leadInSeconds, the control window, then the reshard; the load stops tailSeconds after the reshard. */
async function loadAcrossReshard(cluster: RedisCluster, driver: MigrationDriver, workload: MigrationWorkload, options: RedisReshardOptions,
  targetOpsPerSec: number): Promise<{ load: LoadReport; run: ReshardRun; control: WindowMarks }> {
  const load = new MigrationLoad(driver, workload, {
    targetOpsPerSec, concurrency: options.concurrency, opTimeoutMs: options.opTimeoutMs, seed: options.seed ^ 0x10ad,
  });
  load.start();
  let run: ReshardRun | null = null;
  let control: WindowMarks | null = null;
  let failure: unknown = null;
  try {
    await sleep(options.leadInSeconds * 1000);
    control = await controlWindow(load, options.controlSeconds);
    run = await reshard(cluster, options, () => load.elapsedMs());
    await sleep(options.tailSeconds * 1000);
  } catch (error) {
    failure = error;
  }
  // The load stops whatever happened: no lane outlives the run.
  const report = await load.stop();
  if (run === null || control === null) throw failure;
  return { load: report, run, control };
}

const VERIFY_CHUNK_KEYS = 1000;
const LOAD_DEPTH = 512;

/** After the reshard: the cluster agrees B owns the range, A is empty, B holds every key, a sample of values is right. */
async function verifyMoved(cluster: RedisCluster, clients: readonly Redis[], workload: MigrationWorkload,
  options: RedisReshardOptions): Promise<{ problems: string[]; sampleChecked: number }> {
  const problems: string[] = [];
  await waitForClusterOk(clients, options.stepTimeoutMs);
  const [a, b] = clients;
  const idB = cluster.masters[1].id;
  for (const [name, client] of [['A', a], ['B', b]] as const) {
    const ranges = slotsOwnedBy(String(await client.cluster('NODES')), idB);
    if (!ownsSlots(ranges, 0, options.slotCount - 1)) problems.push(`master ${name} sees B own ${ranges.join(' ')}, not 0-${options.slotCount - 1}`);
  }
  const [keysOnA, keysOnB] = await Promise.all([a.dbsize(), b.dbsize()]);
  if (keysOnA !== 0) problems.push(`master A still holds ${keysOnA} keys`);
  if (keysOnB !== workload.keyCount) problems.push(`master B holds ${keysOnB} keys, expected ${workload.keyCount}: keys lost`);
  const sampleCount = Math.min(options.sampleKeys, workload.keyCount);
  const stride = workload.keyCount / sampleCount;
  let wrong = 0;
  for (let first = 0; first < sampleCount; first += VERIFY_CHUNK_KEYS) {
    const indexes: number[] = [];
    for (let i = first; i < Math.min(sampleCount, first + VERIFY_CHUNK_KEYS); i++) indexes.push(Math.floor(i * stride));
    const pipeline = b.pipeline();
    for (const keyIndex of indexes) pipeline.getBuffer(workload.keyAt(keyIndex));
    const replies = (await pipeline.exec()) ?? [];
    indexes.forEach((keyIndex, i) => {
      const [error, value] = replies[i] ?? [new Error('no reply'), null];
      const problem = error !== null ? `key ${keyIndex}: ${error.message}` : sampleProblem(workload, keyIndex, value as Buffer | null);
      if (problem !== null && wrong++ < 5) problems.push(`on B: ${problem}`);
    });
  }
  if (wrong > 5) problems.push(`... ${wrong} sampled keys wrong on B in all`);
  return { problems, sampleChecked: sampleCount };
}

function sampleProblem(workload: MigrationWorkload, keyIndex: number, value: Buffer | null): string | null {
  if (value === null) return `key ${keyIndex} missing`;
  const poolIndex = workload.poolIndexOf(value);
  if (poolIndex === null) return `key ${keyIndex}: a value the benchmark never wrote`;
  const expected = workload.expectedPoolIndex(keyIndex);
  return expected !== null && expected !== poolIndex ? `key ${keyIndex}: pool value ${poolIndex}, expected ${expected}` : null;
}

function checkOptions(options: RedisReshardOptions): void {
  if (options.valueBytes !== VALUE_BYTES) throw new RangeError(`valueBytes ${options.valueBytes}: the workload writes ${VALUE_BYTES}-byte values`);
  if (!(options.loadFraction > 0 && options.loadFraction <= 1)) throw new RangeError(`loadFraction ${options.loadFraction}`);
  if (!(Number.isInteger(options.slotCount) && options.slotCount >= 1 && options.slotCount <= CLUSTER_SLOT_COUNT / 2)) {
    throw new RangeError(`slotCount ${options.slotCount}: must be within master A's half of the slots`);
  }
  if (!(Number.isInteger(options.pipelineKeys) && options.pipelineKeys >= 1)) throw new RangeError(`pipelineKeys ${options.pipelineKeys}`);
}

/** Loads the keys into A and measures peak throughput through ioredis Cluster. */
async function prepare(cluster: RedisCluster, clients: readonly Redis[], workload: MigrationWorkload, driver: MigrationDriver,
  options: RedisReshardOptions): Promise<{ peak: PeakResult; loadSeconds: number }> {
  const log = options.log ?? ((): void => undefined);
  await checkLayout(clients[0], workload, options.slotCount, cluster.masters[0].id);
  const loader = await cluster.connectMaster(0, true);
  let loaded;
  try {
    loaded = await bounded('loading the keys', options.stepTimeoutMs, () => loadKeys(bufferDriver(loader), workload, LOAD_DEPTH));
  } finally {
    loader.disconnect();
  }
  const keysOnA = await clients[0].dbsize();
  if (loaded.failedPuts > 0 || keysOnA !== workload.keyCount) throw new Error(`load: ${loaded.failedPuts} puts failed, A holds ${keysOnA} keys`);
  log(`loaded ${workload.keyCount} keys into master A (slots 0-${options.slotCount - 1}) in ${loaded.seconds} s`);
  const peakTimeoutMs = (options.warmUpSeconds + options.peakSeconds) * 1000 + 2 * options.opTimeoutMs + options.stepTimeoutMs;
  const peak = await bounded('peak', peakTimeoutMs, () => measurePeak(driver, options.peakSeconds, workload, {
    concurrency: options.concurrency, opTimeoutMs: options.opTimeoutMs, seed: options.seed ^ 0x9eac, warmUpSeconds: options.warmUpSeconds,
  }));
  log(`peak YCSB-A through ioredis Cluster at concurrency ${options.concurrency}: ${peak.opsPerSec} ops/s (p99 ${peak.p99Ms} ms, ${peak.failedOps} failed)`);
  return { peak, loadSeconds: loaded.seconds };
}

/** See the header: load `keys` keys into one slot range of master A, move it to B under load, verify. */
export async function runRedisReshard(options: RedisReshardOptions): Promise<RedisReshardReport> {
  checkOptions(options);
  const log = options.log ?? ((): void => undefined);
  const keys = keysInSlots(options.keys, options.slotCount, options.seed);
  const workload = new MigrationWorkload(keys, options.keys, options.seed, options.sequenceLength);
  const cluster = await startRedisCluster({ masterCount: 2, startTimeoutMs: options.stepTimeoutMs });
  const clients: Redis[] = [];
  let clusterClient: Cluster | null = null;
  try {
    clients.push(await cluster.connectMaster(0), await cluster.connectMaster(1));
    log(`redis cluster: A ${cluster.masters[0].address} (${cluster.masters[0].id}), B ${cluster.masters[1].address} (${cluster.masters[1].id})`);
    clusterClient = connectCluster(cluster, options.autoPipelining);
    const driver = bufferDriver(clusterClient);
    const { peak, loadSeconds } = await prepare(cluster, clients, workload, driver, options);
    const targetOpsPerSec = Math.round(peak.opsPerSec * options.loadFraction);
    await resetStats(clients);
    const { load, run, control } = await loadAcrossReshard(cluster, driver, workload, options, targetOpsPerSec);
    log(`reshard of ${options.slotCount} slots (--cluster-pipeline ${options.pipelineKeys}): exit ${run.exitCode}, ${run.seconds} s`);
    const errorReplies = await serverErrorReplies(clients);
    const problems: string[] = [];
    if (run.exitCode !== 0) problems.push(`redis-cli --cluster reshard exited ${run.exitCode}: ${run.outputTail}`);
    if (load.wrongReads > 0) problems.push(`${load.wrongReads} wrong reads during the load: ${load.wrongReadExamples.join('; ')}`);
    const verified = await bounded('verifying', options.stepTimeoutMs, () => verifyMoved(cluster, clients, workload, options));
    problems.push(...verified.problems);
    const window = summarizeWindow(load, run.startMs, run.endMs);
    return {
      ok: problems.length === 0, problems, keys: options.keys, slotsMoved: options.slotCount, pipelineKeys: options.pipelineKeys,
      seconds: run.seconds, minThroughputRatio: window.minThroughputRatio, meanThroughputRatio: window.meanThroughputRatio,
      p99MsMax: window.p99MsMax, control: summarizeWindow(load, control.fromMs, control.toMs, true), failedOps: window.failedOps, failedOpsTotal: load.failedOps, failureKinds: load.failureKinds,
      failureTimesMs: load.failureTimesMs, wrongReads: load.wrongReads, skippedOps: load.skippedOps, peak, targetOpsPerSec,
      concurrency: options.concurrency, loadSeconds, reshardStartMs: run.startMs, reshardEndMs: run.endMs, bucketMs: BUCKET_MS,
      perBucket: load.buckets, serverErrorReplies: errorReplies.byPrefix, serverFailedCalls: errorReplies.byCommand, cpuCoresDuringReshard: run.cpuCores, client: clientDescription(options.autoPipelining),
      sampleChecked: verified.sampleChecked,
    };
  } finally {
    clusterClient?.disconnect();
    for (const client of clients) client.disconnect();
    await cluster.stop();
  }
}
