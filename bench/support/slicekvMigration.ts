// The slicekv side of the migration benchmark (issue 5): a live migration (docs/migration.md) of a
// range holding `keys` keys between two `slicekv dataplane` processes, under the YCSB-A load of
// support/migrationLoad.ts through the slicekv SDK (`clients` clients, 1 by default, taking the ops in
// turn; `concurrency` lanes).
//
// Setup: pods A and B, separate processes on loopback (ports below 32000), memory only (no
// --data-dir, --wal off; --memory `memory` each). A owns the whole keyspace (AssignRanges at view
// 1) and splits it at 2^63 (SplitRange: [0, 2^63) and [2^63, 2^64) at view 2); B gets routes naming
// A for both halves. `keys` 16-byte keys whose keyHash64 is >= 2^63 (support/keysInHashRange.ts),
// so the upper range holds all of them, are loaded into A with the SDK's mput (1000 keys a call).
//
// Steps, each bounded in time: peak YCSB-A (lanes flat out, measurePeak); the load at loadFraction
// of that peak; after leadInSeconds, a control window of controlSeconds (the load alone, reported as
// `control`: the same figures without a migration, so a dip can be told from the machine's own);
// then StartMigration of [2^63, 2^64) from A to B, unthrottled; poll
// MigrationStatus on A every POLL_MS until COMPLETE (FAILED, CANCELLED, ABORTED or the timeout:
// the run fails); tailSeconds more load; stop.
//
// Reported: `seconds`, from A's PREPARE transition (entered by StartMigration) to its COMPLETE
// transition; over the 100 ms buckets overlapping [StartMigration call, COMPLETE], the min of
// ops/target and the max p99; the failed ops in those buckets (and over the whole load).
// `switchGapMs` is the owner-switch gap as the issue defines it: B's first op served on the range
// minus A's last op served on it. Both pods time these themselves (MigrationStatus
// last_served_at_ms / first_served_at_ms: performance.timeOrigin + performance.now(), sub-ms, same
// machine clock). `switchGapTransferMs` is A's MOVE_DATA transition minus A's TRANSFER_OWNERSHIP
// transition (1 ms resolution): an upper bound of the time neither pod serves the range, without
// the clients' reaction. `switchGapTargetMs` is B's TRANSFER_OWNERSHIP transition minus A's.
// `peakOpsPendingAtTarget` is the most ops that waited at B at once, for ownership or for keys not
// arrived yet (MigrationStatus peak_ops_pending on B).
// `keysFetched` is B's count of keys fetched on demand (MigrationStatus on B); `preCopyRounds`,
// `pendingSlices` (A) and `preCopyBytes` (B) show how the pre-copy went (docs/migration.md).
//
// Verified afterwards (a failure sets ok: false and lists the problem; the caller must fail): the
// migration COMPLETE, no wrong read during the load, B's Stats keyCount is exactly `keys`,
// `sampleKeys` keys read through a client seeded with B only hold the value last acknowledged to
// the load (or one of the benchmark's values where concurrent puts made it ambiguous).

import { createClient, type SlicekvClient } from '../../client/index.js';
import { fixedFreePort } from '../../test/support/dataplaneProcess.js';
import { Random } from '../../test/support/random.js';
import { bounded, sleep } from './bounded.js';
import { lastLogEntry, startDurablePod, type DurablePod } from './durablePodProcess.js';
import { keysHashingAtOrAbove } from './keysInHashRange.js';
import {
  BUCKET_MS, MigrationLoad, MigrationWorkload, controlWindow, measurePeak, summarizeWindow,
  type LoadBucket, type LoadReport, type MigrationDriver, type PeakResult, type WindowMarks, type WindowSummary,
} from './migrationLoad.js';
import { distinctSample, KEY_BYTES } from './workload.js';

