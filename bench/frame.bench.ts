// Wire-encoding benchmark: the batch frame (proto/wire/, ops packed into one `bytes` field of a
// protobuf envelope) against protobuf-per-op (one protobuf message per op and per result), on
// the same batches, in the same run, on the same machine (STYLE.md, "Benchmarks are code").
//
//   npm run bench:frame              full run (about two minutes)
//   npm run bench:frame -- --smoke   CI run with small parameters (under 15 s)
//
// For YCSB-like batches of 16-byte keys and 100-byte values — mix B (95% GET / 5% PUT) and mix A
// (50/50) — of 1, 16, 64 and 256 ops, it measures for each encoding:
// - round-trip ops/s: client encodes the batch, server decodes it, does every op and encodes
//   the results, client decodes the results (everything but the transport, which is the same
//   for both: gRPC's 5-byte message prefix and HTTP/2 framing are not counted);
// - server decode ops/s: the server's decode of a request and its walk over the ops alone,
//   from requests encoded before timing;
// - bytes on the wire per op, request and reply;
// - heap allocation pressure: bytes of V8 heap allocated per op, collections, and the share of
//   the time spent in them (support/gcMeter.ts).
// What each side does besides the codec is in support/batchEncodings.ts.
//
// Every (encoding, mix, batch size) runs in its own child process (support/childRunner.ts), so
// neither encoding inherits the other's JIT feedback or heap. The two encodings of a cell run
// back to back, in alternating order from cell to cell and round to round. Other work on the
// machine only ever slows a measurement down, so each timed phase keeps its best of SLICE_COUNT
// slices, and the full run does two rounds and keeps each rate's best. The parent prints a line per child, a line per cell, and, as its
// last line, one JSON object whose `winner` is decided by the geometric mean of the round-trip
// ratio (frame / protobuf) over the batch sizes of WINNER_BATCH_OPS_MIN ops and more.

import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { codeDigest } from './support/buildDigest.js';
import { makeEncoding, type BatchEncoding, type EncodingName } from './support/batchEncodings.js';
import { loadBatchSchemas } from './support/batchSchemas.js';
import {
  BATCH_ID_BASE, KEY_COUNT, MIXES, POOL_OP_COUNT, SEQ_BASE, VERSION_BASE, VIEW, ZIPF_THETA, makeBatchWorkload, mixNamed,
  type BatchWorkload, type MixName,
} from './support/batchWorkload.js';
import { benchEntry, runChild, type ChildOutcome } from './support/childRunner.js';
import { runChunked } from './support/chunkedLoop.js';
import { GcMeter, type GcFigures } from './support/gcMeter.js';
import { forceGc } from './support/loopProbe.js';
import { describeMachine, machineInfo, type MachineInfo } from './support/machine.js';
import { KEY_BYTES, VALUE_BYTES } from './support/workload.js';

const SEED = 0xf4a3_2024;
const BATCH_OPS_LIST: readonly number[] = [1, 16, 64, 256];
/** A one-op batch measures the envelope more than the op encoding; it is reported, not decisive. */
const WINNER_BATCH_OPS_MIN = 16;
/** Ops per chunk between yields to the event loop, as a server would run them. */
const CHUNK_OPS = 4096;
const ENCODINGS: readonly EncodingName[] = ['frame', 'protobuf'];
/** Timed slices per phase (see timePhase). */
const SLICE_COUNT = 5;

interface Plan {
  smoke: boolean;
  /** Length of each timed phase (round trip, server decode) of each child. */
  measureMs: number;
  /** Untimed run of each phase before it is timed; also sets the timed phase's batch count. */
  warmUpMs: number;
  rounds: number;
  childTimeoutMs: number;
}

const FULL_PLAN: Plan = { smoke: false, measureMs: 1500, warmUpMs: 400, rounds: 2, childTimeoutMs: 60_000 };
const SMOKE_PLAN: Plan = { smoke: true, measureMs: 50, warmUpMs: 30, rounds: 1, childTimeoutMs: 10_000 };

interface WorkerParams {
  encoding: EncodingName;
  mix: MixName;
  batchOps: number;
  measureMs: number;
  warmUpMs: number;
}

