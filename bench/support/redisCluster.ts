// A Redis Cluster of masters only (no replicas), for the Redis side of the migration benchmark
// (issue 5): the Debian `redis-server` started with `--cluster-enabled yes`, one process per master,
// each with its own nodes.conf in one temporary directory, persistence off (no RDB, no AOF: like a
// slicekv pod with --wal off, memory only), listening on 127.0.0.1 only.
//
// Ports: a master's cluster bus listens on its port + 10000, so both must be free, and both stay
// below 32000 (Linux hands out ephemeral ports from 32768: a client socket must never take a
// server's port between our probe and the server's bind). Masters take ports in [20000, 22000).
//
// The cluster is created the way `redis-cli --cluster create A B --cluster-replicas 0` would, had
// redis-cli 7 not refused fewer than three masters (see createCluster): master i gets the i-th
// equal contiguous share of the 16384 slots (two masters: A 0-8191, B 8192-16383). startRedisCluster
// resolves only when every master reports cluster_state:ok, every master sees the same slot owners,
// and `redis-cli --cluster check` (the check `--cluster reshard` starts with) passes.
//
// Every process started here (servers and redis-cli runs) is SIGKILLed if the benchmark exits,
// fails or is interrupted (support/serverProcess.ts); stop() stops the servers and removes the
// directory, and is safe to call twice.

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { processCpuSeconds } from './procStats.js';
import { killServerProcessesOnExit, spawnServerProcess, type ServerProcess } from './serverProcess.js';
import { sleep } from './bounded.js';

export const CLUSTER_SLOT_COUNT = 16384;
const PORT_MIN = 20_000;
const PORT_SPAN = 2_000;
const CLUSTER_BUS_PORT_OFFSET = 10_000;
const PORT_ATTEMPTS_MAX = 100;
const STOP_GRACE_MS = 5_000;
const POLL_INTERVAL_MS = 50;
const CLI_OUTPUT_KEPT_CHARS = 4000;
const CLI_CPU_SAMPLE_MS = 20;

export interface RedisClusterOptions {
  /** Masters to start, at least 2. */
  readonly masterCount: number;
  /** Each server's start, the create command, and the wait for cluster_state:ok, each. */
  readonly startTimeoutMs: number;
  /** cluster-node-timeout (ms): how long a node may be unreachable before it is flagged failing. */
  readonly nodeTimeoutMs?: number;
}

export interface RedisClusterMaster {
  readonly host: string;
  readonly port: number;
  /** host:port */
  readonly address: string;
  /** The 40-hex-digit cluster node id (CLUSTER MYID). */
  readonly id: string;
  readonly process: ServerProcess;
}

export interface RedisCliResult {
  readonly exitCode: number | null;
  readonly seconds: number;
  /** redis-cli's CPU time (user + system), sampled from /proc every CLI_CPU_SAMPLE_MS while it ran; null elsewhere. */
  readonly cpuSeconds: number | null;
  /** The last CLI_OUTPUT_KEPT_CHARS characters of stdout, for a report or an error message. */
  readonly outputTail: string;
}

export interface RedisCluster {
  readonly masters: readonly RedisClusterMaster[];
  readonly dir: string;
  /**
   * A plain (non-cluster) connection to one master: no offline queue, no retries; autoPipelining
   * batches the commands of one event-loop tick into one write (ioredis enableAutoPipelining).
   */
  connectMaster(index: number, autoPipelining?: boolean): Promise<Redis>;
  /** Runs redis-cli with these arguments, SIGKILLed after timeoutMs (then exitCode is null). */
  runCli(args: readonly string[], timeoutMs: number): Promise<RedisCliResult>;
  stop(): Promise<void>;
}


/** Cluster directories not yet removed: an exiting benchmark removes them (after its servers are killed). */
const liveDirs = new Set<string>();
let dirExitHookInstalled = false;

function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

function makeClusterDir(): string {
  if (!dirExitHookInstalled) {
    dirExitHookInstalled = true;
    process.once('exit', () => {
      for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
    });
  }
  const dir = mkdtempSync(join(tmpdir(), 'slicekv-redis-cluster-'));
  liveDirs.add(dir);
  return dir;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port P in [PORT_MIN, PORT_MIN + PORT_SPAN) with P and P + 10000 free, not in `taken`. */
async function clusterPort(taken: ReadonlySet<number>): Promise<number> {
  for (let attempt = 0; attempt < PORT_ATTEMPTS_MAX; attempt++) {
    const port = PORT_MIN + Math.floor(Math.random() * PORT_SPAN);
    if (taken.has(port)) continue;
    if ((await portFree(port)) && (await portFree(port + CLUSTER_BUS_PORT_OFFSET))) return port;
  }
  throw new Error(`no free port pair (P, P + ${CLUSTER_BUS_PORT_OFFSET}) found in [${PORT_MIN}, ${PORT_MIN + PORT_SPAN})`);
}

function connect(host: string, port: number, autoPipelining = false): Promise<Redis> {
  const redis = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, enableAutoPipelining: autoPipelining });
  return redis.connect().then(() => redis);
}

async function startMaster(dir: string, port: number, options: RedisClusterOptions): Promise<ServerProcess> {
  const child = spawnServerProcess(`redis-server:${port}`, 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
    '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 5000),
    '--save', '', '--appendonly', 'no', '--logfile', '', '--daemonize', 'no',
  ]);
  try {
    await child.waitForLine((text) => text.includes('Ready to accept connections'), options.startTimeoutMs, '"Ready to accept connections"');
  } catch (error) {
    await child.kill9();
    throw error;
  }
  return child;
}