const HALF = 1n << 63n;
const POLL_MS = 20;
const MPUT_KEYS = 1000;
const MPUT_DEPTH = 8;
const END_PHASES = ['COMPLETE', 'FAILED', 'CANCELLED', 'ABORTED'];

export interface SlicekvMigrationOptions {
  readonly keys: number;
  readonly loadFraction: number;
  readonly concurrency: number;
  /** Ops outstanding at most during the paced load (the peak is measured with `concurrency`); default `concurrency`. */
  readonly loadConcurrency?: number;
  /** SDK clients (sessions) the load's ops are spread over, in turn; the bench's default is 1. */
  readonly clients: number;
  readonly opTimeoutMs: number;
  readonly peakSeconds: number;
  readonly warmUpSeconds: number;
  /** Load before the control window (settling after the peak measurement). */
  readonly leadInSeconds: number;
  /** The load alone, right before StartMigration: its figures are the run's floor (migrationLoad.ts, controlWindow). */
  readonly controlSeconds: number;
  readonly tailSeconds: number;
  /** --memory of each pod. */
  readonly memory: string;
  readonly migrationTimeoutMs: number;
  /** Pod start, loading, verifying: each. */
  readonly stepTimeoutMs: number;
  readonly sampleKeys: number;
  readonly sequenceLength: number;
  readonly seed: number;
  /** Extra node flags for both pods (e.g. --cpu-prof while investigating); none by default. */
  readonly podNodeArgs?: readonly string[];
  readonly log?: (line: string) => void;
}

interface MigrationInfo {
  phase: string;
  transitions: string[];
  recordsMoved: string;
  bytesMoved: string;
  keysFetched: string;
  error: string;
  lastServedAtMs: number;
  firstServedAtMs: number;
  preCopyRounds?: number;
  pendingSlices?: number;
  preCopyBytes?: string;
  peakOpsPending?: string;
}

export interface SlicekvMigrationReport {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly keys: number;
  readonly pods: { readonly source: string; readonly target: string; readonly memory: string; readonly durability: string };
  readonly loadKeysSeconds: number;
  readonly peak: PeakResult;
  readonly targetOpsPerSec: number;
  readonly concurrency: number;
  readonly clients: number;
  readonly phase: string;
  readonly error: string;
  /** PREPARE to COMPLETE on the source. */
  readonly seconds: number | null;
  /** StartMigration called to its answer. */
  readonly startCallMs: number;
  readonly minThroughputRatio: number | null;
  readonly meanThroughputRatio: number | null;
  readonly p99MsMax: number | null;
  /** The same figures over the control window: the load alone, no migration. */
  readonly control: WindowSummary;
  readonly failedOps: number;
  readonly failedOpsTotal: number;
  readonly failureKinds: Readonly<Record<string, number>>;
  readonly wrongReads: number;
  readonly wrongReadExamples: readonly string[];
  readonly skippedOps: number;
  /** Target's first op served on the range minus the source's last (both pods time them). */
  readonly switchGapMs: number | null;
  /** Source TRANSFER_OWNERSHIP -> MOVE_DATA transitions: an upper bound of the time no pod served the range. */
  readonly switchGapTransferMs: number | null;
  readonly switchGapTargetMs: number | null;
  /**
   * The hand-over as the pods logged it: the source's final scan and durable give-up (ms after it
   * stopped serving) and what it sent with ownership; the target's install and durable adoption.
   */
  readonly handOver: { readonly source: HandOverFields | null; readonly target: HandOverFields | null };
  readonly peakOpsPendingAtTarget: number | null;
  readonly keysFetched: number;
  /** Pre-copy rounds run on A, slices left pending at the switch, bytes B received before ownership. */
  readonly preCopyRounds: number;
  readonly pendingSlices: number;
  readonly preCopyBytes: number;
  readonly recordsMoved: number;
  readonly bytesMoved: number;
  readonly sourceTransitions: readonly string[];
  readonly targetTransitions: readonly string[];
  readonly targetKeyCount: number;
  readonly sourceKeyCount: number;
  readonly sampleChecked: number;
  readonly loadSeconds: number;
  readonly migrationStartMs: number;
  readonly migrationEndMs: number;
  readonly bucketMs: number;
  readonly perBucket: readonly LoadBucket[];
}

