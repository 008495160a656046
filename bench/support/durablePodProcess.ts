// `slicekv dataplane` with durability, as a child process of a benchmark: started on a given
// loopback port (a restart must come back on the same one) and data directory, resolved once it
// logs `listening`, which it does only after its start-up recovery has ended. The pod's own
// `recovered` log line ({ seconds, checkpointRecords, logRecords, problems }, written by
// dataplane/main.ts) is what the recovery benchmark reports as the recovery time.

import { fileURLToPath } from 'node:url';
import { adminClient, type AdminClient } from '../../proto/adminClient.js';
import { spawnServerProcess, type ServerProcess } from './serverProcess.js';
import { dataplaneEnvironment } from '../../proto/dataplaneEnvironment.js';

const SLICEKV_BIN = fileURLToPath(new URL('../../../bin/slicekv.js', import.meta.url));
const STOP_GRACE_MS = 10_000;

export type WalFlag = 'off' | 'async' | 'sync';

export interface DurablePodOptions {
  readonly podName: string;
  /** null: memory only (no --data-dir). */
  readonly dataDir: string | null;
  readonly wal: WalFlag;
  /** 0: any free port. */
  readonly port: number;
  readonly memory: string;
  /** Node flags for the pod process, e.g. --cpu-prof. */
  readonly nodeArgs: readonly string[];
  /** Extra dataplane flags, e.g. ['--checkpoint-interval-ms', '86400000']. */
  readonly extraArgs: readonly string[];
  /** For the `listening` line: start-up recovery included. */
  readonly startTimeoutMs: number;
}

/** The pod's `recovered` log line. */
export interface RecoveredLine {
  what: string;
  ranges: number;
  seconds: number;
  checkpointRecords: number;
  logRecords: number;
  problems: string[];
}

export interface DurablePod {
  readonly process: ServerProcess;
  readonly address: string;
  readonly podName: string;
  /** From spawn() to the `listening` line: process start, recovery, binding. */
  readonly spawnToListeningSeconds: number;
  /** The start-up `recovered` line; null when durability is off. */
  readonly recovered: RecoveredLine | null;
  readonly admin: AdminClient;
  kill9(): Promise<void>;
  /** SIGTERM: the pod drains and exits 0 (which lets --cpu-prof write its profile). */
  stop(): Promise<void>;
}

/** The fields of the last JSON log line of `pod` whose message contains `fragment` (null: none kept). */
export function lastLogEntry(pod: DurablePod, fragment: string): Record<string, unknown> | null {
  const lines = pod.process.lines();
  for (let i = lines.length - 1; i >= 0; i--) {
    const entry = parseJson(lines[i].text);
    if (typeof entry?.msg === 'string' && entry.msg.includes(fragment)) return entry;
  }
  return null;
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function toRecoveredLine(entry: Record<string, unknown>): RecoveredLine {
  return {
    what: String(entry.what), ranges: Number(entry.ranges), seconds: Number(entry.seconds), checkpointRecords: Number(entry.checkpointRecords),
    logRecords: Number(entry.logRecords), problems: Array.isArray(entry.problems) ? entry.problems.map(String) : [],
  };
}

export async function startDurablePod(options: DurablePodOptions): Promise<DurablePod> {
  const durable = options.dataDir === null ? [] : ['--data-dir', options.dataDir];
  const child = spawnServerProcess(options.podName, process.execPath, [
    ...options.nodeArgs, SLICEKV_BIN, 'dataplane', '--listen', `127.0.0.1:${options.port}`, '--metrics-port', '0', '--memory', options.memory,
    '--pod-name', options.podName, ...durable, '--wal', options.wal, ...options.extraArgs,
  ], dataplaneEnvironment());
  let listening;
  try {
    listening = await child.waitForLine((text) => parseJson(text)?.event === 'listening', options.startTimeoutMs, '`listening` log line');
  } catch (error) {
    await child.kill9();
    throw error;
  }
  const address = String(parseJson(listening.text)?.address);
  const recoveredEntry = child.lines().map((line) => parseJson(line.text)).find((entry) => entry?.event === 'recovered' && entry.what === 'restart');
  const admin = adminClient(address);
  return {
    process: child, address, podName: options.podName, admin,
    spawnToListeningSeconds: (listening.atMs - child.spawnedAtMs) / 1000,
    recovered: recoveredEntry === undefined || recoveredEntry === null ? null : toRecoveredLine(recoveredEntry),
    kill9: async () => {
      admin.close();
      await child.kill9();
    },
    stop: async () => {
      admin.close();
      await child.stop(STOP_GRACE_MS);
    },
  };
}
