// The load the migration benchmark (issue 5) runs while data moves: YCSB-A (50% reads, 50%
// updates), requests Zipf θ = 0.99 over the key set (scrambled, support/workload.ts), 16-byte
// keys, 100-byte values, through a driver with just `get` and `put`, so the same loop drives
// ioredis Cluster now and the slicekv SDK later:
//
//   const driver: MigrationDriver = { get: async (key) => (await client.get(key))?.value ?? null, put: (key, value) => client.put(key, value) };
//
// Closed loop, paced: `concurrency` lanes, each with at most one op outstanding. With a target rate,
// op n may start at start + n / rate (one pacer timer releases the ops that are due every
// millisecond; a lane that finds an op already due starts it at once). A lane that falls behind
// catches up, but never by more than BACKLOG_MS_MAX of ops: older slots are skipped and counted
// (`skippedOps`), so one long stall cannot turn into a burst of minutes. Without a target rate
// (measurePeak) the lanes run flat out.
//
// Recorded per BUCKET_MS (100 ms) of wall time, by completion time: ops completed, failed ops
// (an error from the driver, or no answer within opTimeoutMs: the lane then moves on and the late
// answer is ignored), and the p99 of the completed ops' latency (issue to completion, HDR
// histogram at microsecond resolution, reset each bucket). The time of every failure is kept, up
// to FAILURE_TIMES_KEPT_MAX.
//
// Correctness while running: every put goes through the workload's key states, so a read can be
// checked: when no put to the key was in flight during the read, the value must be exactly the
// last acknowledged one; otherwise it must be one of the benchmark's values. A missing key or a
// wrong value is a `wrongReads` count, reported and meant to fail the benchmark.

import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { sleep } from './bounded.js';
import { Random } from '../../test/support/random.js';
import { KEY_BYTES, VALUE_BYTES, VALUE_POOL_COUNT, VALUE_POOL_MASK, makeSequence, makeValues } from './workload.js';

export interface MigrationDriver {
  get(key: Buffer): Promise<Buffer | null>;
  put(key: Buffer, value: Buffer): Promise<unknown>;
}

export const BUCKET_MS = 100;
export const ZIPF_THETA = 0.99;
export const READ_FRACTION = 0.5;
const BACKLOG_MS_MAX = 1000;
const PACER_INTERVAL_MS = 1;
const TIMEOUT_SWEEP_INTERVAL_MS = 10;
const FAILURE_TIMES_KEPT_MAX = 10_000;
const FAILURE_KINDS_MAX = 16;
const WRONG_READS_KEPT_MAX = 5;
/** An hour of 100 ms buckets; a longer run keeps counting totals but no more buckets. */
const BUCKET_COUNT_MAX = 36_000;
const HISTOGRAM_US_MAX = 60_000_000;
/** A value's pool index, as hex digits at its start. */
const VALUE_TAG_DIGITS = 4;
/** Key states: no put has been acknowledged / the value is one of several (overlapping puts, a lost answer). */
const STATE_NEVER_WRITTEN = -2;
const STATE_AMBIGUOUS = -1;

const round = (value: number, digits = 3): number => Math.round(value * 10 ** digits) / 10 ** digits;

if (VALUE_POOL_COUNT > 16 ** VALUE_TAG_DIGITS) throw new Error('value pool indexes do not fit the value tag');

/**
 * Keys, values, the request sequence and what each key must hold. `keys` holds `keyCount` keys of
 * KEY_BYTES, key i at i · KEY_BYTES (the caller chooses them: keys of one slot range, of one slicekv
 * range). Value j of the pool starts with j in hex; key i is loaded with pool value i mod the pool.
 */