/** Ops go to the clients in turn (each client is one session). */
function sdkDriver(clients: readonly SlicekvClient[]): MigrationDriver {
  let next = 0;
  const pick = (): SlicekvClient => clients[next++ % clients.length];
  return { get: async (key) => (await pick().get(key))?.value ?? null, put: (key, value) => pick().put(key, value) };
}

/** A's ranges and routes, B's routes: A owns everything, split at 2^63 (as test/migration/live-migration.test.ts). */
async function assignRanges(a: DurablePod, b: DurablePod): Promise<void> {
  const whole = { start: '0', end: '0', view: 1 };
  await a.admin.call('AssignRanges', { owned: [whole], routes: [{ ...whole, owner: a.podName, address: a.address }] });
  await a.admin.call('SplitRange', { range: whole, at: HALF.toString() });
  await b.admin.call('AssignRanges', {
    owned: [], routes: [{ start: '0', end: HALF.toString(), view: 2, owner: a.podName, address: a.address },
      { start: HALF.toString(), end: '0', view: 2, owner: a.podName, address: a.address }],
  });
}

/** Every key with its initial value (key i: pool value i mod the pool), MPUT_KEYS a call, MPUT_DEPTH calls outstanding. */
async function bulkLoad(client: SlicekvClient, workload: MigrationWorkload): Promise<number> {
  const started = Date.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < workload.keyCount) {
      const from = next;
      const to = Math.min(workload.keyCount, from + MPUT_KEYS);
      next = to;
      const entries: [Buffer, Buffer][] = [];
      for (let i = from; i < to; i++) {
        workload.beginPut(i);
        entries.push([workload.keyAt(i), workload.valueAt(i & 0xfff)]);
      }
      await client.mput(entries, { timeoutMs: 30_000 });
      for (let i = from; i < to; i++) workload.endPut(i, i & 0xfff, 'ok');
    }
  };
  await Promise.all(Array.from({ length: MPUT_DEPTH }, lane));
  return (Date.now() - started) / 1000;
}

const migrationOf = async (pod: DurablePod): Promise<MigrationInfo | undefined> =>
  ((await pod.admin.call('MigrationStatus', { migrationId: 'bench' })).migrations as MigrationInfo[])[0];

async function pollUntilEnd(a: DurablePod, timeoutMs: number): Promise<MigrationInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await migrationOf(a);
    if (info !== undefined && END_PHASES.includes(info.phase)) return info;
    if (Date.now() > deadline) throw new Error(`migration not ended within ${timeoutMs} ms (last: ${JSON.stringify(info)})`);
    await sleep(POLL_MS);
  }
}

/** unix ms of `phase` in transitions, or null. */
function transitionAt(transitions: readonly string[], phase: string): number | null {
  const entry = transitions.find((t) => t.startsWith(`${phase}@`));
  return entry === undefined ? null : Number(entry.slice(phase.length + 1));
}

const difference = (later: number | null, earlier: number | null): number | null => (later === null || earlier === null ? null : later - earlier);

/** The owner-switch gap: the target's first op served on the range minus the source's last, in ms (0.001 resolution). */
function servedGap(source: MigrationInfo, target: MigrationInfo | undefined): number | null {
  const last = Number(source.lastServedAtMs ?? 0);
  const first = Number(target?.firstServedAtMs ?? 0);
  return last > 0 && first > 0 ? Math.round((first - last) * 1000) / 1000 : null;
}

interface MigrationRun {
  readonly load: LoadReport;
  readonly source: MigrationInfo;
  readonly target: MigrationInfo | undefined;
  readonly startMs: number;
  readonly startCallMs: number;
  /** Date.now() minus the load's elapsedMs(). */
  readonly unixOffsetMs: number;
  readonly control: WindowMarks;
}