interface PhaseResult {
  /** The best slice's rate (see timePhase). */
  opsPerSec: number;
  opsPerSecMedian: number;
  opCount: number;
  elapsedMs: number;
  /** Longest chunk of CHUNK_OPS ops: how long the event loop was held. */
  chunkMsMax: number;
  allocatedBytesPerOp: number;
  scavengesPerMillionOps: number;
  markCompactsPerMillionOps: number;
  gcTimeFraction: number;
}

interface WorkerResult {
  /** Digest of the proto/wire code the worker loaded (support/buildDigest.ts). */
  wireBuildDigest: string;
  encoding: EncodingName;
  mix: MixName;
  batchOps: number;
  roundTrip: PhaseResult;
  serverDecode: PhaseResult;
  requestBytesPerOp: number;
  replyBytesPerOp: number;
  /** int32 sums of what the server and the client read over one pass of the pool. */
  serverChecksum: number;
  clientChecksum: number;
  decodesLongs: boolean;
  failureCount: number;
  firstFailure: string;
}

// ---- worker ------------------------------------------------------------------------------------

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function wireBuildDigest(): string {
  return codeDigest([fileURLToPath(new URL('../proto/wire/', import.meta.url))]);
}

/** Does batches [start, end) of the pool, cycling. */
type BatchBody = (start: number, end: number) => void;

interface VerifyPass {
  requests: Buffer[];
  requestBytesPerOp: number;
  replyBytesPerOp: number;
  serverChecksum: number;
  clientChecksum: number;
}

/**
 * One untimed round trip of every batch of the pool: checks the encoding answers each op,
 * measures the bytes on the wire, keeps the requests for the server-decode phase, and checks
 * that the server-decode walk reads what the full server reads.
 */
function verifyPass(encoding: BatchEncoding, workload: BatchWorkload, fail: (what: string) => void): VerifyPass {
  const requests: Buffer[] = [];
  let requestBytes = 0;
  let replyBytes = 0;
  for (let b = 0; b < workload.batchCount; b++) {
    const request = encoding.encodeRequest(b);
    if (!Buffer.isBuffer(request)) throw new Error('protobufjs did not encode to a Buffer: the server would not see one');
    const reply = encoding.serve(request);
    const resultCount = encoding.decodeReply(reply);
    if (resultCount !== workload.batchOps) fail(`batch ${b}: ${resultCount} results for ${workload.batchOps} ops`);
    requests.push(request);
    requestBytes += request.length;
    replyBytes += reply.length;
  }
  const serverChecksum = encoding.serverSink;
  const clientChecksum = encoding.clientSink;
  encoding.serverSink = 0;
  for (const request of requests) encoding.decodeRequest(request);
  if (encoding.serverSink !== serverChecksum) fail(`server decode read ${encoding.serverSink}, server read ${serverChecksum}`);
  encoding.serverSink = 0;
  encoding.clientSink = 0;
  return {
    requests, serverChecksum, clientChecksum,
    requestBytesPerOp: requestBytes / POOL_OP_COUNT, replyBytesPerOp: replyBytes / POOL_OP_COUNT,
  };
}

/** Runs `body` untimed for about `durationMs`; returns the batches per second it managed. */
function warmUp(durationMs: number, chunkBatches: number, body: BatchBody): number {
  const started = performance.now();
  let done = 0;
  while (performance.now() - started < durationMs) {
    body(done, done + chunkBatches);
    done += chunkBatches;
  }
  return (done * 1000) / (performance.now() - started);
}

/**
 * Warms `body` up, then times it for about `measureMs` with the heap watched, in SLICE_COUNT
 * slices. The machine is shared (other sessions build and test on it), and other work only ever
 * slows a slice down, so the phase's rate is its best slice; the median is kept beside it.
 */