export class MigrationWorkload {
  readonly values: Buffer;
  readonly sequence: Uint32Array;
  readonly sequenceMask: number;
  sequenceIndex = 0;
  /** Per key: the pool index it must hold, STATE_AMBIGUOUS or STATE_NEVER_WRITTEN. */
  private readonly expected: Int16Array;
  private readonly putsInFlight: Uint8Array;
  /** A put to the key overlapped another; cleared when none is in flight. */
  private readonly overlapped: Uint8Array;
  /** A put's answer was never seen (timeout): it may still land at any time. */
  private readonly tainted: Uint8Array;
  /** Bumped at each put's start and end: a read that sees it unchanged overlapped no put. */
  private readonly writeEpoch: Uint32Array;
  private valueIndex = 0;

  constructor(readonly keys: Buffer, readonly keyCount: number, seed: number, sequenceLength: number) {
    if (keys.length < keyCount * KEY_BYTES) throw new RangeError(`${keys.length} bytes of keys hold fewer than ${keyCount} keys`);
    if ((sequenceLength & (sequenceLength - 1)) !== 0) throw new RangeError(`sequence length ${sequenceLength} is not a power of two`);
    const random = new Random(seed);
    this.values = makeValues(random);
    for (let j = 0; j < VALUE_POOL_COUNT; j++) this.values.write(j.toString(16).padStart(VALUE_TAG_DIGITS, '0'), j * VALUE_BYTES, 'latin1');
    this.sequence = makeSequence(keyCount, sequenceLength, 'zipf', ZIPF_THETA, random).keyIndexes;
    this.sequenceMask = sequenceLength - 1;
    this.expected = new Int16Array(keyCount).fill(STATE_NEVER_WRITTEN);
    this.putsInFlight = new Uint8Array(keyCount);
    this.overlapped = new Uint8Array(keyCount);
    this.tainted = new Uint8Array(keyCount);
    this.writeEpoch = new Uint32Array(keyCount);
  }

  keyAt(keyIndex: number): Buffer {
    return this.keys.subarray(keyIndex * KEY_BYTES, (keyIndex + 1) * KEY_BYTES);
  }

  valueAt(poolIndex: number): Buffer {
    return this.values.subarray(poolIndex * VALUE_BYTES, (poolIndex + 1) * VALUE_BYTES);
  }

  nextKeyIndex(): number {
    return this.sequence[this.sequenceIndex++ & this.sequenceMask];
  }

  nextPoolIndex(): number {
    return this.valueIndex++ & VALUE_POOL_MASK;
  }

  beginPut(keyIndex: number): void {
    if (this.putsInFlight[keyIndex] > 0) this.overlapped[keyIndex] = 1;
    if (this.putsInFlight[keyIndex] === 255) throw new Error(`more than 255 puts in flight on key ${keyIndex}`);
    this.putsInFlight[keyIndex]++;
    this.writeEpoch[keyIndex]++;
  }

  /** outcome: 'ok' (acknowledged), 'failed' (an error: may or may not have landed), 'lost' (no answer yet). */
  endPut(keyIndex: number, poolIndex: number, outcome: 'ok' | 'failed' | 'lost'): void {
    this.putsInFlight[keyIndex]--;
    this.writeEpoch[keyIndex]++;
    if (outcome === 'lost') this.tainted[keyIndex] = 1;
    const exact = outcome === 'ok' && this.overlapped[keyIndex] === 0 && this.tainted[keyIndex] === 0;
    this.expected[keyIndex] = exact ? poolIndex : STATE_AMBIGUOUS;
    if (this.putsInFlight[keyIndex] === 0) this.overlapped[keyIndex] = 0;
  }

  /** What a read started now must compare with later (see checkRead). */
  readToken(keyIndex: number): number {
    return this.putsInFlight[keyIndex] > 0 ? -1 : this.writeEpoch[keyIndex];
  }

  /** Why `value`, read of key keyIndex, is wrong; null when it is right. */
  checkRead(keyIndex: number, value: Buffer | null, token: number): string | null {
    const quiet = token >= 0 && token === this.writeEpoch[keyIndex];
    const expected = this.expected[keyIndex];
    if (value === null) return expected === STATE_NEVER_WRITTEN ? null : `key ${keyIndex} missing`;
    const poolIndex = this.poolIndexOf(value);
    if (poolIndex === null) return `key ${keyIndex}: a value the benchmark never wrote`;
    if (quiet && expected >= 0 && poolIndex !== expected) return `key ${keyIndex}: pool value ${poolIndex}, expected ${expected}`;
    return null;
  }