async function migrateUnderLoad(options: SlicekvMigrationOptions, pods: [DurablePod, DurablePod], load: MigrationLoad): Promise<MigrationRun> {
  const [a, b] = pods;
  load.start();
  try {
    await sleep(options.leadInSeconds * 1000);
    const control = await controlWindow(load, options.controlSeconds);
    const unixOffsetMs = Date.now() - load.elapsedMs();
    const startMs = load.elapsedMs();
    await a.admin.call('StartMigration', {
      migrationId: 'bench', range: { start: HALF.toString(), end: '0', view: 2 }, targetPod: b.podName, targetAddress: b.address, throttleBytesPerSecond: process.env.SLICEKV_BENCH_THROTTLE ?? '0',
      yieldToLoad: process.env.SLICEKV_BENCH_YIELD === '1',
    });
    const startCallMs = load.elapsedMs() - startMs;
    const source = await pollUntilEnd(a, options.migrationTimeoutMs);
    options.log?.(`  migration ${source.phase}: ${source.transitions.join(' ')}`);
    await sleep(options.tailSeconds * 1000);
    const target = await migrationOf(b);
    return { load: await load.stop(), source, target, startMs, startCallMs, unixOffsetMs, control };
  } catch (error) {
    await load.stop().catch(() => undefined);
    throw error;
  }
}

/** Problems with `sampleKeys` keys read through a client seeded with B only. */
async function checkSample(options: SlicekvMigrationOptions, b: DurablePod, workload: MigrationWorkload): Promise<{ checked: number; problems: string[] }> {
  const reader = createClient({ seeds: [b.address] });
  const problems: string[] = [];
  try {
    const sample = distinctSample(workload.keyCount, Math.min(options.sampleKeys, workload.keyCount), new Random(options.seed ^ 0x5a));
    for (let from = 0; from < sample.length; from += MPUT_KEYS) {
      const indexes = [...sample.subarray(from, from + MPUT_KEYS)];
      const entries = await reader.mget(indexes.map((i) => workload.keyAt(i)), { timeoutMs: 30_000 });
      entries.forEach((entry, n) => {
        const keyIndex = indexes[n];
        const expected = workload.expectedPoolIndex(keyIndex);
        const got = entry === null ? null : workload.poolIndexOf(entry.value);
        const right = got !== null && (expected === null || got === expected);
        if (!right && problems.length < 5) problems.push(`key ${keyIndex} at B: pool value ${got}, expected ${expected ?? 'any benchmark value'}`);
      });
    }
    return { checked: sample.length, problems };
  } finally {
    reader.close();
  }
}

interface Verified {
  readonly problems: string[];
  readonly targetKeyCount: number;
  readonly sourceKeyCount: number;
  readonly sampleChecked: number;
}

async function verify(options: SlicekvMigrationOptions, pods: [DurablePod, DurablePod], run: MigrationRun, workload: MigrationWorkload): Promise<Verified> {
  const [a, b] = pods;
  const problems: string[] = [];
  if (run.source.phase !== 'COMPLETE') problems.push(`migration ${run.source.phase}: ${run.source.error}`);
  if (run.load.wrongReads > 0) problems.push(`${run.load.wrongReads} wrong reads during the load: ${run.load.wrongReadExamples.join('; ')}`);
  const targetKeyCount = Number((await b.admin.call('Stats', {})).keyCount);
  if (targetKeyCount !== options.keys) problems.push(`B holds ${targetKeyCount} keys, not ${options.keys}`);
  const sample = await bounded('sample check', options.stepTimeoutMs, () => checkSample(options, b, workload));
  problems.push(...sample.problems);
  // A drops its copy in slices after COMPLETE: give it a moment, report what is left.
  let sourceKeyCount = Number((await a.admin.call('Stats', {})).keyCount);
  for (let waited = 0; sourceKeyCount > 0 && waited < 5000; waited += 100) {
    await sleep(100);
    sourceKeyCount = Number((await a.admin.call('Stats', {})).keyCount);
  }
  return { problems, targetKeyCount, sourceKeyCount, sampleChecked: sample.checked };
}

