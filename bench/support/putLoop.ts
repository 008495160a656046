// Closed-loop write throughput: `depth` lanes, each with one put outstanding, each completion
// issuing the next (as bench:ycsb's depth 64: both clients batch the ops of one event-loop tick
// into one write, support/ycsbDrivers.ts). Op n writes key n mod keyCount with pool value n, so
// a run against a fresh server first inserts keys in one fixed order, then overwrites them:
// every system sees the same sequence of keys and values.
//
// A warm-up runs first, untimed; then the measured run. Lanes stop issuing at the deadline and
// the run ends when their last ops complete (counted: every op issued is waited for).

import { performance } from 'node:perf_hooks';
import { processCpuSeconds } from './procStats.js';
import type { KvDriver } from './ycsbDrivers.js';

const ERRORS_KEPT_MAX = 5;

export interface PutSource {
  readonly keyCount: number;
  keyAt(keyIndex: number): Buffer;
  valueAt(poolIndex: number): Buffer;
}

export interface PutLoopResult {
  opsPerSec: number;
  measuredOps: number;
  /** Warm-up and measured ops: the distinct keys written are min(totalOps, keyCount). */
  totalOps: number;
  elapsedMs: number;
  errorCount: number;
  firstErrors: string[];
  /** Client CPU time over wall time during the measured run: 1 is one core kept busy. */
  clientCpuCores: number;
  /** The same for the server process (Linux /proc), null when unknown. */
  serverCpuCores: number | null;
}

class PutRun<R> {
  nextOp = 0;
  errorCount = 0;
  readonly firstErrors: string[] = [];

  constructor(private readonly driver: KvDriver<R>, private readonly source: PutSource) {}

  private async lane(endAtMs: number): Promise<number> {
    const { driver, source } = this;
    let done = 0;
    while (performance.now() < endAtMs) {
      const op = this.nextOp++;
      try {
        await driver.put(source.keyAt(op % source.keyCount), source.valueAt(op));
      } catch (error) {
        this.errorCount++;
        if (this.firstErrors.length < ERRORS_KEPT_MAX) this.firstErrors.push(error instanceof Error ? error.message : String(error));
      }
      done++;
    }
    return done;
  }

  /** Runs `depth` lanes until `durationMs` has passed; resolves with the ops they completed. */
  async run(depth: number, durationMs: number): Promise<number> {
    const endAtMs = performance.now() + durationMs;
    const lanes: Promise<number>[] = [];
    for (let i = 0; i < depth; i++) lanes.push(this.lane(endAtMs));
    return (await Promise.all(lanes)).reduce((sum, count) => sum + count, 0);
  }
}

const cores = (cpuSeconds: number, elapsedMs: number): number => Math.round(((cpuSeconds * 1000) / elapsedMs) * 100) / 100;

export async function runPutLoop<R>(driver: KvDriver<R>, source: PutSource, depth: number, warmUpMs: number, measureMs: number,
  serverPid: number): Promise<PutLoopResult> {
  const run = new PutRun(driver, source);
  await run.run(depth, warmUpMs);
  const serverCpuBefore = processCpuSeconds(serverPid);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const measuredOps = await run.run(depth, measureMs);
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const serverCpuAfter = processCpuSeconds(serverPid);
  return {
    opsPerSec: Math.round((measuredOps * 1000) / elapsedMs), measuredOps, totalOps: run.nextOp, elapsedMs: Math.round(elapsedMs * 10) / 10,
    errorCount: run.errorCount, firstErrors: run.firstErrors,
    clientCpuCores: cores((cpu.user + cpu.system) / 1e6, elapsedMs),
    serverCpuCores: serverCpuBefore === null || serverCpuAfter === null ? null : cores(serverCpuAfter - serverCpuBefore, elapsedMs),
  };
}
