// YCSB benchmark: workloads A, B, C and F through the slicekv SDK against one slicekv pod, and
// through ioredis against the Debian redis-server, in the same run, on the same machine, with the
// same workload and the same pipelining depth (STYLE.md, "Benchmarks are code").
//
//   npm run bench:ycsb              full run (1M keys, 5 s per measurement; about two minutes)
//   npm run bench:ycsb -- --smoke   CI run with small parameters (20k keys, 0.5 s per measurement)
//   ... -- --cpu-prof-dir DIR       also write V8 CPU profiles of the pod and of both client processes
//
// Workload: 16-byte keys, 100-byte values, requests Zipf θ = 0.99 over the keys (scrambled, as
// YCSB's), fixed seed. A = 50% read / 50% update, B = 95 / 5, C = 100% read, F = 50% read / 50%
// read-modify-write (a get, then a put of a new 100-byte value: one op, timed from the get's start
// to the put's end, as YCSB counts it).
//
// How it runs: the parent starts one server (a pod owning the whole keyspace, or redis-server,
// each a child process; see support/ycsbServers.ts), then one client worker process for it
// (support/childRunner.ts), which loads every key (pipelined, not timed but reported), then
// runs each workload closed-loop at depth 64 and depth 1: `depth` ops outstanding, each
// completion issuing the next op. Each measurement runs warmUpMs untimed, then measureMs timed,
// with every op's latency recorded in an HDR histogram at microsecond resolution. Then the parent
// stops that server and does the same for the other one: the two systems never run at the same
// time (the machine may have two cores). Both clients batch the ops issued in one event-loop tick
// into one write (support/ycsbDrivers.ts), so depth 64 means up to 64 ops per frame on both sides.
//
// Correctness while running: every value read must be exactly one of the values the benchmark
// writes (each value carries its index in the value pool in its first bytes, and is compared with
// the pool entry), no key may be missing, no op may fail, and each server must hold exactly the
// loaded keys at the end. Any failure is reported in the JSON and makes the exit code 1.
//
// The parent prints the machine, the versions, a line per measurement and, as its last line, one
// JSON object: { bench: "ycsb", slicekv: { A64, B64, C64, F64, A1, B1, C1, F1 }, redis: { same },
// ratio: { same: slicekv ops/s over redis ops/s }, ... }.

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as hdr from 'hdr-histogram-js';
import { Random } from '../test/support/random.js';
import { runChild, type ChildOutcome, optionValue } from './support/childRunner.js';
import { describeMachine, machineInfo, type MachineInfo } from './support/machine.js';
import { processCpuSeconds } from './support/procStats.js';
import { KEY_BYTES, VALUE_BYTES, VALUE_POOL_COUNT, VALUE_POOL_MASK, makeKeys, makeSequence, makeValues } from './support/workload.js';
import { connectRedis, connectSlicekv, hdrHistogramVersion, ioredisVersion, type KvDriver } from './support/ycsbDrivers.js';
import {
  killAllServers, redisServerVersion, startPod, startRedis, type ServerHandle, type ServerStats, type SystemName,
} from './support/ycsbServers.js';

const SEED = 0x5c5b_2024;
const ZIPF_THETA = 0.99;
const DEPTHS: readonly number[] = [64, 1];
const SYSTEMS: readonly SystemName[] = ['slicekv', 'redis'];
/** Outstanding puts during the load phase (not a measured figure; deep enough to fill batches). */
const LOAD_DEPTH = 512;
/** A value's pool index, as hex digits at its start (VALUE_POOL_COUNT must fit). */
const VALUE_TAG_DIGITS = 4;
/** Latencies are recorded in microseconds, 3 significant digits, up to a minute. */
const HISTOGRAM_US_MAX = 60_000_000;
const ERRORS_KEPT_MAX = 5;
const BATCHING_NOTE = 'both clients batch the ops issued in one event-loop tick into one write flushed from setImmediate: ' +
  'the slicekv SDK one batch frame per pod session, ioredis enableAutoPipelining: true; one connection each';

type WorkloadName = 'A' | 'B' | 'C' | 'F';

interface Workload {
  /** Share of ops that are plain reads; the rest are updates, or read-modify-writes. */
  readFraction: number;
  readModifyWrite: boolean;
}

