// The Redis Cluster side of the migration benchmark (issue 5), on its own until the combined
// `bench:migration` runs it next to slicekv's live migration: a range of slots holding `keys` keys
// (16-byte keys, 100-byte values) moved between the two masters of a Redis Cluster by
// `redis-cli --cluster reshard`, under a YCSB-A load at 70% of the measured peak through ioredis
// Cluster. See support/redisReshard.ts for what is measured and verified.
//
//   npm run bench:redis-reshard              full run (1M keys in 1024 slots)
//   npm run bench:redis-reshard -- --smoke   CI sizes (20k keys in 64 slots; well under a minute)
//   ... -- --auto-pipelining                 ioredis Cluster with enableAutoPipelining (see below)
//   ... -- --pipeline-keys N                 redis-cli --cluster-pipeline N instead of 100
//
// Choices, fixed here so every run is comparable:
// - slotCount 1024 (1/16 of the slot space; about 980 keys per slot at 1M keys). redis-cli moves a
//   slot at a time, so this sets how many keys each slot's MIGRATE loop handles; the key count,
//   not the slot count, is what the slicekv side is compared on.
// - --cluster-pipeline 100 (redis-cli's default is 10): each MIGRATE moves 100 keys, about 13 kB,
//   blocking master A for a fraction of a millisecond per call; the default 10 makes the reshard of
//   1M keys mostly round trips, and we do not want to compare against a needlessly slow Redis.
// - concurrency 64 (as bench:ycsb's depth 64); an op unanswered after 1 s counts as failed.
// - ioredis Cluster WITHOUT enableAutoPipelining (unlike bench:ycsb): with it, ioredis 6 passes
//   MOVED/ASK errors of mixed batches to the application instead of following them (redis/ioredis#2075),
//   so most ops during and after the reshard fail; --auto-pipelining measures that anyway.
//
// Prints the machine, versions and progress, then one JSON object as its last line:
// { bench: "redis-reshard", keys, seconds, minThroughputRatio, p99MsMax, failedOps, ... perBucket }.
// Exit code 1 when anything was lost or wrong (report.ok false), or the run failed.

import { execFileSync } from 'node:child_process';
import { describeMachine, machineInfo } from './support/machine.js';
import { runRedisReshard, type RedisReshardOptions } from './support/redisReshard.js';
import { killAllServerProcesses, killServerProcessesOnExit } from './support/serverProcess.js';
import { VALUE_BYTES } from './support/workload.js';
import { ioredisVersion } from './support/ycsbDrivers.js';
import { redisServerVersion } from './support/ycsbServers.js';

const SEED = 0x5c5b_2024;

const COMMON = {
  valueBytes: VALUE_BYTES, loadFraction: 0.7, pipelineKeys: 100, concurrency: 64, opTimeoutMs: 1000, seed: SEED,
} as const;

type Plan = Omit<RedisReshardOptions, 'autoPipelining'> & { runTimeoutMs: number };

const FULL: Plan = {
  ...COMMON, keys: 1_000_000, slotCount: 1024, peakSeconds: 5, warmUpSeconds: 1, leadInSeconds: 1, controlSeconds: 5, tailSeconds: 2,
  reshardTimeoutMs: 20 * 60_000, stepTimeoutMs: 120_000, sampleKeys: 100_000, sequenceLength: 1 << 22, runTimeoutMs: 30 * 60_000,
};
const SMOKE: Plan = {
  ...COMMON, keys: 20_000, slotCount: 64, peakSeconds: 1, warmUpSeconds: 0.3, leadInSeconds: 0.5, controlSeconds: 0.5, tailSeconds: 0.5,
  reshardTimeoutMs: 30_000, stepTimeoutMs: 20_000, sampleKeys: 20_000, sequenceLength: 1 << 16, runTimeoutMs: 90_000,
};

async function main(argv: readonly string[]): Promise<void> {
  const smoke = argv.includes('--smoke');
  const pipelineAt = argv.indexOf('--pipeline-keys');
  const pipelineKeys = pipelineAt < 0 ? COMMON.pipelineKeys : Number(argv[pipelineAt + 1]);
  const plan = { ...(smoke ? SMOKE : FULL), autoPipelining: argv.includes('--auto-pipelining'), pipelineKeys };
  killServerProcessesOnExit();
  // Everything is bounded: a run that hangs anyway is killed, with its servers.
  setTimeout(() => {
    console.error(`redis-reshard: not done within ${plan.runTimeoutMs} ms`);
    killAllServerProcesses();
    process.exit(1);
  }, plan.runTimeoutMs).unref();
  const machine = machineInfo();
  const redisCli = execFileSync('redis-cli', ['--version'], { encoding: 'utf8' }).trim();
  console.log(describeMachine(machine));
  console.log(`versions: ${redisServerVersion()}, ${redisCli}, ioredis ${ioredisVersion()}`);
  console.log(`plan: ${plan.keys} keys in slots 0-${plan.slotCount - 1} (16 B keys, ${plan.valueBytes} B values), YCSB-A zipf 0.99 at ` +
    `${plan.loadFraction} of peak, concurrency ${plan.concurrency}, --cluster-pipeline ${plan.pipelineKeys}, ioredis enableAutoPipelining ${plan.autoPipelining}, seed ${plan.seed}${smoke ? '; SMOKE sizes' : ''}`);
  const report = await runRedisReshard({ ...plan, log: (line) => console.log(line) });
  for (const problem of report.problems) console.log(`FAILED ${problem}`);
  console.log(`reshard ${report.seconds} s; min throughput ratio ${report.minThroughputRatio}, p99 max ${report.p99MsMax} ms, ` +
    `${report.failedOps} failed ops (${JSON.stringify(report.failureKinds)}), server error replies ${JSON.stringify(report.serverErrorReplies)} by command ${JSON.stringify(report.serverFailedCalls)}`);
  console.log(`control window (the load alone before the reshard): min throughput ratio ${report.control.minThroughputRatio} ` +
    `(lowest ${report.control.lowestRatios.join(' / ')}), mean ${report.control.meanThroughputRatio}, p99 max ${report.control.p99MsMax} ms`);
  console.log(JSON.stringify({ bench: 'redis-reshard', smoke, machine, ...report }));
  process.exitCode = report.ok ? 0 : 1;
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
}
// ioredis may keep sockets a moment; every server is stopped and the report is out, so leave.
process.exit(process.exitCode ?? 0);
