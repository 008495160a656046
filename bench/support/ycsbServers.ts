// The two servers the YCSB benchmark drives, each as a child process of the benchmark so that one
// client process measures both the same way: a slicekv data-plane pod owning the whole keyspace,
// and a Debian `redis-server` with persistence off. Both listen on loopback.
//
// A handle stops its server (SIGTERM; a pod drains and exits 0, which also lets `--cpu-prof`
// write its profile), reports server-side figures at the end of a run, and is killed with the
// benchmark if the benchmark dies first (killAllServers on exit).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { processRssBytes } from './procStats.js';
import { adminClient } from '../../proto/adminClient.js';
import { dataplaneEnvironment } from '../../proto/dataplaneEnvironment.js';

const SLICEKV_BIN = fileURLToPath(new URL('../../../bin/slicekv.js', import.meta.url));
const STARTUP_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const STDERR_KEPT_CHARS = 2000;
const RPC_DEADLINE_MS = 5000;

export type SystemName = 'slicekv' | 'redis';

/** What the server itself says at the end of a run. */
export interface ServerStats {
  keyCount: number;
  /** Pod: engine live bytes; redis: used_memory. */
  memoryBytes: number;
  /** Pod: ops answered since start; redis: total_commands_processed. */
  opsTotal: number;
  /** Resident set size of the server process (Linux /proc), null elsewhere. */
  rssBytes: number | null;
}

export interface ServerHandle {
  readonly system: SystemName;
  readonly pid: number;
  readonly address: string;
  stats(): Promise<ServerStats>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

/** SIGKILLs every server still running (for an exiting or failing benchmark). */
export function killAllServers(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it; a tiny race with other binders remains). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function redisServerVersion(): string {
  return execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim();
}

interface Watched {
  child: ChildProcess;
  stderrTail(): string;
  exited: Promise<number | null>;
}

/** Spawns a server, keeps draining its output (a full pipe would stall it), and tracks it. */
function spawnServer(command: string, args: readonly string[], onLine: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Watched {
  const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  running.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEPT_CHARS);
  });
  createInterface({ input: child.stdout! }).on('line', onLine);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    });
    // Not started at all (e.g. redis-server not installed): there will be no 'exit'.
    child.once('error', (error) => {
      running.delete(child);
      stderr += ` ${error.message}`;
      resolve(null);
    });
  });
  return { child, stderrTail: () => stderr.trim().replace(/\s+/g, ' '), exited };
}

/** Resolves when `ready` is called; rejects if the server exits or is slow to start. */
function awaitReady<T>(watched: Watched, what: string, register: (ready: (value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      watched.child.kill('SIGKILL');
      reject(new Error(`${what} did not start within ${STARTUP_TIMEOUT_MS} ms: ${watched.stderrTail()}`));
    }, STARTUP_TIMEOUT_MS);
    register((value) => {
      clearTimeout(timer);
      resolve(value);
    });
    void watched.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before it was ready: ${watched.stderrTail()}`));
    });
  });
}

async function stopServer(watched: Watched): Promise<void> {
  if (watched.child.exitCode !== null || watched.child.signalCode !== null) return;
  watched.child.kill('SIGTERM');
  const timer = setTimeout(() => watched.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await watched.exited;
  clearTimeout(timer);
}

// ---- slicekv pod -------------------------------------------------------------------------------

export interface PodOptions {
  memory: string;
  /** Node flags for the pod process, e.g. --cpu-prof. */
  nodeArgs: readonly string[];
}

/**
 * Starts `slicekv dataplane` on free loopback ports and makes it the owner of the whole keyspace
 * [0, 2^64) at view 1 (end 0 means 2^64), with a routing table naming only itself.
 */
export async function startPod(options: PodOptions): Promise<ServerHandle> {
  const podName = 'pod-0';
  let onListening: (address: string) => void = () => undefined;
  const watched = spawnServer(process.execPath, [
    ...options.nodeArgs, SLICEKV_BIN, 'dataplane', '--listen', '127.0.0.1:0', '--metrics-port', '0', '--memory', options.memory, '--pod-name', podName,
  ], (line) => {
    try {
      const entry = JSON.parse(line) as { event?: string; address?: string };
      if (entry.event === 'listening' && entry.address !== undefined) onListening(entry.address);
    } catch {
      // not a log line
    }
  }, dataplaneEnvironment());
  const address = await awaitReady<string>(watched, 'slicekv pod', (ready) => { onListening = ready; });
  const admin = adminClient(address);
  const whole = { start: '0', end: '0', view: 1 };
  await admin.call('AssignRanges', { owned: [whole], routes: [{ ...whole, owner: podName, address }] }, RPC_DEADLINE_MS);
  return {
    system: 'slicekv',
    pid: watched.child.pid!,
    address,
    stats: async () => {
      const reply = await admin.call('Stats', {}, RPC_DEADLINE_MS);
      return {
        keyCount: Number(reply.keyCount), memoryBytes: Number(reply.liveBytes), opsTotal: Number(reply.opsTotal),
        rssBytes: processRssBytes(watched.child.pid!),
      };
    },
    stop: async () => {
      admin.close();
      await stopServer(watched);
    },
  };
}

// ---- redis-server ------------------------------------------------------------------------------

function infoField(info: string, name: string): number {
  const match = new RegExp(`^${name}:(\\d+)`, 'm').exec(info);
  return match === null ? Number.NaN : Number(match[1]);
}

/** Starts redis-server with no persistence (like the pod, memory only) on a free loopback port. */
export async function startRedis(): Promise<ServerHandle> {
  const port = await freePort();
  let onReady: (value: true) => void = () => undefined;
  const watched = spawnServer('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
  ], (line) => {
    if (line.includes('Ready to accept connections')) onReady(true);
  });
  await awaitReady<true>(watched, 'redis-server', (ready) => { onReady = ready; });
  const address = `127.0.0.1:${port}`;
  return {
    system: 'redis',
    pid: watched.child.pid!,
    address,
    stats: async () => {
      const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
      try {
        await redis.connect();
        const [keyCount, info] = await Promise.all([redis.dbsize(), redis.info()]);
        return {
          keyCount, memoryBytes: infoField(info, 'used_memory'), opsTotal: infoField(info, 'total_commands_processed'),
          rssBytes: processRssBytes(watched.child.pid!),
        };
      } finally {
        redis.disconnect();
      }
    },
    stop: () => stopServer(watched),
  };
}