const WORKLOADS: Record<WorkloadName, Workload> = {
  A: { readFraction: 0.5, readModifyWrite: false },
  B: { readFraction: 0.95, readModifyWrite: false },
  C: { readFraction: 1, readModifyWrite: false },
  F: { readFraction: 0.5, readModifyWrite: true },
};
const WORKLOAD_NAMES = Object.keys(WORKLOADS) as WorkloadName[];

interface Plan {
  smoke: boolean;
  keyCount: number;
  warmUpMs: number;
  measureMs: number;
  /** Pre-generated Zipf key indexes, cycled through (a power of two). */
  sequenceLength: number;
  podMemory: string;
  workerTimeoutMs: number;
}

const FULL_PLAN: Plan = {
  smoke: false, keyCount: 1_000_000, warmUpMs: 1000, measureMs: 5000, sequenceLength: 1 << 22, podMemory: '1GiB', workerTimeoutMs: 15 * 60_000,
};
const SMOKE_PLAN: Plan = {
  smoke: true, keyCount: 20_000, warmUpMs: 200, measureMs: 500, sequenceLength: 1 << 16, podMemory: '256MiB', workerTimeoutMs: 90_000,
};

interface WorkerParams {
  system: SystemName;
  address: string;
  serverPid: number;
  plan: Plan;
}

interface CellResult {
  workload: WorkloadName;
  depth: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
  opCount: number;
  elapsedMs: number;
  /** Plain reads, updates and read-modify-writes among the measured ops. */
  mix: { read: number; update: number; readModifyWrite: number };
  errorCount: number;
  /** CPU time over wall time during the measurement: 1 is one core kept busy. */
  clientCpuCores: number;
  serverCpuCores: number | null;
}

interface LoadResult {
  keyCount: number;
  elapsedMs: number;
  opsPerSec: number;
  depth: number;
}

interface ErrorSummary {
  count: number;
  first: string[];
}

interface WorkerResult {
  system: SystemName;
  client: string;
  load: LoadResult;
  cells: Record<string, CellResult>;
  errors: ErrorSummary;
  zipfTopKeyShare: { observed: number; expected: number };
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function cellName(workload: WorkloadName, depth: number): string {
  return `${workload}${depth}`;
}

// ---- inputs ------------------------------------------------------------------------------------

class ErrorLog implements ErrorSummary {
  count = 0;
  first: string[] = [];