async function timePhase(p: WorkerParams, body: BatchBody): Promise<PhaseResult> {
  const chunkBatches = Math.max(1, Math.floor(CHUNK_OPS / p.batchOps));
  const batchesPerSec = warmUp(p.warmUpMs, chunkBatches, body);
  const sliceBatches = Math.max(chunkBatches, Math.round((batchesPerSec * p.measureMs) / 1000 / SLICE_COUNT));
  const sliceOpsPerSec: number[] = [];
  let elapsedMs = 0;
  let chunkMsMax = 0;
  forceGc();
  const meter = new GcMeter();
  meter.start();
  for (let slice = 0; slice < SLICE_COUNT; slice++) {
    const first = slice * sliceBatches;
    const timing = await runChunked(sliceBatches, chunkBatches, (start, end) => body(first + start, first + end), () => {});
    sliceOpsPerSec.push((sliceBatches * p.batchOps * 1000) / timing.elapsedMs);
    elapsedMs += timing.elapsedMs;
    chunkMsMax = Math.max(chunkMsMax, timing.chunkMsMax);
  }
  const gc: GcFigures = meter.stop();
  const opCount = SLICE_COUNT * sliceBatches * p.batchOps;
  sliceOpsPerSec.sort((a, b) => a - b);
  return {
    opsPerSec: Math.round(sliceOpsPerSec[SLICE_COUNT - 1]),
    opsPerSecMedian: Math.round(sliceOpsPerSec[Math.floor(SLICE_COUNT / 2)]),
    opCount,
    elapsedMs: round(elapsedMs, 1),
    chunkMsMax: round(chunkMsMax, 3),
    allocatedBytesPerOp: round(gc.allocatedBytes / opCount, 1),
    scavengesPerMillionOps: round((gc.scavengeCount * 1e6) / opCount, 2),
    markCompactsPerMillionOps: round((gc.markCompactCount * 1e6) / opCount, 2),
    gcTimeFraction: round(gc.gcMs / elapsedMs, 4),
  };
}

async function runWorker(p: WorkerParams): Promise<WorkerResult> {
  const workload = makeBatchWorkload(mixNamed(p.mix), p.batchOps, SEED);
  const schemas = loadBatchSchemas();
  const encoding = makeEncoding(p.encoding, workload, schemas);
  let failureCount = 0;
  let firstFailure = '';
  const fail = (what: string): void => {
    if (failureCount++ === 0) firstFailure = what;
  };
  const verify = verifyPass(encoding, workload, fail);
  const poolBatches = workload.batchCount;
  let resultCount = 0;
  const roundTripBody: BatchBody = (start, end) => {
    for (let b = start; b < end; b++) resultCount += encoding.decodeReply(encoding.serve(encoding.encodeRequest(b % poolBatches)));
  };
  const roundTrip = await timePhase(p, roundTripBody);
  // The warm-up's batches are counted too; only the timed phase's count is known in advance.
  if (resultCount % p.batchOps !== 0 || resultCount < roundTrip.opCount) fail(`round trip: ${resultCount} results`);
  const requests = verify.requests;
  let decodedCount = 0;
  const serverDecodeBody: BatchBody = (start, end) => {
    for (let b = start; b < end; b++) decodedCount += encoding.decodeRequest(requests[b % poolBatches]);
  };
  const serverDecode = await timePhase(p, serverDecodeBody);
  if (decodedCount < serverDecode.opCount) fail(`server decode: ${decodedCount} ops`);
  return {
    wireBuildDigest: wireBuildDigest(),
    encoding: p.encoding,
    mix: p.mix,
    batchOps: p.batchOps,
    roundTrip,
    serverDecode,
    requestBytesPerOp: round(verify.requestBytesPerOp, 2),
    replyBytesPerOp: round(verify.replyBytesPerOp, 2),
    serverChecksum: verify.serverChecksum,
    clientChecksum: verify.clientChecksum,
    decodesLongs: schemas.decodesLongs,
    failureCount: failureCount + encoding.failureCount,
    firstFailure: firstFailure || encoding.firstFailure,
  };
}