  /** The pool value key keyIndex must hold now; null when several are possible, -1 when never written. */
  expectedPoolIndex(keyIndex: number): number | null {
    const expected = this.expected[keyIndex];
    if (expected === STATE_NEVER_WRITTEN) return -1;
    return expected === STATE_AMBIGUOUS ? null : expected;
  }

  poolIndexOf(value: Buffer): number | null {
    if (value.length !== VALUE_BYTES) return null;
    const poolIndex = Number.parseInt(value.toString('latin1', 0, VALUE_TAG_DIGITS), 16);
    if (!(poolIndex >= 0 && poolIndex < VALUE_POOL_COUNT)) return null;
    const at = poolIndex * VALUE_BYTES;
    return value.compare(this.values, at, at + VALUE_BYTES) === 0 ? poolIndex : null;
  }
}

/** Puts every key once with its initial value (key i: pool value i mod the pool), `depth` puts outstanding. */
export async function loadKeys(driver: MigrationDriver, workload: MigrationWorkload, depth: number): Promise<{ seconds: number; failedPuts: number }> {
  let next = 0;
  let failedPuts = 0;
  const lane = async (): Promise<void> => {
    while (next < workload.keyCount) {
      const keyIndex = next++;
      const poolIndex = keyIndex & VALUE_POOL_MASK;
      workload.beginPut(keyIndex);
      try {
        await driver.put(workload.keyAt(keyIndex), workload.valueAt(poolIndex));
        workload.endPut(keyIndex, poolIndex, 'ok');
      } catch {
        failedPuts++;
        workload.endPut(keyIndex, poolIndex, 'failed');
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: depth }, lane));
  return { seconds: round((performance.now() - started) / 1000), failedPuts };
}

// ---- the loop ----------------------------------------------------------------------------------

export interface LoadOptions {
  /** Ops per second to start; Infinity runs flat out. */
  readonly targetOpsPerSec: number;
  readonly concurrency: number;
  /** An op unanswered this long is a failed op (a timeout). */
  readonly opTimeoutMs: number;
  /** Seeds the read/update choice. */
  readonly seed: number;
}

export interface LoadBucket {
  /** Bucket start, ms since the load started. */
  readonly atMs: number;
  /** BUCKET_MS except for the last bucket, cut short by stop(). */
  readonly durationMs: number;
  readonly ops: number;
  readonly failedOps: number;
  /** Slots of the schedule dropped in the bucket (the loop was more than BACKLOG_MS_MAX behind). */
  readonly skippedOps: number;
  /** Of the ops completed in the bucket; null when none completed. */
  readonly p99Ms: number | null;
}

export interface LoadReport {
  readonly targetOpsPerSec: number | null;
  readonly concurrency: number;
  /** From start() to stop(); the ops still in flight then are waited for, counted in the totals, not in buckets. */
  readonly elapsedMs: number;
  readonly ops: number;
  /** Ops completed before stop() over elapsedMs. */
  readonly opsPerSec: number;
  readonly failedOps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly reads: number;
  readonly updates: number;
  /** Slots of the schedule dropped because the loop was more than BACKLOG_MS_MAX behind. */
  readonly skippedOps: number;
  readonly buckets: readonly LoadBucket[];
  readonly bucketsTruncated: boolean;
  /** ms since the load started, of each failure (the first FAILURE_TIMES_KEPT_MAX). */
  readonly failureTimesMs: readonly number[];
  /** Failures by kind: the error's first word (TRYAGAIN, CLUSTERDOWN...), or "timeout". */
  readonly failureKinds: Readonly<Record<string, number>>;
  readonly wrongReads: number;
  readonly wrongReadExamples: readonly string[];
}