  add(what: string, error?: unknown): void {
    this.count++;
    if (this.first.length < ERRORS_KEPT_MAX) {
      this.first.push(error === undefined ? what : `${what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

/** Keys, values and the request sequence, built before anything is timed. */
class Inputs {
  readonly keys: Buffer;
  /** VALUE_POOL_COUNT values; value j starts with j in VALUE_TAG_DIGITS hex digits. */
  readonly values: Buffer;
  readonly sequence: Uint32Array;
  readonly sequenceMask: number;
  readonly zipfTopKeyShare: { observed: number; expected: number };
  /** Where the next op takes its key in `sequence` (continues from cell to cell). */
  sequenceIndex = 0;
  private valueIndex = 0;

  constructor(keyCount: number, sequenceLength: number) {
    if ((sequenceLength & (sequenceLength - 1)) !== 0) throw new RangeError(`sequence length ${sequenceLength} is not a power of two`);
    if (VALUE_POOL_COUNT > 16 ** VALUE_TAG_DIGITS) throw new RangeError('value pool indexes do not fit the value tag');
    const random = new Random(SEED);
    this.keys = makeKeys(keyCount, random);
    this.values = makeValues(random);
    for (let j = 0; j < VALUE_POOL_COUNT; j++) this.values.write(j.toString(16).padStart(VALUE_TAG_DIGITS, '0'), j * VALUE_BYTES, 'latin1');
    const sequence = makeSequence(keyCount, sequenceLength, 'zipf', ZIPF_THETA, random);
    this.sequence = sequence.keyIndexes;
    this.sequenceMask = sequenceLength - 1;
    this.zipfTopKeyShare = { observed: round(sequence.topKeyShareObserved, 5), expected: round(sequence.topKeyShareExpected, 5) };
  }

  keyAt(keyIndex: number): Buffer {
    return this.keys.subarray(keyIndex * KEY_BYTES, (keyIndex + 1) * KEY_BYTES);
  }

  valueAt(poolIndex: number): Buffer {
    return this.values.subarray(poolIndex * VALUE_BYTES, (poolIndex + 1) * VALUE_BYTES);
  }

  /** A fresh value for an update: the next pool entry. */
  nextValue(): Buffer {
    return this.valueAt(this.valueIndex++ & VALUE_POOL_MASK);
  }

  /** Why a value read back is not one the benchmark wrote; null when it is. */
  checkValue(value: Buffer | null): string | null {
    if (value === null) return 'get: key missing';
    if (value.length !== VALUE_BYTES) return `get: value of ${value.length} bytes, expected ${VALUE_BYTES}`;
    const poolIndex = Number.parseInt(value.toString('latin1', 0, VALUE_TAG_DIGITS), 16);
    if (!(poolIndex >= 0 && poolIndex < VALUE_POOL_COUNT)) return 'get: value has no pool tag';
    const at = poolIndex * VALUE_BYTES;
    return value.compare(this.values, at, at + VALUE_BYTES) === 0 ? null : `get: value differs from pool value ${poolIndex}`;
  }
}

// ---- closed loop -------------------------------------------------------------------------------

/** One timed (or warm-up) run of a workload: `depth` lanes, each one op outstanding. */
class CellRun<R> {
  opCount = 0;
  readCount = 0;
  updateCount = 0;
  readModifyWriteCount = 0;

  constructor(
    private readonly driver: KvDriver<R>,
    private readonly inputs: Inputs,
    private readonly workload: Workload,
    private readonly random: Random,
    /** null during the warm-up. */
    private readonly histogram: hdr.Histogram | null,
    private readonly errors: ErrorLog,
    private readonly endAt: number,
  ) {}

  async lane(): Promise<void> {
    const { driver, inputs, workload } = this;
    while (performance.now() < this.endAt) {
      const key = inputs.keyAt(inputs.sequence[inputs.sequenceIndex++ & inputs.sequenceMask]);
      const plainRead = workload.readFraction === 1 || this.random.float() < workload.readFraction;
      const started = performance.now();
      try {
        if (plainRead || workload.readModifyWrite) {
          const problem = inputs.checkValue(driver.valueOf(await driver.get(key)));
          if (problem !== null) this.errors.add(problem);
        }
        if (!plainRead) await driver.put(key, inputs.nextValue());
      } catch (error) {
        this.errors.add(plainRead ? 'get' : 'put', error);
      }
      const elapsedUs = Math.round((performance.now() - started) * 1000);
      this.histogram?.recordValue(elapsedUs > 0 ? elapsedUs : 1);
      this.opCount++;
      if (plainRead) this.readCount++;
      else if (workload.readModifyWrite) this.readModifyWriteCount++;
      else this.updateCount++;
    }
  }

  async run(depth: number): Promise<void> {
    const lanes: Promise<void>[] = [];
    for (let i = 0; i < depth; i++) lanes.push(this.lane());
    await Promise.all(lanes);
  }
}

/** Puts every key once, LOAD_DEPTH puts outstanding: key i gets pool value i mod VALUE_POOL_COUNT. */
async function runLoad<R>(driver: KvDriver<R>, inputs: Inputs, keyCount: number, errors: ErrorLog): Promise<LoadResult> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < keyCount) {
      const keyIndex = next++;
      try {
        await driver.put(inputs.keyAt(keyIndex), inputs.valueAt(keyIndex & VALUE_POOL_MASK));
      } catch (error) {
        errors.add('load put', error);
      }
    }
  };
  const started = performance.now();
  const lanes: Promise<void>[] = [];
  for (let i = 0; i < LOAD_DEPTH; i++) lanes.push(lane());
  await Promise.all(lanes);
  const elapsedMs = performance.now() - started;
  return { keyCount, elapsedMs: round(elapsedMs, 1), opsPerSec: Math.round((keyCount * 1000) / elapsedMs), depth: LOAD_DEPTH };
}

function latencyMs(histogram: hdr.Histogram, percentile: number): number {
  return round(histogram.getValueAtPercentile(percentile) / 1000, 3);
}

async function runCell<R>(driver: KvDriver<R>, inputs: Inputs, params: WorkerParams, name: WorkloadName, depth: number,
  errors: ErrorLog): Promise<CellResult> {
  const workload = WORKLOADS[name];
  const random = new Random(SEED ^ (name.charCodeAt(0) * 1000 + depth));
  await new CellRun(driver, inputs, workload, random, null, errors, performance.now() + params.plan.warmUpMs).run(depth);
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HISTOGRAM_US_MAX, numberOfSignificantValueDigits: 3 });
  const errorsBefore = errors.count;
  const serverCpuBefore = processCpuSeconds(params.serverPid);
  const clientCpuBefore = process.cpuUsage();
  const started = performance.now();
  const run = new CellRun(driver, inputs, workload, random, histogram, errors, started + params.plan.measureMs);
  await run.run(depth);
  const elapsedMs = performance.now() - started;
  const clientCpu = process.cpuUsage(clientCpuBefore);
  const serverCpuAfter = processCpuSeconds(params.serverPid);
  const serverCpuSeconds = serverCpuBefore === null || serverCpuAfter === null ? null : serverCpuAfter - serverCpuBefore;
  const result: CellResult = {
    workload: name,
    depth,
    opsPerSec: Math.round((run.opCount * 1000) / elapsedMs),
    p50Ms: latencyMs(histogram, 50),
    p99Ms: latencyMs(histogram, 99),
    p999Ms: latencyMs(histogram, 99.9),
    maxMs: round(histogram.maxValue / 1000, 3),
    meanMs: round(histogram.mean / 1000, 4),
    opCount: run.opCount,
    elapsedMs: round(elapsedMs, 1),
    mix: { read: run.readCount, update: run.updateCount, readModifyWrite: run.readModifyWriteCount },
    errorCount: errors.count - errorsBefore,
    clientCpuCores: round((clientCpu.user + clientCpu.system) / 1000 / elapsedMs, 2),
    serverCpuCores: serverCpuSeconds === null ? null : round((serverCpuSeconds * 1000) / elapsedMs, 2),
  };
  histogram.destroy();
  return result;
}

async function workerMain(params: WorkerParams): Promise<void> {
  const inputs = new Inputs(params.plan.keyCount, params.plan.sequenceLength);
  const probeKey = inputs.keyAt(0);
  if (params.system === 'slicekv') await runWorkloads(await connectSlicekv(params.address, probeKey), inputs, params);
  else await runWorkloads(await connectRedis(params.address, probeKey), inputs, params);
}

async function runWorkloads<R>(driver: KvDriver<R>, inputs: Inputs, params: WorkerParams): Promise<void> {
  const errors = new ErrorLog();
  const load = await runLoad(driver, inputs, params.plan.keyCount, errors);
  const cells: Record<string, CellResult> = {};
  for (const depth of DEPTHS) {
    for (const name of WORKLOAD_NAMES) cells[cellName(name, depth)] = await runCell(driver, inputs, params, name, depth, errors);
  }
  await driver.close();
  const result: WorkerResult = {
    system: params.system, client: driver.clientDescription, load, cells, errors: { count: errors.count, first: errors.first },
    zipfTopKeyShare: inputs.zipfTopKeyShare,
  };
  console.log(JSON.stringify(result));
}

// ---- parent ------------------------------------------------------------------------------------

interface SystemOutcome {
  system: SystemName;
  worker: ChildOutcome<WorkerResult> | null;
  server: ServerStats | null;
  failures: string[];
}

interface Versions {
  slicekv: string;
  redisServer: string;
  ioredis: string;
  hdrHistogramJs: string;
  node: string;
}

function versions(): Versions {
  let redisServer: string;
  try {
    redisServer = redisServerVersion();
  } catch (error) {
    redisServer = `unavailable (${error instanceof Error ? error.message : String(error)})`;
  }
  const slicekv = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return { slicekv, redisServer, ioredis: ioredisVersion(), hdrHistogramJs: hdrHistogramVersion(), node: process.version };
}

function profileArgs(cpuProfileDir: string | null, name: string): string[] {
  return cpuProfileDir === null ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfileDir, '--cpu-prof-name', `${name}.cpuprofile`];
}

async function runSystem(system: SystemName, plan: Plan, cpuProfileDir: string | null): Promise<SystemOutcome> {
  const outcome: SystemOutcome = { system, worker: null, server: null, failures: [] };
  let server: ServerHandle | null = null;
  try {
    server = system === 'slicekv' ? await startPod({ memory: plan.podMemory, nodeArgs: profileArgs(cpuProfileDir, 'pod') }) : await startRedis();
    console.log(`${system}: server pid ${server.pid} at ${server.address}; client worker running`);
    const params: WorkerParams = { system, address: server.address, serverPid: server.pid, plan };
    outcome.worker = await runChild<WorkerResult>(fileURLToPath(import.meta.url), {
      nodeArgs: profileArgs(cpuProfileDir, `client-${system}`), scriptArgs: ['--worker', JSON.stringify(params)], timeoutMs: plan.workerTimeoutMs,
    });
    outcome.server = await server.stats();
  } catch (error) {
    outcome.failures.push(`${system}: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await server?.stop();
  }
  checkOutcome(outcome, plan);
  return outcome;
}

/** Adds to outcome.failures everything that makes this system's figures untrustworthy. */
function checkOutcome(outcome: SystemOutcome, plan: Plan): void {
  const { system, worker, server } = outcome;
  if (worker !== null && !worker.ok) outcome.failures.push(`${system} worker: ${worker.reason}`);
  if (worker?.ok === true && worker.result.errors.count > 0) {
    outcome.failures.push(`${system}: ${worker.result.errors.count} op errors, first: ${worker.result.errors.first.join(' | ')}`);
  }
  if (server !== null && server.keyCount !== plan.keyCount) {
    outcome.failures.push(`${system}: server holds ${server.keyCount} keys at the end, expected ${plan.keyCount}`);
  }
}

function describeCell(system: SystemName, c: CellResult): string {
  const cpu = `client ${c.clientCpuCores.toFixed(2)} cores, server ${c.serverCpuCores?.toFixed(2) ?? '?'} cores`;
  return `  ${system.padEnd(7)} ${cellName(c.workload, c.depth).padEnd(4)} ${c.opsPerSec.toLocaleString('en-US').padStart(9)} ops/s  ` +
    `p50 ${c.p50Ms.toFixed(3)}  p99 ${c.p99Ms.toFixed(3)}  p999 ${c.p999Ms.toFixed(3)}  max ${c.maxMs.toFixed(1)} ms  ${cpu}` +
    `${c.errorCount > 0 ? `  ${c.errorCount} ERRORS` : ''}`;
}

function describeOutcome(outcome: SystemOutcome): string[] {
  const lines: string[] = [];
  const worker = outcome.worker;
  if (worker?.ok === true) {
    const { load, cells, client } = worker.result;
    lines.push(`${outcome.system}: ${client}; load ${load.keyCount} keys in ${(load.elapsedMs / 1000).toFixed(1)} s, ` +
      `${load.opsPerSec.toLocaleString('en-US')} puts/s at depth ${load.depth} (not timed as a figure)`);
    for (const cell of Object.values(cells)) lines.push(describeCell(outcome.system, cell));
  }
  const s = outcome.server;
  if (s !== null) {
    lines.push(`  ${outcome.system} server at the end: ${s.keyCount} keys, ${(s.memoryBytes / 2 ** 20).toFixed(1)} MiB data, ` +
      `${s.rssBytes === null ? '?' : (s.rssBytes / 2 ** 20).toFixed(1)} MiB RSS, ${s.opsTotal} ops served`);
  }
  for (const failure of outcome.failures) lines.push(`  FAILED ${failure}`);
  return lines;
}

type CellFigures = Omit<CellResult, 'workload' | 'depth'>;

function cellsOf(outcome: SystemOutcome): Record<string, CellFigures> {
  const cells: Record<string, CellFigures> = {};
  if (outcome.worker?.ok !== true) return cells;
  for (const [name, cell] of Object.entries(outcome.worker.result.cells)) {
    // The cell's name already says its workload and depth.
    const figures: Partial<CellResult> = { ...cell };
    delete figures.workload;
    delete figures.depth;
    cells[name] = figures as CellFigures;
  }
  return cells;
}

function ratios(slicekv: Record<string, CellFigures>, redis: Record<string, CellFigures>): Record<string, number | null> {
  const result: Record<string, number | null> = {};
  for (const depth of DEPTHS) {
    for (const name of WORKLOAD_NAMES) {
      const cell = cellName(name, depth);
      const a = slicekv[cell]?.opsPerSec;
      const b = redis[cell]?.opsPerSec;
      result[cell] = a === undefined || b === undefined || b === 0 ? null : round(a / b, 3);
    }
  }
  return result;
}

function workerField<K extends keyof WorkerResult>(outcome: SystemOutcome, key: K): WorkerResult[K] | null {
  return outcome.worker?.ok === true ? outcome.worker.result[key] : null;
}

function buildReport(plan: Plan, machine: MachineInfo, versionInfo: Versions, outcomes: Record<SystemName, SystemOutcome>): Record<string, unknown> {
  const slicekv = cellsOf(outcomes.slicekv);
  const redis = cellsOf(outcomes.redis);
  const failures = SYSTEMS.flatMap((s) => outcomes[s].failures);
  return {
    bench: 'ycsb',
    smoke: plan.smoke,
    ok: failures.length === 0,
    slicekv,
    redis,
    ratio: ratios(slicekv, redis),
    load: { slicekv: workerField(outcomes.slicekv, 'load'), redis: workerField(outcomes.redis, 'load') },
    servers: { slicekv: outcomes.slicekv.server, redis: outcomes.redis.server },
    errors: { slicekv: workerField(outcomes.slicekv, 'errors'), redis: workerField(outcomes.redis, 'errors') },
    failures,
    batching: BATCHING_NOTE,
    clients: { slicekv: workerField(outcomes.slicekv, 'client'), redis: workerField(outcomes.redis, 'client') },
    workload: {
      keys: plan.keyCount, keyBytes: KEY_BYTES, valueBytes: VALUE_BYTES, zipfTheta: ZIPF_THETA, seed: SEED, depths: DEPTHS,
      mixes: WORKLOADS, warmUpMs: plan.warmUpMs, measureMs: plan.measureMs, loadDepth: LOAD_DEPTH, latencyUnit: 'ms (HDR histogram, µs resolution)',
      zipfTopKeyShare: workerField(outcomes.slicekv, 'zipfTopKeyShare'), podMemory: plan.podMemory,
      redisServerArgs: "--save '' --appendonly no --bind 127.0.0.1",
    },
    versions: versionInfo,
    machine,
  };
}

function describeComparison(report: Record<string, unknown>): string[] {
  const slicekv = report.slicekv as Record<string, CellFigures>;
  const redis = report.redis as Record<string, CellFigures>;
  const ratio = report.ratio as Record<string, number | null>;
  return Object.keys(ratio).map((cell) => `  ${cell.padEnd(4)} slicekv ${slicekv[cell]?.opsPerSec ?? '-'} ops/s, ` +
    `redis ${redis[cell]?.opsPerSec ?? '-'} ops/s, ratio ${ratio[cell] ?? '-'}; ` +
    `p99 ${slicekv[cell]?.p99Ms ?? '-'} vs ${redis[cell]?.p99Ms ?? '-'} ms`);
}

async function parentMain(plan: Plan, cpuProfileDir: string | null): Promise<void> {
  process.once('exit', killAllServers);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAllServers();
      process.exit(1);
    });
  }
  const machine = machineInfo();
  const versionInfo = versions();
  console.log(describeMachine(machine));
  console.log(`versions: slicekv ${versionInfo.slicekv}, ${versionInfo.redisServer}, ioredis ${versionInfo.ioredis}, hdr-histogram-js ${versionInfo.hdrHistogramJs}`);
  console.log(`workload: YCSB ${WORKLOAD_NAMES.join(', ')}, ${plan.keyCount} keys, ${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values, ` +
    `zipf θ=${ZIPF_THETA}, seed ${SEED}, depths ${DEPTHS.join(' and ')}, ${plan.warmUpMs} ms warm-up + ${plan.measureMs} ms measured per cell` +
    `${plan.smoke ? ', SMOKE sizes' : ''}`);
  console.log(`batching: ${BATCHING_NOTE}`);
  const outcomes = {} as Record<SystemName, SystemOutcome>;
  for (const system of SYSTEMS) {
    outcomes[system] = await runSystem(system, plan, cpuProfileDir);
    for (const line of describeOutcome(outcomes[system])) console.log(line);
  }
  const report = buildReport(plan, machine, versionInfo, outcomes);
  console.log('slicekv / redis:');
  for (const line of describeComparison(report)) console.log(line);
  if (cpuProfileDir !== null) console.log(`CPU profiles written to ${cpuProfileDir}`);
  console.log(JSON.stringify(report));
  if (report.ok !== true) process.exitCode = 1;
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
}

await main(process.argv.slice(2));