async function workerMain(paramsJson: string): Promise<void> {
  const result = await runWorker(JSON.parse(paramsJson) as WorkerParams);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---- parent ------------------------------------------------------------------------------------

interface Cell {
  mix: MixName;
  batchOps: number;
}

function cellsOf(): Cell[] {
  const cells: Cell[] = [];
  for (const mix of MIXES) for (const batchOps of BATCH_OPS_LIST) cells.push({ mix: mix.name, batchOps });
  return cells;
}

function cellName(cell: Cell): string {
  return `${cell.mix} x${cell.batchOps}`;
}

/** Every round's outcome of one encoding in one cell. */
type Outcomes = Map<string, ChildOutcome<WorkerResult>[]>;

function outcomeKey(cell: Cell, encoding: EncodingName): string {
  return `${cellName(cell)} ${encoding}`;
}

function rate(opsPerSec: number): string {
  if (opsPerSec >= 1e6) return `${(opsPerSec / 1e6).toFixed(2)}M/s`;
  return `${(opsPerSec / 1e3).toFixed(0)}k/s`;
}

function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

function describeWorker(r: WorkerResult): string {
  const rt = r.roundTrip;
  const failures = r.failureCount > 0 ? `; ${r.failureCount} FAILURES, first: ${r.firstFailure}` : '';
  return `round trip ${rate(rt.opsPerSec)} (median slice ${rate(rt.opsPerSecMedian)}), server decode ` +
    `${rate(r.serverDecode.opsPerSec)} (median ${rate(r.serverDecode.opsPerSecMedian)}); ` +
    `${(r.requestBytesPerOp + r.replyBytesPerOp).toFixed(1)} B/op on the wire (${r.requestBytesPerOp} request + ` +
    `${r.replyBytesPerOp} reply); round trip allocates ${rt.allocatedBytesPerOp} B/op of heap, ` +
    `${rt.scavengesPerMillionOps} scavenges and ${rt.markCompactsPerMillionOps} mark-compacts per 1M ops, ` +
    `GC ${percent(rt.gcTimeFraction)} of the time; ` +
    `server decode allocates ${r.serverDecode.allocatedBytesPerOp} B/op${failures}`;
}

function describeOutcome(outcome: ChildOutcome<WorkerResult>): string {
  const seconds = `(${(outcome.elapsedMs / 1000).toFixed(1)} s)`;
  return outcome.ok ? `${describeWorker(outcome.result)} ${seconds}` : `FAILED ${seconds}: ${outcome.reason}`;
}

async function runRounds(plan: Plan, cells: readonly Cell[]): Promise<Outcomes> {
  const scriptPath = fileURLToPath(import.meta.url);
  const outcomes: Outcomes = new Map();
  for (let r = 0; r < plan.rounds; r++) {
    for (let c = 0; c < cells.length; c++) {
      const cell = cells[c];
      // Alternate which encoding goes first, so a slow drift of the machine does not favour one.
      const order = (c + r) % 2 === 0 ? ENCODINGS : [...ENCODINGS].reverse();
      for (const encoding of order) {
        const params: WorkerParams = { encoding, mix: cell.mix, batchOps: cell.batchOps, measureMs: plan.measureMs, warmUpMs: plan.warmUpMs };
        const outcome = await runChild<WorkerResult>(scriptPath, {
          nodeArgs: ['--expose-gc'], scriptArgs: ['--worker', JSON.stringify(params)], timeoutMs: plan.childTimeoutMs,
        });
        const key = outcomeKey(cell, encoding);
        outcomes.set(key, [...(outcomes.get(key) ?? []), outcome]);
        const roundLabel = plan.rounds > 1 ? ` round ${r + 1}` : '';
        console.log(`  ${encoding.padEnd(8)} ${cellName(cell).padEnd(6)}${roundLabel}: ${describeOutcome(outcome)}`);
      }
    }
  }
  return outcomes;
}

// ---- report ------------------------------------------------------------------------------------

/** One encoding's figures in one cell: rates are the best of the rounds, the rest from the first good round. */
interface Best {
  result: WorkerResult;
  roundTripOpsPerSec: number;
  serverDecodeOpsPerSec: number;
  roundTripOpsPerSecRounds: number[];
}

function best(outcomes: Outcomes, cell: Cell, encoding: EncodingName): Best | null {
  const good: WorkerResult[] = [];
  for (const outcome of outcomes.get(outcomeKey(cell, encoding)) ?? []) {
    if (outcome.ok && outcome.result.failureCount === 0) good.push(outcome.result);
  }
  if (good.length === 0) return null;
  return {
    result: good[0],
    roundTripOpsPerSec: Math.max(...good.map((r) => r.roundTrip.opsPerSec)),
    serverDecodeOpsPerSec: Math.max(...good.map((r) => r.serverDecode.opsPerSec)),
    roundTripOpsPerSecRounds: good.map((r) => r.roundTrip.opsPerSec),
  };
}

interface ResultRow {
  mix: MixName;
  batchOps: number;
  frameOpsPerSec: number | null;
  protobufOpsPerSec: number | null;
  /** frame / protobuf, round trip. */
  ratio: number | null;
  frameServerDecodeOpsPerSec: number | null;
  protobufServerDecodeOpsPerSec: number | null;
  serverDecodeRatio: number | null;
  frameBytesPerOp: number | null;
  protobufBytesPerOp: number | null;
  frameRequestBytesPerOp: number | null;
  protobufRequestBytesPerOp: number | null;
  frameAllocatedBytesPerOp: number | null;
  protobufAllocatedBytesPerOp: number | null;
  frameServerDecodeAllocatedBytesPerOp: number | null;
  protobufServerDecodeAllocatedBytesPerOp: number | null;
  frameScavengesPerMillionOps: number | null;
  protobufScavengesPerMillionOps: number | null;
  frameMarkCompactsPerMillionOps: number | null;
  protobufMarkCompactsPerMillionOps: number | null;
  frameGcTimeFraction: number | null;
  protobufGcTimeFraction: number | null;
  frameOpsPerSecRounds: number[];
  protobufOpsPerSecRounds: number[];
  /** Whether both encodings' servers and clients read the same bytes over one pass of the pool. */
  checksumsMatch: boolean | null;
}

function ratioOf(a: number | null, b: number | null): number | null {
  return a === null || b === null || b === 0 ? null : round(a / b, 3);
}

/** One encoding's columns of a row; all null when its workers failed. */
interface Figures {
  opsPerSec: number | null;
  serverDecodeOpsPerSec: number | null;
  bytesPerOp: number | null;
  requestBytesPerOp: number | null;
  allocatedBytesPerOp: number | null;
  serverDecodeAllocatedBytesPerOp: number | null;
  scavengesPerMillionOps: number | null;
  markCompactsPerMillionOps: number | null;
  gcTimeFraction: number | null;
  opsPerSecRounds: number[];
}

function figuresOf(b: Best | null): Figures {
  if (b === null) {
    return {
      opsPerSec: null, serverDecodeOpsPerSec: null, bytesPerOp: null, requestBytesPerOp: null, allocatedBytesPerOp: null,
      serverDecodeAllocatedBytesPerOp: null, scavengesPerMillionOps: null, markCompactsPerMillionOps: null, gcTimeFraction: null,
      opsPerSecRounds: [],
    };
  }
  const r = b.result;
  return {
    opsPerSec: b.roundTripOpsPerSec,
    serverDecodeOpsPerSec: b.serverDecodeOpsPerSec,
    bytesPerOp: round(r.requestBytesPerOp + r.replyBytesPerOp, 2),
    requestBytesPerOp: r.requestBytesPerOp,
    allocatedBytesPerOp: r.roundTrip.allocatedBytesPerOp,
    serverDecodeAllocatedBytesPerOp: r.serverDecode.allocatedBytesPerOp,
    scavengesPerMillionOps: r.roundTrip.scavengesPerMillionOps,
    markCompactsPerMillionOps: r.roundTrip.markCompactsPerMillionOps,
    gcTimeFraction: r.roundTrip.gcTimeFraction,
    opsPerSecRounds: b.roundTripOpsPerSecRounds,
  };
}

function checksumsMatch(frame: Best | null, protobuf: Best | null): boolean | null {
  if (frame === null || protobuf === null) return null;
  const f = frame.result;
  const p = protobuf.result;
  return f.serverChecksum === p.serverChecksum && f.clientChecksum === p.clientChecksum;
}

function resultRow(cell: Cell, frame: Best | null, protobuf: Best | null): ResultRow {
  const f = figuresOf(frame);
  const p = figuresOf(protobuf);
  return {
    mix: cell.mix,
    batchOps: cell.batchOps,
    frameOpsPerSec: f.opsPerSec,
    protobufOpsPerSec: p.opsPerSec,
    ratio: ratioOf(f.opsPerSec, p.opsPerSec),
    frameServerDecodeOpsPerSec: f.serverDecodeOpsPerSec,
    protobufServerDecodeOpsPerSec: p.serverDecodeOpsPerSec,
    serverDecodeRatio: ratioOf(f.serverDecodeOpsPerSec, p.serverDecodeOpsPerSec),
    frameBytesPerOp: f.bytesPerOp,
    protobufBytesPerOp: p.bytesPerOp,
    frameRequestBytesPerOp: f.requestBytesPerOp,
    protobufRequestBytesPerOp: p.requestBytesPerOp,
    frameAllocatedBytesPerOp: f.allocatedBytesPerOp,
    protobufAllocatedBytesPerOp: p.allocatedBytesPerOp,
    frameServerDecodeAllocatedBytesPerOp: f.serverDecodeAllocatedBytesPerOp,
    protobufServerDecodeAllocatedBytesPerOp: p.serverDecodeAllocatedBytesPerOp,
    frameScavengesPerMillionOps: f.scavengesPerMillionOps,
    protobufScavengesPerMillionOps: p.scavengesPerMillionOps,
    frameMarkCompactsPerMillionOps: f.markCompactsPerMillionOps,
    protobufMarkCompactsPerMillionOps: p.markCompactsPerMillionOps,
    frameGcTimeFraction: f.gcTimeFraction,
    protobufGcTimeFraction: p.gcTimeFraction,
    frameOpsPerSecRounds: f.opsPerSecRounds,
    protobufOpsPerSecRounds: p.opsPerSecRounds,
    checksumsMatch: checksumsMatch(frame, protobuf),
  };
}

function describeRow(row: ResultRow): string {
  const name = `${row.mix} x${row.batchOps}`.padEnd(6);
  if (row.ratio === null) return `${name}: incomplete (a worker failed)`;
  const gc = (fraction: number | null): string => (fraction === null ? '?' : percent(fraction));
  return `${name}: round trip frame ${rate(row.frameOpsPerSec ?? 0)} vs protobuf ${rate(row.protobufOpsPerSec ?? 0)} = ` +
    `${row.ratio.toFixed(2)}x; server decode ${rate(row.frameServerDecodeOpsPerSec ?? 0)} vs ` +
    `${rate(row.protobufServerDecodeOpsPerSec ?? 0)} = ${row.serverDecodeRatio?.toFixed(2)}x; wire ${row.frameBytesPerOp} vs ` +
    `${row.protobufBytesPerOp} B/op; heap ${row.frameAllocatedBytesPerOp} vs ${row.protobufAllocatedBytesPerOp} B/op, ` +
    `GC ${gc(row.frameGcTimeFraction)} vs ${gc(row.protobufGcTimeFraction)} of the time` +
    `${row.checksumsMatch === false ? '; CHECKSUMS DIFFER: the encodings did not carry the same bytes' : ''}`;
}

function geometricMean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  return round(Math.exp(values.reduce((sum, v) => sum + Math.log(v), 0) / values.length), 3);
}