interface Lane {
  /** Bumped when the lane gives up on an op, so the late answer is ignored. */
  generation: number;
  /** performance.now() when its current op started; 0 when idle. */
  opStartedAt: number;
  giveUp: (() => void) | null;
}

function errorKind(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const word = /^[A-Z][A-Z_-]+/.exec(text);
  return word === null ? text.slice(0, 60) : word[0];
}

/** A running YCSB-A load: start() it, read elapsedMs() to mark events, stop() for the report. */
export class MigrationLoad {
  private readonly random: Random;
  private readonly lanes: Lane[] = [];
  private readonly pending: (() => void)[] = [];
  private readonly bucketHistogram: hdr.Histogram;
  private readonly totalHistogram: hdr.Histogram;
  private readonly buckets: LoadBucket[] = [];
  private readonly failureTimesMs: number[] = [];
  private readonly failureKinds: Record<string, number> = {};
  private readonly wrongReadExamples: string[] = [];
  private startedAt = 0;
  private stoppedAt = 0;
  private opsBeforeStop = 0;
  private stopping = false;
  private issued = 0;
  private skippedOps = 0;
  private ops = 0;
  private failedOps = 0;
  private reads = 0;
  private updates = 0;
  private wrongReads = 0;
  private bucketIndex = 0;
  private bucketOps = 0;
  private bucketFailed = 0;
  private bucketSkipped = 0;
  private bucketsTruncated = false;
  private timers: NodeJS.Timeout[] = [];
  private running: Promise<void> | null = null;