type HandOverFields = Readonly<Record<string, number>>;
const SOURCE_HAND_OVER_FIELDS = ['finalScanMs', 'durableMs', 'givenUpMs', 'sliceRecordsBytes', 'replacedSlices', 'pendingSlices', 'entriesBytes'] as const;
const TARGET_HAND_OVER_FIELDS = ['installMs', 'adoptMs'] as const;

/** The numeric `fields` of the pod's last log line containing `message`. */
function handOverFields(pod: DurablePod, message: string, fields: readonly string[]): HandOverFields | null {
  const entry = lastLogEntry(pod, message);
  if (entry === null) return null;
  return Object.fromEntries(fields.filter((field) => typeof entry[field] === 'number').map((field) => [field, Math.round(Number(entry[field]) * 1000) / 1000]));
}

function buildReport(options: SlicekvMigrationOptions, context: { pods: [DurablePod, DurablePod]; loadKeysSeconds: number; peak: PeakResult; targetOpsPerSec: number },
  run: MigrationRun, verified: Verified): SlicekvMigrationReport {
  const [a, b] = context.pods;
  const sourceT = run.source.transitions;
  const targetT = run.target?.transitions ?? [];
  const completeUnix = transitionAt(sourceT, 'COMPLETE');
  const endMs = completeUnix === null ? run.load.elapsedMs : completeUnix - run.unixOffsetMs;
  const window = summarizeWindow(run.load, run.startMs, endMs);
  return {
    ok: verified.problems.length === 0, problems: verified.problems, keys: options.keys,
    pods: { source: a.address, target: b.address, memory: options.memory, durability: 'memory only (no --data-dir, --wal off)' },
    loadKeysSeconds: context.loadKeysSeconds, peak: context.peak, targetOpsPerSec: context.targetOpsPerSec, concurrency: options.concurrency, clients: options.clients,
    phase: run.source.phase, error: run.source.error,
    seconds: completeUnix === null ? null : difference(completeUnix, transitionAt(sourceT, 'PREPARE'))! / 1000,
    startCallMs: Math.round(run.startCallMs * 1000) / 1000,
    minThroughputRatio: window.minThroughputRatio, meanThroughputRatio: window.meanThroughputRatio, p99MsMax: window.p99MsMax,
    control: summarizeWindow(run.load, run.control.fromMs, run.control.toMs, true),
    failedOps: window.failedOps, failedOpsTotal: run.load.failedOps, failureKinds: run.load.failureKinds,
    wrongReads: run.load.wrongReads, wrongReadExamples: run.load.wrongReadExamples, skippedOps: run.load.skippedOps,
    switchGapMs: servedGap(run.source, run.target),
    switchGapTransferMs: difference(transitionAt(sourceT, 'MOVE_DATA'), transitionAt(sourceT, 'TRANSFER_OWNERSHIP')),
    switchGapTargetMs: difference(transitionAt(targetT, 'TRANSFER_OWNERSHIP'), transitionAt(sourceT, 'TRANSFER_OWNERSHIP')),
    handOver: { source: handOverFields(a, 'handing over', SOURCE_HAND_OVER_FIELDS), target: handOverFields(b, 'serving the range', TARGET_HAND_OVER_FIELDS) },
    peakOpsPendingAtTarget: run.target?.peakOpsPending === undefined ? null : Number(run.target.peakOpsPending),
    keysFetched: Number(run.target?.keysFetched ?? 0), preCopyRounds: run.source.preCopyRounds ?? 0, pendingSlices: run.source.pendingSlices ?? 0,
    preCopyBytes: Number(run.target?.preCopyBytes ?? 0), recordsMoved: Number(run.source.recordsMoved), bytesMoved: Number(run.source.bytesMoved),
    sourceTransitions: sourceT, targetTransitions: targetT,
    targetKeyCount: verified.targetKeyCount, sourceKeyCount: verified.sourceKeyCount, sampleChecked: verified.sampleChecked,
    loadSeconds: Math.round(run.load.elapsedMs) / 1000, migrationStartMs: Math.round(run.startMs), migrationEndMs: Math.round(endMs),
    bucketMs: BUCKET_MS, perBucket: run.load.buckets,
  };
}