function decisiveRatios(rows: readonly ResultRow[], pick: (row: ResultRow) => number | null): number[] {
  const ratios: number[] = [];
  for (const row of rows) {
    const value = pick(row);
    if (row.batchOps >= WINNER_BATCH_OPS_MIN && value !== null) ratios.push(value);
  }
  return ratios;
}

interface Failure {
  id: string;
  reason: string;
}

function failuresOf(outcomes: Outcomes): Failure[] {
  const failures: Failure[] = [];
  for (const [id, rounds] of outcomes) {
    rounds.forEach((outcome, r) => {
      if (!outcome.ok) failures.push({ id: `${id} round ${r + 1}`, reason: outcome.reason });
      else if (outcome.result.failureCount > 0) failures.push({ id: `${id} round ${r + 1}`, reason: outcome.result.firstFailure });
    });
  }
  return failures;
}

function wireBuildSection(digestAtStart: string, outcomes: Outcomes): { digestAtStart: string; workerDigests: string[]; consistent: boolean } {
  const digests = new Set<string>();
  for (const rounds of outcomes.values()) for (const outcome of rounds) if (outcome.ok) digests.add(outcome.result.wireBuildDigest);
  const workerDigests = [...digests];
  return { digestAtStart, workerDigests, consistent: workerDigests.every((d) => d === digestAtStart) };
}

function protobufjsVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('protobufjs/package.json') as { version: string }).version;
}

function workloadSection(plan: Plan): Record<string, unknown> {
  return {
    mixes: MIXES.map((m) => m.description), batchOps: BATCH_OPS_LIST, keyBytes: KEY_BYTES, valueBytes: VALUE_BYTES,
    keyCount: KEY_COUNT, keyDistribution: `zipf ${ZIPF_THETA}`, poolOps: POOL_OP_COUNT, seed: SEED, seqBase: SEQ_BASE,
    versionBase: VERSION_BASE, batchIdBase: BATCH_ID_BASE, view: VIEW, chunkOps: CHUNK_OPS, sliceCount: SLICE_COUNT, measureMs: plan.measureMs,
    warmUpMs: plan.warmUpMs, rounds: plan.rounds, winnerBatchOpsMin: WINNER_BATCH_OPS_MIN,
  };
}

function buildReport(plan: Plan, machine: MachineInfo, rows: ResultRow[], outcomes: Outcomes, digestAtStart: string): Record<string, unknown> {
  const roundTripGeomean = geometricMean(decisiveRatios(rows, (row) => row.ratio));
  const serverDecodeGeomean = geometricMean(decisiveRatios(rows, (row) => row.serverDecodeRatio));
  let decodesLongs: boolean | null = null;
  for (const rounds of outcomes.values()) for (const o of rounds) if (o.ok) decodesLongs = o.result.decodesLongs;
  return {
    bench: 'frame',
    smoke: plan.smoke,
    machine,
    results: rows,
    winner: roundTripGeomean === null ? null : roundTripGeomean >= 1 ? 'frame' : 'protobuf',
    roundTripRatioGeomean: roundTripGeomean,
    serverDecodeRatioGeomean: serverDecodeGeomean,
    // Other work on the machine during the run shows here (machine.loadAverage1m is at the start).
    loadAverage1mAtEnd: round(loadavg()[0], 2),
    protobufjs: { version: protobufjsVersion(), decodesLongs },
    wireBuild: wireBuildSection(digestAtStart, outcomes),
    workload: workloadSection(plan),
    failures: failuresOf(outcomes),
  };
}