function runCli(args: readonly string[], timeoutMs: number): Promise<RedisCliResult> {
  const started = performance.now();
  const cli = spawnServerProcess('redis-cli', 'redis-cli', args);
  const timer = setTimeout(() => void cli.kill9(), timeoutMs);
  // The last sample before exit (a process's /proc entry is gone once it is reaped).
  let cpuSeconds = processCpuSeconds(cli.pid);
  const sampler = setInterval(() => {
    cpuSeconds = processCpuSeconds(cli.pid) ?? cpuSeconds;
  }, CLI_CPU_SAMPLE_MS);
  return cli.exited.then((exitCode) => {
    clearTimeout(timer);
    clearInterval(sampler);
    const output = cli.lines().map((line) => line.text).join('\n');
    return {
      exitCode, seconds: (performance.now() - started) / 1000, cpuSeconds,
      outputTail: `${output.slice(-CLI_OUTPUT_KEPT_CHARS)}${cli.stderrTail() === '' ? '' : ` | stderr: ${cli.stderrTail()}`}`,
    };
  });
}

/** The slot owner map as one master sees it: "startSlot-endSlot:nodeId" entries, sorted. */
function slotOwners(clusterNodes: string): string {
  const owners: string[] = [];
  for (const line of clusterNodes.trim().split('\n')) {
    const fields = line.split(' ');
    for (const range of fields.slice(8)) if (!range.startsWith('[')) owners.push(`${range}:${fields[0]}`);
  }
  return owners.sort().join(',');
}

/** Resolves when every master says cluster_state:ok and all see the same slot owners. */
export async function waitForClusterOk(clients: readonly Redis[], timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = '';
  while (performance.now() < deadline) {
    const infos = await Promise.all(clients.map((client) => client.cluster('INFO')));
    const maps = await Promise.all(clients.map((client) => client.cluster('NODES')));
    const allOk = infos.every((info) => /^cluster_state:ok\r?$/m.test(info));
    const owners = maps.map((map) => slotOwners(String(map)));
    if (allOk && owners.every((map) => map === owners[0])) return;
    last = `states ${infos.map((info) => /cluster_state:(\w+)/.exec(info)?.[1] ?? '?').join('/')}, ` +
      `${new Set(owners).size} distinct slot maps`;
    await sleep(POLL_INTERVAL_MS);
  }
  throw new Error(`cluster not ok within ${timeoutMs} ms: ${last}`);
}

/**
 * What `redis-cli --cluster create <masters> --cluster-replicas 0` does, for two masters too (it
 * refuses fewer than three: "Redis Cluster requires at least 3 master nodes"): master i gets the
 * i-th equal contiguous share of the slots (CLUSTER ADDSLOTSRANGE), a distinct config epoch
 * (CLUSTER SET-CONFIG-EPOCH, so no epoch collision has to be resolved), and meets the first master.
 */
async function createCluster(clients: readonly Redis[], ports: readonly number[]): Promise<void> {
  const share = CLUSTER_SLOT_COUNT / clients.length;
  for (let i = 0; i < clients.length; i++) {
    const first = Math.round(i * share);
    const last = Math.round((i + 1) * share) - 1;
    await clients[i].cluster('ADDSLOTSRANGE', first, last);
    await clients[i].cluster('SET-CONFIG-EPOCH', i + 1);
  }
  for (let i = 1; i < clients.length; i++) await clients[i].cluster('MEET', '127.0.0.1', ports[0]);
}

/** Starts `masterCount` masters, creates the cluster over them and waits until it is ok. */
export async function startRedisCluster(options: RedisClusterOptions): Promise<RedisCluster> {
  if (!(Number.isInteger(options.masterCount) && options.masterCount >= 2)) throw new RangeError(`masterCount ${options.masterCount} < 2`);
  killServerProcessesOnExit();
  const dir = makeClusterDir();
  const processes: ServerProcess[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(processes.map((child) => child.stop(STOP_GRACE_MS)));
    removeDir(dir);
  };
  try {
    const ports: number[] = [];
    for (let i = 0; i < options.masterCount; i++) {
      const port = await clusterPort(new Set(ports));
      ports.push(port);
      processes.push(await startMaster(dir, port, options));
    }
    const addresses = ports.map((port) => `127.0.0.1:${port}`);
    const clients = await Promise.all(ports.map((port) => connect('127.0.0.1', port)));
    try {
      await createCluster(clients, ports);
      await waitForClusterOk(clients, options.startTimeoutMs);
      const checked = await runCli(['--cluster', 'check', addresses[0]], options.startTimeoutMs);
      if (checked.exitCode !== 0) throw new Error(`redis-cli --cluster check exited ${checked.exitCode}: ${checked.outputTail}`);
      const ids = await Promise.all(clients.map((client) => client.cluster('MYID')));
      const masters = ports.map((port, i): RedisClusterMaster => ({
        host: '127.0.0.1', port, address: addresses[i], id: String(ids[i]), process: processes[i],
      }));
      return {
        masters, dir, stop,
        connectMaster: (index, autoPipelining) => connect('127.0.0.1', masters[index].port, autoPipelining),
        runCli,
      };
    } finally {
      for (const client of clients) client.disconnect();
    }
  } catch (error) {
    await Promise.all(processes.map((child) => child.kill9()));
    removeDir(dir);
    throw error;
  }
}