  constructor(private readonly driver: MigrationDriver, private readonly workload: MigrationWorkload, private readonly options: LoadOptions) {
    if (!(options.targetOpsPerSec > 0)) throw new RangeError(`target ${options.targetOpsPerSec} ops/s`);
    if (!(Number.isInteger(options.concurrency) && options.concurrency > 0)) throw new RangeError(`concurrency ${options.concurrency}`);
    this.random = new Random(options.seed);
    const histogram = (): hdr.Histogram => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HISTOGRAM_US_MAX, numberOfSignificantValueDigits: 3 });
    this.bucketHistogram = histogram();
    this.totalHistogram = histogram();
  }

  /** ms since start(). */
  elapsedMs(): number {
    return performance.now() - this.startedAt;
  }

  start(): void {
    if (this.running !== null) throw new Error('load already started');
    this.startedAt = performance.now();
    if (Number.isFinite(this.options.targetOpsPerSec)) this.timers.push(setInterval(() => this.pace(), PACER_INTERVAL_MS));
    this.timers.push(setInterval(() => this.sweepTimeouts(), TIMEOUT_SWEEP_INTERVAL_MS));
    const lanes: Promise<void>[] = [];
    for (let i = 0; i < this.options.concurrency; i++) {
      const lane: Lane = { generation: 0, opStartedAt: 0, giveUp: null };
      this.lanes.push(lane);
      lanes.push(this.runLane(lane));
    }
    this.running = Promise.all(lanes).then(() => undefined);
  }

  /** Stops issuing, waits for the lanes (each at most opTimeoutMs), and reports. */
  async stop(): Promise<LoadReport> {
    if (this.running === null) throw new Error('load not started');
    this.stopping = true;
    this.stoppedAt = this.elapsedMs();
    this.opsBeforeStop = this.ops;
    this.closeBucket(this.stoppedAt, true);
    for (const release of this.pending.splice(0)) release();
    await this.running;
    for (const timer of this.timers) clearInterval(timer);
    const report = this.report();
    this.bucketHistogram.destroy();
    this.totalHistogram.destroy();
    return report;
  }

  /** Slots of the schedule due by now. */
  private dueCount(): number {
    return Math.floor((this.elapsedMs() * this.options.targetOpsPerSec) / 1000);
  }

  /** Releases waiting lanes for the slots that are due. */
  private pace(): void {
    const due = this.dueCount();
    const backlogMax = Math.ceil((this.options.targetOpsPerSec * BACKLOG_MS_MAX) / 1000);
    if (due - this.issued > backlogMax && !this.stopping) {
      const atMs = this.elapsedMs();
      if (Math.floor(atMs / BUCKET_MS) !== this.bucketIndex) this.closeBucket(atMs, false);
      this.skippedOps += due - this.issued - backlogMax;
      this.bucketSkipped += due - this.issued - backlogMax;
      this.issued = due - backlogMax;
    }
    while (this.issued < due && this.pending.length > 0) {
      this.issued++;
      this.pending.shift()!();
    }
  }

  /** Resolves when this lane may start its next op. */
  private slot(): Promise<void> | null {
    if (!Number.isFinite(this.options.targetOpsPerSec)) return null;
    if (this.pending.length === 0 && this.issued < this.dueCount()) {
      this.issued++;
      return null;
    }
    return new Promise((resolve) => this.pending.push(resolve));
  }

  private sweepTimeouts(): void {
    const now = performance.now();
    for (const lane of this.lanes) {
      if (lane.opStartedAt > 0 && now - lane.opStartedAt > this.options.opTimeoutMs && lane.giveUp !== null) lane.giveUp();
    }
  }

  private async runLane(lane: Lane): Promise<void> {
    while (!this.stopping) {
      const wait = this.slot();
      if (wait !== null) await wait;
      if (this.stopping) return;
      await this.runOp(lane);
    }
  }

  /** One op: resolves when it is answered or given up on; records it either way. */
  private runOp(lane: Lane): Promise<void> {
    const { workload } = this;
    const keyIndex = workload.nextKeyIndex();
    const isRead = this.random.float() < READ_FRACTION;
    const key = workload.keyAt(keyIndex);
    const generation = ++lane.generation;
    const startedAt = performance.now();
    lane.opStartedAt = startedAt;
    return new Promise<void>((resolve) => {
      const finish = (failure: unknown | null, outcome: 'ok' | 'failed' | 'lost', poolIndex: number): void => {
        if (lane.generation !== generation || lane.opStartedAt === 0) return;
        lane.opStartedAt = 0;
        lane.giveUp = null;
        if (!isRead) workload.endPut(keyIndex, poolIndex, outcome);
        this.record(startedAt, isRead, failure);
        resolve();
      };
      if (isRead) {
        const token = workload.readToken(keyIndex);
        lane.giveUp = () => finish(new Error('timeout'), 'lost', 0);
        this.driver.get(key).then((value) => {
          const problem = lane.generation === generation ? workload.checkRead(keyIndex, value, token) : null;
          if (problem !== null) this.wrongRead(problem);
          finish(null, 'ok', 0);
        }, (error: unknown) => finish(error, 'failed', 0));
      } else {
        const poolIndex = workload.nextPoolIndex();
        workload.beginPut(keyIndex);
        lane.giveUp = () => finish(new Error('timeout'), 'lost', poolIndex);
        this.driver.put(key, workload.valueAt(poolIndex)).then(
          () => finish(null, 'ok', poolIndex), (error: unknown) => finish(error, 'failed', poolIndex));
      }
    });
  }

  private wrongRead(problem: string): void {
    this.wrongReads++;
    if (this.wrongReadExamples.length < WRONG_READS_KEPT_MAX) this.wrongReadExamples.push(problem);
  }

  private record(startedAt: number, isRead: boolean, failure: unknown | null): void {
    const now = performance.now();
    const atMs = now - this.startedAt;
    // After stop() the buckets are closed: ops still draining count in the totals only.
    const bucketIndex = Math.floor(atMs / BUCKET_MS);
    if (bucketIndex !== this.bucketIndex && !this.stopping) this.closeBucket(atMs, false);
    if (failure !== null) {
      this.failedOps++;
      this.bucketFailed++;
      if (this.failureTimesMs.length < FAILURE_TIMES_KEPT_MAX) this.failureTimesMs.push(round(atMs, 1));
      const kind = errorKind(failure);
      const counted = kind in this.failureKinds || Object.keys(this.failureKinds).length < FAILURE_KINDS_MAX ? kind : 'other';
      this.failureKinds[counted] = (this.failureKinds[counted] ?? 0) + 1;
      return;
    }
    const latencyUs = Math.max(1, Math.round((now - startedAt) * 1000));
    this.bucketHistogram.recordValue(latencyUs);
    this.totalHistogram.recordValue(latencyUs);
    this.ops++;
    this.bucketOps++;
    if (isRead) this.reads++;
    else this.updates++;
  }

  /**
   * Ends the current bucket, and records an empty bucket for each 100 ms without a completion up
   * to `atMs`; `final` (at stop) also records the bucket `atMs` falls in, cut short there.
   */
  private closeBucket(atMs: number, final: boolean): void {
    const nextIndex = Math.floor(atMs / BUCKET_MS);
    const durationOf = (index: number): number => (final && index === nextIndex ? round(atMs - index * BUCKET_MS, 1) : BUCKET_MS);
    const p99Ms = this.bucketOps > 0 ? round(this.bucketHistogram.getValueAtPercentile(99) / 1000) : null;
    this.pushBucket({
      atMs: this.bucketIndex * BUCKET_MS, durationMs: durationOf(this.bucketIndex), ops: this.bucketOps, failedOps: this.bucketFailed,
      skippedOps: this.bucketSkipped, p99Ms,
    });
    for (let index = this.bucketIndex + 1; index < nextIndex || (final && index === nextIndex); index++) {
      this.pushBucket({ atMs: index * BUCKET_MS, durationMs: durationOf(index), ops: 0, failedOps: 0, skippedOps: 0, p99Ms: null });
    }
    this.bucketIndex = nextIndex;
    this.bucketOps = 0;
    this.bucketFailed = 0;
    this.bucketSkipped = 0;
    this.bucketHistogram.reset();
  }

  private pushBucket(bucket: LoadBucket): void {
    if (bucket.durationMs <= 0) return;
    if (this.buckets.length >= BUCKET_COUNT_MAX) this.bucketsTruncated = true;
    else this.buckets.push(bucket);
  }

  private report(): LoadReport {
    const elapsedMs = this.stoppedAt;
    const histogram = this.totalHistogram;
    return {
      targetOpsPerSec: Number.isFinite(this.options.targetOpsPerSec) ? Math.round(this.options.targetOpsPerSec) : null,
      concurrency: this.options.concurrency,
      elapsedMs: round(elapsedMs, 1),
      ops: this.ops,
      opsPerSec: Math.round((this.opsBeforeStop * 1000) / elapsedMs),
      failedOps: this.failedOps,
      p50Ms: round(histogram.getValueAtPercentile(50) / 1000),
      p99Ms: round(histogram.getValueAtPercentile(99) / 1000),
      maxMs: round(histogram.maxValue / 1000),
      reads: this.reads,
      updates: this.updates,
      skippedOps: this.skippedOps,
      buckets: this.buckets,
      bucketsTruncated: this.bucketsTruncated,
      failureTimesMs: this.failureTimesMs,
      failureKinds: this.failureKinds,
      wrongReads: this.wrongReads,
      wrongReadExamples: this.wrongReadExamples,
    };
  }
}