async function startPods(options: SlicekvMigrationOptions): Promise<[DurablePod, DurablePod]> {
  const portA = await fixedFreePort();
  let portB = await fixedFreePort();
  while (portB === portA) portB = await fixedFreePort();
  const common = { dataDir: null, wal: 'off', memory: options.memory, nodeArgs: options.podNodeArgs ?? [], extraArgs: [], startTimeoutMs: options.stepTimeoutMs } as const;
  const a = await startDurablePod({ ...common, podName: 'pod-a', port: portA });
  try {
    return [a, await startDurablePod({ ...common, podName: 'pod-b', port: portB })];
  } catch (error) {
    await a.kill9();
    throw error;
  }
}

async function runOnPods(options: SlicekvMigrationOptions, pods: [DurablePod, DurablePod], clients: readonly SlicekvClient[]): Promise<SlicekvMigrationReport> {
  const client = clients[0];
  const log = options.log ?? ((): void => undefined);
  await assignRanges(...pods);
  const keys = keysHashingAtOrAbove(options.keys, HALF, options.seed);
  if (keys.length !== options.keys * KEY_BYTES) throw new Error('key generation');
  const workload = new MigrationWorkload(keys, options.keys, options.seed, options.sequenceLength);
  const loadKeysSeconds = await bounded('loading', options.stepTimeoutMs, () => bulkLoad(client, workload));
  const loadedCount = Number((await pods[0].admin.call('Stats', {})).keyCount);
  log(`  slicekv: loaded ${options.keys} keys into A in ${loadKeysSeconds.toFixed(1)} s (A's keyCount ${loadedCount})`);
  if (loadedCount !== options.keys) throw new Error(`A holds ${loadedCount} keys after loading ${options.keys}`);
  const driver = sdkDriver(clients);
  const peak = await measurePeak(driver, options.peakSeconds, workload,
    { concurrency: options.concurrency, opTimeoutMs: options.opTimeoutMs, seed: options.seed, warmUpSeconds: options.warmUpSeconds });
  const targetOpsPerSec = Math.round(peak.opsPerSec * options.loadFraction);
  log(`  slicekv: peak ${Math.round(peak.opsPerSec)} ops/s (p99 ${peak.p99Ms} ms, ${peak.failedOps} failed); load at ${targetOpsPerSec} ops/s`);
  const load = new MigrationLoad(driver, workload, { targetOpsPerSec, concurrency: options.loadConcurrency ?? options.concurrency, opTimeoutMs: options.opTimeoutMs, seed: options.seed ^ 0x10ad });
  const run = await migrateUnderLoad(options, pods, load);
  const verified = await verify(options, pods, run, workload);
  return buildReport(options, { pods, loadKeysSeconds, peak, targetOpsPerSec }, run, verified);
}

export async function runSlicekvMigration(options: SlicekvMigrationOptions): Promise<SlicekvMigrationReport> {
  const pods = await startPods(options);
  const clients = Array.from({ length: options.clients }, () => createClient({ seeds: [pods[0].address] }));
  try {
    return await runOnPods(options, pods, clients);
  } finally {
    for (const client of clients) client.close();
    await Promise.all(pods.map((pod) => pod.stop().catch(() => pod.kill9())));
  }
}