async function parentMain(plan: Plan): Promise<void> {
  const machine = machineInfo();
  const digestAtStart = wireBuildDigest();
  console.log(describeMachine(machine));
  console.log(`workload: ${KEY_BYTES}-byte keys (zipf ${ZIPF_THETA} over ${KEY_COUNT}), ${VALUE_BYTES}-byte values, ` +
    `${MIXES.map((m) => m.description).join(' and ')}, batches of ${BATCH_OPS_LIST.join('/')} ops, seed ${SEED}; ` +
    `${plan.measureMs} ms per timed phase after ${plan.warmUpMs} ms of warm-up, ${plan.rounds} round(s); ` +
    `protobufjs ${protobufjsVersion()}, wire build ${digestAtStart}${plan.smoke ? ', SMOKE sizes' : ''}`);
  const cells = cellsOf();
  const outcomes = await runRounds(plan, cells);
  const rows = cells.map((cell) => resultRow(cell, best(outcomes, cell, 'frame'), best(outcomes, cell, 'protobuf')));
  console.log(`summary (frame vs protobuf; rates are the best of ${plan.rounds} round(s)):`);
  for (const row of rows) console.log(`  ${describeRow(row)}`);
  const report = buildReport(plan, machine, rows, outcomes, digestAtStart);
  const build = report.wireBuild as { consistent: boolean; workerDigests: string[] };
  if (!build.consistent) console.log(`WARNING: proto/wire was rebuilt during the run (${build.workerDigests.join(', ')}): figures mix versions`);
  console.log(`winner: ${String(report.winner)} (geometric mean of the round-trip ratio over batches of ${WINNER_BATCH_OPS_MIN}+ ops: ` +
    `${String(report.roundTripRatioGeomean)}x; server decode ${String(report.serverDecodeRatioGeomean)}x)`);
  console.log(JSON.stringify(report));
  const failed = (report.failures as Failure[]).length > 0 || rows.some((row) => row.checksumsMatch === false) || report.winner === null;
  if (failed) process.exitCode = 1;
}

// ---- entry -------------------------------------------------------------------------------------

await benchEntry(process.argv.slice(2), workerMain, (smoke) => parentMain(smoke ? SMOKE_PLAN : FULL_PLAN));
