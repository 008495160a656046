// The Debian `redis-server` with persistence on, as a child process of a benchmark: an RDB file
// and/or an append-only file in a given directory, on a loopback port. It is resolved once it logs
// "Ready to accept connections", which redis-server does only after loading its data; the load
// time is what redis-server itself logs (redis 7: "DB loaded from disk: X seconds" for an RDB,
// "DB loaded from append only file: X seconds" for the AOF, to the millisecond).

import { Redis } from 'ioredis';
import { spawnServerProcess, type ServerProcess } from './serverProcess.js';

const STOP_GRACE_MS = 10_000;

export type AppendFsync = 'no' | 'everysec' | 'always';

export interface RedisPersistenceOptions {
  readonly dir: string;
  readonly port: number;
  /** false: no AOF (an RDB in `dir` is loaded at start, if there is one). */
  readonly appendOnly: boolean;
  readonly appendFsync: AppendFsync;
  readonly startTimeoutMs: number;
}

export interface RedisPersistenceServer {
  readonly process: ServerProcess;
  readonly address: string;
  /** The flags given after the port. */
  readonly args: readonly string[];
  /** From spawn() to "Ready to accept connections": process start and data load. */
  readonly spawnToReadySeconds: number;
  /** "DB loaded from disk: X seconds"; null when no RDB was loaded. */
  readonly rdbLoadSeconds: number | null;
  /** "DB loaded from append only file: X seconds"; null when no AOF was loaded. */
  readonly aofLoadSeconds: number | null;
  /** "Done loading RDB, keys loaded: N" (an RDB load only). */
  readonly rdbKeysLoaded: number | null;
  /** A connected ioredis client (no offline queue, no retries: a benchmark wants errors). */
  connect(): Promise<Redis>;
  stop(): Promise<void>;
}

function secondsLogged(lines: readonly string[], pattern: RegExp): number | null {
  for (const line of lines) {
    const match = pattern.exec(line);
    if (match !== null) return Number(match[1]);
  }
  return null;
}

export function redisPersistenceArgs(options: RedisPersistenceOptions): string[] {
  return [
    '--bind', '127.0.0.1', '--dir', options.dir, '--dbfilename', 'dump.rdb', '--save', '',
    '--appendonly', options.appendOnly ? 'yes' : 'no', '--appendfsync', options.appendFsync,
    '--appenddirname', 'appendonlydir', '--aof-use-rdb-preamble', 'no',
  ];
}

export async function startRedisPersistence(options: RedisPersistenceOptions): Promise<RedisPersistenceServer> {
  const args = redisPersistenceArgs(options);
  const child = spawnServerProcess('redis-server', 'redis-server', ['--port', String(options.port), ...args]);
  let ready;
  try {
    ready = await child.waitForLine((text) => text.includes('Ready to accept connections'), options.startTimeoutMs, '"Ready to accept connections"');
  } catch (error) {
    await child.kill9();
    throw error;
  }
  const texts = child.lines().map((line) => line.text);
  return {
    process: child, address: `127.0.0.1:${options.port}`, args,
    spawnToReadySeconds: (ready.atMs - child.spawnedAtMs) / 1000,
    rdbLoadSeconds: secondsLogged(texts, /DB loaded from disk: ([\d.]+) seconds/),
    aofLoadSeconds: secondsLogged(texts, /DB loaded from append only file: ([\d.]+) seconds/),
    rdbKeysLoaded: secondsLogged(texts, /Done loading RDB, keys loaded: (\d+)/),
    connect: async () => {
      const redis = new Redis({ host: '127.0.0.1', port: options.port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
      await redis.connect();
      return redis;
    },
    stop: () => child.stop(STOP_GRACE_MS),
  };
}