// ---- helpers -----------------------------------------------------------------------------------

export interface PeakOptions {
  readonly concurrency: number;
  readonly opTimeoutMs: number;
  readonly seed: number;
  /** Untimed, before the measured seconds. */
  readonly warmUpSeconds: number;
}

export interface PeakResult {
  readonly opsPerSec: number;
  readonly p99Ms: number;
  readonly failedOps: number;
  readonly wrongReads: number;
}


/** Peak YCSB-A throughput: the same loop flat out for `seconds`, after a warm-up. */
export async function measurePeak(driver: MigrationDriver, seconds: number, workload: MigrationWorkload, options: PeakOptions): Promise<PeakResult> {
  const loadOptions = { targetOpsPerSec: Infinity, concurrency: options.concurrency, opTimeoutMs: options.opTimeoutMs };
  if (options.warmUpSeconds > 0) {
    const warmUp = new MigrationLoad(driver, workload, { ...loadOptions, seed: options.seed ^ 0x5eed });
    warmUp.start();
    await sleep(options.warmUpSeconds * 1000);
    await warmUp.stop();
  }
  const load = new MigrationLoad(driver, workload, { ...loadOptions, seed: options.seed });
  load.start();
  await sleep(seconds * 1000);
  const report = await load.stop();
  return { opsPerSec: report.opsPerSec, p99Ms: report.p99Ms, failedOps: report.failedOps, wrongReads: report.wrongReads };
}

export interface WindowSummary {
  /** Buckets that overlap [fromMs, toMs] (and last at least half of BUCKET_MS). */
  readonly bucketCount: number;
  /** Min over those buckets of (ops / bucket seconds) / target. */
  readonly minThroughputRatio: number | null;
  readonly meanThroughputRatio: number | null;
  readonly p99MsMax: number | null;
  readonly failedOps: number;
  readonly ops: number;
  /** The three lowest bucket ratios, lowest first. */
  readonly lowestRatios: readonly number[];
}

/** Start and end of a window of the load, in ms since it started. */
export interface WindowMarks {
  readonly fromMs: number;
  readonly toMs: number;
}

/**
 * The control window: `seconds` of the load with nothing else happening, right before the move
 * starts. Its dips are the load's own on this machine (collections in the client and the servers,
 * the scheduler): the floor under any figure taken over the move's window.
 */
export async function controlWindow(load: MigrationLoad, seconds: number): Promise<WindowMarks> {
  const fromMs = load.elapsedMs();
  await sleep(seconds * 1000);
  return { fromMs, toMs: load.elapsedMs() };
}

/**
 * Throughput dips, tail latency and failures of the buckets overlapping [fromMs, toMs] (a move's
 * window: every bucket it touched counts), or with `inside`, of the buckets wholly inside it (a
 * control window: the bucket in which the move starts is not the load alone).
 */
export function summarizeWindow(report: LoadReport, fromMs: number, toMs: number, inside = false): WindowSummary {
  const target = report.targetOpsPerSec;
  const inRange = inside
    ? (bucket: LoadBucket): boolean => bucket.atMs >= fromMs && bucket.atMs + bucket.durationMs <= toMs
    : (bucket: LoadBucket): boolean => bucket.atMs + bucket.durationMs > fromMs && bucket.atMs <= toMs;
  // A last bucket cut short by stop() says little about a rate: it counts only from half a bucket up.
  const inWindow = report.buckets.filter((bucket) => inRange(bucket) && bucket.durationMs >= BUCKET_MS / 2);
  const ratios = target === null ? [] : inWindow.map((bucket) => (bucket.ops * 1000) / bucket.durationMs / target);
  const p99s = inWindow.map((bucket) => bucket.p99Ms).filter((p99): p99 is number => p99 !== null);
  return {
    bucketCount: inWindow.length,
    minThroughputRatio: ratios.length === 0 ? null : round(ratios.reduce((a, b) => Math.min(a, b), Infinity)),
    meanThroughputRatio: ratios.length === 0 ? null : round(ratios.reduce((a, b) => a + b, 0) / ratios.length),
    p99MsMax: p99s.length === 0 ? null : p99s.reduce((a, b) => Math.max(a, b), 0),
    failedOps: inWindow.reduce((sum, bucket) => sum + bucket.failedOps, 0),
    ops: inWindow.reduce((sum, bucket) => sum + bucket.ops, 0),
    lowestRatios: [...ratios].sort((a, b) => a - b).slice(0, 3).map((ratio) => round(ratio)),
  };
}
